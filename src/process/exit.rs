//! Flushing at `exit(3)`: returning from `main`, `std::process::exit`, or
//! `exit` called from C code, with the guard still alive (on the stack of
//! a thread that will never unwind, in a static, or leaked).
//!
//! The handler runs on the exiting thread after Rust's own cleanup; the
//! flusher thread still runs (`exit` does not stop threads). It asks every
//! pipeline of this process to shut down, as dropping its guard would, and
//! waits for their acknowledgements, at most each one's shutdown timeout
//! plus [`SHUTDOWN_ACK_GRACE`]. It never blocks on a lock or a channel:
//! it polls, because thread-local state the blocking calls rely on may
//! already be gone this late.

use std::time::{Duration, Instant};

use super::live::{self, Live};
use crate::channel::{self, Control};
use crate::guard::SHUTDOWN_ACK_GRACE;

/// How often a poll for an acknowledgement looks again.
const ACK_POLL: Duration = Duration::from_millis(1);

/// The `atexit(3)` handler.
pub(crate) extern "C" fn flush_at_exit() {
    let mut stopping = Vec::new();
    live::each_of_this_process(true, |entry| {
        if let Some(deadline) = request_shutdown(&entry) {
            stopping.push((entry, deadline));
        }
    });
    // On the flusher thread itself (exit called from inside the logger),
    // waiting would only wait for ourselves.
    if channel::in_logger() {
        return;
    }
    for (entry, deadline) in stopping {
        // The flusher drops its channel ends last, after it unregistered
        // and removed the application FIFO: wait for that, not only for
        // the acknowledgement it sends just before.
        poll_until(deadline, || entry.ctl.flusher_exited());
    }
}

/// Sends `entry`'s flusher a shutdown, without waiting; returns until when
/// to wait for it to exit.
fn request_shutdown(entry: &Live) -> Option<Instant> {
    let deadline = Instant::now() + entry.shutdown_timeout();
    let (ack, _done) = flume::bounded(1);
    entry
        .ctl
        .try_send(Control::Shutdown { deadline, ack })
        .then_some(deadline + SHUTDOWN_ACK_GRACE)
}

/// Polls `cond` until it holds or `deadline` passes; returns whether it
/// held.
pub(crate) fn poll_until(deadline: Instant, mut cond: impl FnMut() -> bool) -> bool {
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(ACK_POLL.min(deadline - now));
    }
}
