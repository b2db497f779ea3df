//! A forked child's own pipeline.
//!
//! After `fork` the child has a copy of the parent's memory but only the
//! thread that forked: no flusher, and channel locks possibly held by
//! threads that no longer exist. So a pipeline never touches its channels
//! in a process other than the one that built it (the producer, the guard
//! and the exit handler compare [`super::pid`]). Instead, the child's
//! first record builds the child its own pipeline from the same
//! [`Recipe`]: a new frame pool, channel, ring, application FIFO
//! `dltpipes/dlt<child pid>` and flusher thread, registering the same
//! application ID under the child's PID. The records the parent had
//! queued stay the parent's: the child never sends them.
//!
//! The pipelines of the children of one process form a chain, one node
//! per process that logged: a lookup walks it to the node of this
//! process, building it at the end when it is missing. Nodes are never
//! removed: a child's memory is its own copy, and a node a process does
//! not own is never touched.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::claims;
use super::live::{self, Live, Ticket};
use crate::channel::{self, ControlHandle, Producer};
use crate::flusher;
use crate::frame::Frame;
use crate::guard::{self, FlushOutcome};
use crate::ledger::Loss;
use crate::stats::{Counters, Stats};
use crate::transport::AppFifo;

/// Everything needed to build a pipeline again, in another process.
#[derive(Debug)]
pub(crate) struct Recipe {
    pub(crate) cfg: flusher::Config,
    pub(crate) channel_capacity: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_frame: usize,
    /// Whether the panic hook writes into this pipeline.
    pub(crate) panic_hook: bool,
}

/// The children's pipelines of one built pipeline.
#[derive(Debug)]
pub(crate) struct Respawn {
    recipe: Arc<Recipe>,
    first: OnceLock<Box<Node>>,
}

/// The pipeline of one process.
#[derive(Debug)]
pub(crate) struct Node {
    pid: u32,
    counters: Arc<Counters>,
    /// `None` when it could not be built (the error is in the counters).
    pipeline: Option<ChildPipeline>,
    next: OnceLock<Box<Node>>,
}

#[derive(Debug)]
struct ChildPipeline {
    producer: Producer,
    ctl: ControlHandle,
    handle: Mutex<Option<JoinHandle<()>>>,
    ticket: Ticket,
}

impl Respawn {
    pub(crate) fn new(recipe: Arc<Recipe>) -> Self {
        Self {
            recipe,
            first: OnceLock::new(),
        }
    }

    /// This process's node, built now if this is its first record.
    pub(crate) fn here(&self) -> &Node {
        let pid = super::pid();
        let mut cell = &self.first;
        loop {
            let node = cell.get_or_init(|| Box::new(Node::start(pid, &self.recipe)));
            if node.pid == pid {
                return node;
            }
            cell = &node.next;
        }
    }

    /// This process's node, if it logged.
    pub(crate) fn existing(&self) -> Option<&Node> {
        let pid = super::pid();
        let mut node = self.first.get()?;
        while node.pid != pid {
            node = node.next.get()?;
        }
        Some(node)
    }
}

impl Node {
    fn start(pid: u32, recipe: &Arc<Recipe>) -> Self {
        let counters = Arc::new(Counters::new());
        let pipeline = ChildPipeline::start(pid, recipe, &counters);
        Self {
            pid,
            counters,
            pipeline,
            next: OnceLock::new(),
        }
    }

    /// Queues `frame` in this process's pipeline (the layer counted it in
    /// the parent's counters, which this process no longer reports).
    pub(crate) fn push(&self, frame: &Frame) {
        Counters::bump(&self.counters.emitted);
        match &self.pipeline {
            Some(p) => p.producer.push(frame),
            None => self.counters.losses.record(Loss::NoFlusher, 1),
        }
    }

    /// This process's counters.
    pub(crate) fn stats(&self) -> Stats {
        let queued = self.pipeline.as_ref().map_or(0, |p| p.ctl.queued());
        self.counters.snapshot(queued as u64)
    }

    /// A flush barrier on this process's pipeline.
    pub(crate) fn flush(&self, timeout: Duration) -> FlushOutcome {
        match &self.pipeline {
            Some(p) => guard::flush_pipeline(&p.ctl, &self.counters, timeout),
            None => guard::flush_pipeline_gone(&self.counters),
        }
    }

    /// Stops this process's pipeline as dropping a guard does, unless the
    /// exit handler already did.
    pub(crate) fn shutdown(&self) {
        let Some(p) = &self.pipeline else {
            return;
        };
        if !p.ticket.withdraw() {
            return;
        }
        let handle = p
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            guard::stop(&p.ctl, h, self.pipeline_timeout());
        }
    }

    fn pipeline_timeout(&self) -> Duration {
        self.pipeline
            .as_ref()
            .map_or(Duration::ZERO, |p| p.ticket.entry().shutdown_timeout())
    }
}

impl ChildPipeline {
    /// The application FIFO, channel and flusher of process `pid`.
    fn start(pid: u32, recipe: &Arc<Recipe>, counters: &Arc<Counters>) -> Option<Self> {
        // The child may have built a layer of its own on this directory:
        // then that one is the child's application here, and this
        // pipeline's records are dropped and counted.
        let claim = claims::try_claim(&recipe.cfg.dir).ok()?;
        let app_fifo = match AppFifo::create(&recipe.cfg.dir, pid) {
            Ok(f) => f,
            Err(e) => {
                counters.note_error(&e);
                return None;
            }
        };
        let (producer, ctl, mut ends) = channel::channel(recipe.channel_capacity, counters.clone());
        if let Some(claim) = claim {
            ends.hold(claim);
        }
        let ticket = live::register(Live {
            pid,
            producer: producer.clone(),
            ctl: ctl.clone(),
            counters: counters.clone(),
            recipe: recipe.clone(),
        });
        let handle = match flusher::spawn(recipe.cfg.clone(), app_fifo, ends, counters.clone()) {
            Ok(h) => Some(h),
            Err(e) => {
                // The channel's ends are dropped: records count as
                // dropped_no_flusher.
                counters.note_error(&e);
                ticket.withdraw();
                None
            }
        };
        Some(Self {
            producer,
            ctl,
            handle: Mutex::new(handle),
            ticket,
        })
    }
}
