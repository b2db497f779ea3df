//! [`FlusherWake`]: how an idle flusher learns that records are waiting,
//! which decides whether a logging call ever makes a system call.

use std::time::Duration;

use crate::HOUSEKEEPING_INTERVAL;

/// How the background flusher learns that records are waiting once it is
/// idle (nothing logged for 50 ms). Set with
/// [`with_flusher_wake`](crate::DltLayerBuilder::with_flusher_wake).
///
/// While records keep coming the flusher polls the channel anyway (every
/// 0.2 to 10 ms, adapting to the rate, and never longer than an idle
/// `Poll(p)`), and a burst that fills half the channel between two polls
/// wakes it in every mode. The modes differ once it is idle:
///
/// | mode | the first record's call after a quiet spell | that record waits | idle wake-ups |
/// |---|---|---|---|
/// | `Poll(100 ms)` (the default) | no system call | at most 100 ms | 10 a second |
/// | `Poll(p)`, 1 to 100 ms | no system call | at most `p` | one per `p` |
/// | `OnRecord` | one `futex` wake of the flusher | until the flusher runs | 10 a second |
///
/// Waking a sleeping thread costs its waker the system call and, when the
/// flusher's CPU is idle, the kernel's wake-up of that CPU: a few
/// microseconds on bare metal, and 10–150 µs measured on a 2-vCPU KVM
/// guest (see `docs/performance.md`). That is the call's worst case in a
/// control loop that logs now and then, so the default polls. It polls at
/// the housekeeping interval, at which an idle flusher wakes anyway (to
/// read level changes from the daemon), so it costs no more wake-ups than
/// `OnRecord`; a shorter poll buys a shorter wait with more of them (each
/// cost the flusher ~70–90 µs of CPU on that KVM guest, most of it the
/// guest's own cost of a timer wake-up). Under load a record waits at most
/// 10 ms (or `p`, if shorter), plus scheduling delay. A flush, a shutdown,
/// the exit handler and the panic hook wake the flusher at once in every
/// mode.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use taktora_log::{DltLayer, FlusherWake};
///
/// // A record waits at most 2 ms before the flusher writes it.
/// let (_layer, _guard) = DltLayer::builder("NAV")
///     .with_flusher_wake(FlusherWake::Poll(Duration::from_millis(2)))
///     .build()?;
/// # Ok::<(), taktora_log::InitError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlusherWake {
    /// The idle flusher looks at the channel on its own at this interval
    /// ([`MIN_IDLE_POLL`] to [`MAX_IDLE_POLL`]); a logging call never
    /// wakes it, except for a burst that fills half the channel.
    Poll(Duration),
    /// The idle flusher sleeps until a record arrives, and the call that
    /// queues that first record wakes it (one system call on that call).
    OnRecord,
}

/// The default: poll every [`HOUSEKEEPING_INTERVAL`] (100 ms) when idle,
/// as often as the idle flusher wakes anyway.
pub const DEFAULT_FLUSHER_WAKE: FlusherWake = FlusherWake::Poll(HOUSEKEEPING_INTERVAL);

/// The shortest idle poll: 1 ms (1,000 wake-ups a second when idle).
pub const MIN_IDLE_POLL: Duration = Duration::from_millis(1);

/// The longest idle poll: the housekeeping interval, 100 ms, at which the
/// flusher wakes anyway to read level changes from the daemon.
pub const MAX_IDLE_POLL: Duration = HOUSEKEEPING_INTERVAL;

impl FlusherWake {
    /// Checks a `Poll` interval against its range.
    ///
    /// # Errors
    ///
    /// What is wrong, naming the option, for an `InvalidConfig`.
    pub(crate) fn check(self) -> Result<(), String> {
        match self {
            Self::Poll(p) if !(MIN_IDLE_POLL..=MAX_IDLE_POLL).contains(&p) => Err(format!(
                "with_flusher_wake: the idle poll must be {MIN_IDLE_POLL:?} to {MAX_IDLE_POLL:?} \
                 (MIN_IDLE_POLL to MAX_IDLE_POLL), not {p:?}"
            )),
            _ => Ok(()),
        }
    }
}

impl Default for FlusherWake {
    fn default() -> Self {
        DEFAULT_FLUSHER_WAKE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_poll_is_checked_against_its_range() {
        assert_eq!(FlusherWake::OnRecord.check(), Ok(()));
        assert_eq!(DEFAULT_FLUSHER_WAKE.check(), Ok(()));
        assert_eq!(FlusherWake::Poll(MIN_IDLE_POLL).check(), Ok(()));
        assert_eq!(FlusherWake::Poll(MAX_IDLE_POLL).check(), Ok(()));
        for bad in [
            Duration::ZERO,
            MIN_IDLE_POLL - Duration::from_nanos(1),
            MAX_IDLE_POLL + Duration::from_nanos(1),
            Duration::MAX,
        ] {
            let e = FlusherWake::Poll(bad).check().expect_err("out of range");
            assert!(
                e.contains("with_flusher_wake") && e.contains(&format!("{bad:?}")),
                "{e}"
            );
        }
    }
}
