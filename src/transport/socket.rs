//! The daemon's application socket, in a dlt-daemon built with
//! `-DDLT_IPC=UNIX_SOCKET`: `<dir>/dlt` is a UNIX stream socket (the
//! daemon's compiled-in `DLT_USER_IPC_PATH`), every application connects
//! to it, and the daemon writes log levels back on the same connection
//! (there is no `dltpipes/dlt<pid>` FIFO in that build).
//!
//! A stream is not a pipe: a non-blocking write may take only part of a
//! batch. The daemon frames the stream by the messages' own lengths, so a
//! message must never be cut short or interleaved: the unwritten rest of a
//! batch is kept here and written before anything else, and until it is,
//! every new send reports [`SendError::WouldBlock`].

use std::fs;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use arrayvec::ArrayVec;

use super::fifo::{OpenError, SendError, PIPE_BUF};
use crate::sys;

/// A connection to the daemon's application socket.
#[derive(Debug)]
pub(crate) struct DaemonSocket {
    stream: UnixStream,
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// The unwritten rest of a partly written batch (a batch is at most
    /// `PIPE_BUF` bytes), written before anything else; allocated once per
    /// connection.
    pending: Box<ArrayVec<u8, PIPE_BUF>>,
    /// The socket's send queue right after our last write: the daemon had
    /// not read at most this many bytes then, and we wrote nothing since.
    queued_after_last_write: usize,
    /// The daemon closed its end (a read returned end-of-file).
    peer_closed: bool,
}

impl DaemonSocket {
    /// Connects to the socket at `path`, non-blocking, with `send_buffer`
    /// as its `SO_SNDBUF` if given. Connecting to a local socket completes
    /// at once, or fails: `ECONNREFUSED` when nobody listens (as after a
    /// killed daemon), `EAGAIN` when the daemon's backlog is full.
    ///
    /// # Errors
    ///
    /// [`OpenError::Absent`] when no daemon listens (`ENOENT`,
    /// `ECONNREFUSED`), [`OpenError::Failed`] for any other failure.
    pub(crate) fn connect(path: &Path, send_buffer: Option<usize>) -> Result<Self, OpenError> {
        let meta = fs::metadata(path).map_err(absent_or_failed)?;
        let stream = sys::connect_unix_nonblocking(path).map_err(absent_or_failed)?;
        if let Some(bytes) = send_buffer {
            sys::set_send_buffer(stream.as_fd(), bytes).map_err(OpenError::Failed)?;
        }
        Ok(Self {
            stream,
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            pending: Box::new(ArrayVec::new()),
            queued_after_last_write: 0,
            peer_closed: false,
        })
    }

    /// Writes `bufs` (at most `PIPE_BUF` bytes in all), after the rest of
    /// an earlier batch. `Ok` means the kernel took the batch or a part of
    /// it and the remainder is kept here, to be written whole before
    /// anything else.
    ///
    /// # Errors
    ///
    /// [`SendError::WouldBlock`] when nothing of `bufs` was written (the
    /// socket is full, or an earlier remainder is still being written),
    /// [`SendError::Gone`] when the daemon is gone.
    pub(crate) fn send(&mut self, bufs: &[IoSlice<'_>]) -> Result<(), SendError> {
        if !self.flush_pending()? {
            return Err(SendError::WouldBlock);
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        debug_assert!(total <= PIPE_BUF, "a batch is at most PIPE_BUF bytes");
        let n = loop {
            match self.stream.write_vectored(bufs) {
                Ok(0) if total > 0 => return Err(SendError::WouldBlock),
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(SendError::WouldBlock)
                }
                Err(e) => return Err(SendError::Gone(e)),
            }
        };
        self.keep_rest(bufs, n);
        self.note_queue();
        Ok(())
    }

    /// Writes what is left of a partly written batch. Returns whether
    /// nothing is left.
    ///
    /// # Errors
    ///
    /// [`SendError::Gone`] when the daemon is gone.
    pub(crate) fn flush_pending(&mut self) -> Result<bool, SendError> {
        while !self.pending.is_empty() {
            match self.stream.write(self.pending.as_slice()) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.pending.drain(..n);
                    self.note_queue();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(SendError::Gone(e)),
            }
        }
        Ok(true)
    }

    /// Whether part of a batch still waits to be written.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Keeps the bytes of `bufs` after the first `written`.
    fn keep_rest(&mut self, bufs: &[IoSlice<'_>], written: usize) {
        let mut skip = written;
        for b in bufs {
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            // Fits: the whole batch is at most PIPE_BUF, the capacity.
            let _ = self.pending.try_extend_from_slice(&b[skip..]);
            skip = 0;
        }
    }

    /// Samples the send queue after a write (see `unread_bytes`).
    fn note_queue(&mut self) {
        if let Ok(q) = sys::unsent_bytes(self.stream.as_fd()) {
            self.queued_after_last_write = q;
        }
    }

    /// Reads what the daemon sent (log levels, log state), without
    /// blocking; `Ok(0)` when there is nothing. End-of-file marks the
    /// daemon as gone (see [`is_replaced`](Self::is_replaced)).
    ///
    /// # Errors
    ///
    /// The OS error of `read(2)` other than `EAGAIN`/`EINTR`.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            return match self.stream.read(buf) {
                Ok(0) if !buf.is_empty() => {
                    self.peer_closed = true;
                    Ok(0)
                }
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) => Err(e),
            };
        }
    }

    /// True when the daemon has gone: it closed the connection (seen by
    /// [`read`](Self::read)), or the socket path is gone or now names
    /// another socket (a restarted daemon).
    pub(crate) fn is_replaced(&self) -> bool {
        if self.peer_closed {
            return true;
        }
        match fs::metadata(&self.path) {
            Ok(now) => now.dev() != self.dev || now.ino() != self.ino,
            Err(_) => true,
        }
    }

    /// An upper bound on the bytes we wrote that the daemon had not read
    /// when it went away: the send queue after our last write (the kernel
    /// purges it once the daemon's end is closed, so it is sampled while
    /// writing), plus a remainder never written.
    pub(crate) fn unread_bytes(&self) -> usize {
        self.queued_after_last_write + self.pending.len()
    }
}

impl AsFd for DaemonSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// `ENOENT`, `ECONNREFUSED` and `EAGAIN` mean "no daemon takes us now";
/// anything else is worth reporting.
fn absent_or_failed(e: io::Error) -> OpenError {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ECONNREFUSED) | Some(libc::EAGAIN) => OpenError::Absent(e),
        _ => OpenError::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn listener() -> (tempfile_dir::Dir, UnixListener, PathBuf) {
        let dir = tempfile_dir::Dir::new("sock");
        let path = dir.0.join("dlt");
        let l = UnixListener::bind(&path).expect("bind");
        (dir, l, path)
    }

    /// A minimal self-removing temp dir (the crate has no tempfile).
    mod tempfile_dir {
        pub(super) struct Dir(pub(super) std::path::PathBuf);
        impl Dir {
            pub(super) fn new(tag: &str) -> Self {
                let d = std::env::temp_dir().join(format!(
                    "taktora-sock-{tag}-{}-{:?}",
                    std::process::id(),
                    std::thread::current().id()
                ));
                let _ = std::fs::remove_dir_all(&d);
                std::fs::create_dir_all(&d).expect("temp dir");
                Self(d)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn no_listener_is_absent() {
        let (_dir, l, path) = listener();
        drop(l); // the socket file stays, nobody listens: ECONNREFUSED
        match DaemonSocket::connect(&path, Some(4096)) {
            Err(OpenError::Absent(e)) => assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED)),
            other => panic!("expected ECONNREFUSED, got {other:?}"),
        }
    }

    /// Reads what `peer` has now, at most `max` bytes, into `got`.
    fn read_some(peer: &mut UnixStream, got: &mut Vec<u8>, max: usize) {
        let mut buf = vec![0u8; max];
        match peer.read(&mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn partial_writes_keep_the_rest_of_a_batch_and_write_it_first() {
        let (_dir, l, path) = listener();
        // A small send buffer: the kernel takes a 4096-byte batch in parts.
        let mut s = DaemonSocket::connect(&path, Some(4096)).expect("connect");
        let (mut peer, _) = l.accept().expect("accept");
        peer.set_nonblocking(true).expect("nonblocking");
        let mut sent = Vec::new();
        let mut got = Vec::new();
        let (mut batches, mut partial) = (0u32, 0u32);
        while batches < 200 {
            let batch: Vec<u8> = (0..PIPE_BUF)
                .map(|i| (batches as usize * 7 + i) as u8)
                .collect();
            match s.send(&[IoSlice::new(&batch[..100]), IoSlice::new(&batch[100..])]) {
                Ok(()) => {
                    sent.extend_from_slice(&batch);
                    batches += 1;
                    partial += u32::from(s.has_pending());
                }
                // A slow reader: a little at a time.
                Err(SendError::WouldBlock) => read_some(&mut peer, &mut got, 700),
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(partial > 0, "the small buffer forced partial writes");
        assert!(s.unread_bytes() > 0, "queued bytes are the bound");
        while got.len() < sent.len() {
            s.flush_pending().expect("flush");
            read_some(&mut peer, &mut got, 65536);
        }
        assert!(!s.has_pending());
        assert_eq!(got.len(), sent.len(), "every accepted byte arrives once");
        assert!(got == sent, "in order, no batch torn or interleaved");
    }

    #[test]
    fn peer_close_is_seen_by_read() {
        let (_dir, l, path) = listener();
        let mut s = DaemonSocket::connect(&path, None).expect("connect");
        let (peer, _) = l.accept().expect("accept");
        assert!(!s.is_replaced());
        drop(peer);
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).expect("read"), 0);
        assert!(s.is_replaced(), "EOF means the daemon is gone");
    }
}
