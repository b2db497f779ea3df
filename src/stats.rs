//! Lock-free counters shared by the layer (producer side) and the flusher,
//! the [`Stats`] snapshot users read, and the drop ledger behind the
//! `taktora.log.dropped` summary record. No I/O, no locks, no allocation.

use std::sync::atomic::{
    AtomicI32, AtomicI8, AtomicU64,
    Ordering::{Acquire, Relaxed},
};
use std::time::{SystemTime, UNIX_EPOCH};

/// A point-in-time copy of the pipeline's counters.
///
/// Conservation: every record the layer accepted is, at any instant,
/// counted in exactly one of `written`, `dropped_queue_full`,
/// `dropped_ring_full`, `dropped_no_flusher`, `lost_at_shutdown`, or is
/// still on its way (`queued` in the channel, `buffered` in the ring, or
/// being written by the flusher). See `docs/guarantees.md`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records the layer encoded and handed to the channel.
    pub emitted: u64,
    /// Records written into the daemon's FIFO.
    pub written: u64,
    /// Records dropped because the channel was full (the oldest queued
    /// record is dropped to make room for the new one).
    pub dropped_queue_full: u64,
    /// Records dropped because the offline ring was full (oldest first).
    pub dropped_ring_full: u64,
    /// Records dropped because the flusher thread was gone.
    pub dropped_no_flusher: u64,
    /// Records still buffered when the flusher had to stop at shutdown.
    pub lost_at_shutdown: u64,
    /// Records that were cut to fit the frame (still delivered, marked).
    pub truncated: u64,
    /// Events dropped because they were emitted from inside the logger's
    /// own machinery (which would otherwise loop). Not counted in `emitted`.
    pub reentrant: u64,
    /// Successful (re)connections to the daemon, the first one included.
    pub connects: u64,
    /// Summary records written (each reports a batch of drops).
    pub summaries: u64,
    /// Times the connection to the daemon was lost (a write failed with
    /// `EPIPE` and the like, or the daemon's FIFO was replaced).
    pub disconnects: u64,
    /// Connection attempts that failed for a reason other than "no daemon"
    /// (`ENOENT`/`ENXIO`), e.g. permissions on the daemon's FIFO.
    pub connect_errors: u64,
    /// The last OS error (`errno`) met talking to the daemon, 0 if none.
    pub last_os_error: i32,
    /// Records waiting in the channel when the snapshot was taken.
    pub queued: u64,
    /// Records waiting in the offline ring when the snapshot was taken.
    pub buffered: u64,
    /// The daemon's last LOG_STATE: 1 a DLT client is connected, 0 none,
    /// -1 not known yet.
    pub log_state: i8,
    /// LOG_LEVEL messages from the daemon applied to one of our contexts
    /// (at registration, from `dlt-control` or DLT Viewer), whether or
    /// not the level actually changed.
    pub levels_applied: u64,
    /// INJECTION messages from the daemon; the layer handles none of them,
    /// so each is skipped (with its data) and counted here.
    pub injections_ignored: u64,
    /// Malformed records from the daemon, skipped: an unknown message
    /// type, an invalid level or log state, or a LOG_LEVEL for a context
    /// position we never registered.
    pub control_malformed: u64,
    /// Bytes skipped in the daemon's messages while resynchronising on the
    /// `DUH\x01` pattern (garbage between records).
    pub control_garbage_bytes: u64,
    /// Malformed `DLT_INITIAL_LOG_LEVEL` items skipped at build time.
    pub initial_levels_ignored: u64,
}

/// The counters themselves, shared through an `Arc`.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) emitted: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_ring_full: AtomicU64,
    pub(crate) dropped_no_flusher: AtomicU64,
    pub(crate) lost_at_shutdown: AtomicU64,
    pub(crate) truncated: AtomicU64,
    pub(crate) reentrant: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) summaries: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) connect_errors: AtomicU64,
    pub(crate) last_os_error: AtomicI32,
    pub(crate) buffered: AtomicU64,
    pub(crate) log_state: AtomicI8,
    pub(crate) levels_applied: AtomicU64,
    pub(crate) injections_ignored: AtomicU64,
    pub(crate) control_malformed: AtomicU64,
    pub(crate) control_garbage_bytes: AtomicU64,
    pub(crate) initial_levels_ignored: AtomicU64,
    pub(crate) ledger: DropLedger,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            emitted: AtomicU64::new(0),
            written: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_ring_full: AtomicU64::new(0),
            dropped_no_flusher: AtomicU64::new(0),
            lost_at_shutdown: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
            reentrant: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            summaries: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            last_os_error: AtomicI32::new(0),
            buffered: AtomicU64::new(0),
            log_state: AtomicI8::new(-1),
            levels_applied: AtomicU64::new(0),
            injections_ignored: AtomicU64::new(0),
            control_malformed: AtomicU64::new(0),
            control_garbage_bytes: AtomicU64::new(0),
            initial_levels_ignored: AtomicU64::new(0),
            ledger: DropLedger::new(),
        }
    }

    /// Adds 1 to `c`.
    #[inline]
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    /// A record was dropped because the channel was full.
    pub(crate) fn drop_queue_full(&self) {
        Self::bump(&self.dropped_queue_full);
        self.ledger.record(1);
    }

    /// `n` records were dropped because the ring was full (a long record
    /// can displace several short ones at once).
    pub(crate) fn drop_ring_full(&self, n: u64) {
        if n > 0 {
            self.dropped_ring_full.fetch_add(n, Relaxed);
            self.ledger.record(n);
        }
    }

    /// Remembers `e` as the last OS error met.
    pub(crate) fn note_error(&self, e: &std::io::Error) {
        self.last_os_error
            .store(e.raw_os_error().unwrap_or(-1), Relaxed);
    }

    /// A snapshot; `queued` is supplied by the caller that owns the channel.
    pub(crate) fn snapshot(&self, queued: u64) -> Stats {
        Stats {
            emitted: self.emitted.load(Relaxed),
            written: self.written.load(Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Relaxed),
            dropped_ring_full: self.dropped_ring_full.load(Relaxed),
            dropped_no_flusher: self.dropped_no_flusher.load(Relaxed),
            lost_at_shutdown: self.lost_at_shutdown.load(Relaxed),
            truncated: self.truncated.load(Relaxed),
            reentrant: self.reentrant.load(Relaxed),
            connects: self.connects.load(Relaxed),
            summaries: self.summaries.load(Relaxed),
            disconnects: self.disconnects.load(Relaxed),
            connect_errors: self.connect_errors.load(Relaxed),
            last_os_error: self.last_os_error.load(Relaxed),
            queued,
            buffered: self.buffered.load(Relaxed),
            log_state: self.log_state.load(Relaxed),
            // Pairs with the flusher's release store after it rebuilt the
            // interest cache: whoever sees the count sees the new level.
            levels_applied: self.levels_applied.load(Acquire),
            injections_ignored: self.injections_ignored.load(Relaxed),
            control_malformed: self.control_malformed.load(Relaxed),
            control_garbage_bytes: self.control_garbage_bytes.load(Relaxed),
            initial_levels_ignored: self.initial_levels_ignored.load(Relaxed),
        }
    }
}

// === impl DropLedger ===

/// The drops not yet reported by a summary record, and when the first of
/// them happened.
///
/// Any thread may [`record`](Self::record) a drop; only the flusher reads
/// and commits. `total` counts every drop ever; drop number `k` (from 0)
/// stores its wall-clock time if `k` is the first drop after the last
/// committed summary. A summary covers `[reported, total)` and is
/// committed only after it was written, so a failed write keeps the count
/// for the next attempt.
#[derive(Debug)]
pub(crate) struct DropLedger {
    total: AtomicU64,
    first_index: AtomicU64,
    first_at_nanos: AtomicU64,
}

/// The drops a summary record is about to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingDrops {
    /// Drops to report.
    pub(crate) count: u64,
    /// Wall-clock time of the first of them, nanoseconds since the Unix
    /// epoch.
    pub(crate) first_at_unix_nanos: u64,
    /// `total` when taken; passed back to [`DropLedger::commit`].
    upto: u64,
}

/// The wall clock in nanoseconds since the Unix epoch, never 0.
pub(crate) fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos().min(u64::MAX as u128) as u64)
        .max(1)
}

impl DropLedger {
    fn new() -> Self {
        Self {
            total: AtomicU64::new(0),
            first_index: AtomicU64::new(0),
            first_at_nanos: AtomicU64::new(0),
        }
    }

    /// Records `n` drops. Lock-free and allocation-free; reads the wall
    /// clock only when they include the first drop after a summary (drop
    /// indices are handed out by whole `fetch_add`s and a summary ends at
    /// one of them, so that first drop is always the first of a batch).
    pub(crate) fn record(&self, n: u64) {
        let k = self.total.fetch_add(n, Relaxed);
        if k == self.first_index.load(Relaxed) {
            self.first_at_nanos.store(now_unix_nanos(), Relaxed);
        }
    }

    /// The drops not yet reported, or `None` when there are none.
    /// `reported` is what the flusher has committed so far.
    pub(crate) fn pending(&self, reported: u64) -> Option<PendingDrops> {
        let upto = self.total.load(Relaxed);
        if upto <= reported {
            return None;
        }
        let mut first = self.first_at_nanos.load(Relaxed);
        if first == 0 {
            // The dropping thread is between its increment and its clock
            // read (or lost the race described in `commit`): the drop is
            // at most microseconds old, so "now" is accurate enough.
            first = now_unix_nanos();
            self.first_at_nanos.store(first, Relaxed);
        }
        Some(PendingDrops {
            count: upto - reported,
            first_at_unix_nanos: first,
            upto,
        })
    }

    /// Marks `p` as reported; returns the new `reported` value. The next
    /// drop (index `p.upto`) will record its own time.
    pub(crate) fn commit(&self, p: PendingDrops) -> u64 {
        self.first_at_nanos.store(0, Relaxed);
        self.first_index.store(p.upto, Relaxed);
        // A drop with index `p.upto` that happened between `pending` and
        // here saw the old `first_index` and stored no time; `pending`
        // then substitutes the time it notices the drop.
        p.upto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_reports_each_drop_once_and_keeps_count_until_commit() {
        let l = DropLedger::new();
        assert_eq!(l.pending(0), None, "nothing dropped yet");
        l.record(1);
        l.record(1);
        let p = l.pending(0).expect("two drops pending");
        assert_eq!(p.count, 2);
        let t0 = p.first_at_unix_nanos;
        assert!(t0 > 0);
        // A failed summary write: nothing committed, the count stays.
        l.record(1);
        let p2 = l.pending(0).expect("still pending");
        assert_eq!(p2.count, 3, "count grows until committed");
        assert_eq!(p2.first_at_unix_nanos, t0, "first drop time is kept");
        let reported = l.commit(p2);
        assert_eq!(reported, 3);
        assert_eq!(l.pending(reported), None, "nothing new after commit");
        l.record(3);
        assert!(
            l.first_at_nanos.load(Relaxed) > 0,
            "a batch that starts the new epoch records its time"
        );
        let p3 = l.pending(reported).expect("three new drops");
        assert_eq!(p3.count, 3);
        assert!(p3.first_at_unix_nanos >= t0, "new epoch, new first time");
    }

    #[test]
    fn ledger_is_exact_under_concurrent_drops() {
        let c = std::sync::Arc::new(Counters::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.drop_queue_full();
                    }
                })
            })
            .collect();
        let mut reported = 0;
        let mut summed = 0;
        // Commit summaries while drops are still happening.
        for _ in 0..100 {
            if let Some(p) = c.ledger.pending(reported) {
                summed += p.count;
                reported = c.ledger.commit(p);
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        if let Some(p) = c.ledger.pending(reported) {
            summed += p.count;
        }
        assert_eq!(summed, 40_000, "every drop reported exactly once");
        assert_eq!(c.snapshot(0).dropped_queue_full, 40_000);
    }
}
