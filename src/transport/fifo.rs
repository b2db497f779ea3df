//! The FIFO pair of the dlt-daemon user protocol (PROTOCOL.md §1, §10):
//! the daemon's FIFO, opened write-only and non-blocking, and the
//! application's own FIFO, created and held read-write before the
//! application registers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::sys;

/// Largest write that a pipe performs atomically (POSIX `PIPE_BUF`, 4096
/// on Linux): such a write never interleaves with other applications'
/// writes and, non-blocking, is all-or-nothing (PROTOCOL.md §10.4).
pub(crate) const PIPE_BUF: usize = libc::PIPE_BUF;

/// Name of the daemon's FIFO inside the pipe directory.
const DAEMON_FIFO: &str = "dlt";
/// Directory of the per-application FIFOs inside the pipe directory.
const APP_FIFO_DIR: &str = "dltpipes";
/// Mode libdlt gives `dltpipes` when it creates it: setgid + sticky,
/// rwx for all (PROTOCOL.md §1).
const APP_FIFO_DIR_MODE: u32 = 0o3777;
/// Mode of the application FIFO (PROTOCOL.md §1).
const APP_FIFO_MODE: u32 = 0o660;

// === impl DaemonFifo ===

impl OpenError {
    /// The underlying OS error.
    pub(crate) fn io(&self) -> &io::Error {
        match self {
            Self::Absent(e) | Self::Failed(e) => e,
        }
    }
}

/// Why the daemon's FIFO could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The daemon is not there: `ENOENT` (no FIFO; a clean exit removes
    /// it) or `ENXIO` (a FIFO with no reader; left by a killed daemon).
    Absent(io::Error),
    /// Anything else (permissions, a bad directory): retried like an
    /// absent daemon, but worth reporting.
    Failed(io::Error),
}

/// Why a write to the daemon's FIFO did not happen.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The FIFO is full (`EAGAIN`): nothing was written; try again when
    /// it becomes writable. Not a disconnect.
    WouldBlock,
    /// The daemon is gone (`EPIPE`, `EBADF`, or another error): nothing
    /// was written and this descriptor will never work again.
    Gone(io::Error),
}

/// The write end of the daemon's FIFO `<dir>/dlt`.
#[derive(Debug)]
pub(crate) struct DaemonFifo {
    file: File,
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl DaemonFifo {
    /// Opens `<dir>/dlt` with `O_WRONLY | O_NONBLOCK | O_CLOEXEC`, which
    /// never blocks: without a reader it fails with `ENXIO`.
    ///
    /// # Errors
    ///
    /// [`OpenError::Absent`] when no daemon is reading the FIFO,
    /// [`OpenError::Failed`] for any other failure.
    pub(crate) fn open(dir: &Path) -> Result<Self, OpenError> {
        let path = dir.join(DAEMON_FIFO);
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENXIO) => OpenError::Absent(e),
                _ => OpenError::Failed(e),
            })?;
        let meta = file.metadata().map_err(OpenError::Failed)?;
        Ok(Self {
            file,
            path,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Writes `bufs` with one `writev`. The caller keeps the total at or
    /// below [`PIPE_BUF`], so the write is atomic and all-or-nothing.
    ///
    /// # Errors
    ///
    /// [`SendError::WouldBlock`] when the FIFO is full,
    /// [`SendError::Gone`] when the daemon is gone.
    pub(crate) fn send(&mut self, bufs: &[IoSlice<'_>]) -> Result<(), SendError> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        debug_assert!(total <= PIPE_BUF, "a write over PIPE_BUF is not atomic");
        loop {
            return match self.file.write_vectored(bufs) {
                Ok(n) if n == total => Ok(()),
                // Cannot happen for an atomic write; if it ever did, part
                // of a message is in the pipe and the daemon resyncs on
                // the next "DUH" pattern. Treat the descriptor as broken.
                Ok(n) => Err(SendError::Gone(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("short write to the daemon FIFO: {n} of {total} bytes"),
                ))),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(SendError::WouldBlock),
                Err(e) => Err(SendError::Gone(e)),
            };
        }
    }

    /// True when the daemon this descriptor was opened for has gone: the
    /// FIFO we hold was unlinked (SIGTERM) or the path now names another
    /// FIFO (a restarted daemon). A killed daemon leaves the same FIFO
    /// behind, which only a write (EPIPE) reveals.
    ///
    /// Costs one `stat` and one `fstat` (PROTOCOL.md §12 item 8).
    pub(crate) fn is_replaced(&self) -> bool {
        match (fs::metadata(&self.path), self.file.metadata()) {
            (Ok(now), Ok(ours)) => {
                ours.nlink() == 0 || now.dev() != self.dev || now.ino() != self.ino
            }
            (Err(_), _) => true,
            (_, Err(_)) => true,
        }
    }

    /// Bytes written into the FIFO and not read yet: after the daemon died,
    /// an upper bound on what was lost with it (Linux `FIONREAD` still
    /// counts them; other applications' bytes are included).
    ///
    /// # Errors
    ///
    /// The OS error of `ioctl(FIONREAD)`.
    pub(crate) fn unread_bytes(&self) -> io::Result<usize> {
        sys::unread_bytes(self.file.as_fd())
    }
}

impl AsFd for DaemonFifo {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

// === impl AppFifo ===

/// Our own FIFO `<dir>/dltpipes/dlt<pid>`, which the daemon opens while
/// handling REGISTER_APPLICATION and writes LOG_LEVEL, LOG_STATE and
/// INJECTION messages into. Removed on drop.
#[derive(Debug)]
pub(crate) struct AppFifo {
    file: File,
    path: PathBuf,
}

impl AppFifo {
    /// Creates `<dir>/dltpipes` if missing (mode 03777, as libdlt does),
    /// replaces any stale `dlt<pid>` with a new FIFO (mode 0660), and opens
    /// it `O_RDWR | O_NONBLOCK | O_CLOEXEC`. Holding it read-write makes us
    /// its own writer: the daemon's non-blocking open never fails with
    /// `ENXIO`, and we never see end-of-file.
    ///
    /// # Errors
    ///
    /// Any failure creating the directory or the FIFO, or opening it.
    pub(crate) fn create(dir: &Path, pid: u32) -> io::Result<Self> {
        let pipes = dir.join(APP_FIFO_DIR);
        match fs::create_dir(&pipes) {
            Ok(()) => {
                fs::set_permissions(&pipes, fs::Permissions::from_mode(APP_FIFO_DIR_MODE))?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let path = pipes.join(format!("dlt{pid}"));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        sys::mkfifo(&path, APP_FIFO_MODE)?;
        // mkfifo is subject to the umask; set the mode the daemon expects.
        fs::set_permissions(&path, fs::Permissions::from_mode(APP_FIFO_MODE))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)?;
        Ok(Self { file, path })
    }

    /// Reads what the daemon wrote, without blocking; `Ok(0)` when there
    /// is nothing.
    ///
    /// # Errors
    ///
    /// The OS error of `read(2)` other than `EAGAIN`/`EINTR`.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            return match self.file.read(buf) {
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) => Err(e),
            };
        }
    }

    /// The FIFO's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl AsFd for AppFifo {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl Drop for AppFifo {
    fn drop(&mut self) {
        // Best effort: a missing file is what we want anyway.
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "taktora-fifo-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("create temp dir");
        d
    }

    /// A stand-in daemon: creates `<dir>/dlt` and holds it open for reading.
    fn fake_daemon(dir: &Path) -> File {
        let p = dir.join(DAEMON_FIFO);
        sys::mkfifo(&p, 0o620).expect("mkfifo");
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .expect("open reader")
    }

    #[test]
    fn open_without_daemon_is_absent_enoent_then_enxio() {
        let d = temp_dir("absent");
        match DaemonFifo::open(&d) {
            Err(OpenError::Absent(e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT)),
            other => panic!("expected ENOENT, got {other:?}"),
        }
        sys::mkfifo(&d.join(DAEMON_FIFO), 0o620).unwrap();
        match DaemonFifo::open(&d) {
            Err(OpenError::Absent(e)) => assert_eq!(e.raw_os_error(), Some(libc::ENXIO)),
            other => panic!("expected ENXIO, got {other:?}"),
        }
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn send_reaches_reader_and_full_fifo_is_would_block() {
        let d = temp_dir("send");
        let mut reader = fake_daemon(&d);
        let mut w = DaemonFifo::open(&d).expect("open");
        w.send(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")]).unwrap();
        assert_eq!(w.unread_bytes().unwrap(), 4);
        let mut buf = [0u8; 8];
        assert_eq!(reader.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"abcd");
        // Fill the pipe: the first write that does not fit is WouldBlock
        // and writes nothing.
        let chunk = [0u8; PIPE_BUF];
        let mut writes = 0;
        loop {
            match w.send(&[IoSlice::new(&chunk)]) {
                Ok(()) => writes += 1,
                Err(SendError::WouldBlock) => break,
                Err(e) => panic!("unexpected {e:?}"),
            }
            assert!(writes < 10_000, "pipe never filled");
        }
        assert_eq!(
            w.unread_bytes().unwrap(),
            writes * PIPE_BUF,
            "all or nothing"
        );
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn reader_gone_is_gone_and_replacement_is_detected() {
        let d = temp_dir("gone");
        let reader = fake_daemon(&d);
        let w = DaemonFifo::open(&d).expect("open");
        assert!(!w.is_replaced(), "same FIFO");
        // A restart: the old FIFO is unlinked and a new one created.
        drop(reader);
        fs::remove_file(d.join(DAEMON_FIFO)).unwrap();
        assert!(w.is_replaced(), "unlinked FIFO is detected");
        let _reader2 = fake_daemon(&d);
        assert!(w.is_replaced(), "new inode is detected");
        // Writing on the old descriptor fails for good (on a thread with
        // SIGPIPE blocked, as the flusher's is).
        let r = std::thread::spawn(move || {
            sys::block_sigpipe_on_this_thread().unwrap();
            let mut w = w;
            matches!(w.send(&[IoSlice::new(b"x")]), Err(SendError::Gone(_)))
        })
        .join()
        .unwrap();
        assert!(r, "write on the orphaned FIFO must be Gone");
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn app_fifo_is_created_read_write_and_removed_on_drop() {
        let d = temp_dir("app");
        let mut app = AppFifo::create(&d, 4242).expect("create");
        let p = app.path().to_path_buf();
        assert_eq!(p, d.join("dltpipes/dlt4242"));
        let meta = fs::metadata(&p).unwrap();
        assert!(meta.file_type().is_fifo());
        assert_eq!(meta.permissions().mode() & 0o777, APP_FIFO_MODE);
        let dir_mode = fs::metadata(d.join(APP_FIFO_DIR))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o7777, APP_FIFO_DIR_MODE);
        // The daemon's non-blocking write-only open succeeds (we hold it
        // O_RDWR) and what it writes comes back.
        let mut daemon_side = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .expect("daemon-side open must not be ENXIO");
        let mut buf = [0u8; 16];
        assert_eq!(app.read(&mut buf).unwrap(), 0, "empty reads as 0");
        daemon_side.write_all(b"DUH\x01").unwrap();
        assert_eq!(app.read(&mut buf).unwrap(), 4);
        // A stale FIFO of the same name is replaced.
        drop(app);
        assert!(!p.exists(), "removed on drop");
        fs::remove_dir_all(&d).ok();
    }
}
