//! The operating-system calls that `std` does not expose, each behind a
//! safe function: `clock_gettime`, `mkfifo`, `poll`, `ioctl(FIONREAD)`,
//! `pthread_sigmask`, `ioctl(SIOCOUTQ)`, `setsockopt(SO_SNDBUF)`, a
//! non-blocking UNIX `connect`, `getpid`, `pthread_atfork` and `atexit`.
//! This is the only module with `unsafe`; it knows nothing of DLT, frames
//! or tracing.
#![allow(unsafe_code)] // The OS interface needs it; every block has a SAFETY note.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// `CLOCK_MONOTONIC` in DLT timestamp units (0.1 ms), truncated to `u32`
/// as libdlt does (`sec * 10000 + nsec / 100000`; wraps after ~4.97 days).
///
/// Reads the vDSO clock: no system call, no allocation.
pub(crate) fn monotonic_timestamp() -> u32 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call;
    // CLOCK_MONOTONIC is always supported on Linux, and on the impossible
    // failure `ts` stays zeroed, which is still a valid value.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(10_000)
        .wrapping_add(ts.tv_nsec as u64 / 100_000) as u32
}

/// Creates a FIFO at `path` with `mode` (subject to the umask).
///
/// # Errors
///
/// Returns the OS error of `mkfifo(3)`, or `InvalidInput` when the path
/// contains a NUL byte.
pub(crate) fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What `poll` reported for one descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ready {
    /// Data can be read.
    pub(crate) readable: bool,
    /// Data can be written.
    pub(crate) writable: bool,
    /// The descriptor reported an error or hang-up.
    pub(crate) error: bool,
}

/// Waits up to `timeout` (to the nanosecond, not rounded down to whole
/// milliseconds) until `read` is readable or `write` is writable (either
/// may be `None`), restarting on `EINTR` is left to the caller: an
/// interrupted wait simply returns "nothing ready".
///
/// # Errors
///
/// Returns the OS error of `ppoll(2)` other than `EINTR`.
pub(crate) fn poll2(
    read: Option<BorrowedFd<'_>>,
    write: Option<BorrowedFd<'_>>,
    timeout: Duration,
) -> io::Result<(Ready, Ready)> {
    let mut fds = [
        libc::pollfd {
            fd: read.map_or(-1, |f| f.as_raw_fd()),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: write.map_or(-1, |f| f.as_raw_fd()),
            events: libc::POLLOUT,
            revents: 0,
        },
    ];
    // ppoll, not poll: poll(2) takes whole milliseconds, and a wait under
    // 1 ms truncated to 0 turned the flusher's congested wait into a busy
    // loop (68,000 calls in a second, seen in the throughput bench).
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `fds` is a valid array of two pollfd and `ts` a valid
    // timespec for the duration of the call; a null signal mask leaves the
    // mask unchanged; negative fds are ignored by ppoll(2); the borrowed
    // descriptors stay open for the call because their borrows outlive it.
    let rc = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok((Ready::default(), Ready::default()));
        }
        return Err(e);
    }
    let ready = |p: &libc::pollfd| Ready {
        readable: p.revents & libc::POLLIN != 0,
        writable: p.revents & libc::POLLOUT != 0,
        error: p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0,
    };
    Ok((ready(&fds[0]), ready(&fds[1])))
}

/// Bytes written into the pipe behind `fd` and not read yet
/// (`ioctl(FIONREAD)`). On Linux this works on a write end too, and still
/// counts the unread bytes after the reader has gone.
///
/// # Errors
///
/// Returns the OS error of `ioctl(2)`.
pub(crate) fn unread_bytes(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points
    // at `n`, valid and writable for the call; `fd` is open for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n.max(0) as usize)
    }
}

/// Bytes (on Linux, for a UNIX stream socket, the memory of the buffers
/// holding them, which is at least the bytes) sent on the socket `fd` and
/// not yet read by its peer (`ioctl(SIOCOUTQ)`, alias `TIOCOUTQ`).
///
/// # Errors
///
/// Returns the OS error of `ioctl(2)`.
pub(crate) fn unsent_bytes(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one c_int through the pointer,
    // which points at `n`, valid and writable for the call; `fd` is open.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n.max(0) as usize)
    }
}

/// Sets the socket `fd`'s send buffer (`SO_SNDBUF`) to `bytes` (clamped
/// to `c_int`; Linux doubles it and applies its minimum).
///
/// # Errors
///
/// Returns the OS error of `setsockopt(2)`.
pub(crate) fn set_send_buffer(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let v: libc::c_int = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: SO_SNDBUF reads one c_int from the pointer, which points at
    // `v` with the size passed; `fd` is open for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Connects a new non-blocking, close-on-exec UNIX stream socket to
/// `path`. Never waits: a listener whose backlog is full (a stalled
/// daemon) fails with `EAGAIN` instead of blocking the caller.
///
/// # Errors
///
/// `InvalidInput` when `path` does not fit `sun_path`; the OS error of
/// `socket(2)` or `connect(2)` otherwise (`ENOENT`, `ECONNREFUSED`,
/// `EAGAIN`, ...).
pub(crate) fn connect_unix_nonblocking(path: &Path) -> io::Result<std::os::unix::net::UnixStream> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: a zeroed sockaddr_un is a valid (empty) address.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket path too long for sun_path: {}", path.display()),
        ));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes for the call;
    // `owned` keeps the descriptor open.
    let rc = unsafe {
        libc::connect(
            owned.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::os::unix::net::UnixStream::from(owned))
}

/// Blocks `SIGPIPE` for the calling thread only.
///
/// A write to a FIFO whose reader has gone then fails with `EPIPE`
/// instead of killing the process, without changing the process-wide
/// disposition that the application owns (libdlt ignores SIGPIPE for the
/// whole process; a library should not). The signal raised by such a
/// write is thread-directed, so it stays pending on this thread, which
/// never unblocks it, and is discarded when the thread exits.
///
/// # Errors
///
/// Returns the OS error of `pthread_sigmask(3)`.
pub(crate) fn block_sigpipe_on_this_thread() -> io::Result<()> {
    // SAFETY: an all-zero sigset_t is a valid value to pass to
    // sigemptyset, which initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable sigset_t for both calls;
    // pthread_sigmask reads it and accepts a null old-set pointer.
    let rc = unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// The calling process's ID (`getpid(2)`: a system call, glibc does not
/// cache it). Async-signal-safe, so a fork handler may call it.
pub(crate) fn getpid() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    let pid = unsafe { libc::getpid() };
    pid as u32
}

/// Runs `child` in the child process of every `fork(2)` (and `fork`-like
/// calls that run fork handlers), on the child's only thread, before
/// `fork` returns there. `child` must be async-signal-safe.
///
/// # Errors
///
/// The error number of `pthread_atfork(3)` (only `ENOMEM`).
pub(crate) fn at_fork_child(child: extern "C" fn()) -> io::Result<()> {
    // SAFETY: `child` is a plain `extern "C"` function that lives for the
    // whole program; no prepare or parent handler is installed.
    let rc = unsafe { libc::pthread_atfork(None, None, Some(child)) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Runs `handler` when the process exits through `exit(3)`: returning
/// from `main`, `std::process::exit`, or `exit` called from C. Not on
/// `_exit(2)`, `abort(3)` or a fatal signal.
///
/// # Errors
///
/// When `atexit(3)` has no room for another handler.
pub(crate) fn at_exit(handler: extern "C" fn()) -> io::Result<()> {
    // SAFETY: `handler` is a plain `extern "C"` function that lives for the
    // whole program.
    let rc = unsafe { libc::atexit(handler) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::other(
            "atexit(3) has no room for another handler",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "taktora-sys-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create temp dir");
        d
    }

    #[test]
    fn monotonic_timestamp_advances_in_tenths_of_ms() {
        let a = monotonic_timestamp();
        let start = std::time::Instant::now();
        // Await a condition (the clock moving past 2 ticks), bounded.
        let b = loop {
            let b = monotonic_timestamp();
            if b.wrapping_sub(a) >= 2 || start.elapsed() > Duration::from_secs(5) {
                break b;
            }
            std::thread::yield_now();
        };
        let elapsed_ticks = (start.elapsed().as_micros() / 100) as u32;
        assert!(b.wrapping_sub(a) >= 2, "clock did not advance");
        assert!(
            b.wrapping_sub(a) <= elapsed_ticks + 2,
            "moved {} ticks in {} ticks of wall time",
            b.wrapping_sub(a),
            elapsed_ticks
        );
    }

    #[test]
    fn mkfifo_poll_and_fionread_on_a_real_fifo() {
        let d = temp_dir("fifo");
        let p = d.join("f");
        mkfifo(&p, 0o600).expect("mkfifo");
        assert!(std::fs::metadata(&p).unwrap().file_type().is_fifo());
        assert!(mkfifo(&p, 0o600).is_err(), "second mkfifo must fail");
        let mut rw = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .expect("open fifo");
        let (r, _) = poll2(Some(rw.as_fd()), None, Duration::ZERO).unwrap();
        assert!(!r.readable, "empty fifo is not readable");
        rw.write_all(b"hello").unwrap();
        assert_eq!(unread_bytes(rw.as_fd()).unwrap(), 5);
        let (r, w) = poll2(Some(rw.as_fd()), Some(rw.as_fd()), Duration::ZERO).unwrap();
        assert!(r.readable && w.writable);
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn poll2_waits_for_a_sub_millisecond_timeout_instead_of_returning_at_once() {
        let d = temp_dir("subms");
        let p = d.join("f");
        mkfifo(&p, 0o600).expect("mkfifo");
        let rw = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .expect("open fifo");
        // Nothing to read: the call may only return at the timeout. A wait
        // can overrun on a busy machine but never end early, so only the
        // lower bound is checked.
        let start = std::time::Instant::now();
        for _ in 0..10 {
            let (r, _) = poll2(Some(rw.as_fd()), None, Duration::from_micros(500)).unwrap();
            assert!(!r.readable);
        }
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(4),
            "10 waits of 0.5 ms took {waited:?}: the timeout was rounded down"
        );
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn blocked_sigpipe_turns_into_epipe() {
        // Rust's runtime ignores SIGPIPE in every test process, which would
        // turn the write below into EPIPE with or without the block. So
        // the test re-runs itself as a child that first restores the
        // default disposition (terminate): there, only the block stands
        // between the write and death by SIGPIPE.
        const CHILD_ENV: &str = "TAKTORA_SYS_SIGPIPE_CHILD";
        const NAME: &str = "sys::tests::blocked_sigpipe_turns_into_epipe";
        if std::env::var_os(CHILD_ENV).is_none() {
            use std::os::unix::process::ExitStatusExt;
            let exe = std::env::current_exe().expect("own test binary");
            let out = std::process::Command::new(exe)
                .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, "1")
                .output()
                .expect("run the child");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                out.status.signal(),
                None,
                "the child was killed by a signal (13 = SIGPIPE: the block did not hold)\n\
                 stdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "the child ran the test and passed: {}\nstdout:\n{stdout}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        // The child, alone in its process (`--exact`, one test thread).
        // SAFETY: signal(2) with SIG_DFL installs no handler code; this
        // process runs only this test, and nothing else in it relies on
        // SIGPIPE being ignored.
        let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        assert_ne!(old, libc::SIG_ERR, "signal(SIGPIPE, SIG_DFL)");
        let d = temp_dir("pipe");
        let p = d.join("f");
        mkfifo(&p, 0o600).unwrap();
        let reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .unwrap();
        let mut w = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .unwrap();
        drop(reader);
        block_sigpipe_on_this_thread().expect("block");
        let r = w.write(b"x").map_err(|e| e.raw_os_error());
        std::fs::remove_dir_all(&d).ok();
        assert_eq!(r, Err(Some(libc::EPIPE)));
    }
}
