//! The byte pipes to and from the daemon. This module sees `&[u8]` only:
//! no frames, no ring, no tracing. The flusher is its only user.
//!
//! A dlt-daemon is built with one of two IPCs, and [`DaemonLink::open`]
//! finds out which from what `<dir>/dlt` is, so the user configures
//! nothing:
//!
//! - **FIFO** (Debian's build, the default): the daemon's FIFO
//!   `<dir>/dlt`, written by every application, and our own FIFO
//!   `<dir>/dltpipes/dlt<pid>`, which the daemon writes log levels into.
//! - **UNIX socket** (`-DDLT_IPC=UNIX_SOCKET`): `<dir>/dlt` is a stream
//!   socket; levels come back on the same connection.
//!
//! (Shared-memory and VSOCK builds are not supported.)

mod fifo;
mod socket;

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

pub(crate) use fifo::{AppFifo, DaemonFifo, OpenError, SendError, PIPE_BUF};
pub(crate) use socket::DaemonSocket;

/// Name of the daemon's FIFO or socket inside the pipe directory.
const DAEMON_ENDPOINT: &str = "dlt";

/// The write side to the daemon, whichever IPC it was built with.
#[derive(Debug)]
pub(crate) enum DaemonLink {
    /// `<dir>/dlt` is a FIFO.
    Fifo(DaemonFifo),
    /// `<dir>/dlt` is a UNIX stream socket.
    Socket(DaemonSocket),
}

impl DaemonLink {
    /// Connects to the daemon in `dir`: to its socket when `<dir>/dlt` is
    /// one (with `send_buffer` as its `SO_SNDBUF`, if given), else to its
    /// FIFO.
    ///
    /// # Errors
    ///
    /// [`OpenError::Absent`] when no daemon is there,
    /// [`OpenError::Failed`] for any other failure.
    pub(crate) fn open(dir: &Path, send_buffer: Option<usize>) -> Result<Self, OpenError> {
        let path = dir.join(DAEMON_ENDPOINT);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {
                DaemonSocket::connect(&path, send_buffer).map(Self::Socket)
            }
            _ => DaemonFifo::open(dir).map(Self::Fifo),
        }
    }

    /// Writes one batch of whole messages (at most [`PIPE_BUF`] bytes): on
    /// a FIFO atomically, on a socket whole or with its rest kept for the
    /// next write (see [`DaemonSocket::send`]).
    ///
    /// # Errors
    ///
    /// [`SendError::WouldBlock`] when nothing was written,
    /// [`SendError::Gone`] when the daemon is gone.
    pub(crate) fn send(&mut self, bufs: &[IoSlice<'_>]) -> Result<(), SendError> {
        match self {
            Self::Fifo(f) => f.send(bufs),
            Self::Socket(s) => s.send(bufs),
        }
    }

    /// Writes what is left of a partly written batch; returns whether
    /// nothing is left (always true on a FIFO).
    ///
    /// # Errors
    ///
    /// [`SendError::Gone`] when the daemon is gone.
    pub(crate) fn flush_pending(&mut self) -> Result<bool, SendError> {
        match self {
            Self::Fifo(_) => Ok(true),
            Self::Socket(s) => s.flush_pending(),
        }
    }

    /// Whether part of a batch still waits to be written.
    pub(crate) fn has_pending(&self) -> bool {
        matches!(self, Self::Socket(s) if s.has_pending())
    }

    /// True when the daemon this link was opened for has gone.
    pub(crate) fn is_replaced(&self) -> bool {
        match self {
            Self::Fifo(f) => f.is_replaced(),
            Self::Socket(s) => s.is_replaced(),
        }
    }

    /// An upper bound on the bytes we wrote that a daemon that went away
    /// never read.
    ///
    /// # Errors
    ///
    /// The OS error of `ioctl(FIONREAD)` on a FIFO.
    pub(crate) fn unread_bytes(&self) -> io::Result<usize> {
        match self {
            Self::Fifo(f) => f.unread_bytes(),
            Self::Socket(s) => Ok(s.unread_bytes()),
        }
    }

    /// The daemon's messages to us come on this link itself (socket IPC),
    /// not through the application FIFO.
    pub(crate) fn as_control_socket(&mut self) -> Option<&mut DaemonSocket> {
        match self {
            Self::Fifo(_) => None,
            Self::Socket(s) => Some(s),
        }
    }
}

impl AsFd for DaemonLink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Fifo(f) => f.as_fd(),
            Self::Socket(s) => s.as_fd(),
        }
    }
}
