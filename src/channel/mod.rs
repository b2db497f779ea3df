//! The bounded queue between the producers (the layer, on the application's
//! threads) and the one background flusher, and the lossy producer handle.
//!
//! The producer's only operation is [`Producer::push`]: it takes a free
//! slot of the [`FramePool`] (a lock-free stack), copies the record's bytes into it and does a
//! `try_send` of the slot's index into a bounded `flume` channel. It never
//! waits. When every slot is taken the producer removes the *oldest*
//! queued record, counts it as dropped, and reuses its slot (REQ_0815's
//! drop-oldest policy, applied to the queue as well as to the ring).
//! Control messages (flush, shutdown) travel on a separate small channel so
//! that eviction can never discard one; a [`Msg::Wake`] on the data
//! channel wakes a sleeping flusher to read them.

pub(crate) mod flusher;
mod pool;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Instant;

pub(crate) use pool::{FramePool, Slot};

use crate::frame::Frame;
use crate::stats::Counters;

/// What travels on the data channel: 8 bytes, never a whole frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Msg {
    /// One encoded record, in this slot of the [`FramePool`].
    Record(Slot),
    /// No data: wakes the flusher to look at the control channel.
    Wake,
}

/// What travels on the control channel.
#[derive(Debug)]
pub(crate) enum Control {
    /// Reply on `ack` once `target` records are resolved (written or
    /// dropped), or drop `ack` at `deadline`.
    Flush {
        target: u64,
        deadline: Instant,
        ack: flume::Sender<()>,
    },
    /// Write what can be written until `deadline`, unregister, remove the
    /// application FIFO, reply and exit.
    Shutdown {
        deadline: Instant,
        ack: flume::Sender<()>,
    },
}

/// The producer side: cloned into every layer handle.
#[derive(Debug, Clone)]
pub(crate) struct Producer {
    tx: flume::Sender<Msg>,
    /// A receiver used only to evict the oldest record when full.
    evict: flume::Receiver<Msg>,
    pool: Arc<FramePool>,
    nudge: Arc<Nudge>,
    /// Cleared by the flusher when it exits.
    alive: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

/// The flusher's ends of both channels.
#[derive(Debug)]
pub(crate) struct FlusherEnds {
    pub(crate) rx: flume::Receiver<Msg>,
    pub(crate) ctl: flume::Receiver<Control>,
    pub(crate) pool: Arc<FramePool>,
    pub(crate) nudge: Arc<Nudge>,
    pub(crate) alive: Arc<AtomicBool>,
}

/// Wakes a polling flusher early when records arrive faster than it polls.
///
/// While records keep coming the flusher does not block in `recv` (a
/// producer would then pay a system call per record to wake it): it
/// sleeps between polls. If a burst fills the channel faster than that,
/// the producer whose record brings the count since the flusher's last
/// look to half the channel unparks it: one system call per half channel
/// at most, and none at all while the flusher keeps up.
#[derive(Debug)]
pub(crate) struct Nudge {
    /// Records queued since the flusher last looked at the channel.
    since_look: AtomicUsize,
    threshold: usize,
    flusher: OnceLock<Thread>,
}

impl Nudge {
    /// Channels smaller than this are not nudged: they are for tests and
    /// tiny targets, where half the channel is a handful of records and a
    /// nudge per handful would cost a system call per handful.
    const MIN_CAPACITY: usize = 64;

    fn new(capacity: usize) -> Self {
        Self {
            since_look: AtomicUsize::new(0),
            threshold: if capacity >= Self::MIN_CAPACITY {
                capacity / 2
            } else {
                usize::MAX
            },
            flusher: OnceLock::new(),
        }
    }

    /// Counts one queued record; unparks the flusher at the threshold.
    #[inline]
    fn queued(&self) {
        if self.since_look.fetch_add(1, Ordering::Relaxed) + 1 == self.threshold {
            self.wake();
        }
    }

    /// Called on the flusher thread before it starts: the thread to wake.
    pub(crate) fn register_flusher(&self) {
        let _ = self.flusher.set(std::thread::current());
    }

    /// Unparks the flusher now.
    fn wake(&self) {
        if let Some(t) = self.flusher.get() {
            t.unpark();
        }
    }

    /// The flusher is about to look at the channel.
    pub(crate) fn looking(&self) {
        self.since_look.store(0, Ordering::Relaxed);
    }

    /// Whether records were queued since the flusher's last [`looking`]:
    /// a lock-free hint that the channel is not empty (it may also count
    /// records the flusher took after it started looking).
    ///
    /// [`looking`]: Self::looking
    pub(crate) fn arrived(&self) -> bool {
        self.since_look.load(Ordering::Relaxed) > 0
    }
}

impl FlusherEnds {
    /// Calls `f` with the record in `slot`, then frees the slot.
    pub(crate) fn take_record<R>(&self, slot: Slot, f: impl FnOnce(&[u8]) -> R) -> R {
        let r = self.pool.read(slot, f);
        self.pool.free(slot);
        r
    }
}

/// The handle the guard keeps: sends control messages and wakes.
#[derive(Debug, Clone)]
pub(crate) struct ControlHandle {
    tx: flume::Sender<Msg>,
    ctl: flume::Sender<Control>,
    nudge: Arc<Nudge>,
}

/// Capacity of the control channel: control messages are rare (a flush
/// barrier, one shutdown), and a full control channel makes the caller
/// wait (with its own timeout), never a producer.
const CONTROL_CAPACITY: usize = 64;

/// Room on the data channel beyond one message per slot, for wake-ups.
const WAKE_ROOM: usize = 8;

/// Creates the pool and the channels, with every channel's storage
/// reserved up front: flume grows a bounded queue lazily on the *sending*
/// thread the first time it fills, which would allocate on a producer's
/// ERROR path (REQ_0813). Filling the data channel once with [`Msg::Wake`]
/// and draining it makes that growth happen here, at init; the pool and
/// its free list are allocated by [`FramePool::new`].
pub(crate) fn channel(
    capacity: usize,
    counters: Arc<Counters>,
) -> (Producer, ControlHandle, FlusherEnds) {
    let pool = Arc::new(FramePool::new(capacity));
    let nudge = Arc::new(Nudge::new(pool.len()));
    let (tx, rx) = flume::bounded(pool.len() + WAKE_ROOM);
    let (ctl_tx, ctl_rx) = flume::bounded(CONTROL_CAPACITY);
    while tx.try_send(Msg::Wake).is_ok() {}
    while rx.try_recv().is_ok() {}
    let alive = Arc::new(AtomicBool::new(true));
    (
        Producer {
            tx: tx.clone(),
            evict: rx.clone(),
            pool: pool.clone(),
            nudge: nudge.clone(),
            alive: alive.clone(),
            counters,
        },
        ControlHandle {
            tx,
            ctl: ctl_tx,
            nudge: nudge.clone(),
        },
        FlusherEnds {
            rx,
            ctl: ctl_rx,
            pool,
            nudge,
            alive,
        },
    )
}

/// How many times a producer tries to make room before it drops its own
/// record instead (another producer keeps winning the freed slot).
const MAKE_ROOM_ATTEMPTS: usize = 4;

impl Producer {
    /// Queues a copy of `frame` without ever waiting. When every slot is
    /// taken the oldest queued record is dropped and counted; when the
    /// flusher is gone, `frame` is dropped and counted.
    #[inline]
    pub(crate) fn push(&self, frame: &Frame) {
        let slot = match self.pool.take_free() {
            Some(slot) => slot,
            None => match self.reclaim() {
                Some(slot) => slot,
                None => return,
            },
        };
        self.pool.write(slot, frame.as_bytes());
        match self.tx.try_send(Msg::Record(slot)) {
            Ok(()) => self.nudge.queued(),
            Err(flume::TrySendError::Full(msg)) => self.push_full(msg, slot),
            Err(flume::TrySendError::Disconnected(_)) => {
                self.pool.free(slot);
                Counters::bump(&self.counters.dropped_no_flusher);
            }
        }
    }

    /// The slow path when no slot is free: take the slot of the oldest
    /// queued record, which is dropped and counted. `None` (with the new
    /// record counted as dropped) when the flusher is gone or no slot
    /// could be had in a few attempts.
    #[cold]
    fn reclaim(&self) -> Option<Slot> {
        if !self.alive.load(Ordering::Acquire) {
            Counters::bump(&self.counters.dropped_no_flusher);
            return None;
        }
        for _ in 0..MAKE_ROOM_ATTEMPTS {
            match self.evict.try_recv() {
                Ok(Msg::Record(old)) => {
                    self.counters.drop_queue_full();
                    return Some(old);
                }
                // A wake-up is not a record; dropping it is harmless
                // because a full channel keeps the flusher busy anyway.
                Ok(Msg::Wake) => {}
                // The flusher or another producer holds the slots; one may
                // have come back.
                Err(_) => {
                    if let Some(slot) = self.pool.take_free() {
                        return Some(slot);
                    }
                }
            }
        }
        self.counters.drop_queue_full();
        None
    }

    /// The slow path when the data channel itself is full (of wake-ups):
    /// drop the oldest message, then queue. Bounded, like
    /// [`reclaim`](Self::reclaim).
    #[cold]
    fn push_full(&self, mut msg: Msg, slot: Slot) {
        for _ in 0..MAKE_ROOM_ATTEMPTS {
            match self.evict.try_recv() {
                Ok(Msg::Record(old)) => {
                    self.counters.drop_queue_full();
                    self.pool.free(old);
                }
                Ok(Msg::Wake) | Err(_) => {}
            }
            match self.tx.try_send(msg) {
                Ok(()) => {
                    self.nudge.queued();
                    return;
                }
                Err(flume::TrySendError::Full(m)) => msg = m,
                Err(flume::TrySendError::Disconnected(_)) => {
                    self.pool.free(slot);
                    Counters::bump(&self.counters.dropped_no_flusher);
                    return;
                }
            }
        }
        self.pool.free(slot);
        self.counters.drop_queue_full();
    }

    /// Records waiting in the channel now.
    pub(crate) fn queued(&self) -> usize {
        self.tx.len()
    }
}

impl ControlHandle {
    /// Sends a control message, waiting at most until `deadline` for room,
    /// and wakes the flusher. Returns false when it could not be sent.
    pub(crate) fn send(&self, msg: Control, deadline: Instant) -> bool {
        if self.ctl.send_deadline(msg, deadline).is_err() {
            return false;
        }
        // A flusher blocked in `recv` wakes on this message; one sleeping
        // between polls wakes on the unpark. If the data channel is full
        // the flusher is busy and sees the control message after its
        // current batch.
        let _ = self.tx.try_send(Msg::Wake);
        self.nudge.wake();
        true
    }

    /// Records waiting in the channel now.
    pub(crate) fn queued(&self) -> usize {
        self.tx.len()
    }
}

// === re-entrancy ===

thread_local! {
    /// Set while a thread is inside the logger (and for good on the
    /// flusher thread), so that events emitted from inside our own
    /// machinery are counted and dropped instead of looping.
    static IN_LOGGER: Cell<bool> = const { Cell::new(false) };
}

/// Guard returned by [`enter_logger`].
pub(crate) struct InLogger(());

impl Drop for InLogger {
    fn drop(&mut self) {
        IN_LOGGER.with(|c| c.set(false));
    }
}

/// Marks this thread as inside the logger, or `None` if it already is.
pub(crate) fn enter_logger() -> Option<InLogger> {
    IN_LOGGER.with(|c| {
        if c.get() {
            None
        } else {
            c.set(true);
            Some(InLogger(()))
        }
    })
}

/// Marks this thread as the logger's own for its whole life.
pub(crate) fn mark_thread_as_logger() {
    IN_LOGGER.with(|c| c.set(true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Counters;

    fn frame(tag: u8) -> Frame {
        let mut f = Frame::new();
        f.try_copy_from(&[tag]).expect("one byte fits");
        f
    }

    /// The first byte of each queued record, in order, freeing the slots.
    fn tags(ends: &FlusherEnds) -> Vec<u8> {
        ends.rx
            .try_iter()
            .filter_map(|m| match m {
                Msg::Record(slot) => ends.take_record(slot, |b| b.first().copied()),
                Msg::Wake => None,
            })
            .collect()
    }

    #[test]
    fn req_0815_full_queue_drops_the_oldest_and_counts_it() {
        let counters = Arc::new(Counters::new());
        let (p, _ctl, ends) = channel(3, counters.clone());
        for t in 1..=5 {
            p.push(&frame(t));
        }
        assert_eq!(
            tags(&ends),
            [3, 4, 5],
            "newest kept, oldest dropped, order kept"
        );
        let s = counters.snapshot(0);
        assert_eq!(s.dropped_queue_full, 2);
        assert_eq!(counters.ledger.pending(0).map(|p| p.count), Some(2));
        // Every slot came back: three more records fit without a drop.
        for t in 6..=8 {
            p.push(&frame(t));
        }
        assert_eq!(tags(&ends), [6, 7, 8]);
        assert_eq!(counters.snapshot(0).dropped_queue_full, 2);
    }

    #[test]
    fn wake_messages_are_not_counted_as_drops() {
        let counters = Arc::new(Counters::new());
        let (p, ctl, ends) = channel(2, counters.clone());
        let far = Instant::now() + std::time::Duration::from_secs(1);
        let (ack, _ack_rx) = flume::bounded(1);
        assert!(ctl.send(Control::Shutdown { deadline: far, ack }, far));
        p.push(&frame(1));
        p.push(&frame(2));
        assert_eq!(tags(&ends), [1, 2]);
        assert_eq!(counters.snapshot(0).dropped_queue_full, 0);
        assert!(ends.ctl.try_recv().is_ok(), "control message survived");
    }

    #[test]
    fn a_channel_full_of_wake_ups_still_takes_records() {
        let counters = Arc::new(Counters::new());
        let (p, ctl, ends) = channel(1, counters.clone());
        let far = Instant::now() + std::time::Duration::from_secs(1);
        for _ in 0..=WAKE_ROOM {
            let (ack, _ack_rx) = flume::bounded(1);
            assert!(ctl.send(Control::Shutdown { deadline: far, ack }, far));
        }
        assert_eq!(ends.rx.len(), 1 + WAKE_ROOM, "data channel full of wakes");
        p.push(&frame(7));
        assert_eq!(tags(&ends), [7]);
        assert_eq!(counters.snapshot(0).dropped_queue_full, 0);
    }

    #[test]
    fn a_dead_flusher_is_counted_as_no_flusher() {
        let counters = Arc::new(Counters::new());
        let (p, _ctl, ends) = channel(1, counters.clone());
        ends.alive.store(false, Ordering::Release);
        p.push(&frame(1));
        p.push(&frame(2));
        assert_eq!(counters.snapshot(0).dropped_no_flusher, 1);
        assert_eq!(counters.snapshot(0).dropped_queue_full, 0);
    }

    #[test]
    fn a_burst_unparks_the_flusher_at_half_the_channel() {
        let counters = Arc::new(Counters::new());
        let (p, _ctl, ends) = channel(Nudge::MIN_CAPACITY, counters);
        let half = Nudge::MIN_CAPACITY / 2;
        let (ready_tx, ready_rx) = flume::bounded(1);
        let (woke_tx, woke_rx) = flume::bounded(1);
        let nudge = ends.nudge.clone();
        let flusher = std::thread::spawn(move || {
            nudge.register_flusher();
            nudge.looking();
            let _ = ready_tx.send(());
            let start = Instant::now();
            // Parks until unparked (spurious wake-ups just park again).
            while start.elapsed() < std::time::Duration::from_secs(10) {
                std::thread::park_timeout(std::time::Duration::from_secs(10));
                if nudge.since_look.load(Ordering::Relaxed) >= half {
                    break;
                }
            }
            let _ = woke_tx.send(start.elapsed());
        });
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("flusher registered");
        for t in 0..half - 1 {
            p.push(&frame(t as u8));
        }
        assert!(woke_rx.try_recv().is_err(), "below half: no nudge yet");
        p.push(&frame(half as u8 - 1)); // half the channel
        let woke = woke_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the record at half the channel unparked the flusher");
        assert!(woke < std::time::Duration::from_secs(10), "{woke:?}");
        flusher.join().expect("flusher thread");
        let want: Vec<u8> = (0..half as u8).collect();
        assert_eq!(tags(&ends), want);
        // A small channel is never nudged.
        assert_eq!(Nudge::new(Nudge::MIN_CAPACITY - 1).threshold, usize::MAX);
    }

    #[test]
    fn a_control_message_unparks_a_sleeping_flusher() {
        let counters = Arc::new(Counters::new());
        let (_p, ctl, ends) = channel(Nudge::MIN_CAPACITY, counters);
        let (ready_tx, ready_rx) = flume::bounded(1);
        let (woke_tx, woke_rx) = flume::bounded(1);
        let nudge = ends.nudge.clone();
        let ctl_rx = ends.ctl.clone();
        let flusher = std::thread::spawn(move || {
            nudge.register_flusher();
            let _ = ready_tx.send(());
            let start = Instant::now();
            while start.elapsed() < std::time::Duration::from_secs(10) {
                std::thread::park_timeout(std::time::Duration::from_secs(10));
                if !ctl_rx.is_empty() {
                    break;
                }
            }
            let _ = woke_tx.send(start.elapsed());
        });
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("flusher registered");
        let far = Instant::now() + std::time::Duration::from_secs(10);
        let (ack, _ack_rx) = flume::bounded(1);
        assert!(ctl.send(Control::Shutdown { deadline: far, ack }, far));
        let woke = woke_rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the flusher thread reported");
        assert!(
            woke < std::time::Duration::from_secs(10),
            "the control message did not unpark the flusher ({woke:?})"
        );
        flusher.join().expect("flusher thread");
    }

    #[test]
    fn req_0813_records_travel_as_slot_indices_not_frames() {
        assert!(
            std::mem::size_of::<Msg>() <= 8,
            "{}",
            std::mem::size_of::<Msg>()
        );
        let counters = Arc::new(Counters::new());
        let (p, _ctl, ends) = channel(4, counters);
        let mut long = Frame::new();
        long.try_copy_from(&[0xAB; 1000]).expect("fits");
        p.push(&long);
        let Ok(Msg::Record(slot)) = ends.rx.try_recv() else {
            panic!("a record was queued");
        };
        assert_eq!(ends.take_record(slot, <[u8]>::to_vec), vec![0xAB; 1000]);
    }
}
