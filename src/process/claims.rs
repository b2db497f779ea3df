//! One application per pipe directory per process.
//!
//! The daemon finds an application's FIFO by its process ID alone
//! (`<dir>/dltpipes/dlt<pid>`), so two pipelines of one process on one
//! pipe directory would share, and remove, each other's FIFO. A pipeline
//! claims its directory before it creates the FIFO and releases it once
//! the FIFO is gone; a second claim on a directory still held is refused.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Directories claimed, with the process that claimed them (a forked
/// child inherits its parent's claims but is another process).
static CLAIMED: Mutex<Vec<(u32, PathBuf)>> = Mutex::new(Vec::new());

/// A claimed pipe directory, released on drop.
#[derive(Debug)]
pub(crate) struct Claim {
    pid: u32,
    dir: PathBuf,
}

/// Claims `dir` for this process, or returns the directory as resolved
/// when another live pipeline of this process holds it. A directory that
/// cannot be resolved (it does not exist) is claimed by its path as
/// given; creating the FIFO there fails anyway.
pub(crate) fn claim(dir: &Path) -> Result<Claim, PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let pid = super::pid();
    let mut claimed = CLAIMED.lock().unwrap_or_else(PoisonError::into_inner);
    if claimed.iter().any(|(p, d)| *p == pid && *d == dir) {
        return Err(dir);
    }
    claimed.push((pid, dir.clone()));
    Ok(Claim { pid, dir })
}

/// As [`claim`], for a forked child's own pipeline, which must not wait:
/// the lock may be held by a thread that did not survive the fork. `Ok(None)`
/// when the lock is taken (the child then goes without a claim).
pub(crate) fn try_claim(dir: &Path) -> Result<Option<Claim>, PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let pid = super::pid();
    let Ok(mut claimed) = CLAIMED.try_lock() else {
        return Ok(None);
    };
    if claimed.iter().any(|(p, d)| *p == pid && *d == dir) {
        return Err(dir);
    }
    claimed.push((pid, dir.clone()));
    Ok(Some(Claim { pid, dir }))
}

impl Drop for Claim {
    fn drop(&mut self) {
        // In a forked child the claim is its parent's: the lock may be held
        // by a thread that did not survive the fork, and the entry names
        // another process anyway.
        if self.pid != super::pid() {
            return;
        }
        let mut claimed = CLAIMED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = claimed
            .iter()
            .position(|(p, d)| *p == self.pid && *d == self.dir)
        {
            claimed.swap_remove(i);
        }
    }
}
