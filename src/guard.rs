//! [`FlushGuard`]: the owner of the background flusher. It offers a flush
//! barrier and the counters, and on drop flushes with a bounded timeout,
//! unregisters from the daemon and stops the thread. It never hangs.

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::channel::{Control, ControlHandle};
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
    ) -> Self {
        Self {
            ctl,
            handle: Some(handle),
            counters,
            shutdown_timeout,
        }
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
    /// See [the example](Self#examples).
    pub fn flush(&self, timeout: Duration) -> FlushOutcome {
        let deadline = Instant::now() + timeout;
        let target = self.counters.snapshot(0).emitted;
        let (ack, done) = flume::bounded(1);
        let sent = self.ctl.send(
            Control::Flush {
                target,
                deadline,
                ack,
            },
            deadline,
        );
        let complete = sent && done.recv_deadline(deadline).is_ok();
        let s = self.stats();
        let resolved = self.counters.resolved();
        FlushOutcome {
            complete,
            written: s.written,
            pending: target.saturating_sub(resolved),
        }
    }

    /// A snapshot of the pipeline's counters.
    /// See [the example](Self#examples).
    pub fn stats(&self) -> Stats {
        self.counters.snapshot(self.ctl.queued() as u64)
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        let deadline = Instant::now() + self.shutdown_timeout;
        let (ack, done) = flume::bounded(1);
        if !self.ctl.send(Control::Shutdown { deadline, ack }, deadline) {
            return;
        }
        // JoinHandle::join has no timeout: wait for the acknowledgement,
        // after which the join is immediate. A flusher that has already
        // exited drops `ack`, which also ends the wait.
        if done.recv_deadline(deadline + SHUTDOWN_ACK_GRACE).is_ok() || handle.is_finished() {
            let _ = handle.join();
        }
    }
}
