//! [`FlusherWake`]: how an idle flusher learns that records are waiting,
//! which decides whether a logging call ever makes a system call.

use std::time::Duration;

use crate::HOUSEKEEPING_INTERVAL;

/// How the background flusher learns that records are waiting once it is
/// idle (nothing logged for 50 ms). Set with
/// [`with_flusher_wake`](crate::DltLayerBuilder::with_flusher_wake).
///
/// While records keep coming the flusher polls the channel anyway (every
/// 0.2 to 10 ms, adapting to the rate), and a burst that fills half the
/// channel between two polls wakes it in both modes. The modes differ in
/// the first record after a quiet spell:
///
/// | mode | that record's call | it waits in the queue | idle wake-ups |
/// |---|---|---|---|
/// | `Poll(p)` (default, 10 ms) | no system call | at most `p` | one per `p` |
/// | `OnRecord` | one `futex` wake of the flusher | until the flusher runs | one per 100 ms (housekeeping) |
///
/// Waking a sleeping thread costs its waker the system call and, when the
/// flusher's CPU is idle, the kernel's wake-up of that CPU: a few
/// microseconds on bare metal, and 9–110 µs measured on a 2-vCPU KVM
/// guest (see `docs/performance.md`). That is the call's worst case in a
/// control loop that logs now and then, so the default polls. Records
/// wait in the queue at most the poll interval in either state (plus
/// scheduling delay); a flush, a shutdown, the exit handler and the panic
/// hook wake the flusher at once in both modes.
///
/// What the idle polls cost: on that KVM guest the idle flusher spent
/// 4.9–8.8 ms of CPU a second at the default 10 ms (100 wake-ups; the
/// guest charges any thread 53–74 µs of CPU per timer wake-up), and 1.0–1.4 ms
/// with `OnRecord` or `Poll(100 ms)` (10 wake-ups). A longer poll is not
/// free either: with `Poll(100 ms)` a producer logging 10,000 records a
/// second after a quiet spell fills half the channel (512 records) before
/// the idle flusher looks, and the call that crosses that mark wakes it.
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

/// The default: poll every 10 ms when idle, the longest the flusher waits
/// between polls under load too.
pub const DEFAULT_FLUSHER_WAKE: FlusherWake = FlusherWake::Poll(Duration::from_millis(10));

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
