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
//! Each slot is an array of atomic words written by one producer and read
//! by the flusher: only the holder of a slot's index touches it, and an
//! index is in one place at a time (the free list, one producer, the data
//! channel, or the flusher). The atomics make the hand-over safe Rust
//! without a lock; the ordering comes from the hand-over itself (the data
//! channel's lock one way, the free list's release/acquire the other).
//! A mutex per slot did the same but had the flusher *write* every slot it
//! read (locking), so the producer that reused the slot next had to fetch
//! a modified cache line from the flusher's core.
//!
//! The free list is a lock-free stack (compare-and-swap on a tagged head),
//! not a channel: a channel's lock shared by the producers and the flusher
//! is a place where a producer can be made to wait when the flusher is
//! preempted while holding it (TEST_0812 counts such waits).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::frame::FRAME_CAP;

/// A slot index, as it travels on the channels.
pub(crate) type Slot = u32;

/// Words of one slot: room for `FRAME_CAP` bytes.
const WORDS: usize = FRAME_CAP.div_ceil(8);

/// One frame's bytes, as atomic words, and its length.
#[derive(Debug)]
struct AtomicFrame {
    len: AtomicU32,
    words: [AtomicU64; WORDS],
}

impl AtomicFrame {
    fn new() -> Self {
        Self {
            len: AtomicU32::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The pre-allocated frames and their free list. Storage never grows.
#[derive(Debug)]
pub(crate) struct FramePool {
    slots: Box<[AtomicFrame]>,
    free: FreeList,
}

impl FramePool {
    /// `n` empty frames (at least 1), all free.
    pub(crate) fn new(n: usize) -> Self {
        let n = n.clamp(1, (Slot::MAX - 1) as usize);
        let slots = (0..n).map(|_| AtomicFrame::new()).collect();
        let free = FreeList::new(n);
        for i in (0..n).rev() {
            free.push(i as Slot);
        }
        Self { slots, free }
    }

    /// Number of slots.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Takes a free slot; `None` when every slot is in use.
    #[inline]
    pub(crate) fn take_free(&self) -> Option<Slot> {
        self.free.pop()
    }

    /// Returns `slot` to the free list. Each slot must be freed once per
    /// take; an index out of range is ignored.
    #[inline]
    pub(crate) fn free(&self, slot: Slot) {
        if (slot as usize) < self.slots.len() {
            self.free.push(slot);
        }
    }

    /// Replaces the contents of `slot` with `bytes`, cut to `FRAME_CAP`
    /// (every encoded frame fits). An index out of range is ignored.
    pub(crate) fn write(&self, slot: Slot, bytes: &[u8]) {
        let Some(frame) = self.slots.get(slot as usize) else {
            return;
        };
        let bytes = &bytes[..bytes.len().min(FRAME_CAP)];
        // Whole words first (a fixed-size copy each, no `memcpy` call),
        // then the tail padded with zeros.
        let whole = bytes.chunks_exact(8);
        let tail = whole.remainder();
        let mut words = frame.words.iter();
        // `whole` first: `zip` then stops without taking a word too many.
        for (chunk, word) in whole.zip(words.by_ref()) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            word.store(u64::from_le_bytes(w), Ordering::Relaxed);
        }
        if let (Some(word), false) = (words.next(), tail.is_empty()) {
            let mut w = [0u8; 8];
            w[..tail.len()].copy_from_slice(tail);
            word.store(u64::from_le_bytes(w), Ordering::Relaxed);
        }
        frame.len.store(bytes.len() as u32, Ordering::Relaxed);
    }

    /// Calls `f` with the bytes in `slot` (empty for an index out of
    /// range) and returns what it returns.
    pub(crate) fn read<R>(&self, slot: Slot, f: impl FnOnce(&[u8]) -> R) -> R {
        let Some(frame) = self.slots.get(slot as usize) else {
            return f(&[]);
        };
        let len = (frame.len.load(Ordering::Relaxed) as usize).min(FRAME_CAP);
        let mut buf = [0u8; WORDS * 8];
        for (i, word) in frame.words[..len.div_ceil(8)].iter().enumerate() {
            buf[i * 8..i * 8 + 8].copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        f(&buf[..len])
    }
}

/// A lock-free stack of slot indices (a Treiber stack). The head holds the
/// top index + 1 (0: empty) in its low 32 bits and a tag in the high 32
/// bits that every change increments, so that a compare-and-swap cannot
/// succeed on a head that was popped and pushed back meanwhile (ABA).
#[derive(Debug)]
struct FreeList {
    head: AtomicU64,
    /// Per slot: the index + 1 of the slot below it on the stack.
    next: Box<[AtomicU32]>,
}

impl FreeList {
    fn new(n: usize) -> Self {
        Self {
            head: AtomicU64::new(0),
            next: (0..n).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn with_top(head: u64, top: u32) -> u64 {
        ((head >> 32).wrapping_add(1) << 32) | u64::from(top)
    }

    fn push(&self, slot: Slot) {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            // The slot is ours until the swap publishes it.
            self.next[slot as usize].store(head as u32, Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                head,
                Self::with_top(head, slot + 1),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    fn pop(&self) -> Option<Slot> {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let top = head as u32;
            if top == 0 {
                return None;
            }
            // If another thread changed the stack since `head` was read,
            // this value may be stale, but then the tag differs and the
            // swap below fails.
            let below = self.next[(top - 1) as usize].load(Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                head,
                Self::with_top(head, below),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(top - 1),
                Err(now) => head = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn every_slot_is_free_once_and_slots_keep_their_bytes() {
        let pool = FramePool::new(3);
        assert_eq!(pool.len(), 3);
        let mut got: Vec<Slot> = std::iter::from_fn(|| pool.take_free()).collect();
        assert_eq!(got, [0, 1, 2], "lowest first");
        assert_eq!(pool.take_free(), None, "all taken");
        pool.write(1, b"hello");
        pool.write(2, b"x");
        pool.write(1, b"hi"); // replaces, does not append
        assert_eq!(pool.read(1, <[u8]>::to_vec), b"hi");
        assert_eq!(pool.read(2, <[u8]>::to_vec), b"x");
        assert_eq!(pool.read(0, <[u8]>::len), 0);
        assert_eq!(pool.read(99, <[u8]>::len), 0, "out of range reads empty");
        pool.write(99, b"ignored");
        pool.free(99); // ignored
        for s in got.drain(..) {
            pool.free(s);
        }
        let mut again: Vec<Slot> = std::iter::from_fn(|| pool.take_free()).collect();
        again.sort_unstable();
        assert_eq!(again, [0, 1, 2], "each slot back exactly once");
    }

    #[test]
    fn every_length_round_trips_through_a_slot() {
        let pool = FramePool::new(1);
        for len in (0..=40).chain([FRAME_CAP - 9, FRAME_CAP - 1, FRAME_CAP]) {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            pool.write(0, &bytes);
            assert_eq!(pool.read(0, <[u8]>::to_vec), bytes, "len {len}");
        }
        pool.write(0, &vec![1u8; FRAME_CAP + 5]);
        assert_eq!(pool.read(0, <[u8]>::len), FRAME_CAP, "cut to FRAME_CAP");
    }

    #[test]
    fn memory_per_slot_is_as_documented() {
        // docs/architecture.md, DEFAULT_CHANNEL_CAPACITY and FRAME_CAP's
        // docs: `capacity × 1436` bytes, a 1432-byte slot
        // and a 4-byte free-list link. Measured on a real pool's storage,
        // so a change to the slot type or to the link type shows here.
        const N: usize = 8;
        let pool = FramePool::new(N);
        let slots = std::mem::size_of_val(&*pool.slots);
        let links = std::mem::size_of_val(&*pool.free.next);
        assert_eq!(slots, N * 1432, "frame storage: {N} slots of 1432 bytes");
        assert_eq!(links, N * 4, "free list: {N} links of 4 bytes");
        assert_eq!((slots + links) / N, 1436, "bytes per slot");
        // DEFAULT_CHANNEL_CAPACITY's docs: the default pool plus one 4-byte
        // index per channel place.
        let n = crate::DEFAULT_CHANNEL_CAPACITY;
        let pool = FramePool::new(n);
        let storage = std::mem::size_of_val(&*pool.slots)
            + std::mem::size_of_val(&*pool.free.next)
            + n * std::mem::size_of::<Slot>();
        assert_eq!(storage, 1_474_560, "the default channel's storage");
    }

    #[test]
    fn zero_slots_is_clamped_to_one() {
        let pool = FramePool::new(0);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.take_free(), Some(0));
        assert_eq!(pool.take_free(), None);
    }

    #[test]
    fn concurrent_takes_and_frees_never_hand_out_a_slot_twice() {
        const SLOTS: usize = 16;
        let pool = Arc::new(FramePool::new(SLOTS));
        // Each slot's frame holds a marker while a thread owns it; a second
        // owner would see the marker.
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let Some(s) = pool.take_free() else {
                            continue;
                        };
                        assert_eq!(pool.read(s, <[u8]>::len), 0, "slot {s} was in use");
                        pool.write(s, &[t]);
                        assert_eq!(pool.read(s, <[u8]>::to_vec), [t]);
                        pool.write(s, &[]);
                        pool.free(s);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no thread saw a slot in use");
        }
        let mut all: Vec<Slot> = std::iter::from_fn(|| pool.take_free()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..SLOTS as Slot).collect::<Vec<_>>(), "none lost");
    }
}
