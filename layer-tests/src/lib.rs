//! Shared harness for the integration tests: a private `dlt-daemon` per
//! test and a live `dlt-receive` to read back what arrived.
//!
//! # Overview
//!
//! * [`require_dlt_tools`]: run, skip (developer machine) or fail (CI) a
//!   test that needs the daemon.
//! * [`PrivateDaemon`]: a `dlt-daemon` in its own temp dir with its own
//!   config (no UDP, TCP on `::1` only) and free port, killable and
//!   restartable, stopped and cleaned up on drop.
//! * [`Receiver`]: `dlt-receive -a` connected to that port, with bounded
//!   waits for the lines a test expects.
//! * [`Capture`]: `dlt-receive -o FILE`, for benchmarks that only count
//!   and for the DLT Viewer tests, which decode the file with the viewer.
//! * [`require_dlt_viewer`]: run, skip or fail a test that needs DLT Viewer.
//! * [`DltLine`] / [`parse_line`]: the fields of one `dlt-receive -a` line.
//! * [`fake_daemon`]: an in-process fake daemon reading the FIFO, for exact
//!   bytes and daemons that stall or vanish on cue; needs no tools.
//! * [`DaemonVariant`], [`VARIANTS`], [`daemon_matrix!`]: the daemon builds
//!   the tests run against (`scripts/build-daemons.sh`), one test per variant.
//! * [`wait_until`]: the one bounded poll for a condition no barrier
//!   signals, failing with what was awaited and the last value seen.
//! * [`mkfifo`], [`unread_bytes`], [`thread_cpu_time`], ...: the libc
//!   calls std does not wrap, the crate's only `unsafe` (in `sys.rs`).
//!
//! Every process is started by this crate, signalled only by its own pid,
//! and dies with the thread that started it (`PR_SET_PDEATHSIG`).
//!
//! # Examples
//!
//! ```no_run
//! use std::process::Command;
//! use std::time::Duration;
//! use layer_tests::{require_dlt_tools, speak_py, PrivateDaemon, Receiver};
//!
//! if !require_dlt_tools() {
//!     return;
//! }
//! let daemon = PrivateDaemon::start().expect("start dlt-daemon");
//! let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
//! let status = Command::new("python3")
//!     .arg(speak_py())
//!     .env("DLT_PIPE_DIR", daemon.dir())
//!     .status()
//!     .expect("run speak.py");
//! assert!(status.success());
//! let logs = receiver
//!     .wait_for_count(|l| l.is_log_from("PYAP", "PYCT"), 3, Duration::from_secs(10))
//!     .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
//! assert_eq!(logs[0].tail(), "PYAP PYCT log info V 1 [Hello from speak.py]");
//! ```

#![deny(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod alloc;
mod capture;
mod child;
mod daemon;
pub mod fake_daemon;
mod line;
mod procfs;
mod receiver;
mod report;
mod subscriber;
mod sys;
mod tool_path;
mod tools;
mod variant;
mod variant_table;
mod viewer;
mod wait;

pub use alloc::{count_allocs, CountingAllocator};
pub use capture::{count_messages, Capture, CAPTURE_CONNECT_TIMEOUT};
pub use child::child_test;
pub use daemon::{PrivateDaemon, Signal, DAEMON_EXIT_TIMEOUT, DAEMON_READY_TIMEOUT};
pub use line::{parse_line, DltLine};
pub use procfs::{
    cpu_time, is_child_process, own_threads_cpu_time, own_threads_voluntary_switches,
    voluntary_switches,
};
pub use receiver::{Receiver, RECEIVER_CONNECT_TIMEOUT};
pub use subscriber::{flush_all, init_log_tracer, with_layer, DEBUG_PROBE};
pub use sys::{
    at_exit, exit_now, exit_through_libc, fork, kill_child, mkfifo, poll_readable,
    reset_sigpipe_to_default, set_pipe_size, thread_context_switches, thread_cpu_time,
    unread_bytes, wait_child, Forked,
};
pub use tools::{require_dlt_tools, require_dlt_viewer, shared_dir, speak_py};
pub use variant::require_variant;
pub use variant_table::{
    cache_dir, DaemonVariant, Ipc, DEBIAN, V2_18_10_FIFO, V2_18_11_FIFO, V2_18_11_TRACELOAD,
    V3_0_0_FIFO, V3_0_0_SOCKET, VARIANTS,
};
pub use viewer::{viewer_rows, ViewerRow, VIEWER_TIMEOUT};
pub use wait::{try_wait_until, wait_until, WaitTimeout, POLL_INTERVAL};
