//! Lock-free counters shared by the layer (producer side) and the flusher,
//! and the [`Stats`] snapshot users read. What was lost is kept by the
//! [`LossLedger`] inside them. No I/O, no locks, no allocation.

use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI8, AtomicU64,
    Ordering::{Acquire, Relaxed},
};

use crate::ledger::LossLedger;

/// A point-in-time copy of the pipeline's counters.
///
/// Conservation: every record the layer accepted is, at any instant,
/// counted in exactly one of `written`, `dropped_queue_full`,
/// `dropped_ring_full`, `dropped_no_flusher`, `lost_at_shutdown`,
/// `dropped_trace_load`, `dropped_protocol_v2`, `dropped_no_answer`, or is
/// still on its way (`queued` in the channel, `buffered` in the ring, or
/// being written by the flusher). See `docs/guarantees.md`.
///
/// # Examples
///
/// ```no_run
/// let (_layer, guard) = taktora_log::DltLayer::builder("NAV").build()?;
/// // ... install the layer and log ...
/// let s = guard.stats();
/// let dropped = s.dropped_queue_full + s.dropped_ring_full + s.dropped_no_flusher;
/// println!("written {}, dropped {dropped}, waiting {}", s.written, s.queued + s.buffered);
/// # Ok::<(), taktora_log::InitError>(())
/// ```
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
    /// Records dropped because they exceeded the hard trace-load limit
    /// the daemon set for their context (TRACE_LOAD, daemons built with
    /// trace-load control), as libdlt drops them; also in the next
    /// `taktora.log.dropped` record as `trace_load=K`.
    pub dropped_trace_load: u64,
    /// Records dropped because the daemon speaks DLT protocol v2
    /// (dlt-daemon 3.0.0 started with `-x 2`), which this crate does not
    /// speak yet and which would misread them; see
    /// `daemon_speaks_protocol_v2`. Never counted as written.
    pub dropped_protocol_v2: u64,
    /// Records dropped because the daemon, on a FIFO, did not answer our
    /// registration within 5 s (every protocol-v1 daemon answers it with
    /// LOG_STATE): such a daemon cannot reach us, and it is most likely a
    /// dlt-daemon 3.0.0 started with `-x 2` (protocol v2), which misreads
    /// our messages; see `daemon_not_answering`. Never counted as
    /// written; reported in the next `taktora.log.dropped` record's
    /// `count` once a daemon answers.
    pub dropped_no_answer: u64,
    /// Of the `written` records, how many may have died unread in the FIFO
    /// of a daemon that then went away (an upper bound: no application
    /// can know whether the daemon read them). Reported, like drops, in
    /// the next `taktora.log.dropped` record as `unconfirmed=M`.
    pub unconfirmed: u64,
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
    /// Writes to a UNIX-socket daemon that the kernel took only in part;
    /// the rest of each was written, whole and before anything else, once
    /// the socket drained (always 0 on a FIFO, where writes are atomic).
    pub partial_writes: u64,
    /// The connected daemon answered in DLT protocol v2 (`DUH\x02`): it
    /// was started with `-x 2` and misreads our protocol-v1 messages, so
    /// no record is written to it until the layer connects to another
    /// daemon (they are counted in `dropped_protocol_v2`). Detected on
    /// UNIX-socket daemons, which answer on the connection; a FIFO daemon
    /// in v2 mode cannot find our FIFO and never answers, which
    /// `daemon_not_answering` reports.
    pub daemon_speaks_protocol_v2: bool,
    /// The connected FIFO daemon has not answered our registration within
    /// 5 s: no record is written to it (they are counted in
    /// `dropped_no_answer`) until it answers; an answer or the next
    /// connect clears the flag, and the stderr line is printed once. The
    /// likely cause is a dlt-daemon 3.0.0 started with `-x 2` (protocol
    /// v2); a daemon that cannot open our FIFO `dltpipes/dlt<pid>` looks
    /// the same.
    pub daemon_not_answering: bool,
    /// Logging calls that woke the flusher: each made one system call (a
    /// `futex` wake) on the calling thread. With the default
    /// [`FlusherWake::Poll`](crate::FlusherWake::Poll) only a burst that
    /// filled half the channel between two polls does; with
    /// [`FlusherWake::OnRecord`](crate::FlusherWake::OnRecord) also the
    /// first record after every quiet spell.
    pub producer_wakeups: u64,
    /// Spans whose `dlt.ctx` field named no context registered at build
    /// time (or was not a valid context ID); their events went to their
    /// target's context instead.
    pub span_contexts_unknown: u64,
}

/// A counter alone on its cache line (128 bytes: two 64-byte lines, as
/// adjacent-line prefetchers pair them).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct OwnLine(AtomicU64);

impl std::ops::Deref for OwnLine {
    type Target = AtomicU64;

    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

/// The counters themselves, shared through an `Arc`.
#[derive(Debug)]
pub(crate) struct Counters {
    /// Bumped by the producers on every event, so on its own cache line:
    /// next to `written`, which the flusher bumps on every record, each
    /// event took the line from the flusher's core (false sharing).
    pub(crate) emitted: OwnLine,
    pub(crate) written: AtomicU64,
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
    pub(crate) partial_writes: AtomicU64,
    pub(crate) protocol_v2: AtomicBool,
    pub(crate) not_answering: AtomicBool,
    pub(crate) span_contexts_unknown: AtomicU64,
    pub(crate) producer_wakeups: AtomicU64,
    pub(crate) losses: LossLedger,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            emitted: OwnLine(AtomicU64::new(0)),
            written: AtomicU64::new(0),
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
            partial_writes: AtomicU64::new(0),
            protocol_v2: AtomicBool::new(false),
            not_answering: AtomicBool::new(false),
            span_contexts_unknown: AtomicU64::new(0),
            producer_wakeups: AtomicU64::new(0),
            losses: LossLedger::new(),
        }
    }

    /// Adds 1 to `c`.
    #[inline]
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    /// Records resolved so far: written, or dropped for any reason. A
    /// flush barrier is complete once this reaches the records emitted
    /// before it.
    pub(crate) fn resolved(&self) -> u64 {
        self.written.load(Relaxed) + self.losses.counts().dropped()
    }

    /// Remembers `e` as the last OS error met.
    pub(crate) fn note_error(&self, e: &std::io::Error) {
        self.last_os_error
            .store(e.raw_os_error().unwrap_or(-1), Relaxed);
    }

    /// A snapshot; `queued` is supplied by the caller that owns the channel.
    pub(crate) fn snapshot(&self, queued: u64) -> Stats {
        let losses = self.losses.counts();
        Stats {
            emitted: self.emitted.load(Relaxed),
            written: self.written.load(Relaxed),
            dropped_queue_full: losses.queue_full,
            dropped_ring_full: losses.ring_full,
            dropped_no_flusher: losses.no_flusher,
            lost_at_shutdown: losses.at_shutdown,
            dropped_trace_load: losses.trace_load,
            dropped_protocol_v2: losses.protocol_v2,
            daemon_speaks_protocol_v2: self.protocol_v2.load(Relaxed),
            dropped_no_answer: losses.no_answer,
            daemon_not_answering: self.not_answering.load(Relaxed),
            unconfirmed: losses.unconfirmed,
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
            partial_writes: self.partial_writes.load(Relaxed),
            span_contexts_unknown: self.span_contexts_unknown.load(Relaxed),
            producer_wakeups: self.producer_wakeups.load(Relaxed),
        }
    }
}
