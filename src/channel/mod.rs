//! The bounded queue between the producers (the layer, on the
//! application's threads) and the one background flusher.
//!
//! Data goes one way. A producer's only operation is [`Producer::push`]:
//! it takes a free slot of the [`FramePool`] (a lock-free stack), copies
//! the record's bytes into it and does a `try_send` of the slot's index
//! into a bounded `flume` channel, which only the flusher reads. It never
//! waits. Two exceptions, both on cold paths and both counted:
//!
//! - When every slot is taken, the producer removes the *oldest* queued
//!   record from the channel's head and reuses its slot, counted as
//!   [`Loss::QueueFull`] (REQ_0815's drop-oldest policy, applied to the
//!   queue as well as to the ring).
//! - When the flusher is gone, the producer drops its record, and takes
//!   back any record that raced with the flusher's exit, counted as
//!   [`Loss::NoFlusher`]: no record stays queued with nobody to read it.
//!
//! A producer used in another process than the one that built it (a
//! forked child) never touches these channels: their locks may be held
//! by threads that did not survive the fork. Its records go to the
//! child's own pipeline instead (see `process::fork`).
//!
//! Control messages (flush, shutdown) travel on their own small channel,
//! so no eviction can discard one and no wake-up takes a record's place;
//! the [`Doorbell`] wakes the flusher for both.

mod doorbell;
mod pool;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

pub(crate) use doorbell::Doorbell;
pub(crate) use pool::{FramePool, Slot};

use crate::frame::Frame;
use crate::ledger::Loss;
use crate::process::{self, claims::Claim, fork::Respawn};
use crate::stats::{Counters, Stats};

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
    /// The process that built this pipeline.
    pid: u32,
    /// Where this producer's records go in a forked child.
    respawn: Option<Arc<Respawn>>,
    tx: flume::Sender<Slot>,
    /// The channel's head, for the two cold paths in the module docs.
    head: flume::Receiver<Slot>,
    pool: Arc<FramePool>,
    bell: Arc<Doorbell>,
    counters: Arc<Counters>,
}

/// The flusher's ends of both channels.
#[derive(Debug)]
pub(crate) struct FlusherEnds {
    pub(crate) rx: flume::Receiver<Slot>,
    pub(crate) ctl: flume::Receiver<Control>,
    pub(crate) bell: Arc<Doorbell>,
    pool: Arc<FramePool>,
    counters: Arc<Counters>,
    /// The pipe directory this pipeline holds, released after the
    /// application FIFO is gone (the flusher drops its FIFO first).
    claim: Option<Claim>,
}

/// The handle the guard keeps: sends control messages.
#[derive(Debug, Clone)]
pub(crate) struct ControlHandle {
    ctl: flume::Sender<Control>,
    bell: Arc<Doorbell>,
    /// Read only for the queue's length (a receiver keeps no sender alive).
    depth: flume::Receiver<Slot>,
}

/// Capacity of the control channel: control messages are rare (a flush
/// barrier, one shutdown), and a full control channel makes the caller
/// wait (with its own timeout), never a producer.
const CONTROL_CAPACITY: usize = 64;

/// Creates the pool and the channels, with every channel's storage
/// reserved up front: flume grows a bounded queue lazily on the *sending*
/// thread the first time it fills, which would allocate on a producer's
/// ERROR path (REQ_0813). Filling the data channel once and draining it
/// makes that growth happen here, at init; the pool and its free list are
/// allocated by [`FramePool::new`].
///
/// The channel holds one message per slot: a producer holding a free slot
/// always finds room.
pub(crate) fn channel(
    capacity: usize,
    counters: Arc<Counters>,
) -> (Producer, ControlHandle, FlusherEnds) {
    process::install();
    let pool = Arc::new(FramePool::new(capacity));
    let bell = Arc::new(Doorbell::new(pool.len()));
    let (tx, rx) = flume::bounded(pool.len());
    let (ctl_tx, ctl_rx) = flume::bounded(CONTROL_CAPACITY);
    while tx.try_send(0).is_ok() {}
    while rx.try_recv().is_ok() {}
    let producer = Producer {
        pid: process::pid(),
        respawn: None,
        tx,
        head: rx.clone(),
        pool: pool.clone(),
        bell: bell.clone(),
        counters: counters.clone(),
    };
    let control = ControlHandle {
        ctl: ctl_tx,
        bell: bell.clone(),
        depth: rx.clone(),
    };
    let ends = FlusherEnds {
        rx,
        ctl: ctl_rx,
        bell,
        pool,
        counters,
        claim: None,
    };
    (producer, control, ends)
}

/// How many times a producer tries to make room before it drops its own
/// record instead (another producer keeps winning the freed slot).
const MAKE_ROOM_ATTEMPTS: usize = 4;

// === impl Producer ===

impl Producer {
    /// Queues a copy of `frame` without ever waiting. When every slot is
    /// taken the oldest queued record is dropped and counted; when the
    /// flusher is gone, `frame` is dropped and counted.
    #[inline]
    pub(crate) fn push(&self, frame: &Frame) {
        if process::pid() != self.pid {
            return self.push_in_another_process(frame);
        }
        if !self.bell.flusher_alive() {
            self.counters.losses.record(Loss::NoFlusher, 1);
            return;
        }
        let Some(slot) = self.pool.take_free().or_else(|| self.evict_oldest()) else {
            return;
        };
        self.pool.write(slot, frame.as_bytes());
        if self.tx.try_send(slot).is_err() {
            // Not expected: the channel has room for every slot, and this
            // handle keeps it connected.
            self.pool.free(slot);
            self.counters.losses.record(Loss::QueueFull, 1);
            return;
        }
        if self.bell.queued() {
            Counters::bump(&self.counters.producer_wakeups);
        }
        // The flusher may have exited between the first check and the
        // send: it clears `alive` before its last look at the channel, so
        // either it took this record or this check sees it gone.
        if !self.bell.flusher_alive() {
            self.reap();
        }
    }

    /// The slow path when no slot is free: take the slot of the oldest
    /// queued record, which is dropped and counted. `None` (with the new
    /// record counted as dropped) when no slot could be had in a few
    /// attempts.
    #[cold]
    fn evict_oldest(&self) -> Option<Slot> {
        for _ in 0..MAKE_ROOM_ATTEMPTS {
            if let Ok(old) = self.head.try_recv() {
                self.counters.losses.record(Loss::QueueFull, 1);
                return Some(old);
            }
            // The flusher or another producer holds the slots; one may
            // have come back.
            if let Some(slot) = self.pool.take_free() {
                return Some(slot);
            }
        }
        self.counters.losses.record(Loss::QueueFull, 1);
        None
    }

    /// The flusher is gone: every record still queued is dropped and
    /// counted, so none waits for a reader that will never come.
    #[cold]
    fn reap(&self) {
        while let Ok(slot) = self.head.try_recv() {
            self.pool.free(slot);
            self.counters.losses.record(Loss::NoFlusher, 1);
        }
    }

    /// In a forked child: the record goes to the child's own pipeline,
    /// built on its first record; without a recipe it is dropped and
    /// counted.
    #[cold]
    fn push_in_another_process(&self, frame: &Frame) {
        match &self.respawn {
            Some(r) => r.here().push(frame),
            None => self.counters.losses.record(Loss::NoFlusher, 1),
        }
    }

    /// Sends this producer's records to `respawn`'s pipelines in forked
    /// children.
    pub(crate) fn set_respawn(&mut self, respawn: Arc<Respawn>) {
        self.respawn = Some(respawn);
    }

    /// The pipeline's counters; in a forked child, the child's own
    /// pipeline's (all zero until the child logs).
    pub(crate) fn stats(&self) -> Stats {
        if process::pid() == self.pid {
            return self.counters.snapshot(self.tx.len() as u64);
        }
        match self.respawn.as_ref().and_then(|r| r.existing()) {
            Some(node) => node.stats(),
            None => Counters::new().snapshot(0),
        }
    }
}

impl Drop for Producer {
    /// In another process than the one that built it, dropping a channel
    /// end could take a lock held by a thread that did not survive the
    /// fork (the last sender disconnects the channel under its lock). A
    /// leaked clone keeps every count above zero, so the fields' drops
    /// below are plain atomic decrements.
    fn drop(&mut self) {
        if process::pid() != self.pid {
            std::mem::forget(self.clone());
        }
    }
}

// === impl FlusherEnds ===

impl FlusherEnds {
    /// Calls `f` with the record in `slot`, then frees the slot.
    pub(crate) fn take_record<R>(&self, slot: Slot, f: impl FnOnce(&[u8]) -> R) -> R {
        let r = self.pool.read(slot, f);
        self.pool.free(slot);
        r
    }

    /// Drops every queued record, counted as `cause`; returns how many.
    pub(crate) fn discard_queued(&self, cause: Loss) -> u64 {
        let mut n = 0;
        while let Ok(slot) = self.rx.try_recv() {
            self.pool.free(slot);
            n += 1;
        }
        self.counters.losses.record(cause, n);
        n
    }

    /// Keeps `claim` until these ends are dropped.
    pub(crate) fn hold(&mut self, claim: Claim) {
        self.claim = Some(claim);
    }

    /// Every producer handle and the guard are gone: nothing can send.
    pub(crate) fn orphaned(&self) -> bool {
        self.rx.is_disconnected() && self.ctl.is_disconnected() && self.rx.is_empty()
    }
}

impl Drop for FlusherEnds {
    /// The flusher exits (or never started, or panicked): producers see it
    /// from now on, and the records that raced with the exit are counted
    /// as [`Loss::NoFlusher`].
    fn drop(&mut self) {
        self.bell.flusher_gone();
        self.discard_queued(Loss::NoFlusher);
    }
}

// === impl ControlHandle ===

impl ControlHandle {
    /// Sends a control message, waiting at most until `deadline` for room,
    /// and wakes the flusher. Returns false when it could not be sent.
    pub(crate) fn send(&self, msg: Control, deadline: Instant) -> bool {
        if self.ctl.send_deadline(msg, deadline).is_err() {
            return false;
        }
        // A flusher napping or sleeping wakes on the unpark; one waiting
        // for a full FIFO sees the message within its poll.
        self.bell.ring();
        true
    }

    /// Sends a control message only if there is room now, and wakes the
    /// flusher; never waits (for the exit handler and the panic hook).
    pub(crate) fn try_send(&self, msg: Control) -> bool {
        if self.ctl.try_send(msg).is_err() {
            return false;
        }
        self.bell.ring();
        true
    }

    /// Whether the flusher has exited (its control receiver is gone).
    pub(crate) fn flusher_exited(&self) -> bool {
        self.ctl.is_disconnected()
    }

    /// Records waiting in the channel now.
    pub(crate) fn queued(&self) -> usize {
        self.depth.len()
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

/// Whether this thread is inside the logger now, or is the flusher.
pub(crate) fn in_logger() -> bool {
    IN_LOGGER.with(Cell::get)
}

/// Marks this thread as the logger's own for its whole life.
pub(crate) fn mark_thread_as_logger() {
    IN_LOGGER.with(|c| c.set(true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(tag: u8) -> Frame {
        let mut f = Frame::new();
        f.try_copy_from(&[tag]).expect("one byte fits");
        f
    }

    /// The first byte of each queued record, in order, freeing the slots.
    fn tags(ends: &FlusherEnds) -> Vec<u8> {
        ends.rx
            .try_iter()
            .filter_map(|slot| ends.take_record(slot, |b| b.first().copied()))
            .collect()
    }

    fn shutdown(ctl: &ControlHandle) {
        let far = Instant::now() + Duration::from_secs(1);
        let (ack, _ack_rx) = flume::bounded(1);
        assert!(ctl.send(Control::Shutdown { deadline: far, ack }, far));
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
        assert_eq!(counters.snapshot(0).dropped_queue_full, 2);
        assert_eq!(counters.losses.report().map(|r| r.dropped), Some(2));
        // Every slot came back: three more records fit without a drop.
        for t in 6..=8 {
            p.push(&frame(t));
        }
        assert_eq!(tags(&ends), [6, 7, 8]);
        assert_eq!(counters.snapshot(0).dropped_queue_full, 2);
    }

    #[test]
    fn control_messages_take_no_place_on_the_data_channel() {
        let counters = Arc::new(Counters::new());
        let (p, ctl, ends) = channel(2, counters.clone());
        for _ in 0..10 {
            shutdown(&ctl);
        }
        p.push(&frame(1));
        p.push(&frame(2));
        assert_eq!(tags(&ends), [1, 2]);
        assert_eq!(counters.snapshot(0).dropped_queue_full, 0);
        assert_eq!(ends.ctl.len(), 10, "every control message survived");
    }

    #[test]
    fn after_the_flusher_exits_every_record_is_counted_as_no_flusher() {
        let counters = Arc::new(Counters::new());
        let (p, ctl, ends) = channel(4, counters.clone());
        p.push(&frame(1));
        drop(ends);
        assert_eq!(counters.snapshot(0).dropped_no_flusher, 1, "the queued one");
        for t in 2..=11 {
            p.push(&frame(t));
        }
        let s = counters.snapshot(ctl.queued() as u64);
        assert_eq!(
            s.dropped_no_flusher, 11,
            "all of them, not `capacity` fewer"
        );
        assert_eq!((s.queued, s.dropped_queue_full), (0, 0));
    }

    #[test]
    fn records_racing_with_the_flusher_exit_are_all_accounted_for() {
        const PER_THREAD: u64 = 20_000;
        let counters = Arc::new(Counters::new());
        let (p, ctl, ends) = channel(64, counters.clone());
        let producers: Vec<_> = (0..2)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for _ in 0..PER_THREAD {
                        p.push(&frame(0));
                    }
                })
            })
            .collect();
        // Take records while the producers run, then exit under them.
        let mut taken = 0u64;
        while taken < 1000 {
            let Ok(slot) = ends.rx.recv_timeout(Duration::from_secs(1)) else {
                break; // the producers finished first
            };
            ends.take_record(slot, |_| ());
            taken += 1;
        }
        drop(ends);
        for t in producers {
            t.join().expect("producer thread");
        }
        let s = counters.snapshot(ctl.queued() as u64);
        assert_eq!(s.queued, 0, "nothing left queued with no reader");
        assert_eq!(
            taken + s.dropped_no_flusher + s.dropped_queue_full,
            2 * PER_THREAD,
            "every record taken or counted: {s:?}"
        );
    }

    #[test]
    fn a_burst_unparks_the_flusher_at_half_the_channel() {
        let counters = Arc::new(Counters::new());
        let (p, _ctl, ends) = channel(Doorbell::MIN_CAPACITY, counters);
        let half = Doorbell::MIN_CAPACITY / 2;
        let (ready_tx, ready_rx) = flume::bounded(1);
        let (woke_tx, woke_rx) = flume::bounded(1);
        let bell = ends.bell.clone();
        let rx = ends.rx.clone();
        let flusher = std::thread::spawn(move || {
            bell.register_flusher();
            bell.looking();
            let _ = ready_tx.send(());
            let start = Instant::now();
            // Naps until unparked (spurious wake-ups just nap again).
            while start.elapsed() < Duration::from_secs(10) {
                bell.nap(Duration::from_secs(10));
                if rx.len() >= half {
                    break;
                }
            }
            let _ = woke_tx.send(start.elapsed());
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("flusher registered");
        for t in 0..half - 1 {
            p.push(&frame(t as u8));
        }
        assert!(woke_rx.try_recv().is_err(), "below half: no ring yet");
        p.push(&frame(half as u8 - 1)); // half the channel
        let woke = woke_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the flusher thread reported");
        assert!(
            woke < Duration::from_secs(10),
            "the record at half the channel did not unpark the flusher ({woke:?})"
        );
        flusher.join().expect("flusher thread");
        let want: Vec<u8> = (0..half as u8).collect();
        assert_eq!(tags(&ends), want);
    }

    /// Runs `wake` while a flusher thread sleeps; how long it slept.
    fn sleep_until(ends: &FlusherEnds, wake: impl FnOnce()) -> Duration {
        let (ready_tx, ready_rx) = flume::bounded(1);
        let bell = ends.bell.clone();
        let flusher = std::thread::spawn(move || {
            bell.register_flusher();
            bell.looking();
            let _ = ready_tx.send(());
            let start = Instant::now();
            bell.sleep(Duration::from_secs(20));
            start.elapsed()
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("flusher registered");
        wake();
        flusher.join().expect("flusher thread")
    }

    #[test]
    fn a_record_wakes_a_sleeping_flusher() {
        let counters = Arc::new(Counters::new());
        let (p, _ctl, ends) = channel(4, counters);
        let slept = sleep_until(&ends, || p.push(&frame(1)));
        assert!(
            slept < Duration::from_secs(10),
            "the record did not wake the sleeping flusher ({slept:?})"
        );
        assert_eq!(tags(&ends), [1]);
    }

    #[test]
    fn a_control_message_wakes_a_sleeping_flusher() {
        let counters = Arc::new(Counters::new());
        let (_p, ctl, ends) = channel(Doorbell::MIN_CAPACITY, counters);
        let slept = sleep_until(&ends, || shutdown(&ctl));
        assert!(
            slept < Duration::from_secs(10),
            "the control message did not wake the sleeping flusher ({slept:?})"
        );
    }

    #[test]
    fn req_0813_records_travel_as_slot_indices_not_frames() {
        assert_eq!(std::mem::size_of::<Slot>(), 4);
        let counters = Arc::new(Counters::new());
        let (p, _ctl, ends) = channel(4, counters);
        let mut long = Frame::new();
        long.try_copy_from(&[0xAB; 1000]).expect("fits");
        p.push(&long);
        let slot = ends.rx.try_recv().expect("a record was queued");
        assert_eq!(ends.take_record(slot, <[u8]>::to_vec), vec![0xAB; 1000]);
    }
}
