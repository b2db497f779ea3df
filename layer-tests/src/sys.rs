//! The harness's only `unsafe`: the libc calls std does not wrap.
//!
//! Sending an arbitrary signal to a child we spawned (std only sends
//! SIGKILL), asking the kernel to SIGKILL a child when the thread that
//! spawned it dies (`PR_SET_PDEATHSIG`), the FIFO calls of the fake daemon
//! (`mkfifo`, `F_SETPIPE_SZ`, `FIONREAD`, `poll`), the per-thread counters
//! of the timing tests (`getrusage`, `clock_gettime`), and restoring the
//! default `SIGPIPE` disposition in a child, and the process-life calls of
//! the lifecycle tests (`fork`, `waitpid`, `_exit`, `exit`, `atexit`).
//! Nothing else belongs here.

#![allow(unsafe_code)] // quarantined libc calls, each under a `// SAFETY:` comment

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// Sends `signal` to `child`, which must not have been reaped yet.
///
/// Taking `&mut Child` (rather than a pid) is the guard against pid reuse:
/// callers check `try_wait()` returned `None` first, and while a child is
/// unreaped its pid cannot belong to anyone else.
///
/// # Errors
///
/// The `kill(2)` error, e.g. `ESRCH`.
pub(crate) fn send_signal(child: &mut Child, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own
    // unreaped child (see the doc comment), so no other process is hit.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes the kernel SIGKILL the child spawned from `cmd` when the spawning
/// thread exits, so a crashed or aborted test never leaves a process behind.
///
/// If the parent is already gone by the time the child runs the hook, the
/// spawn fails instead of leaving an orphan.
pub(crate) fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    let hook = move || -> io::Result<()> {
        // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid() are plain system
        // calls, async-signal-safe, and touch no memory of ours; this runs
        // in the forked child before exec, where only such calls are allowed.
        // io::Error::last_os_error() only reads errno and does not allocate.
        unsafe {
            let signal = libc::c_ulong::try_from(libc::SIGKILL).unwrap_or(9);
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
        Ok(())
    };
    // SAFETY: the hook above only makes async-signal-safe system calls and
    // does not allocate, lock or touch shared state, as `pre_exec` requires.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Creates a FIFO at `path` with permission bits `mode` (before umask).
///
/// # Errors
///
/// The `mkfifo(3)` error, e.g. `EEXIST`; `InvalidInput` for a path
/// containing a NUL byte.
pub fn mkfifo(path: &Path, mode: libc::mode_t) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call;
    // mkfifo only reads it.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), mode) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the capacity of the pipe behind `fd` to at least `bytes`
/// (`F_SETPIPE_SZ`) and returns the capacity the kernel chose.
///
/// # Errors
///
/// The `fcntl(2)` error, e.g. `EPERM` above `/proc/sys/fs/pipe-max-size`.
pub fn set_pipe_size(fd: BorrowedFd<'_>, bytes: libc::c_int) -> io::Result<usize> {
    // SAFETY: F_SETPIPE_SZ takes an int argument and touches no memory of
    // ours; `fd` is a descriptor that is open for the call's duration.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) };
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

/// Bytes in the pipe behind `fd` that nobody has read yet (`FIONREAD`).
///
/// # Errors
///
/// The `ioctl(2)` error.
pub fn unread_bytes(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points to
    // a live, writable c_int; `fd` is open for the call's duration.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if rc == 0 {
        usize::try_from(n).map_err(|_| io::Error::other("FIONREAD returned a negative count"))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Waits at most `timeout` (rounded up to whole milliseconds) until `fd`
/// has something to read; `Ok(false)` when the time ran out first.
///
/// # Errors
///
/// The `poll(2)` error (`EINTR` included: callers loop on their own
/// deadline).
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout
        .as_nanos()
        .div_ceil(1_000_000)
        .min(libc::c_int::MAX as u128) as libc::c_int;
    // SAFETY: one valid, writable pollfd, and a count of 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    match rc {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(false),
        _ => Ok(pfd.revents & libc::POLLIN != 0),
    }
}

/// The calling thread's context switches so far: (voluntary,
/// involuntary), from `getrusage(RUSAGE_THREAD)`. One system call, cheap
/// enough to take around every call of a timing loop.
///
/// # Panics
///
/// If `getrusage` fails, which it cannot with these arguments.
pub fn thread_context_switches() -> (i64, i64) {
    // SAFETY: an all-zero rusage is a valid value (integers and timevals).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a pointer to a live, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    assert_eq!(rc, 0, "getrusage: {}", io::Error::last_os_error());
    (ru.ru_nvcsw, ru.ru_nivcsw)
}

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`).
///
/// # Panics
///
/// If `clock_gettime` fails, which it cannot with this clock.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a pointer to a
    // live, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime: {}", io::Error::last_os_error());
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Restores the default disposition of `SIGPIPE` (terminate) for the
/// whole process; Rust's runtime sets it to ignore. Only for a child
/// process that runs one test which must die if a write raises SIGPIPE.
///
/// # Panics
///
/// If `signal(2)` fails, which it cannot for SIGPIPE.
pub fn reset_sigpipe_to_default() {
    // SAFETY: signal(2) with SIG_DFL installs no handler code; callers are
    // single-test child processes that rely on nothing ignoring SIGPIPE.
    let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(old, libc::SIG_ERR, "signal(SIGPIPE, SIG_DFL)");
}

/// What [`fork`] returned in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// This is the new child process.
    Child,
    /// This is the parent; the child has this pid.
    Parent(u32),
}

/// `fork(2)`: the child gets a copy of this process with only the calling
/// thread. For tests of what a forked child may and may not do; the child
/// must end with [`exit_now`], [`exit_through_libc`] or
/// `std::process::exit`.
///
/// # Errors
///
/// The OS error of `fork(2)`.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: fork has no memory-safety preconditions; the child only runs
    // code the caller wrote for it, and every test that forks knows that
    // other threads do not exist in the child.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as u32)),
    }
}

/// Waits up to `timeout` for the child `pid` to exit, polling, and returns
/// its raw wait status; `None` when it is still running at the deadline.
///
/// # Errors
///
/// The OS error of `waitpid(2)`.
pub fn wait_child(pid: u32, timeout: Duration) -> io::Result<Option<i32>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid, writable int for the call; WNOHANG
        // makes it return at once.
        let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if rc > 0 {
            return Ok(Some(status));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sends SIGKILL to `pid` (a child this test forked) and reaps it.
pub fn kill_child(pid: u32) {
    // SAFETY: kill and waitpid on a pid this process forked and has not
    // reaped yet, so it cannot name another process.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
        libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
    }
}

/// `_exit(2)`: ends the process at once, without `atexit` handlers.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

/// `exit(3)` as C code calls it: `atexit` handlers run, Rust's own cleanup
/// does not.
pub fn exit_through_libc(code: i32) -> ! {
    // SAFETY: exit has no preconditions and does not return; the handlers
    // it runs are the process's own.
    unsafe { libc::exit(code) }
}

/// Registers `handler` with `atexit(3)`.
///
/// # Panics
///
/// When the handler table is full.
pub fn at_exit(handler: extern "C" fn()) {
    // SAFETY: `handler` is an `extern "C"` function that lives for the
    // whole program.
    let rc = unsafe { libc::atexit(handler) };
    assert_eq!(rc, 0, "atexit");
}

/// Takes an exclusive `flock(2)` on `file`, waiting until it is free.
/// Released when the file is closed. Serialises the tests that share one
/// compiled-in path (the UNIX-socket daemon's application socket), across
/// threads and processes alike: each holder opens the file itself.
///
/// # Errors
///
/// The `flock(2)` error other than `EINTR`.
pub(crate) fn lock_exclusive(file: &std::fs::File) -> io::Result<()> {
    loop {
        // SAFETY: flock(2) on a descriptor we own (borrowed from `file`,
        // alive for the call); no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
