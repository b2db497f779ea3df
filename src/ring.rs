//! [`OfflineRing`]: the bounded FIFO of encoded frames that the background
//! flusher keeps while the daemon is unreachable or reads slowly (REQ_0814,
//! REQ_0815).
//!
//! Its one job is to hold byte records in arrival order, in storage that is
//! allocated once by [`OfflineRing::with_limits`] (or
//! `with_capacity`), dropping (and counting)
//! the oldest records when a new one arrives and does not fit. It must not
//! do I/O, read a clock, lock, block, or allocate after construction (the
//! one exception, `OfflineRing::drain_all`, allocates its return value and
//! is meant for tests and shutdown reports). The flusher supplies the writes
//! and the times; the ring only decides what is kept and in which order.
//!
//! Records are stored back to back in one byte arena, each taking only its
//! own length, so a typical 100-byte record costs 100 bytes, not a
//! maximum-size slot: the same memory holds an order of magnitude more of
//! them than fixed slots would.

use std::error::Error;
use std::fmt;
use std::iter::FusedIterator;

/// The largest record the ring stores, in bytes.
///
/// This equals the frame encoder's `FRAME_CAP` (1424 bytes: 8-byte user
/// header + 26 bytes of DLT headers + libdlt's 1390-byte payload buffer,
/// PROTOCOL.md §10.5), so every encoded frame fits.
pub(crate) const MAX_RECORD_LEN: usize = crate::frame::FRAME_CAP;

// Record lengths are stored as `u16`; make sure every valid length fits.
const _: () = assert!(MAX_RECORD_LEN <= u16::MAX as usize);

/// Bytes of bookkeeping per record the ring can index: its start (`u64`)
/// and its length (`u16`).
#[cfg(test)]
const INDEX_BYTES_PER_RECORD: usize = std::mem::size_of::<u64>() + std::mem::size_of::<u16>();

/// The most records the ring holds when none is configured.
///
/// With [`DEFAULT_RING_BYTES`] this is the limit for records of up to
/// 96 bytes; longer records reach the byte limit first.
///
/// Example: [every setting at its default](crate::DltLayerBuilder#examples).
pub const DEFAULT_RING_CAPACITY: usize = 4096;

/// The size of the ring's byte arena when none is configured: 384 KiB.
///
/// Rationale: below libdlt's own offline buffer ceiling of 500,000 bytes
/// (PROTOCOL.md §10.6), so replacing libdlt never costs more memory, and
/// together with the index (4096 × 10 bytes) about 424 KiB. It holds
/// about 3,900 typical 100-byte records, or 276 maximum-size (1424-byte)
/// ones. At 500 records per second that covers about 7 seconds of daemon
/// outage, the order of a daemon restart; longer outages lose the oldest
/// records, which are counted and reported (REQ_0815). Raise it when a
/// longer outage matters more than memory.
///
/// Example: [every setting at its default](crate::DltLayerBuilder#examples).
pub const DEFAULT_RING_BYTES: usize = 384 * 1024;

/// What [`OfflineRing::push`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    /// The record was stored; nothing was lost.
    Stored,
    /// The ring was full (in records or in bytes): this many of the oldest
    /// records were dropped (the caller counts them) to
    /// make room, then the record was stored. More than one only when a
    /// long record displaced shorter ones.
    StoredDroppedOldest(usize),
}

/// A record longer than [`FRAME_CAP`](crate::FRAME_CAP) was offered to
/// [`OfflineRing::push`]; nothing was stored and nothing was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordTooLarge {
    len: usize,
}

impl RecordTooLarge {
    /// The length of the rejected record, in bytes.
    #[cfg(test)]
    pub(crate) fn record_len(&self) -> usize {
        self.len
    }

    /// The largest length the ring accepts ([`FRAME_CAP`](crate::FRAME_CAP)).
    #[cfg(test)]
    pub(crate) fn max_len(&self) -> usize {
        MAX_RECORD_LEN
    }
}

impl fmt::Display for RecordTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "record of {} bytes exceeds the offline ring's limit of {} bytes",
            self.len, MAX_RECORD_LEN
        )
    }
}

impl Error for RecordTooLarge {}

/// A bounded, pre-allocated FIFO of byte records with drop-oldest overflow.
///
/// The background flusher pushes complete encoded frames here while the
/// daemon is unreachable and drains them, oldest first, once it is back.
/// A record leaves the ring only after it was written: reading is
/// peek ([`iter`](Self::iter), or `front` in tests) and then remove
/// ([`pop_front_n`](Self::pop_front_n)), or in tests
/// both at once with `drain_with`, which keeps a failed
/// record and everything after it in place (TEST_0814).
///
/// # Memory
///
/// Two limits, both fixed at construction: at most
/// [`capacity`](Self::capacity) records, in a byte arena of
/// `arena_bytes` bytes where each record takes its own
/// length (a record never straddles the arena's end; the few bytes left
/// there when one would are skipped). All storage is allocated by the
/// constructor and never grows:
///
/// ```text
/// arena_bytes + capacity × 10 bytes + size_of::<OfflineRing>()
/// ```
///
/// reported by `memory_bytes`. The arena is
/// allocated zeroed, so on Linux its pages typically become resident only
/// when first written.
///
/// # Overflow
///
/// When a new record does not fit, [`push`](Self::push) drops the oldest
/// records until it does, says how many in its [`PushOutcome`] (the
/// caller counts them in the loss ledger) and stores the new one
/// (REQ_0815): no panic, no spin, no block.
pub(crate) struct OfflineRing {
    /// The records' bytes, back to back, wrapping around.
    data: Box<[u8]>,
    /// Per index slot: where the record starts, as a virtual offset that
    /// only grows (the arena position is `start % data.len()`).
    starts: Box<[u64]>,
    /// Per index slot: the record's length. `lens.len()` is the capacity.
    lens: Box<[u16]>,
    /// Index slot of the oldest record (meaningful only when `len > 0`).
    head: usize,
    /// Number of records stored, `0..=capacity`.
    len: usize,
    /// Virtual offset one past the newest record's end (0 when empty).
    tail: u64,
}

// === impl OfflineRing ===

impl OfflineRing {
    /// The largest record the ring stores, in bytes (same as
    /// [`FRAME_CAP`](crate::FRAME_CAP)).
    #[cfg(test)]
    pub(crate) const MAX_RECORD: usize = MAX_RECORD_LEN;

    /// Creates a ring that holds `records` records of any length up to
    /// `MAX_RECORD`, allocating all of its storage now;
    /// it never allocates again. The byte limit is set so that it is never
    /// the one reached first.
    ///
    /// A capacity of 0 is clamped to 1: a ring that can hold nothing would
    /// drop every record, which is never what a configuration meant.
    ///
    /// # Panics
    ///
    /// Like [`Vec::with_capacity`], panics if the storage size exceeds
    /// `isize::MAX` bytes; aborts if the allocator cannot provide it.
    #[cfg(test)]
    pub(crate) fn with_capacity(records: usize) -> Self {
        let records = records.max(1);
        Self::with_limits(records, Self::bytes_for(records))
    }

    /// Creates a ring that holds at most `records` records and at most
    /// `bytes` bytes of them, whichever is reached first, allocating all of
    /// its storage now; it never allocates again.
    ///
    /// `records` is clamped to at least 1. `bytes` is clamped to at least
    /// `MAX_RECORD`, so that any record fits, and to at
    /// most what `records` maximum-size records can need, so that no
    /// memory is reserved that could never be used.
    ///
    /// # Panics
    ///
    /// As `with_capacity`.
    pub(crate) fn with_limits(records: usize, bytes: usize) -> Self {
        let records = records.max(1);
        let bytes = bytes.clamp(MAX_RECORD_LEN, Self::bytes_for(records));
        Self {
            data: vec![0u8; bytes].into_boxed_slice(),
            starts: vec![0u64; records].into_boxed_slice(),
            lens: vec![0u16; records].into_boxed_slice(),
            head: 0,
            len: 0,
            tail: 0,
        }
    }

    /// An arena in which `records` records of any length always fit: their
    /// bytes, plus at most two skipped ends of the arena (one still behind
    /// live records, one about to be), each shorter than a record.
    fn bytes_for(records: usize) -> usize {
        records.saturating_add(2).saturating_mul(MAX_RECORD_LEN)
    }

    /// Appends `record` as the newest entry. When it does not fit (the ring
    /// holds [`capacity`](Self::capacity) records, or its arena has no room
    /// for `record.len()` more bytes), the oldest records are dropped first,
    /// as many as needed, and the outcome says how many. Never blocks,
    /// never allocates.
    ///
    /// # Errors
    ///
    /// Returns [`RecordTooLarge`] if `record` is longer than
    /// [`FRAME_CAP`](crate::FRAME_CAP); the ring is then left exactly as it was (nothing
    /// stored, nothing dropped).
    pub(crate) fn push(&mut self, record: &[u8]) -> Result<PushOutcome, RecordTooLarge> {
        let too_large = RecordTooLarge { len: record.len() };
        let len16 = u16::try_from(record.len()).map_err(|_| too_large)?;
        if record.len() > MAX_RECORD_LEN {
            return Err(too_large);
        }
        let mut dropped = 0;
        // Terminates: an empty ring always has room (arena ≥ MAX_RECORD).
        while !self.fits(record.len()) {
            self.pop_front_n(1);
            dropped += 1;
        }
        let start = self.place(record.len());
        let at = (start % self.data.len() as u64) as usize;
        self.data[at..at + record.len()].copy_from_slice(record);
        let slot = self.slot_after(self.head, self.len);
        self.starts[slot] = start;
        self.lens[slot] = len16;
        self.tail = start + record.len() as u64;
        self.len += 1;
        Ok(if dropped == 0 {
            PushOutcome::Stored
        } else {
            PushOutcome::StoredDroppedOldest(dropped)
        })
    }

    /// `true` when a record of `len` bytes can be pushed now without
    /// dropping anything.
    pub(crate) fn fits(&self, len: usize) -> bool {
        if self.len == self.capacity() || len > self.data.len() {
            return false;
        }
        if self.len == 0 {
            return true;
        }
        let used_from = self.starts[self.head];
        self.place(len) + len as u64 - used_from <= self.data.len() as u64
    }

    /// Where a record of `len` bytes would start, as a virtual offset:
    /// at the tail, or at the arena's start when it would straddle the
    /// arena's end (the bytes left there are skipped).
    fn place(&self, len: usize) -> u64 {
        let arena = self.data.len() as u64;
        let at = self.tail % arena;
        if at + len as u64 > arena {
            self.tail + (arena - at)
        } else {
            self.tail
        }
    }

    /// The oldest record, without removing it; `None` when empty.
    #[cfg(test)]
    pub(crate) fn front(&self) -> Option<&[u8]> {
        (self.len > 0).then(|| self.slot(self.head))
    }

    /// The records, oldest first, without removing them.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter {
            ring: self,
            front: 0,
            back: self.len,
        }
    }

    /// Removes the oldest record (call it after that record was written).
    /// Returns `false` if the ring was empty.
    #[cfg(test)]
    pub(crate) fn pop_front(&mut self) -> bool {
        self.pop_front_n(1) == 1
    }

    /// Removes up to `n` of the oldest records and returns how many were
    /// removed (`min(n, len)`): after a write that carried the first `n`
    /// records of [`iter`](Self::iter) succeeded.
    pub(crate) fn pop_front_n(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        self.head = self.slot_after(self.head, n);
        self.len -= n;
        if self.len == 0 {
            self.clear();
        }
        n
    }

    /// Hands the records to `f` oldest first, removing each one only after
    /// `f` returned `Ok` for it.
    ///
    /// Returns the number of records removed once the ring is empty.
    ///
    /// # Errors
    ///
    /// Stops at the first `Err` from `f` and returns it. The record `f`
    /// failed on and every record after it stay in the ring, in their
    /// original order, for the next attempt (TEST_0814). Records accepted
    /// before the failure have been removed; compare [`len`](Self::len)
    /// before and after to count them.
    #[cfg(test)]
    pub(crate) fn drain_with<E>(
        &mut self,
        mut f: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut written = 0;
        while let Some(record) = self.front() {
            f(record)?;
            self.pop_front();
            written += 1;
        }
        Ok(written)
    }

    /// Number of records stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// `true` when no record is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum number of records (at least 1; fixed at construction).
    pub(crate) fn capacity(&self) -> usize {
        self.lens.len()
    }

    /// Size of the byte arena the records share (fixed at construction).
    #[cfg(test)]
    pub(crate) fn arena_bytes(&self) -> usize {
        self.data.len()
    }

    /// Bytes the stored records take (without the skipped arena ends).
    #[cfg(test)]
    pub(crate) fn stored_bytes(&self) -> usize {
        self.lens_iter().map(usize::from).sum()
    }

    /// Everything this ring allocated, plus the struct itself, in bytes:
    /// `arena_bytes() + capacity() × 10 + size_of::<OfflineRing>()`.
    #[cfg(test)]
    pub(crate) fn memory_bytes(&self) -> usize {
        self.data.len() + self.capacity() * INDEX_BYTES_PER_RECORD + std::mem::size_of::<Self>()
    }

    /// `true` when the ring holds [`capacity`](Self::capacity) records, so
    /// that the next [`push`](Self::push) drops the oldest. (A long record
    /// can also displace old ones before that; [`fits`](Self::fits)
    /// answers for a given length.)
    #[cfg(test)]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Removes every record without counting them as dropped; keeps the
    /// storage.
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.tail = 0;
    }

    /// Removes every record and returns copies, oldest first.
    ///
    /// This allocates (one `Vec` per record plus the outer one), unlike
    /// everything else here: it is meant for tests and shutdown reports,
    /// not for the flusher's drain, which batches from
    /// [`iter`](Self::iter) and pops with [`pop_front_n`](Self::pop_front_n).
    #[cfg(test)]
    pub(crate) fn drain_all(&mut self) -> Vec<Vec<u8>> {
        let records = self.iter().map(<[u8]>::to_vec).collect();
        self.clear();
        records
    }

    /// The slot `n` places after `slot`, wrapping around.
    fn slot_after(&self, slot: usize, n: usize) -> usize {
        // `slot < capacity` and `n <= capacity`, so this cannot overflow
        // for any capacity that could be allocated.
        (slot + n) % self.capacity()
    }

    /// The bytes stored in `slot` (`slot < capacity`).
    fn slot(&self, slot: usize) -> &[u8] {
        let start = (self.starts[slot] % self.data.len() as u64) as usize;
        &self.data[start..start + usize::from(self.lens[slot])]
    }

    /// The stored records' lengths, oldest first.
    #[cfg(test)]
    fn lens_iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..self.len).map(|i| self.lens[self.slot_after(self.head, i)])
    }

    /// The `i`-th record counted from the oldest (`i < len`).
    fn nth(&self, i: usize) -> &[u8] {
        self.slot(self.slot_after(self.head, i))
    }
}

impl fmt::Debug for OfflineRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the contents: they can be megabytes of binary frames.
        f.debug_struct("OfflineRing")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .field("arena_bytes", &self.data.len())
            .finish_non_exhaustive()
    }
}

impl<'a> IntoIterator for &'a OfflineRing {
    type Item = &'a [u8];
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

// === impl Iter ===

/// Iterator over an [`OfflineRing`]'s records, oldest first; see
/// [`OfflineRing::iter`].
#[derive(Clone, Debug)]
pub(crate) struct Iter<'a> {
    ring: &'a OfflineRing,
    /// Next logical index from the front (0 = oldest).
    front: usize,
    /// One past the last logical index not yet yielded from the back.
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front == self.back {
            return None;
        }
        let record = self.ring.nth(self.front);
        self.front += 1;
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        Some(self.ring.nth(self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl FusedIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    fn contents(ring: &OfflineRing) -> Vec<Vec<u8>> {
        ring.iter().map(<[u8]>::to_vec).collect()
    }

    fn v(records: &[&[u8]]) -> Vec<Vec<u8>> {
        records.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn test_0814_ring_only_capacity3_push_a_b_drain_fifo() {
        let mut ring = OfflineRing::with_capacity(3);
        assert_eq!(ring.push(b"a"), Ok(PushOutcome::Stored));
        assert_eq!(ring.push(b"b"), Ok(PushOutcome::Stored));
        assert_eq!(ring.drain_all(), v(&[b"a", b"b"]));
        assert!(ring.is_empty());
    }

    #[test]
    fn test_0814_ring_only_capacity2_push_a_b_c_drops_oldest() {
        let mut ring = OfflineRing::with_capacity(2);
        assert_eq!(ring.push(b"a"), Ok(PushOutcome::Stored));
        assert_eq!(ring.push(b"b"), Ok(PushOutcome::Stored));
        assert_eq!(ring.push(b"c"), Ok(PushOutcome::StoredDroppedOldest(1)));
        assert_eq!(ring.drain_all(), v(&[b"b", b"c"]));
    }

    #[test]
    fn test_0814_drain_with_failure_keeps_unwritten_suffix_in_order() {
        let mut ring = OfflineRing::with_capacity(16);
        for tag in b'0'..=b'4' {
            // Large records, as in the spec's fixture (scaled to MAX_RECORD).
            assert!(ring.push(&[tag; MAX_RECORD_LEN]).is_ok());
        }
        let mut written = Vec::new();
        let result = ring.drain_with(|record| {
            if written.is_empty() {
                written.push(record.to_vec());
                Ok(())
            } else {
                Err("daemon went away")
            }
        });
        assert_eq!(result, Err("daemon went away"));
        assert_eq!(written, vec![vec![b'0'; MAX_RECORD_LEN]]);
        let rest: Vec<Vec<u8>> = (b'1'..=b'4').map(|t| vec![t; MAX_RECORD_LEN]).collect();
        assert_eq!(ring.drain_all(), rest, "exactly '1'..'4' remain, in order");
    }

    #[test]
    fn drain_with_returns_count_when_all_written() {
        let mut ring = OfflineRing::with_capacity(4);
        for r in [b"x", b"y", b"z"] {
            assert!(ring.push(r).is_ok());
        }
        assert_eq!(ring.drain_with(|_| Ok::<(), ()>(())), Ok(3));
        assert!(ring.is_empty());
        assert_eq!(ring.drain_with(|_| Err(())), Ok(0), "empty ring: f unused");
    }

    #[test]
    fn req_0815_drop_oldest_counts_every_drop() {
        let mut ring = OfflineRing::with_capacity(3);
        let mut drops = 0;
        for i in 0..100u8 {
            match ring.push(&[i]) {
                Ok(PushOutcome::Stored) => assert!(i < 3, "push {i} stored"),
                Ok(PushOutcome::StoredDroppedOldest(n)) => {
                    assert_eq!(n, 1, "equal-size records displace one each");
                    drops += 1;
                }
                Err(e) => panic!("push {i}: {e}"),
            }
        }
        assert_eq!(drops, 97);
        assert_eq!(ring.drain_all(), v(&[&[97], &[98], &[99]]));
    }

    #[test]
    fn req_0815_too_large_record_is_rejected_without_side_effects() {
        let mut ring = OfflineRing::with_capacity(1);
        assert!(ring.push(b"keep").is_ok());
        let big = vec![0u8; MAX_RECORD_LEN + 1];
        let err = ring.push(&big).unwrap_err();
        assert_eq!(err.record_len(), MAX_RECORD_LEN + 1);
        assert_eq!(err.max_len(), MAX_RECORD_LEN);
        assert!(err.to_string().contains("1425"), "{err}");
        let huge = vec![0u8; 70_000]; // also beyond u16
        assert_eq!(ring.push(&huge).unwrap_err().record_len(), 70_000);
        assert_eq!(ring.drain_all(), v(&[b"keep"]), "nothing stored");
        // The maximum itself and the empty record are fine.
        assert_eq!(
            ring.push(&[7; MAX_RECORD_LEN]),
            Ok(PushOutcome::Stored),
            "exactly MAX"
        );
        assert_eq!(ring.push(b""), Ok(PushOutcome::StoredDroppedOldest(1)));
        assert_eq!(ring.front(), Some(&b""[..]));
    }

    #[test]
    fn capacity_zero_is_clamped_to_one() {
        let mut ring = OfflineRing::with_capacity(0);
        assert_eq!(ring.capacity(), 1);
        assert_eq!(ring.push(b"a"), Ok(PushOutcome::Stored));
        assert!(ring.is_full());
        assert_eq!(ring.push(b"b"), Ok(PushOutcome::StoredDroppedOldest(1)));
        assert_eq!(ring.drain_all(), v(&[b"b"]));
    }

    #[test]
    fn wrap_around_keeps_fifo_order() {
        let mut ring = OfflineRing::with_capacity(3);
        let mut next = 0u8;
        let mut expected = VecDeque::new();
        // Interleave pushes and pops so head walks around the slots many times.
        for round in 0..50 {
            for _ in 0..2 {
                assert!(ring.push(&[next; 5]).is_ok());
                if expected.len() == 3 {
                    expected.pop_front();
                }
                expected.push_back(vec![next; 5]);
                next = next.wrapping_add(1);
            }
            assert_eq!(ring.front(), expected.front().map(Vec::as_slice));
            assert!(ring.pop_front(), "round {round}");
            expected.pop_front();
            if round % 3 == 0 {
                assert!(ring.pop_front());
                expected.pop_front();
            }
            assert_eq!(
                contents(&ring),
                Vec::from(expected.clone()),
                "round {round}"
            );
        }
    }

    #[test]
    fn wrap_around_with_drops_keeps_newest_in_order() {
        let mut ring = OfflineRing::with_capacity(4);
        let mut dropped = 0;
        for i in 0..10u8 {
            match ring.push(&vec![i; usize::from(i) * 100]) {
                Ok(PushOutcome::StoredDroppedOldest(n)) => dropped += n,
                Ok(PushOutcome::Stored) => {}
                Err(e) => panic!("push {i}: {e}"),
            }
        }
        let expect: Vec<Vec<u8>> = (6..10u8).map(|i| vec![i; usize::from(i) * 100]).collect();
        assert_eq!(contents(&ring), expect);
        let back: Vec<Vec<u8>> = ring.iter().rev().map(<[u8]>::to_vec).collect();
        assert_eq!(
            back,
            expect.iter().rev().cloned().collect::<Vec<_>>(),
            "rev"
        );
        assert_eq!(ring.iter().len(), 4);
        assert_eq!(dropped, 6);
    }

    #[test]
    fn pop_on_empty_is_harmless() {
        let mut ring = OfflineRing::with_capacity(2);
        assert!(!ring.pop_front());
        assert_eq!(ring.pop_front_n(5), 0);
        assert_eq!(ring.front(), None);
        assert!(ring.push(b"a").is_ok());
        assert_eq!(ring.pop_front_n(5), 1);
        assert!(ring.is_empty());
    }

    #[test]
    fn req_0814_storage_never_grows() {
        let mut ring = OfflineRing::with_capacity(7);
        let storage = |r: &OfflineRing| {
            (
                r.data.as_ptr(),
                r.data.len(),
                r.starts.as_ptr(),
                r.starts.len(),
                r.lens.as_ptr(),
                r.lens.len(),
            )
        };
        let before = storage(&ring);
        assert_eq!(before.1, 9 * MAX_RECORD_LEN);
        assert_eq!((before.3, before.5), (7, 7));
        for i in 0..10_000usize {
            let len = (i * 37) % (MAX_RECORD_LEN + 1);
            assert!(ring.push(&vec![0x5A; len]).is_ok());
            if i % 5 == 0 {
                ring.pop_front();
            }
            if i % 777 == 0 {
                let _ = ring.drain_with(|_| Ok::<(), ()>(()));
            }
            if i % 1001 == 0 {
                ring.clear();
            }
        }
        assert_eq!(storage(&ring), before, "same allocation, same size");
        assert_eq!(ring.capacity(), 7);
    }

    #[test]
    fn memory_cost_matches_the_documented_formula() {
        let ring = OfflineRing::with_limits(DEFAULT_RING_CAPACITY, DEFAULT_RING_BYTES);
        assert_eq!(ring.arena_bytes(), 393_216);
        #[cfg(target_pointer_width = "64")]
        {
            assert_eq!(std::mem::size_of::<OfflineRing>(), 72, "struct overhead");
            assert_eq!(ring.memory_bytes(), 393_216 + 4096 * 10 + 72);
            // About 424 KiB, below libdlt's 500,000-byte buffer ceiling.
            assert!(ring.memory_bytes() < 500_000);
        }
        // Capacity alone: room for that many maximum-size records.
        let ring = OfflineRing::with_capacity(256);
        assert_eq!(ring.arena_bytes(), 258 * 1424);
        assert_eq!(OfflineRing::MAX_RECORD, MAX_RECORD_LEN);
        // The byte limit is clamped to what the record limit can use.
        assert_eq!(OfflineRing::with_limits(2, 1 << 30).arena_bytes(), 4 * 1424);
        assert_eq!(OfflineRing::with_limits(100, 10).arena_bytes(), 1424);
    }

    #[test]
    fn req_0814_default_ring_holds_thousands_of_typical_records() {
        let mut ring = OfflineRing::with_limits(DEFAULT_RING_CAPACITY, DEFAULT_RING_BYTES);
        let mut i = 0u32;
        while ring.push(&[i as u8; 100]) == Ok(PushOutcome::Stored) {
            i += 1;
        }
        assert_eq!(i, 3932, "393,216 bytes / 100-byte records");
        assert_eq!(ring.len(), 3932, "the 3933rd displaced the oldest");
        let mut ring = OfflineRing::with_limits(DEFAULT_RING_CAPACITY, DEFAULT_RING_BYTES);
        let mut n = 0;
        while ring.push(&[0; MAX_RECORD_LEN]) == Ok(PushOutcome::Stored) {
            n += 1;
        }
        assert_eq!(n, 276, "maximum-size records");
    }

    #[test]
    fn req_0815_a_long_record_displaces_as_many_short_ones_as_needed() {
        let mut ring = OfflineRing::with_limits(100, MAX_RECORD_LEN);
        for i in 0..14u8 {
            assert_eq!(ring.push(&[i; 100]), Ok(PushOutcome::Stored));
        }
        // 1400 of 1424 bytes used; 500 more need 5 of the oldest to go.
        assert_eq!(
            ring.push(&[99; 500]),
            Ok(PushOutcome::StoredDroppedOldest(5))
        );
        let got = contents(&ring);
        assert_eq!(got.len(), 10);
        assert_eq!(got[0], vec![5u8; 100], "oldest survivor");
        assert_eq!(got[9], vec![99u8; 500], "newest last");
        assert_eq!(ring.stored_bytes(), 900 + 500);
    }

    #[test]
    fn a_record_never_straddles_the_arena_end() {
        let mut ring = OfflineRing::with_limits(100, MAX_RECORD_LEN);
        assert!(ring.push(&[1; 1000]).is_ok());
        assert!(ring.push(&[2; 300]).is_ok());
        assert!(ring.pop_front()); // free 0..1000; tail at 1300
        assert!(ring.fits(124), "the 124 bytes before the end");
        assert!(ring.fits(1000), "skips the end, starts at 0");
        assert!(!ring.fits(1125), "1124 free before the live record");
        assert_eq!(ring.push(&[3; 900]), Ok(PushOutcome::Stored));
        assert_eq!(contents(&ring), vec![vec![2; 300], vec![3; 900]]);
        // Both are contiguous slices of the right bytes, in order.
        assert!(ring.front().is_some_and(|r| r.iter().all(|&b| b == 2)));
    }

    #[test]
    fn debug_shows_counts_not_contents() {
        let mut ring = OfflineRing::with_capacity(2);
        assert!(ring.push(b"secret").is_ok());
        let s = format!("{ring:?}");
        assert!(s.contains("len: 1") && s.contains("capacity: 2"), "{s}");
        assert!(!s.contains("secret"), "{s}");
    }

    // === model test ===

    #[derive(Clone, Debug)]
    enum Op {
        /// Push a record of this length filled with a per-push tag.
        Push(usize),
        Pop,
        PopN(usize),
        /// drain_with accepting this many records, then failing.
        DrainFailAfter(usize),
        /// Pop the whole records from the front that fit in this many
        /// bytes together, as one successful batched write would.
        PopFitting(usize),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => prop_oneof![0..=16usize, 0..=MAX_RECORD_LEN + 2].prop_map(Op::Push),
            2 => Just(Op::Pop),
            1 => (0..6usize).prop_map(Op::PopN),
            1 => (0..6usize).prop_map(Op::DrainFailAfter),
            1 => (0..5000usize).prop_map(Op::PopFitting),
            1 => Just(Op::Clear),
        ]
    }

    /// How many whole records from the front of `model` fit in `size`
    /// bytes together.
    fn fitting(model: &VecDeque<Vec<u8>>, size: usize) -> usize {
        let mut bytes = 0;
        model
            .iter()
            .take_while(|r| {
                bytes += r.len();
                bytes <= size
            })
            .count()
    }

    /// A record whose bytes identify the push that made it.
    fn record(tag: u32, len: usize) -> Vec<u8> {
        let t = tag.to_le_bytes();
        (0..len).map(|i| t[i % 4] ^ (i as u8)).collect()
    }

    proptest! {
        #[test]
        fn ring_matches_a_bounded_vecdeque_model(
            cap in 0..8usize,
            ops in prop::collection::vec(op(), 0..200),
        ) {
            let mut ring = OfflineRing::with_capacity(cap);
            let cap = cap.max(1);
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for (tag, op) in (0u32..).zip(ops) {
                match op {
                    Op::Push(len) => {
                        let r = record(tag, len);
                        let got = ring.push(&r);
                        if len > MAX_RECORD_LEN {
                            prop_assert_eq!(got, Err(RecordTooLarge { len }));
                        } else if model.len() == cap {
                            model.pop_front();
                            model.push_back(r);
                            prop_assert_eq!(got, Ok(PushOutcome::StoredDroppedOldest(1)));
                        } else {
                            model.push_back(r);
                            prop_assert_eq!(got, Ok(PushOutcome::Stored));
                        }
                    }
                    Op::Pop => {
                        prop_assert_eq!(ring.pop_front(), model.pop_front().is_some());
                    }
                    Op::PopN(n) => {
                        let k = n.min(model.len());
                        model.drain(..k);
                        prop_assert_eq!(ring.pop_front_n(n), k);
                    }
                    Op::DrainFailAfter(n) => {
                        let mut seen = Vec::new();
                        let got = ring.drain_with(|r| {
                            if seen.len() < n {
                                seen.push(r.to_vec());
                                Ok(())
                            } else {
                                Err(())
                            }
                        });
                        let before = model.len();
                        let k = n.min(before);
                        let expect: Vec<Vec<u8>> = model.drain(..k).collect();
                        prop_assert_eq!(&seen, &expect);
                        if before <= n {
                            prop_assert_eq!(got, Ok(before), "everything written");
                        } else {
                            prop_assert_eq!(got, Err(()), "stopped at record {}", n);
                        }
                    }
                    Op::PopFitting(size) => {
                        let k = fitting(&model, size);
                        prop_assert_eq!(ring.pop_front_n(k), k);
                        model.drain(..k);
                    }
                    Op::Clear => {
                        ring.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(ring.len(), model.len());
                prop_assert_eq!(ring.is_empty(), model.is_empty());
                prop_assert_eq!(ring.is_full(), model.len() == cap);
                prop_assert_eq!(ring.capacity(), cap);
                prop_assert_eq!(ring.front(), model.front().map(Vec::as_slice));
                prop_assert!(ring.iter().eq(model.iter().map(Vec::as_slice)));
            }
            prop_assert_eq!(ring.drain_all(), Vec::from(model));
        }
    }
    proptest! {
        /// With a byte limit: drops happen only when a record would not
        /// fit, survivors are the newest records in order, and a record
        /// always fits when the live bytes leave room for it, one skipped
        /// arena end and one more of its own length.
        #[test]
        fn byte_limited_ring_keeps_the_newest_in_order_and_drops_only_when_needed(
            cap in 1..64usize,
            bytes in MAX_RECORD_LEN..4 * MAX_RECORD_LEN,
            ops in prop::collection::vec(
                prop_oneof![
                    6 => (0..=MAX_RECORD_LEN).prop_map(Op::Push),
                    6 => (0..=200usize).prop_map(Op::Push),
                    3 => Just(Op::Pop),
                    1 => (0..5000usize).prop_map(Op::PopFitting),
                ],
                0..300,
            ),
        ) {
            let mut ring = OfflineRing::with_limits(cap, bytes);
            let arena = ring.arena_bytes();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for (tag, op) in (0u32..).zip(ops) {
                match op {
                    Op::Push(len) => {
                        let live: usize = model.iter().map(Vec::len).sum();
                        let must_fit = model.len() < cap
                            && live + MAX_RECORD_LEN + 2 * len <= arena;
                        let fits = ring.fits(len);
                        let r = record(tag, len);
                        let n = match ring.push(&r) {
                            Ok(PushOutcome::Stored) => 0,
                            Ok(PushOutcome::StoredDroppedOldest(n)) => n,
                            Err(e) => return Err(TestCaseError::fail(e.to_string())),
                        };
                        prop_assert_eq!(n == 0, fits, "fits() predicted the push");
                        if must_fit {
                            prop_assert_eq!(n, 0, "room for {} bytes, live {}", len, live);
                        }
                        if n > 0 {
                            prop_assert!(
                                model.len() == cap || live + len + 2 * MAX_RECORD_LEN > arena,
                                "dropped {} with room: live {}, len {}", n, live, len
                            );
                        }
                        prop_assert!(n <= model.len());
                        model.drain(..n);
                        model.push_back(r);
                    }
                    Op::Pop => {
                        prop_assert_eq!(ring.pop_front(), model.pop_front().is_some());
                    }
                    Op::PopFitting(size) => {
                        let k = fitting(&model, size);
                        prop_assert_eq!(ring.pop_front_n(k), k);
                        model.drain(..k);
                    }
                    _ => {}
                }
                prop_assert!(ring.stored_bytes() <= arena);
                prop_assert!(ring.len() <= cap);
                prop_assert!(ring.iter().eq(model.iter().map(Vec::as_slice)));
            }
        }
    }
}
