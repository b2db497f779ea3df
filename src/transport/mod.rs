//! The byte pipes to and from the daemon. This module sees `&[u8]` only:
//! no frames, no ring, no tracing. The flusher is its only user.
//!
//! Debian's dlt-daemon 2.18.8 is built with FIFO IPC, so that is the one
//! transport: the daemon's FIFO `<dir>/dlt`, written by every application,
//! and our own FIFO `<dir>/dltpipes/dlt<pid>`, which the daemon writes log
//! levels into. (Daemons built with UNIX-socket IPC are not supported yet.)

mod fifo;

pub(crate) use fifo::{AppFifo, DaemonFifo, OpenError, SendError, PIPE_BUF};
