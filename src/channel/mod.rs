//! The bounded queue between the producers (the layer, on the application's
//! threads) and the one background flusher, and the lossy producer handle.
//!
//! The producer's only operation is [`Producer::push`]: a `try_send` into a
//! bounded `flume` channel. It never waits. When the channel is full the
//! producer removes the *oldest* queued record, counts it as dropped, and
//! queues the new one (REQ_0815's drop-oldest policy, applied to the queue
//! as well as to the ring). Control messages (flush, shutdown) travel on a
//! separate small channel so that eviction can never discard one; a
//! [`Msg::Wake`] on the data channel wakes a sleeping flusher to read them.

pub(crate) mod flusher;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::frame::Frame;
use crate::stats::Counters;

/// What travels on the data channel.
// Records are stored inline on purpose: boxing them would allocate on the
// producer's ERROR path (REQ_0813). `Wake` is rare and costs a slot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Msg {
    /// One encoded record.
    Record(Frame),
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
    /// Cleared by the flusher when it exits.
    alive: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

/// The flusher's ends of both channels.
#[derive(Debug)]
pub(crate) struct FlusherEnds {
    pub(crate) rx: flume::Receiver<Msg>,
    pub(crate) ctl: flume::Receiver<Control>,
    pub(crate) alive: Arc<AtomicBool>,
}

/// The handle the guard keeps: sends control messages and wakes.
#[derive(Debug, Clone)]
pub(crate) struct ControlHandle {
    tx: flume::Sender<Msg>,
    ctl: flume::Sender<Control>,
}

/// Capacity of the control channel: control messages are rare (a flush
/// barrier, one shutdown), and a full control channel makes the caller
/// wait (with its own timeout), never a producer.
const CONTROL_CAPACITY: usize = 64;

/// Creates the channels, with the data channel's storage reserved up
/// front: flume grows a bounded queue lazily on the *sending* thread the
/// first time it fills, which would allocate on a producer's ERROR path
/// (REQ_0813). Filling it once with [`Msg::Wake`] and draining it makes
/// that growth happen here, at init.
pub(crate) fn channel(
    capacity: usize,
    counters: Arc<Counters>,
) -> (Producer, ControlHandle, FlusherEnds) {
    let capacity = capacity.max(1);
    let (tx, rx) = flume::bounded(capacity);
    let (ctl_tx, ctl_rx) = flume::bounded(CONTROL_CAPACITY);
    while tx.try_send(Msg::Wake).is_ok() {}
    while rx.try_recv().is_ok() {}
    let alive = Arc::new(AtomicBool::new(true));
    (
        Producer {
            tx: tx.clone(),
            evict: rx.clone(),
            alive: alive.clone(),
            counters,
        },
        ControlHandle { tx, ctl: ctl_tx },
        FlusherEnds {
            rx,
            ctl: ctl_rx,
            alive,
        },
    )
}

impl Producer {
    /// Queues `frame` without ever waiting. When the channel is full the
    /// oldest queued record is dropped and counted; when the flusher is
    /// gone, `frame` is dropped and counted.
    #[inline]
    pub(crate) fn push(&self, frame: Frame) {
        match self.tx.try_send(Msg::Record(frame)) {
            Ok(()) => {}
            Err(flume::TrySendError::Full(msg)) => self.push_full(msg),
            Err(flume::TrySendError::Disconnected(_)) => {
                Counters::bump(&self.counters.dropped_no_flusher);
            }
        }
    }

    /// The slow path of [`push`](Self::push): make room by dropping the
    /// oldest record, then queue. Bounded: at most a few attempts, then
    /// the new record itself is dropped (another producer keeps winning
    /// the freed slot), which is counted the same way.
    #[cold]
    fn push_full(&self, mut msg: Msg) {
        if !self.alive.load(Ordering::Acquire) {
            Counters::bump(&self.counters.dropped_no_flusher);
            return;
        }
        for _ in 0..4 {
            match self.evict.try_recv() {
                Ok(Msg::Record(_old)) => self.counters.drop_queue_full(),
                // A wake-up is not a record; dropping it is harmless
                // because a full channel keeps the flusher busy anyway.
                Ok(Msg::Wake) | Err(_) => {}
            }
            match self.tx.try_send(msg) {
                Ok(()) => return,
                Err(flume::TrySendError::Full(m)) => msg = m,
                Err(flume::TrySendError::Disconnected(_)) => {
                    Counters::bump(&self.counters.dropped_no_flusher);
                    return;
                }
            }
        }
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
        // If the data channel is full the flusher is busy and will see the
        // control message after its current batch; no wake needed.
        let _ = self.tx.try_send(Msg::Wake);
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

    fn tag(m: Msg) -> Option<u8> {
        match m {
            Msg::Record(f) => f.as_bytes().first().copied(),
            Msg::Wake => None,
        }
    }

    #[test]
    fn req_0815_full_queue_drops_the_oldest_and_counts_it() {
        let counters = Arc::new(Counters::new());
        let (p, _ctl, ends) = channel(3, counters.clone());
        for t in 1..=5 {
            p.push(frame(t));
        }
        let got: Vec<_> = ends.rx.try_iter().filter_map(tag).collect();
        assert_eq!(got, [3, 4, 5], "newest kept, oldest dropped, order kept");
        let s = counters.snapshot(0);
        assert_eq!(s.dropped_queue_full, 2);
        assert_eq!(counters.ledger.pending(0).map(|p| p.count), Some(2));
    }

    #[test]
    fn wake_messages_are_not_counted_as_drops() {
        let counters = Arc::new(Counters::new());
        let (p, ctl, ends) = channel(2, counters.clone());
        let far = Instant::now() + std::time::Duration::from_secs(1);
        let (ack, _ack_rx) = flume::bounded(1);
        assert!(ctl.send(Control::Shutdown { deadline: far, ack }, far));
        p.push(frame(1));
        p.push(frame(2)); // evicts the Wake, not a record
        let got: Vec<_> = ends.rx.try_iter().filter_map(tag).collect();
        assert_eq!(got, [1, 2]);
        assert_eq!(counters.snapshot(0).dropped_queue_full, 0);
        assert!(ends.ctl.try_recv().is_ok(), "control message survived");
    }

    #[test]
    fn a_dead_flusher_is_counted_as_no_flusher() {
        let counters = Arc::new(Counters::new());
        let (p, _ctl, ends) = channel(1, counters.clone());
        ends.alive.store(false, Ordering::Release);
        p.push(frame(1));
        p.push(frame(2));
        assert_eq!(counters.snapshot(0).dropped_no_flusher, 1);
        assert_eq!(counters.snapshot(0).dropped_queue_full, 0);
    }
}
