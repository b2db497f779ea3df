//! [`LossLedger`]: the one record of what was lost, since when, and what
//! has been reported. Producers and the flusher write into it; [`Stats`]
//! and the `taktora.log.dropped` summary record (REQ_0815) both read it.
//! No I/O, no locks, no allocation.
//!
//! Losses come in two kinds. A **drop** is a record that never reached the
//! daemon, counted by its [`Loss`] cause. An **unconfirmed** record was
//! written into a daemon's FIFO that then died, possibly before reading
//! it: it is counted in `written`, and also here as an upper bound,
//! because no application can know whether the daemon read it.
//!
//! Only drops caused by a full buffer ([`Loss::QueueFull`],
//! [`Loss::RingFull`]), by the daemon's trace-load limit
//! ([`Loss::TraceLoad`], recorded by the flusher only), by a FIFO daemon
//! that did not answer ([`Loss::NoAnswer`]: reported once a daemon
//! answers) and unconfirmed records are *reportable*: the
//! flusher is still there to write a summary. A drop for want of a
//! flusher, or at shutdown, is final and shows only in [`Stats`].
//!
//! [`Stats`]: crate::Stats

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a record was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loss {
    /// The channel was full: its oldest record made room for a new one.
    QueueFull,
    /// The ring was full: its oldest records made room for a new one.
    RingFull,
    /// The flusher thread was gone.
    NoFlusher,
    /// Still buffered when the flusher had to stop at shutdown.
    AtShutdown,
    /// Over the daemon's hard trace-load limit for its context
    /// (TRACE_LOAD): dropped by the flusher, as libdlt drops it.
    TraceLoad,
    /// The daemon speaks DLT protocol v2, which would misread the record.
    ProtocolV2,
    /// A FIFO daemon never answered our registration, so it cannot reach
    /// us and may not read us either (likely protocol v2, see
    /// `Stats::daemon_not_answering`): the record was not written to it.
    NoAnswer,
}

/// What one summary record is about to report; handed back to
/// [`LossLedger::commit`] once the summary was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Report {
    /// Reportable drops since the last summary.
    pub(crate) dropped: u64,
    /// Unconfirmed records since the last summary.
    pub(crate) unconfirmed: u64,
    /// Of `dropped`, how many the trace-load hard limit dropped.
    pub(crate) trace_load: u64,
    /// Wall-clock time of the first of them, nanoseconds since the Unix
    /// epoch.
    pub(crate) first_at_unix_nanos: u64,
    /// The reportable-drop total when taken.
    upto: u64,
    /// The trace-load drop total when taken.
    trace_load_upto: u64,
}

/// The counts by cause, and the report epoch.
///
/// Any thread may [`record`](Self::record) a drop; only the flusher takes
/// a [`report`](Self::report) and commits it. Reportable drop number `k`
/// (from 0) stores its wall-clock time if `k` is the first after the last
/// committed report. A report covers the drops `[reported, total)` and is
/// committed only after the summary was written, so a failed write keeps
/// the count for the next attempt.
#[derive(Debug)]
pub(crate) struct LossLedger {
    queue_full: AtomicU64,
    ring_full: AtomicU64,
    no_flusher: AtomicU64,
    at_shutdown: AtomicU64,
    trace_load: AtomicU64,
    protocol_v2: AtomicU64,
    no_answer: AtomicU64,
    /// Trace-load drops covered by committed reports.
    trace_load_reported: AtomicU64,
    /// Reportable drops ever (in index order).
    reportable: AtomicU64,
    /// Reportable drops covered by committed reports.
    reported: AtomicU64,
    /// Index of the first reportable drop after the last report.
    first_index: AtomicU64,
    /// Its wall-clock time, 0 until it is known.
    first_at: AtomicU64,
    /// Unconfirmed records not yet reported, and when the first was found.
    unconfirmed: AtomicU64,
    unconfirmed_at: AtomicU64,
    /// Unconfirmed records ever.
    unconfirmed_total: AtomicU64,
}

/// The counts a [`Stats`](crate::Stats) snapshot shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LossCounts {
    pub(crate) queue_full: u64,
    pub(crate) ring_full: u64,
    pub(crate) no_flusher: u64,
    pub(crate) at_shutdown: u64,
    pub(crate) trace_load: u64,
    pub(crate) protocol_v2: u64,
    pub(crate) no_answer: u64,
    pub(crate) unconfirmed: u64,
}

impl LossCounts {
    /// Every drop, whatever its cause.
    pub(crate) fn dropped(&self) -> u64 {
        self.queue_full
            + self.ring_full
            + self.no_flusher
            + self.at_shutdown
            + self.trace_load
            + self.protocol_v2
            + self.no_answer
    }
}

impl LossLedger {
    pub(crate) const fn new() -> Self {
        Self {
            queue_full: AtomicU64::new(0),
            ring_full: AtomicU64::new(0),
            no_flusher: AtomicU64::new(0),
            at_shutdown: AtomicU64::new(0),
            trace_load: AtomicU64::new(0),
            protocol_v2: AtomicU64::new(0),
            no_answer: AtomicU64::new(0),
            trace_load_reported: AtomicU64::new(0),
            reportable: AtomicU64::new(0),
            reported: AtomicU64::new(0),
            first_index: AtomicU64::new(0),
            first_at: AtomicU64::new(0),
            unconfirmed: AtomicU64::new(0),
            unconfirmed_at: AtomicU64::new(0),
            unconfirmed_total: AtomicU64::new(0),
        }
    }

    /// Records `n` drops for `cause`. Lock-free and allocation-free; reads
    /// the wall clock only when they include the first reportable drop
    /// after a report (drop indices are handed out by whole `fetch_add`s
    /// and a report ends at one of them, so that drop is always the first
    /// of a batch).
    pub(crate) fn record(&self, cause: Loss, n: u64) {
        if n == 0 {
            return;
        }
        let counter = match cause {
            Loss::QueueFull => &self.queue_full,
            Loss::RingFull => &self.ring_full,
            Loss::NoFlusher => &self.no_flusher,
            Loss::AtShutdown => &self.at_shutdown,
            Loss::TraceLoad => &self.trace_load,
            Loss::ProtocolV2 => &self.protocol_v2,
            Loss::NoAnswer => &self.no_answer,
        };
        counter.fetch_add(n, Relaxed);
        if matches!(
            cause,
            Loss::QueueFull | Loss::RingFull | Loss::TraceLoad | Loss::NoAnswer
        ) {
            let k = self.reportable.fetch_add(n, Relaxed);
            if k == self.first_index.load(Relaxed) {
                self.first_at.store(now_unix_nanos(), Relaxed);
            }
        }
    }

    /// The flusher found that up to `n` records it wrote may have died
    /// unread with the daemon. Flusher thread only.
    pub(crate) fn record_unconfirmed(&self, n: u64) {
        if n == 0 {
            return;
        }
        if self.unconfirmed.load(Relaxed) == 0 {
            self.unconfirmed_at.store(now_unix_nanos(), Relaxed);
        }
        self.unconfirmed.fetch_add(n, Relaxed);
        self.unconfirmed_total.fetch_add(n, Relaxed);
    }

    /// What a summary written now must report, or `None` when nothing was
    /// lost since the last one. Flusher thread only.
    pub(crate) fn report(&self) -> Option<Report> {
        let upto = self.reportable.load(Relaxed);
        let dropped = upto - self.reported.load(Relaxed);
        let unconfirmed = self.unconfirmed.load(Relaxed);
        if dropped == 0 && unconfirmed == 0 {
            return None;
        }
        let drops_at = if dropped > 0 { self.first_drop_at() } else { 0 };
        let first_at = match (drops_at, self.unconfirmed_at.load(Relaxed)) {
            (0, t) | (t, 0) => t,
            (a, b) => a.min(b),
        };
        let trace_load_upto = self.trace_load.load(Relaxed);
        Some(Report {
            dropped,
            unconfirmed,
            trace_load: trace_load_upto - self.trace_load_reported.load(Relaxed),
            first_at_unix_nanos: first_at,
            upto,
            trace_load_upto,
        })
    }

    /// The time of the first unreported drop. The dropping thread may be
    /// between its increment and its clock read (or have lost the race
    /// described in `commit`): the drop is then at most microseconds old,
    /// so "now" is accurate enough.
    fn first_drop_at(&self) -> u64 {
        let first = self.first_at.load(Relaxed);
        if first != 0 {
            return first;
        }
        let now = now_unix_nanos();
        self.first_at.store(now, Relaxed);
        now
    }

    /// Marks `r` as reported: its summary was written. Flusher thread only.
    pub(crate) fn commit(&self, r: Report) {
        self.first_at.store(0, Relaxed);
        self.first_index.store(r.upto, Relaxed);
        // A drop with index `r.upto` that happened between `report` and
        // here saw the old `first_index` and stored no time; `report`
        // then substitutes the time it notices the drop.
        self.reported.store(r.upto, Relaxed);
        self.trace_load_reported.store(r.trace_load_upto, Relaxed);
        self.unconfirmed.fetch_sub(r.unconfirmed, Relaxed);
        self.unconfirmed_at.store(0, Relaxed);
    }

    /// The counts by cause.
    pub(crate) fn counts(&self) -> LossCounts {
        LossCounts {
            queue_full: self.queue_full.load(Relaxed),
            ring_full: self.ring_full.load(Relaxed),
            no_flusher: self.no_flusher.load(Relaxed),
            at_shutdown: self.at_shutdown.load(Relaxed),
            trace_load: self.trace_load.load(Relaxed),
            protocol_v2: self.protocol_v2.load(Relaxed),
            no_answer: self.no_answer.load(Relaxed),
            unconfirmed: self.unconfirmed_total.load(Relaxed),
        }
    }
}

/// The wall clock in nanoseconds since the Unix epoch, never 0.
pub(crate) fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos().min(u64::MAX as u128) as u64)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_0815_each_drop_is_reported_once_and_kept_until_commit() {
        let l = LossLedger::new();
        assert_eq!(l.report(), None, "nothing dropped yet");
        l.record(Loss::QueueFull, 1);
        l.record(Loss::RingFull, 1);
        let r = l.report().expect("two drops pending");
        assert_eq!((r.dropped, r.unconfirmed), (2, 0));
        let t0 = r.first_at_unix_nanos;
        assert!(t0 > 0);
        // A failed summary write: nothing committed, the count stays.
        l.record(Loss::QueueFull, 1);
        let r2 = l.report().expect("still pending");
        assert_eq!(r2.dropped, 3, "count grows until committed");
        assert_eq!(r2.first_at_unix_nanos, t0, "first drop time is kept");
        l.commit(r2);
        assert_eq!(l.report(), None, "nothing new after commit");
        l.record(Loss::RingFull, 3);
        assert!(
            l.first_at.load(Relaxed) > 0,
            "a batch that starts the new epoch records its time"
        );
        let r3 = l.report().expect("three new drops");
        assert_eq!(r3.dropped, 3);
        assert!(r3.first_at_unix_nanos >= t0, "new epoch, new first time");
        let c = l.counts();
        assert_eq!((c.queue_full, c.ring_full, c.dropped()), (2, 4, 6));
    }

    #[test]
    fn trace_load_drops_are_reported_with_their_share_and_once() {
        let l = LossLedger::new();
        l.record(Loss::TraceLoad, 5);
        l.record(Loss::RingFull, 2);
        let r = l.report().expect("trace-load drops are reportable");
        assert_eq!((r.dropped, r.trace_load), (7, 5));
        l.commit(r);
        assert_eq!(l.report(), None);
        l.record(Loss::TraceLoad, 1);
        let r = l.report().expect("one more");
        assert_eq!((r.dropped, r.trace_load), (1, 1), "only the new one");
        l.record(Loss::ProtocolV2, 3);
        let c = l.counts();
        assert_eq!((c.trace_load, c.protocol_v2, c.dropped()), (6, 3, 11));
        assert_eq!(
            l.report().map(|r| r.dropped),
            Some(1),
            "protocol v2 is final"
        );
    }

    #[test]
    fn no_answer_drops_are_counted_and_reported_once_a_daemon_answers() {
        let l = LossLedger::new();
        l.record(Loss::NoAnswer, 4);
        let c = l.counts();
        assert_eq!((c.no_answer, c.dropped()), (4, 4));
        let r = l.report().expect("reportable");
        assert_eq!((r.dropped, r.trace_load), (4, 0));
    }

    #[test]
    fn final_drops_are_counted_but_never_reported() {
        let l = LossLedger::new();
        l.record(Loss::NoFlusher, 2);
        l.record(Loss::AtShutdown, 5);
        assert_eq!(l.report(), None, "no flusher is left to report these");
        let c = l.counts();
        assert_eq!((c.no_flusher, c.at_shutdown, c.dropped()), (2, 5, 7));
    }

    #[test]
    fn unconfirmed_records_are_reported_with_the_earlier_time() {
        let l = LossLedger::new();
        l.record_unconfirmed(4);
        let r = l.report().expect("unconfirmed records alone are reported");
        assert_eq!((r.dropped, r.unconfirmed), (0, 4));
        let found_at = r.first_at_unix_nanos;
        l.record(Loss::QueueFull, 1);
        let r = l.report().expect("both pending");
        assert_eq!((r.dropped, r.unconfirmed), (1, 4));
        assert_eq!(r.first_at_unix_nanos, found_at, "the earlier of the two");
        l.commit(r);
        assert_eq!(l.report(), None);
        assert_eq!(l.counts().unconfirmed, 4, "the total stays in the stats");
    }

    #[test]
    fn req_0815_exact_under_concurrent_drops() {
        let l = std::sync::Arc::new(LossLedger::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        l.record(Loss::QueueFull, 1);
                    }
                })
            })
            .collect();
        let mut summed = 0;
        // Commit reports while drops are still happening.
        for _ in 0..100 {
            if let Some(r) = l.report() {
                summed += r.dropped;
                l.commit(r);
            }
        }
        for t in threads {
            t.join().expect("dropping thread");
        }
        if let Some(r) = l.report() {
            summed += r.dropped;
        }
        assert_eq!(summed, 40_000, "every drop reported exactly once");
        assert_eq!(l.counts().queue_full, 40_000);
    }
}
