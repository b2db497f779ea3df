//! The running pipelines of this process, for the `exit` handler and the
//! panic hook.
//!
//! A fixed table of [`SLOTS`] entries, each behind its own mutex that is
//! held only to put an entry in or take it out. The exit handler and the
//! panic hook only ever `try_lock` a slot, so they never wait: a slot
//! locked at that instant belongs to a pipeline being started or stopped
//! right then, or, in a forked child, to a thread that no longer exists.
//! Each entry names the process that started it, and the other processes
//! that inherit it by `fork` leave it alone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::fork::Recipe;
use crate::channel::{ControlHandle, Producer};
use crate::stats::Counters;

/// How many pipelines the exit handler and the panic hook cover at once.
/// A process has one per pipe directory; a pipeline started while the
/// table is full still runs, only without them (its guard's drop still
/// flushes).
pub(crate) const SLOTS: usize = 64;

static TABLE: [Mutex<Option<Arc<Live>>>; SLOTS] = [const { Mutex::new(None) }; SLOTS];

/// One running pipeline, as the exit handler and the panic hook see it.
#[derive(Debug)]
pub(crate) struct Live {
    /// The process whose flusher thread this is.
    pub(crate) pid: u32,
    pub(crate) producer: Producer,
    pub(crate) ctl: ControlHandle,
    pub(crate) counters: Arc<Counters>,
    pub(crate) recipe: Arc<Recipe>,
}

impl Live {
    /// The bound on flushing this pipeline at exit or at a panic.
    pub(crate) fn shutdown_timeout(&self) -> Duration {
        self.recipe.shutdown_timeout
    }
}

/// A pipeline's place in the table; [`withdraw`](Self::withdraw) takes it
/// out again.
#[derive(Debug)]
pub(crate) struct Ticket {
    slot: Option<usize>,
    entry: Arc<Live>,
}

/// Puts `entry` into a free slot (none when the table is full).
pub(crate) fn register(entry: Live) -> Ticket {
    let entry = Arc::new(entry);
    let slot = TABLE.iter().position(|s| match s.try_lock() {
        Ok(mut g) if g.is_none() => {
            *g = Some(entry.clone());
            true
        }
        _ => false,
    });
    Ticket { slot, entry }
}

impl Ticket {
    /// The registered pipeline.
    pub(crate) fn entry(&self) -> &Live {
        &self.entry
    }

    /// Takes the entry out of the table. True when it was still there, so
    /// that the caller, not the exit handler, shuts the pipeline down.
    pub(crate) fn withdraw(&self) -> bool {
        let Some(i) = self.slot else {
            return true;
        };
        let Ok(mut g) = TABLE[i].lock() else {
            return true;
        };
        match g.as_ref() {
            Some(e) if Arc::ptr_eq(e, &self.entry) => {
                *g = None;
                true
            }
            _ => false,
        }
    }
}

/// Calls `f` with every entry of this process, without waiting for a
/// lock; with `take`, the entries are removed from the table first.
pub(crate) fn each_of_this_process(take: bool, mut f: impl FnMut(Arc<Live>)) {
    let pid = super::pid();
    for slot in &TABLE {
        let Ok(mut g) = slot.try_lock() else {
            continue;
        };
        let mine = g.as_ref().is_some_and(|e| e.pid == pid);
        if !mine {
            continue;
        }
        let entry = if take { g.take() } else { g.clone() };
        drop(g);
        if let Some(e) = entry {
            f(e);
        }
    }
}
