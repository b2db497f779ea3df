//! What the flusher writes and how: the registration messages, the
//! batches of whole records of at most `PIPE_BUF` bytes (one write each:
//! atomic on a FIFO, whole or finished first on a socket), and the unregistration at shutdown. A record leaves the ring
//! only once the write that carried it succeeded, so every failure leaves
//! the unwritten records in place and in order (REQ_0814, TEST_0814).

use std::io::IoSlice;
use std::sync::atomic::Ordering::Relaxed;

use arrayvec::ArrayVec;

use super::report::{LossReport, RecentWrites};
use super::{Config, Link};
use crate::frame::{self, Frame, FRAME_CAP};
use crate::ring::OfflineRing;
use crate::stats::Counters;
use crate::transport::{DaemonLink, SendError, PIPE_BUF};

/// Most records one write can carry: the smallest LOG frame is 42 bytes,
/// so a `PIPE_BUF` write holds fewer than 100.
const MAX_BATCH: usize = 128;

const _: () = assert!(FRAME_CAP <= PIPE_BUF, "one frame must fit one atomic write");

/// How a write attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sent {
    /// Written whole.
    Ok,
    /// The FIFO is full; nothing was written.
    Blocked,
    /// The daemon is gone.
    Lost,
}

/// Whole messages for one write of at most `PIPE_BUF` bytes.
struct Batch<'a> {
    slices: ArrayVec<IoSlice<'a>, MAX_BATCH>,
    bytes: usize,
}

impl<'a> Batch<'a> {
    fn new() -> Self {
        Self {
            slices: ArrayVec::new(),
            bytes: 0,
        }
    }

    /// Adds `msg` if it fits; returns whether it did.
    fn add(&mut self, msg: &'a [u8]) -> bool {
        if self.bytes + msg.len() > PIPE_BUF || self.slices.is_full() {
            return false;
        }
        self.bytes += msg.len();
        self.slices.push(IoSlice::new(msg));
        true
    }

    /// Adds the ring's records from the front, in order, while they fit:
    /// whole records only, and never one after a record that did not
    /// fit. Returns how many were added.
    fn add_records(&mut self, ring: &'a OfflineRing) -> usize {
        ring.iter().take_while(|r| self.add(r)).count()
    }

    /// One write of the batch; an empty batch is written trivially.
    fn send(self, daemon: &mut DaemonLink, counters: &Counters) -> Sent {
        if self.slices.is_empty() {
            return Sent::Ok;
        }
        match daemon.send(&self.slices) {
            Ok(()) => {
                if daemon.has_pending() {
                    Counters::bump(&counters.partial_writes);
                }
                Sent::Ok
            }
            Err(SendError::WouldBlock) => Sent::Blocked,
            Err(SendError::Gone(e)) => {
                counters.note_error(&e);
                Sent::Lost
            }
        }
    }
}

/// Writes the next batch of `registration` on `link`.
pub(super) fn write_registration(
    link: &mut Link,
    registration: &[Frame],
    recent: &mut RecentWrites,
    counters: &Counters,
) -> Sent {
    let mut batch = Batch::new();
    let pending = registration.get(link.registered..).unwrap_or_default();
    let n = pending
        .iter()
        .take_while(|f| batch.add(f.as_bytes()))
        .count();
    let bytes = batch.bytes;
    let sent = batch.send(&mut link.daemon, counters);
    if sent == Sent::Ok {
        link.registered += n;
        recent.push(bytes, 0);
    }
    sent
}

/// Writes `report` (when there is one) and the ring's front in one batch;
/// on success the records leave the ring and the report is committed.
pub(super) fn write_records(
    link: &mut Link,
    ring: &mut OfflineRing,
    report: Option<&LossReport>,
    recent: &mut RecentWrites,
    counters: &Counters,
) -> Sent {
    let mut batch = Batch::new();
    for msg in report.into_iter().flat_map(LossReport::frames) {
        batch.add(msg);
    }
    let records = batch.add_records(ring);
    let bytes = batch.bytes;
    let sent = batch.send(&mut link.daemon, counters);
    if sent == Sent::Ok {
        ring.pop_front_n(records);
        counters.written.fetch_add(records as u64, Relaxed);
        recent.push(bytes, records);
        if let Some(report) = report {
            report.written(counters);
        }
    }
    sent
}

/// Best effort at shutdown: UNREGISTER_CONTEXT for every context, then
/// UNREGISTER_APPLICATION. The daemon also forgets an application whose
/// FIFO it can no longer write.
pub(super) fn write_unregistration(daemon: &mut DaemonLink, cfg: &Config, pid: i32) {
    let _ = daemon.flush_pending();
    for f in unregistration_frames(cfg, pid) {
        let _ = daemon.send(&[IoSlice::new(f.as_bytes())]);
    }
}

/// REGISTER_APPLICATION then one REGISTER_CONTEXT per context, in
/// `log_level_pos` order.
pub(super) fn registration_frames(cfg: &Config, pid: i32) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut f = Frame::new();
    frame::user::register_app(&mut f, cfg.app, pid, &cfg.app_description);
    out.push(f);
    for (pos, ctx) in cfg.contexts.iter().enumerate() {
        let mut f = Frame::new();
        frame::user::register_context(
            &mut f,
            cfg.app,
            ctx.id,
            pos as i32,
            ctx.register_level,
            pid,
            &ctx.description,
        );
        out.push(f);
    }
    out
}

/// UNREGISTER_CONTEXT for every context, then UNREGISTER_APPLICATION.
fn unregistration_frames(cfg: &Config, pid: i32) -> Vec<Frame> {
    let mut out = Vec::new();
    for ctx in cfg.contexts.iter() {
        let mut f = Frame::new();
        frame::user::unregister_context(&mut f, cfg.app, ctx.id, pid);
        out.push(f);
    }
    let mut f = Frame::new();
    frame::user::unregister_app(&mut f, cfg.app, pid);
    out.push(f);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes a batch would write, back to back.
    fn written(batch: &Batch<'_>) -> Vec<u8> {
        batch
            .slices
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    fn ring_of(records: &[&[u8]], capacity: usize) -> OfflineRing {
        let mut ring = OfflineRing::with_capacity(capacity);
        for r in records {
            assert!(ring.push(r).is_ok());
        }
        ring
    }

    #[test]
    fn a_batch_takes_whole_records_up_to_pipe_buf_and_removes_nothing() {
        let records: Vec<[u8; 1000]> = (0..5u8).map(|i| [i; 1000]).collect();
        let refs: Vec<&[u8]> = records.iter().map(|r| &r[..]).collect();
        let ring = ring_of(&refs, 8);
        let mut batch = Batch::new();
        assert_eq!(batch.add_records(&ring), 4, "4000 of 4096 bytes");
        assert_eq!(batch.bytes, 4000);
        let bytes = written(&batch);
        for (i, chunk) in bytes.chunks(1000).enumerate() {
            assert!(chunk.iter().all(|&b| usize::from(b) == i), "chunk {i}");
        }
        assert_eq!(ring.len(), 5, "batching removes nothing");
    }

    #[test]
    fn a_batch_never_skips_a_record_that_does_not_fit() {
        let big = [7u8; 1424];
        let ring = ring_of(&[&[1; 1000], &[2; 1000], &[3; 1000], &big, &[5; 10]], 8);
        let mut batch = Batch::new();
        assert_eq!(batch.add_records(&ring), 3, "stops before the 1424 bytes");
        assert_eq!(
            batch.bytes, 3000,
            "the 10-byte record after it is not taken"
        );
    }

    #[test]
    fn the_loss_report_goes_first_and_takes_its_share() {
        let ring = ring_of(&[&[1; 1000], &[2; 1000], &[3; 1000], &[4; 1000]], 8);
        let report = [9u8; 200];
        let mut batch = Batch::new();
        assert!(batch.add(&report));
        assert_eq!(batch.add_records(&ring), 3, "200 + 3000 of 4096 bytes");
        assert_eq!(written(&batch)[..200], report, "report first");
    }

    #[test]
    fn a_batch_across_the_ring_wrap_point_is_in_order() {
        let ring = ring_of(&[b"aa", b"bb", b"cc", b"dd"], 3);
        let mut batch = Batch::new();
        assert_eq!(batch.add_records(&ring), 3);
        assert_eq!(written(&batch), b"bbccdd");
        let empty = OfflineRing::with_capacity(1);
        assert_eq!(Batch::new().add_records(&empty), 0, "an empty ring");
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_messages() {
        let one = [0u8; 1];
        let refs: Vec<&[u8]> = vec![&one[..]; MAX_BATCH + 10];
        let ring = ring_of(&refs, MAX_BATCH + 10);
        let mut batch = Batch::new();
        assert_eq!(batch.add_records(&ring), MAX_BATCH);
    }
}
