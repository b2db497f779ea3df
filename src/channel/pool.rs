//! [`FramePool`]: the frames that travel from the producers to the flusher,
//! allocated once at build, and the free list of their indices.
//!
//! A frame is 1424 bytes of inline storage however short the record (a
//! typical one is ~100 bytes), and moving one through a channel by value
//! copies all of it, on the producer's thread and again on the flusher's.
//! Instead the data channel carries a slot index: the producer takes a free
//! slot, copies just the record's bytes into it, and sends the index; the
//! flusher copies the bytes out and returns the slot.
//!
//! Each slot is a `Mutex<Frame>` that is never contended: only the holder
//! of a slot's index touches it, and an index is in one place at a time
//! (the free list, one producer, the data channel, or the flusher). The
//! lock is there so that the hand-over is safe Rust, not for exclusion.

use std::sync::{Mutex, PoisonError};

use crate::frame::Frame;

/// A slot index, as it travels on the channels.
pub(crate) type Slot = u32;

/// The pre-allocated frames. Storage never grows.
#[derive(Debug)]
pub(crate) struct FramePool {
    slots: Box<[Mutex<Frame>]>,
}

impl FramePool {
    /// `n` empty frames (at least 1), and a free list holding every index.
    ///
    /// The free list is a bounded channel of capacity `n`, filled here, so
    /// its storage is reserved now and returning a slot never allocates.
    pub(crate) fn new(n: usize) -> (Self, flume::Sender<Slot>, flume::Receiver<Slot>) {
        let n = n.clamp(1, Slot::MAX as usize);
        let slots = (0..n).map(|_| Mutex::new(Frame::new())).collect();
        let (free_tx, free_rx) = flume::bounded(n);
        for i in 0..n {
            // Cannot fail: the channel has room for exactly n and we hold
            // the receiver.
            let _ = free_tx.try_send(i as Slot);
        }
        (Self { slots }, free_tx, free_rx)
    }

    /// Number of slots.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Replaces the contents of `slot` with `bytes` (at most `FRAME_CAP`,
    /// as every encoded frame is). An index out of range is ignored.
    pub(crate) fn write(&self, slot: Slot, bytes: &[u8]) {
        if let Some(m) = self.slots.get(slot as usize) {
            let mut frame = m.lock().unwrap_or_else(PoisonError::into_inner);
            // Cannot fail: `bytes` came from a `Frame`.
            let _ = frame.try_copy_from(bytes);
        }
    }

    /// Calls `f` with the bytes in `slot` (empty for an index out of
    /// range) and returns what it returns.
    pub(crate) fn read<R>(&self, slot: Slot, f: impl FnOnce(&[u8]) -> R) -> R {
        match self.slots.get(slot as usize) {
            Some(m) => f(m.lock().unwrap_or_else(PoisonError::into_inner).as_bytes()),
            None => f(&[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_list_holds_every_slot_once_and_slots_keep_their_bytes() {
        let (pool, free_tx, free_rx) = FramePool::new(3);
        assert_eq!(pool.len(), 3);
        let mut got: Vec<Slot> = free_rx.try_iter().collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
        pool.write(1, b"hello");
        pool.write(2, b"x");
        pool.write(1, b"hi"); // replaces, does not append
        assert_eq!(pool.read(1, <[u8]>::to_vec), b"hi");
        assert_eq!(pool.read(2, <[u8]>::to_vec), b"x");
        assert_eq!(pool.read(0, <[u8]>::len), 0);
        assert_eq!(pool.read(99, <[u8]>::len), 0, "out of range reads empty");
        pool.write(99, b"ignored");
        for i in 0..3 {
            assert!(free_tx.try_send(i).is_ok(), "room for every slot");
        }
        assert!(free_tx.try_send(0).is_err(), "never more than n");
    }

    #[test]
    fn zero_slots_is_clamped_to_one() {
        let (pool, _tx, rx) = FramePool::new(0);
        assert_eq!(pool.len(), 1);
        assert_eq!(rx.try_iter().count(), 1);
    }
}
