//! [`Doorbell`]: how producers and the guard wake the flusher, and how
//! producers learn that it is gone, without sending anything on the data
//! channel. A few atomics and `Thread::unpark`; no lock, no allocation.
//!
//! The flusher never blocks in the data channel's `recv` (a producer
//! would then pay a system call per record to wake it); it parks. While
//! records keep coming it naps between polls and a producer rings only
//! when a burst fills half the channel first: one system call per half
//! channel at most, none while the flusher keeps up. When it is idle it
//! keeps napping with [`FlusherWake::Poll`](crate::FlusherWake::Poll)
//! (the default), so no record rings; with
//! [`FlusherWake::OnRecord`](crate::FlusherWake::OnRecord) it sleeps, and
//! the first record after that rings. A control message always rings.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::Duration;

/// The flusher's wake-up and liveness signals.
#[derive(Debug)]
pub(crate) struct Doorbell {
    /// Records queued since the flusher last looked at the channel.
    since_look: AtomicUsize,
    /// `since_look` at which a producer rings during a nap.
    threshold: usize,
    /// The flusher is (about to be) parked until a record arrives.
    asleep: AtomicBool,
    /// Cleared by the flusher when it exits, before its last look at the
    /// channel (see `Producer::push`).
    alive: AtomicBool,
    flusher: OnceLock<Thread>,
}

impl Doorbell {
    /// Channels smaller than this ring only to wake a sleeping flusher:
    /// they are for tests and tiny targets, where half the channel is a
    /// handful of records and a ring per handful would cost a system call
    /// per handful.
    pub(crate) const MIN_CAPACITY: usize = 64;

    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            since_look: AtomicUsize::new(0),
            threshold: if capacity >= Self::MIN_CAPACITY {
                capacity / 2
            } else {
                usize::MAX
            },
            asleep: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            flusher: OnceLock::new(),
        }
    }

    // --- producer side -------------------------------------------------------

    /// Counts one queued record; wakes the flusher at the threshold or if
    /// it sleeps, and then returns `true` (the caller made a system call).
    /// The counter and the `asleep` flag are read in the opposite order by
    /// [`sleep`](Self::sleep) (both sequentially consistent), so either the
    /// producer sees the flusher asleep or the flusher sees the record.
    #[inline]
    pub(crate) fn queued(&self) -> bool {
        let n = self.since_look.fetch_add(1, SeqCst) + 1;
        let wake =
            n == self.threshold || (self.asleep.load(SeqCst) && self.asleep.swap(false, SeqCst));
        if wake {
            self.ring();
        }
        wake
    }

    /// Whether the flusher is still running.
    #[inline]
    pub(crate) fn flusher_alive(&self) -> bool {
        self.alive.load(SeqCst)
    }

    /// Unparks the flusher now.
    pub(crate) fn ring(&self) {
        if let Some(t) = self.flusher.get() {
            t.unpark();
        }
    }

    // --- flusher side --------------------------------------------------------

    /// Called on the flusher thread before it starts: the thread to wake.
    pub(crate) fn register_flusher(&self) {
        let _ = self.flusher.set(std::thread::current());
    }

    /// The flusher is about to look at the channel.
    pub(crate) fn looking(&self) {
        self.since_look.store(0, SeqCst);
    }

    /// Whether records were queued since the flusher's last
    /// [`looking`](Self::looking): a lock-free hint that the channel is
    /// not empty (it may also count records the flusher took after it
    /// started looking).
    pub(crate) fn arrived(&self) -> bool {
        self.since_look.load(SeqCst) > 0
    }

    /// Parks for at most `timeout`, until a producer rings at the
    /// threshold or a control message arrives.
    pub(crate) fn nap(&self, timeout: Duration) {
        std::thread::park_timeout(timeout);
    }

    /// Parks for at most `timeout`, until the next record or control
    /// message arrives. Returns at once if a record arrived since the last
    /// look.
    pub(crate) fn sleep(&self, timeout: Duration) {
        self.asleep.store(true, SeqCst);
        if !self.arrived() {
            std::thread::park_timeout(timeout);
        }
        self.asleep.store(false, SeqCst);
    }

    /// The flusher is exiting: from now on producers drop their records
    /// and count them.
    pub(crate) fn flusher_gone(&self) {
        self.alive.store(false, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_small_channel_rings_only_a_sleeping_flusher() {
        assert_eq!(
            Doorbell::new(Doorbell::MIN_CAPACITY - 1).threshold,
            usize::MAX
        );
        assert_eq!(Doorbell::new(Doorbell::MIN_CAPACITY).threshold, 32);
    }

    #[test]
    fn queued_says_when_it_rang() {
        let bell = Doorbell::new(Doorbell::MIN_CAPACITY);
        bell.register_flusher();
        let rang: Vec<bool> = (0..40).map(|_| bell.queued()).collect();
        let at: Vec<usize> = (0..40).filter(|&i| rang[i]).collect();
        assert_eq!(at, [31], "only the record that reached half the channel");
        bell.looking();
        bell.asleep.store(true, SeqCst);
        assert!(bell.queued(), "a sleeping flusher is woken");
        assert!(!bell.queued(), "once");
    }

    #[test]
    fn sleep_returns_at_once_when_a_record_already_arrived() {
        let bell = Doorbell::new(1);
        bell.register_flusher();
        bell.queued();
        let start = Instant::now();
        bell.sleep(Duration::from_secs(20));
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "slept {:?} with a record waiting",
            start.elapsed()
        );
        assert!(!bell.asleep.load(SeqCst), "awake again");
    }
}
