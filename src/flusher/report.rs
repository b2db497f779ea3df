//! The loss report: what the flusher writes ahead of the ring when records
//! were lost (REQ_0815), and the bound on records that died unread in a
//! dead daemon's FIFO (`unconfirmed`). The counts come from the
//! [`LossLedger`](crate::ledger::LossLedger); this module turns one of its
//! reports into frames and remembers recent writes for the bound.

use std::sync::atomic::Ordering::Relaxed;

use super::Config;
use crate::contexts::{DIAGNOSTIC_CONTEXT, DIAGNOSTIC_INDEX};
use crate::frame::{self, Frame};
use crate::ledger::Report;
use crate::stats::Counters;
use crate::sys;

/// Recent writes remembered to bound the records lost in a dead daemon's
/// FIFO: enough to cover a 1 MiB pipe of smallest writes.
const RECENT_WRITES: usize = 1024;

/// One report, encoded: an OVERFLOW message when records were dropped
/// (libdlt sends one only for a real count, so DLT tools never show "0
/// messages discarded"), then the `taktora.log.dropped` summary record.
#[derive(Debug)]
pub(super) struct LossReport {
    report: Report,
    overflow: Frame,
    summary: Frame,
}

impl LossReport {
    /// Encodes `report` for the application in `cfg` with process `pid`.
    pub(super) fn new(report: Report, cfg: &Config, pid: i32) -> Self {
        let mut overflow = Frame::new();
        if report.dropped > 0 {
            let count = u32::try_from(report.dropped).unwrap_or(u32::MAX);
            frame::user::overflow(&mut overflow, count, cfg.app);
        }
        let diag = cfg.contexts.get(DIAGNOSTIC_INDEX);
        let mut summary = Frame::new();
        frame::summary::encode(
            &mut summary,
            &frame::summary::Summary {
                ecu: cfg.ecu,
                app: cfg.app,
                ctx: DIAGNOSTIC_CONTEXT,
                counter: diag.map_or(0, |c| c.next_counter()),
                session_id: pid as u32,
                timestamp: sys::monotonic_timestamp(),
                count: report.dropped,
                first_dropped_at_unix_nanos: report.first_at_unix_nanos,
                unconfirmed: report.unconfirmed,
                trace_load: report.trace_load,
            },
        );
        Self {
            report,
            overflow,
            summary,
        }
    }

    /// The frames to write, in order.
    pub(super) fn frames(&self) -> impl Iterator<Item = &[u8]> {
        [&self.overflow, &self.summary]
            .into_iter()
            .filter(|f| !f.is_empty())
            .map(Frame::as_bytes)
    }

    /// The report was written: the ledger marks it reported.
    pub(super) fn written(&self, counters: &Counters) {
        counters.losses.commit(self.report);
        counters.summaries.fetch_add(1, Relaxed);
    }
}

// === impl RecentWrites ===

/// The sizes of our most recent writes and how many records each carried,
/// newest last: when the daemon dies, the `FIONREAD` count of unread bytes
/// in its FIFO tells which of them it may never have read.
#[derive(Debug)]
pub(super) struct RecentWrites {
    writes: Box<[(u32, u32)]>,
    next: usize,
    len: usize,
}

impl RecentWrites {
    pub(super) fn new() -> Self {
        Self {
            writes: vec![(0, 0); RECENT_WRITES].into_boxed_slice(),
            next: 0,
            len: 0,
        }
    }

    /// A write of `bytes` that carried `records` records succeeded.
    pub(super) fn push(&mut self, bytes: usize, records: usize) {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.writes[self.next] = (clamp(bytes), clamp(records));
        self.next = (self.next + 1) % self.writes.len();
        self.len = (self.len + 1).min(self.writes.len());
    }

    /// Forgets every write (a new connection starts with an empty pipe).
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// An upper bound on our records that are (even partly) among the
    /// last `unread` bytes of the pipe: a write is counted when it started
    /// less than `unread` bytes before the end. Other applications' bytes
    /// interleaved in the pipe only make the true number smaller. When
    /// the history is shorter than the unread bytes, every remembered
    /// write is counted.
    pub(super) fn records_within(&self, unread: usize) -> u64 {
        let mut from_end = 0usize;
        let mut records = 0u64;
        for i in 0..self.len {
            if from_end >= unread {
                break;
            }
            let idx = (self.next + self.writes.len() - 1 - i) % self.writes.len();
            let (bytes, recs) = self.writes[idx];
            from_end += bytes as usize;
            records += u64::from(recs);
        }
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_writes_bound_counts_writes_touching_the_unread_suffix() {
        let mut r = RecentWrites::new();
        r.push(100, 2); // oldest
        r.push(50, 1);
        r.push(30, 0); // a registration write
        r.push(200, 5); // newest
        assert_eq!(r.records_within(0), 0, "nothing unread");
        assert_eq!(r.records_within(1), 5, "last byte belongs to the newest");
        assert_eq!(r.records_within(200), 5);
        assert_eq!(r.records_within(201), 5, "the 30-byte write has no records");
        assert_eq!(r.records_within(231), 6);
        assert_eq!(r.records_within(10_000), 8, "history shorter than unread");
        r.clear();
        assert_eq!(r.records_within(10_000), 0);
    }
}
