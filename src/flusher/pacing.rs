//! When the flusher looks at the channel and how it waits in between: the
//! hot window, the adaptive poll interval and the housekeeping tick. Pure
//! arithmetic on `Instant`s; the flusher does the waiting it chooses.
//!
//! After it handled records, the flusher polls the channel (napping in
//! between) for [`HOT_FOR`], so that producers under steady load find it
//! awake and never pay a system call to wake it. After that it is idle,
//! and [`FlusherWake`] says how it waits: with `Poll(p)` it keeps napping,
//! `p` at a time, so no producer ever wakes it (only a burst that fills
//! half the channel rings); with `OnRecord` it sleeps until the next
//! record, whose producer wakes it.
//!
//! The poll interval adapts to the rate seen: it aims to find the channel
//! about an eighth full ([`POLL_FILL`]), between [`POLL_MIN`] and
//! [`POLL_MAX`], shortening at once and at most doubling per round. The
//! other seven eighths are for a flusher the scheduler keeps waiting (8 ms
//! was seen on a busy 2-core machine); a burst that fills half the channel
//! before the next poll rings the doorbell. While the FIFO is full the
//! flusher waits for it at most one poll too, so records keep moving from
//! the channel into the ring. Every wake-up makes a producer pull the
//! channel's and the slots' cache lines back from the flusher's core: at
//! 10,000 records/s a 1 ms poll did that every 10th call, a 10 ms poll
//! every 100th, and each write to the daemon carries more.

use std::time::{Duration, Instant};

use crate::FlusherWake;

/// How often the flusher reads the application FIFO (log levels from the
/// daemon) and checks whether the daemon was restarted while it was idle.
///
/// # Examples
///
/// A level set with `dlt-control` applies within about this long:
///
/// ```
/// assert!(taktora_log::HOUSEKEEPING_INTERVAL <= std::time::Duration::from_millis(100));
/// ```
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);

/// How long the flusher keeps polling after it last took records.
const HOT_FOR: Duration = Duration::from_millis(50);
/// The shortest poll interval.
const POLL_MIN: Duration = Duration::from_micros(200);
/// The longest poll interval.
const POLL_MAX: Duration = Duration::from_millis(10);
/// The poll interval before any rate was seen.
const POLL_START: Duration = Duration::from_millis(1);
/// The poll aims to find the channel `1 / POLL_FILL` full.
const POLL_FILL: usize = 8;
/// Longest wait for the FIFO to become writable before the flusher looks
/// at its control channel again.
const CONGESTED_POLL: Duration = Duration::from_millis(10);

/// How the flusher waits when it has nothing to do right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wait {
    /// Wait this long at most for the daemon's FIFO to become writable.
    ForFifo(Duration),
    /// Nap this long at most (hot: producers ring only for a burst).
    Nap(Duration),
    /// Sleep this long at most, until the next record or control message.
    Sleep(Duration),
}

/// The flusher's clock: housekeeping tick, hot window, poll interval.
#[derive(Debug)]
pub(super) struct Pacing {
    next_housekeeping: Instant,
    /// Poll the channel until then, instead of sleeping until a record.
    hot_until: Instant,
    poll: Duration,
    /// When records were last taken from the channel.
    last_take: Instant,
    /// The idle poll (`FlusherWake::Poll`); `None` sleeps until a record.
    idle_poll: Option<Duration>,
}

impl Pacing {
    pub(super) fn new(now: Instant, wake: FlusherWake) -> Self {
        let idle_poll = match wake {
            FlusherWake::Poll(p) => Some(p),
            FlusherWake::OnRecord => None,
        };
        let mut pacing = Self {
            next_housekeeping: now,
            hot_until: now,
            poll: POLL_START,
            last_take: now,
            idle_poll,
        };
        pacing.poll = pacing.poll.min(pacing.poll_max());
        pacing
    }

    /// The longest hot poll: [`POLL_MAX`], or the idle poll if shorter, so
    /// that no record waits longer than the idle poll in either state.
    fn poll_max(&self) -> Duration {
        self.idle_poll
            .map_or(POLL_MAX, |p| p.clamp(POLL_MIN, POLL_MAX))
    }

    /// Whether housekeeping is due at `now`; if so, the next is scheduled.
    pub(super) fn housekeeping_due(&mut self, now: Instant) -> bool {
        if now < self.next_housekeeping {
            return false;
        }
        self.next_housekeeping = now + HOUSEKEEPING_INTERVAL;
        true
    }

    /// When the next housekeeping is due.
    pub(super) fn next_housekeeping(&self) -> Instant {
        self.next_housekeeping
    }

    /// `taken` records were taken from a channel of `capacity` at `now`:
    /// stay hot, and adapt the poll interval to the rate they came at.
    pub(super) fn took(&mut self, taken: usize, capacity: usize, now: Instant) {
        let since = now.saturating_duration_since(self.last_take);
        self.last_take = now;
        self.hot_until = now + HOT_FOR;
        let target = (capacity / POLL_FILL).max(1);
        let per_record = since / u32::try_from(taken.max(1)).unwrap_or(u32::MAX);
        let ideal = per_record.saturating_mul(u32::try_from(target).unwrap_or(u32::MAX));
        // Shorten at once, lengthen gradually.
        self.poll = ideal.min(self.poll * 2).clamp(POLL_MIN, self.poll_max());
    }

    /// How to wait at `now` when nothing is due before `until`.
    pub(super) fn wait(&self, now: Instant, until: Instant, congested: bool) -> Wait {
        let timeout = until.saturating_duration_since(now);
        if congested {
            Wait::ForFifo(timeout.min(CONGESTED_POLL).min(self.poll))
        } else if now < self.hot_until {
            Wait::Nap(timeout.min(self.poll))
        } else if let Some(p) = self.idle_poll {
            Wait::Nap(timeout.min(p))
        } else {
            Wait::Sleep(timeout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_shortens_at_once_and_lengthens_gradually() {
        let t0 = Instant::now();
        let mut p = Pacing::new(t0, FlusherWake::OnRecord);
        // 64 records in 64 µs into a 1024-record channel: an eighth full
        // (128 records) every 128 µs, below the floor.
        p.took(64, 1024, t0 + Duration::from_micros(64));
        assert_eq!(p.poll, POLL_MIN, "shortened at once, to the floor");
        // One record in a second: ideal is far above the ceiling, but the
        // poll only doubles.
        p.took(1, 1024, t0 + Duration::from_secs(1));
        assert_eq!(p.poll, POLL_MIN * 2, "lengthened by doubling");
    }

    #[test]
    fn the_wait_follows_the_state() {
        let t0 = Instant::now();
        let mut p = Pacing::new(t0, FlusherWake::OnRecord);
        let until = t0 + Duration::from_secs(1);
        assert_eq!(
            p.wait(t0, until, false),
            Wait::Sleep(Duration::from_secs(1))
        );
        p.took(1, 1024, t0);
        assert_eq!(
            p.wait(t0, until, false),
            Wait::Nap(p.poll),
            "hot after a take"
        );
        assert_eq!(p.wait(t0, until, true), Wait::ForFifo(p.poll));
        let later = t0 + HOT_FOR;
        assert!(
            matches!(p.wait(later, until, false), Wait::Sleep(_)),
            "cold again"
        );
    }

    #[test]
    fn an_idle_flusher_that_polls_naps_and_never_sleeps() {
        let t0 = Instant::now();
        let idle = Duration::from_millis(10);
        let p = Pacing::new(t0, FlusherWake::Poll(idle));
        let until = t0 + Duration::from_secs(1);
        assert_eq!(p.wait(t0, until, false), Wait::Nap(idle), "idle: naps");
        let soon = t0 + Duration::from_millis(3);
        assert_eq!(
            p.wait(t0, soon, false),
            Wait::Nap(Duration::from_millis(3)),
            "never past what is due"
        );
    }

    #[test]
    fn the_hot_poll_never_exceeds_the_idle_poll() {
        let t0 = Instant::now();
        let idle = Duration::from_millis(2);
        let mut p = Pacing::new(t0, FlusherWake::Poll(idle));
        assert!(p.poll <= idle, "start {:?}", p.poll);
        // One record a second: the ideal poll is far above both bounds.
        for s in 1..10 {
            p.took(1, 1024, t0 + Duration::from_secs(s));
        }
        assert_eq!(p.poll, idle, "capped by the idle poll");
        let mut q = Pacing::new(t0, FlusherWake::Poll(Duration::from_millis(100)));
        for s in 1..10 {
            q.took(1, 1024, t0 + Duration::from_secs(s));
        }
        assert_eq!(q.poll, POLL_MAX, "capped by POLL_MAX");
    }

    #[test]
    fn housekeeping_is_due_once_per_interval() {
        let t0 = Instant::now();
        let mut p = Pacing::new(t0, FlusherWake::OnRecord);
        assert!(p.housekeeping_due(t0), "due at start");
        assert!(!p.housekeeping_due(t0 + HOUSEKEEPING_INTERVAL / 2));
        assert!(p.housekeeping_due(t0 + HOUSEKEEPING_INTERVAL));
        assert_eq!(p.next_housekeeping(), t0 + 2 * HOUSEKEEPING_INTERVAL);
    }
}
