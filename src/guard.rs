//! [`FlushGuard`]: the owner of the background flusher. It offers a flush
//! barrier and the counters, and on drop flushes with a bounded timeout,
//! unregisters from the daemon and stops the thread. It never hangs.

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::channel::{Control, ControlHandle};
use crate::process::{self, fork::Respawn, live::Ticket};
use crate::stats::{Counters, Stats};

/// How long dropping a [`FlushGuard`] waits for buffered records to be
/// written before it gives up on them (they are then counted in
/// [`Stats::lost_at_shutdown`]). libdlt waits up to 10 s at exit; a
/// control loop that is restarting should not.
///
/// Example: [every setting at its default](crate::DltLayerBuilder#examples).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// Extra time a dropped [`FlushGuard`] grants the flusher after the
/// shutdown timeout to acknowledge (unregistering and removing its FIFO)
/// before it stops waiting: a drop returns at most the shutdown timeout
/// plus this.
///
/// See [`FlushGuard`'s example](FlushGuard#examples).
pub const SHUTDOWN_ACK_GRACE: Duration = Duration::from_millis(500);

/// What a [`FlushGuard::flush`] barrier achieved.
///
/// See [`FlushGuard`'s example](FlushGuard#examples).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushOutcome {
    /// True when every record emitted before the call was written to the
    /// daemon or accounted as dropped before the timeout.
    pub complete: bool,
    /// Records written to the daemon so far (since the layer was built).
    pub written: u64,
    /// Records emitted before the call that were neither written nor
    /// dropped when the call returned (for example, held in the offline
    /// ring while the daemon is away).
    pub pending: u64,
}

/// Keeps the background flusher running; flushes and stops it on drop.
///
/// Hold it for as long as the program logs, typically in `main`:
/// `let _guard = ...;`. Note that `let _ = ...;` drops it *at once*, which
/// stops the flusher immediately.
///
/// Dropping it gives buffered records [`DEFAULT_SHUTDOWN_TIMEOUT`] (or what
/// [`with_shutdown_timeout`](crate::DltLayerBuilder::with_shutdown_timeout)
/// set) to reach the daemon, then the flusher unregisters the application
/// and its contexts and removes the application FIFO. The guard waits for
/// that at most the shutdown timeout plus [`SHUTDOWN_ACK_GRACE`] (0.5 s)
/// for the flusher's acknowledgement (2.5 s by default); if none comes in time, it returns
/// anyway and leaves the thread to finish on its own: dropping never
/// hangs.
///
/// When the process exits with the guard still alive (`std::process::exit`,
/// returning from `main` with the guard in a static or leaked, `exit`
/// called from C), an `atexit` handler does the same, with the same
/// bound. In a forked child the guard stands for the child's own
/// pipeline (see `docs/guarantees.md`, "Fork"): its drop stops that one
/// and never waits for the parent's flusher, which the child does not
/// have.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// let (layer, guard) = taktora_log::DltLayer::builder("NAV").build()?;
/// // ... install `layer` in a registry and log ...
/// # drop(layer);
/// let outcome = guard.flush(Duration::from_secs(1));
/// if !outcome.complete {
///     eprintln!("{} records not yet written", outcome.pending);
/// }
/// println!("written so far: {}", guard.stats().written);
/// drop(guard); // at most DEFAULT_SHUTDOWN_TIMEOUT + SHUTDOWN_ACK_GRACE
/// # Ok::<(), taktora_log::InitError>(())
/// ```
#[must_use = "dropping the guard stops the flusher: keep it alive while logging"]
pub struct FlushGuard {
    ctl: ControlHandle,
    handle: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    shutdown_timeout: Duration,
    /// The process that started the flusher.
    pid: u32,
    respawn: Arc<Respawn>,
    /// The pipeline's place in the exit handler's table.
    ticket: Option<Ticket>,
}

impl fmt::Debug for FlushGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushGuard")
            .field("running", &self.handle.is_some())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl FlushGuard {
    pub(crate) fn new(
        ctl: ControlHandle,
        handle: JoinHandle<()>,
        counters: Arc<Counters>,
        shutdown_timeout: Duration,
        respawn: Arc<Respawn>,
        ticket: Ticket,
    ) -> Self {
        Self {
            ctl,
            handle: Some(handle),
            counters,
            shutdown_timeout,
            pid: process::pid(),
            respawn,
            ticket: Some(ticket),
        }
    }

    /// True in a forked child of the process that built the guard.
    fn inherited(&self) -> bool {
        self.pid != process::pid()
    }

    /// Waits up to `timeout` until every record emitted before this call
    /// (from any thread) was written to the daemon or dropped, and says
    /// how far it got. A barrier for tests and orderly hand-overs; the
    /// logging path never needs it.
    ///
    /// With several threads logging at once, "emitted before this call"
    /// is a count: the barrier completes once as many records as had been
    /// emitted when it was called are resolved.
    ///
    /// In a forked child it is a barrier on the child's own pipeline.
    /// See [the example](Self#examples).
    pub fn flush(&self, timeout: Duration) -> FlushOutcome {
        if self.inherited() {
            return match self.respawn.existing() {
                Some(node) => node.flush(timeout),
                None => flush_pipeline_gone(&Counters::new()),
            };
        }
        flush_pipeline(&self.ctl, &self.counters, timeout)
    }

    /// A snapshot of the pipeline's counters; in a forked child, those of
    /// the child's own pipeline (all zero until the child logs).
    /// See [the example](Self#examples).
    pub fn stats(&self) -> Stats {
        if self.inherited() {
            return match self.respawn.existing() {
                Some(node) => node.stats(),
                None => Counters::new().snapshot(0),
            };
        }
        self.counters.snapshot(self.ctl.queued() as u64)
    }
}

/// `now + d`, or a time far enough ahead when that does not fit.
pub(crate) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// The flush barrier of [`FlushGuard::flush`] on one pipeline.
pub(crate) fn flush_pipeline(
    ctl: &ControlHandle,
    counters: &Counters,
    timeout: Duration,
) -> FlushOutcome {
    let deadline = deadline_after(timeout);
    let target = counters.snapshot(0).emitted;
    let (ack, done) = flume::bounded(1);
    let sent = ctl.send(
        Control::Flush {
            target,
            deadline,
            ack,
        },
        deadline,
    );
    let complete = sent && done.recv_deadline(deadline).is_ok();
    let resolved = counters.resolved();
    FlushOutcome {
        complete,
        written: counters.snapshot(0).written,
        pending: target.saturating_sub(resolved),
    }
}

/// The flush barrier of a pipeline without a flusher: complete when
/// everything was dropped (and counted).
pub(crate) fn flush_pipeline_gone(counters: &Counters) -> FlushOutcome {
    let s = counters.snapshot(0);
    let pending = s.emitted.saturating_sub(counters.resolved());
    FlushOutcome {
        complete: pending == 0,
        written: s.written,
        pending,
    }
}

/// Shuts the flusher down and waits for it, at most `timeout` plus
/// [`SHUTDOWN_ACK_GRACE`]: the contract of the guard's drop.
pub(crate) fn stop(ctl: &ControlHandle, handle: JoinHandle<()>, timeout: Duration) {
    let deadline = deadline_after(timeout);
    let (ack, done) = flume::bounded(1);
    if !ctl.send(Control::Shutdown { deadline, ack }, deadline) {
        return;
    }
    // JoinHandle::join has no timeout: wait for the acknowledgement,
    // after which the join is immediate. A flusher that has already
    // exited drops `ack`, which also ends the wait.
    if done.recv_deadline(deadline + SHUTDOWN_ACK_GRACE).is_ok() || handle.is_finished() {
        let _ = handle.join();
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        if self.inherited() {
            return self.drop_in_child();
        }
        let Some(handle) = self.handle.take() else {
            return;
        };
        if let Some(ticket) = &self.ticket {
            if !ticket.withdraw() {
                // The exit handler already stopped the flusher.
                return;
            }
        }
        stop(&self.ctl, handle, self.shutdown_timeout);
    }
}

impl FlushGuard {
    /// The drop in a forked child: the parent's flusher thread does not
    /// exist here and its channels may be locked by threads that did not
    /// survive the fork, so they are leaked, not touched (a leaked clone
    /// keeps the control channel's sender count above zero, so dropping
    /// the field is an atomic decrement). The child's own pipeline, if it
    /// logged, is stopped as a guard's drop stops one.
    fn drop_in_child(&mut self) {
        std::mem::forget(self.handle.take());
        std::mem::forget(self.ticket.take());
        std::mem::forget(self.ctl.clone());
        if let Some(node) = self.respawn.existing() {
            node.shutdown();
        }
    }
}
