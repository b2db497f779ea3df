//! The harness's only `unsafe`: the two libc calls std does not wrap.
//!
//! Sending an arbitrary signal to a child we spawned (std only sends
//! SIGKILL), and asking the kernel to SIGKILL a child when the thread that
//! spawned it dies (`PR_SET_PDEATHSIG`). Nothing else belongs here.

#![allow(unsafe_code)] // quarantined libc calls, each under a `// SAFETY:` comment

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

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
