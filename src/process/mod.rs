//! A pipeline over the whole life of a process: what happens at
//! `exit`, at a panic, after a `fork`, and which pipe directories this
//! process already uses.
//!
//! - [`pid`]: this process's ID, cached and updated by a fork handler,
//!   so that the producer's check "am I still the process that built this
//!   pipeline?" is one relaxed load.
//! - [`live`]: the running pipelines, in a fixed table the `exit` handler
//!   and the panic hook read without ever waiting for a lock.
//! - [`exit`]: the `atexit(3)` handler that flushes them.
//! - [`mod@panic`]: the panic hook that writes the panic as one FATAL record.
//! - [`fork`]: a forked child's own pipeline, built on its first record.
//! - [`claims`]: one application per pipe directory per process.

pub(crate) mod claims;
pub(crate) mod exit;
pub(crate) mod fork;
pub(crate) mod live;
pub(crate) mod panic;

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Once;

use crate::sys;

/// This process's ID; 0 until [`install`] ran.
static PID: AtomicU32 = AtomicU32::new(0);

/// Installs the fork and exit handlers, once per process; every pipeline
/// calls it before it is built.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        PID.store(sys::getpid(), Relaxed);
        // Failures (ENOMEM, a full atexit table) leave the process as it
        // was: forked children then drop their records (counted), and an
        // exit without the guard loses what was buffered.
        let _ = sys::at_fork_child(after_fork_in_child);
        let _ = sys::at_exit(exit::flush_at_exit);
    });
}

/// This process's ID, as cached: one relaxed load, no system call.
#[inline]
pub(crate) fn pid() -> u32 {
    PID.load(Relaxed)
}

/// The fork handler, on the child's only thread: only an atomic store and
/// `getpid`, both async-signal-safe.
extern "C" fn after_fork_in_child() {
    PID.store(sys::getpid(), Relaxed);
}
