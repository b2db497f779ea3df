//! [`OfflineRing`]: the bounded FIFO of encoded frames that the background
//! flusher keeps while the daemon is unreachable (REQ_0814, REQ_0815).
//!
//! Its one job is to hold byte records in arrival order, in storage that is
//! allocated once by [`OfflineRing::with_capacity`], dropping (and counting)
//! the oldest record when a new one arrives and the ring is full. It must not
//! do I/O, read a clock, lock, block, or allocate after construction (the
//! one exception, [`OfflineRing::drain_all`], allocates its return value and
//! is meant for tests and shutdown reports). The flusher supplies the writes
//! and the times; the ring only decides what is kept and in which order.

use std::error::Error;
use std::fmt;
use std::iter::FusedIterator;

/// The largest record the ring stores, in bytes.
///
/// This equals the frame encoder's `FRAME_CAP` (1424 bytes: 8-byte user
/// header + 26 bytes of DLT headers + libdlt's 1390-byte payload buffer,
/// PROTOCOL.md §10.5), so every encoded frame fits. The frame module is
/// written in parallel; the two constants are to be linked when merging.
pub(crate) const MAX_RECORD_LEN: usize = crate::frame::FRAME_CAP;

// Record lengths are stored as `u16`; make sure every valid length fits.
const _: () = assert!(MAX_RECORD_LEN <= u16::MAX as usize);

/// Storage cost of one record slot in bytes: the slot itself plus its
/// 2-byte length.
const BYTES_PER_SLOT: usize = MAX_RECORD_LEN + std::mem::size_of::<u16>();

/// The ring capacity (in records) used when none is configured.
///
/// Rationale: 256 slots cost 256 × 1426 = 365,056 bytes (≈ 357 KiB), which
/// stays below libdlt's own offline buffer ceiling of 500,000 bytes
/// (PROTOCOL.md §10.6), so replacing libdlt never costs more memory. Unlike
/// libdlt's byte-sized buffer (≈ 7,500 small messages, but only ≈ 350
/// maximum-size ones) every slot here holds a full-size frame, so the count
/// is independent of message length. At 50 records per second this covers
/// about 5 seconds of daemon outage, the order of a daemon restart; longer
/// outages lose the oldest records, which are counted and reported
/// (REQ_0815). Raise it when a longer outage matters more than memory.
pub const DEFAULT_RING_CAPACITY: usize = 256;

/// What [`OfflineRing::push`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The record was stored; nothing was lost.
    Stored,
    /// The ring was full: the oldest record was dropped (and counted in
    /// [`OfflineRing::dropped`]) to make room, then the record was stored.
    StoredDroppedOldest,
}

/// A record longer than [`FRAME_CAP`](crate::FRAME_CAP) was offered to
/// [`OfflineRing::push`]; nothing was stored and nothing was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordTooLarge {
    len: usize,
}

impl RecordTooLarge {
    /// The length of the rejected record, in bytes.
    pub fn record_len(&self) -> usize {
        self.len
    }

    /// The largest length the ring accepts ([`FRAME_CAP`](crate::FRAME_CAP)).
    pub fn max_len(&self) -> usize {
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

/// How many records from the front of the ring fit in one write, and how
/// many bytes they take together. Returned by [`OfflineRing::batch_len`] and
/// [`OfflineRing::copy_batch_into`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Number of whole records, counted from the oldest.
    pub records: usize,
    /// Their total length in bytes.
    pub bytes: usize,
}

/// A bounded, pre-allocated FIFO of byte records with drop-oldest overflow.
///
/// The background flusher pushes complete encoded frames here while the
/// daemon is unreachable and drains them, oldest first, once it is back.
/// A record leaves the ring only after it was written: reading is
/// peek ([`front`](Self::front), [`iter`](Self::iter),
/// [`batch_len`](Self::batch_len)) and then remove
/// ([`pop_front`](Self::pop_front), [`pop_front_n`](Self::pop_front_n)), or
/// both at once with [`drain_with`](Self::drain_with), which keeps a failed
/// record and everything after it in place (TEST_0814).
///
/// # Memory
///
/// All storage is allocated by [`with_capacity`](Self::with_capacity) and
/// never grows: one byte arena of `capacity × MAX_RECORD_LEN` bytes plus one
/// `u16` length per slot, so
///
/// ```text
/// capacity × (1424 + 2) bytes  +  size_of::<OfflineRing>() (56 bytes on 64-bit)
/// ```
///
/// e.g. 365,056 bytes for [`DEFAULT_RING_CAPACITY`] (256) and 1,460,224
/// bytes (≈ 1.4 MiB) for 1024 records. The arena is allocated zeroed, so on
/// Linux its pages typically become resident only when first written.
///
/// # Overflow
///
/// When the ring is full, [`push`](Self::push) drops the oldest record,
/// adds one to [`dropped`](Self::dropped) and stores the new one
/// (REQ_0815): no panic, no spin, no block.
pub struct OfflineRing {
    /// `capacity` slots of `MAX_RECORD_LEN` bytes each, back to back.
    data: Box<[u8]>,
    /// The used length of each slot; `lens.len()` is the capacity (≥ 1).
    lens: Box<[u16]>,
    /// Slot index of the oldest record (meaningful only when `len > 0`).
    head: usize,
    /// Number of records stored, `0..=capacity`.
    len: usize,
    /// Records dropped by overflow since creation.
    dropped: u64,
}

// === impl OfflineRing ===

impl OfflineRing {
    /// The largest record the ring stores, in bytes (same as
    /// [`FRAME_CAP`](crate::FRAME_CAP)).
    pub const MAX_RECORD: usize = MAX_RECORD_LEN;

    /// Storage cost of one slot in bytes (`MAX_RECORD_LEN + 2`): multiply by
    /// the capacity for the ring's memory footprint.
    pub const BYTES_PER_RECORD: usize = BYTES_PER_SLOT;

    /// Creates a ring for `records` records, allocating all of its storage
    /// now (`records × BYTES_PER_RECORD` bytes); it never allocates again.
    ///
    /// A capacity of 0 is clamped to 1: a ring that can hold nothing would
    /// drop every record, which is never what a configuration meant.
    ///
    /// # Examples
    ///
    /// ```
    /// use taktora_log::{OfflineRing, PushOutcome};
    ///
    /// let mut ring = OfflineRing::with_capacity(2);
    /// assert_eq!(ring.push(b"a"), Ok(PushOutcome::Stored));
    /// assert_eq!(ring.push(b"b"), Ok(PushOutcome::Stored));
    /// // Full: the oldest record ("a") makes room and is counted.
    /// assert_eq!(ring.push(b"c"), Ok(PushOutcome::StoredDroppedOldest));
    /// assert_eq!(ring.dropped(), 1);
    ///
    /// // Drain oldest first; a record is removed only once `f` accepted it.
    /// let mut sent = Vec::new();
    /// let n = ring.drain_with(|rec| {
    ///     sent.push(rec.to_vec());
    ///     Ok::<(), ()>(())
    /// });
    /// assert_eq!(n, Ok(2));
    /// assert_eq!(sent, [b"b".to_vec(), b"c".to_vec()]);
    /// assert!(ring.is_empty());
    /// ```
    ///
    /// # Panics
    ///
    /// Like [`Vec::with_capacity`], panics if the storage size exceeds
    /// `isize::MAX` bytes; aborts if the allocator cannot provide it.
    pub fn with_capacity(records: usize) -> Self {
        let capacity = records.max(1);
        Self {
            data: vec![0u8; capacity.saturating_mul(MAX_RECORD_LEN)].into_boxed_slice(),
            lens: vec![0u16; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Appends `record` as the newest entry. When the ring is full, the
    /// oldest record is dropped first and [`dropped`](Self::dropped) goes up
    /// by one. Never blocks, never allocates.
    ///
    /// # Errors
    ///
    /// Returns [`RecordTooLarge`] if `record` is longer than
    /// [`FRAME_CAP`](crate::FRAME_CAP); the ring is then left exactly as it was (nothing
    /// stored, nothing dropped, the drop counter unchanged).
    pub fn push(&mut self, record: &[u8]) -> Result<PushOutcome, RecordTooLarge> {
        let too_large = RecordTooLarge { len: record.len() };
        let len16 = u16::try_from(record.len()).map_err(|_| too_large)?;
        if record.len() > MAX_RECORD_LEN {
            return Err(too_large);
        }
        let outcome = if self.len == self.capacity() {
            self.head = self.slot_after(self.head, 1);
            self.len -= 1;
            self.dropped = self.dropped.saturating_add(1);
            PushOutcome::StoredDroppedOldest
        } else {
            PushOutcome::Stored
        };
        let slot = self.slot_after(self.head, self.len);
        let start = slot * MAX_RECORD_LEN;
        self.data[start..start + record.len()].copy_from_slice(record);
        self.lens[slot] = len16;
        self.len += 1;
        Ok(outcome)
    }

    /// The oldest record, without removing it; `None` when empty.
    pub fn front(&self) -> Option<&[u8]> {
        (self.len > 0).then(|| self.slot(self.head))
    }

    /// The records, oldest first, without removing them.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            ring: self,
            front: 0,
            back: self.len,
        }
    }

    /// Removes the oldest record (call it after that record was written).
    /// Returns `false` if the ring was empty.
    pub fn pop_front(&mut self) -> bool {
        self.pop_front_n(1) == 1
    }

    /// Removes up to `n` of the oldest records and returns how many were
    /// removed (`min(n, len)`). Pairs with [`batch_len`](Self::batch_len)
    /// and [`copy_batch_into`](Self::copy_batch_into) after a successful
    /// batched write.
    pub fn pop_front_n(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        self.head = self.slot_after(self.head, n);
        self.len -= n;
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
    pub fn drain_with<E>(&mut self, mut f: impl FnMut(&[u8]) -> Result<(), E>) -> Result<usize, E> {
        let mut written = 0;
        while let Some(record) = self.front() {
            f(record)?;
            self.pop_front();
            written += 1;
        }
        Ok(written)
    }

    /// How many whole records from the front fit in `max_bytes` together
    /// (e.g. one `PIPE_BUF` = 4096-byte write), and their total size.
    ///
    /// Records are taken in order and never split or skipped: the batch
    /// ends before the first record that does not fit. It is empty only if
    /// the ring is empty or the oldest record alone exceeds `max_bytes`.
    /// Write `iter().take(batch.records)`, then call
    /// [`pop_front_n(batch.records)`](Self::pop_front_n) on success.
    pub fn batch_len(&self, max_bytes: usize) -> Batch {
        let mut batch = Batch::default();
        for record in self.iter() {
            match batch.bytes.checked_add(record.len()) {
                Some(bytes) if bytes <= max_bytes => {
                    batch.records += 1;
                    batch.bytes = bytes;
                }
                _ => break,
            }
        }
        batch
    }

    /// Copies the batch [`batch_len(buf.len())`](Self::batch_len) describes
    /// into the start of `buf`, back to back, and returns it. Nothing is
    /// removed: write `&buf[..batch.bytes]`, then call
    /// [`pop_front_n(batch.records)`](Self::pop_front_n) on success.
    pub fn copy_batch_into(&self, buf: &mut [u8]) -> Batch {
        let batch = self.batch_len(buf.len());
        let mut at = 0;
        for record in self.iter().take(batch.records) {
            buf[at..at + record.len()].copy_from_slice(record);
            at += record.len();
        }
        batch
    }

    /// Number of records stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when no record is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum number of records (at least 1; fixed at construction).
    pub fn capacity(&self) -> usize {
        self.lens.len()
    }

    /// `true` when the next [`push`](Self::push) will drop the oldest
    /// record.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Records dropped by overflow since the ring was created. Never reset
    /// (not by [`clear`](Self::clear) either); a caller reporting drops
    /// per outage keeps the value it last reported and subtracts.
    /// Saturates at `u64::MAX`.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Removes every record without counting them as dropped; keeps the
    /// storage.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Removes every record and returns copies, oldest first.
    ///
    /// This allocates (one `Vec` per record plus the outer one), unlike
    /// everything else here: it is meant for tests and shutdown reports,
    /// not for the flusher's drain, which uses
    /// [`drain_with`](Self::drain_with) or the batch methods.
    pub fn drain_all(&mut self) -> Vec<Vec<u8>> {
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
        let start = slot * MAX_RECORD_LEN;
        &self.data[start..start + usize::from(self.lens[slot])]
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
            .field("dropped", &self.dropped)
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
pub struct Iter<'a> {
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
        assert_eq!(ring.dropped(), 0);
    }

    #[test]
    fn test_0814_ring_only_capacity2_push_a_b_c_drops_oldest() {
        let mut ring = OfflineRing::with_capacity(2);
        assert_eq!(ring.push(b"a"), Ok(PushOutcome::Stored));
        assert_eq!(ring.push(b"b"), Ok(PushOutcome::Stored));
        assert_eq!(ring.push(b"c"), Ok(PushOutcome::StoredDroppedOldest));
        assert_eq!(ring.dropped(), 1);
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
                Ok(PushOutcome::StoredDroppedOldest) => drops += 1,
                Err(e) => panic!("push {i}: {e}"),
            }
            assert_eq!(ring.dropped(), drops, "after push {i}");
        }
        assert_eq!(ring.dropped(), 97);
        assert_eq!(ring.drain_all(), v(&[&[97], &[98], &[99]]));
        ring.clear();
        assert_eq!(ring.dropped(), 97, "clear does not reset the drop total");
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
        assert_eq!(ring.dropped(), 0, "nothing dropped");
        assert_eq!(ring.drain_all(), v(&[b"keep"]), "nothing stored");
        // The maximum itself and the empty record are fine.
        assert_eq!(
            ring.push(&[7; MAX_RECORD_LEN]),
            Ok(PushOutcome::Stored),
            "exactly MAX"
        );
        assert_eq!(ring.push(b""), Ok(PushOutcome::StoredDroppedOldest));
        assert_eq!(ring.front(), Some(&b""[..]));
    }

    #[test]
    fn capacity_zero_is_clamped_to_one() {
        let mut ring = OfflineRing::with_capacity(0);
        assert_eq!(ring.capacity(), 1);
        assert_eq!(ring.push(b"a"), Ok(PushOutcome::Stored));
        assert!(ring.is_full());
        assert_eq!(ring.push(b"b"), Ok(PushOutcome::StoredDroppedOldest));
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
        for i in 0..10u8 {
            assert!(ring.push(&vec![i; usize::from(i) * 100]).is_ok());
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
        assert_eq!(ring.dropped(), 6);
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
    fn batch_takes_whole_records_up_to_the_limit() {
        let mut ring = OfflineRing::with_capacity(8);
        for i in 0..5u8 {
            assert!(ring.push(&[i; 1000]).is_ok());
        }
        assert_eq!(
            ring.batch_len(4096),
            Batch {
                records: 4,
                bytes: 4000
            }
        );
        assert_eq!(
            ring.batch_len(3999),
            Batch {
                records: 3,
                bytes: 3000
            }
        );
        assert_eq!(ring.batch_len(999), Batch::default(), "front too big");
        assert_eq!(
            ring.batch_len(usize::MAX),
            Batch {
                records: 5,
                bytes: 5000
            }
        );

        let mut buf = [0xAAu8; 4096];
        let batch = ring.copy_batch_into(&mut buf);
        assert_eq!(
            batch,
            Batch {
                records: 4,
                bytes: 4000
            }
        );
        for (i, chunk) in buf[..4000].chunks(1000).enumerate() {
            assert!(chunk.iter().all(|&b| usize::from(b) == i), "chunk {i}");
        }
        assert!(buf[4000..].iter().all(|&b| b == 0xAA), "tail untouched");
        assert_eq!(ring.len(), 5, "copying removes nothing");

        assert_eq!(ring.pop_front_n(batch.records), 4);
        assert_eq!(ring.front(), Some(&[4u8; 1000][..]));
        assert_eq!(
            ring.copy_batch_into(&mut buf),
            Batch {
                records: 1,
                bytes: 1000
            }
        );
    }

    #[test]
    fn batch_across_wrap_point_is_in_order() {
        let mut ring = OfflineRing::with_capacity(3);
        for r in [b"aa", b"bb", b"cc", b"dd"] {
            assert!(ring.push(r).is_ok());
        }
        let mut buf = [0u8; 16];
        let batch = ring.copy_batch_into(&mut buf);
        assert_eq!(
            batch,
            Batch {
                records: 3,
                bytes: 6
            }
        );
        assert_eq!(&buf[..6], b"bbccdd");
        assert_eq!(ring.copy_batch_into(&mut []), Batch::default());
    }

    #[test]
    fn req_0814_storage_never_grows() {
        let mut ring = OfflineRing::with_capacity(7);
        let storage =
            |r: &OfflineRing| (r.data.as_ptr(), r.data.len(), r.lens.as_ptr(), r.lens.len());
        let before = storage(&ring);
        assert_eq!(before.1, 7 * MAX_RECORD_LEN);
        assert_eq!(before.3, 7);
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
        assert_eq!(OfflineRing::BYTES_PER_RECORD, 1426);
        assert_eq!(
            DEFAULT_RING_CAPACITY * OfflineRing::BYTES_PER_RECORD,
            365_056
        );
        assert_eq!(1024 * OfflineRing::BYTES_PER_RECORD, 1_460_224);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(std::mem::size_of::<OfflineRing>(), 56, "struct overhead");
        assert_eq!(OfflineRing::MAX_RECORD, MAX_RECORD_LEN);
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
        /// copy_batch_into a buffer of this size, then pop the batch.
        Batch(usize),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => prop_oneof![0..=16usize, 0..=MAX_RECORD_LEN + 2].prop_map(Op::Push),
            2 => Just(Op::Pop),
            1 => (0..6usize).prop_map(Op::PopN),
            1 => (0..6usize).prop_map(Op::DrainFailAfter),
            1 => (0..5000usize).prop_map(Op::Batch),
            1 => Just(Op::Clear),
        ]
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
            let mut dropped = 0u64;
            let mut buf = vec![0u8; 5000];
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
                            dropped += 1;
                            prop_assert_eq!(got, Ok(PushOutcome::StoredDroppedOldest));
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
                    Op::Batch(size) => {
                        let batch = ring.copy_batch_into(&mut buf[..size]);
                        let mut expect = Batch::default();
                        let mut bytes = Vec::new();
                        for r in &model {
                            if expect.bytes + r.len() > size {
                                break;
                            }
                            expect.records += 1;
                            expect.bytes += r.len();
                            bytes.extend_from_slice(r);
                        }
                        prop_assert_eq!(batch, expect);
                        prop_assert_eq!(&buf[..batch.bytes], &bytes[..]);
                        prop_assert_eq!(ring.pop_front_n(batch.records), batch.records);
                        model.drain(..batch.records);
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
                prop_assert_eq!(ring.dropped(), dropped);
                prop_assert_eq!(ring.front(), model.front().map(Vec::as_slice));
                prop_assert!(ring.iter().eq(model.iter().map(Vec::as_slice)));
            }
            prop_assert_eq!(ring.drain_all(), Vec::from(model));
        }
    }
}
