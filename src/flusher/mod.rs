//! The background flusher: the one thread that does I/O to the daemon.
//!
//! Every record takes the same path: channel → ring → the daemon's FIFO.
//! The ring is the flusher's send buffer, connected or not; while the
//! daemon is away (boot, crash, restart) it is where records wait
//! (REQ_0814's offline ring), dropping its oldest when full.
//!
//! One round of [`Flusher::run`], in order:
//!
//! 1. take control requests (flush barriers, shutdown);
//! 2. housekeeping when due: apply log levels the daemon sent, notice a
//!    daemon restarted while we were idle;
//! 3. reconnect when the backoff is over;
//! 4. move records from the channel into the ring;
//! 5. write to the daemon: after every (re)connect REGISTER_APPLICATION
//!    and every REGISTER_CONTEXT first, then wait for the daemon's first
//!    answer (records stay in the ring; see [`FIFO_REPLY_WAIT`] for a
//!    FIFO daemon that never answers), then, when records were lost since
//!    the last report, one OVERFLOW (only when records were dropped, as
//!    libdlt does) and one `taktora.log.dropped` summary record, then the
//!    ring in FIFO order (REQ_0815);
//! 6. publish progress and answer the flush barriers it completes;
//! 7. stop once shut down and drained, or past the shutdown deadline;
//! 8. wait, as [`pacing`] chooses, when no work is left.
//!
//! Connection states: [`Conn::Up`] (possibly still registering, or
//! congested by a full FIFO) and [`Conn::Down`] (reconnecting with bounded
//! exponential backoff).

mod batch;
mod pacing;
mod report;
mod trace_load;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use pacing::HOUSEKEEPING_INTERVAL;

use crate::channel::{Control, FlusherEnds, Slot};
use crate::contexts::ContextTable;
use crate::control::LevelControl;
use crate::frame::{Frame, FRAME_CAP};
use crate::ids::{AppId, EcuId};
use crate::ledger::Loss;
use crate::ring::{OfflineRing, PushOutcome};
use crate::stats::Counters;
use crate::sys;
use crate::transport::{AppFifo, DaemonLink, OpenError};
use batch::Sent;
use pacing::{Pacing, Wait};
use report::{LossReport, RecentWrites};
use trace_load::TraceLoad;

/// Name of the flusher thread.
pub(crate) const THREAD_NAME: &str = "taktora-log-flusher";

/// How long records wait, after registering with a UNIX-socket daemon,
/// for its first answer (every protocol-v1 daemon answers REGISTER_APPLICATION
/// with LOG_STATE on the connection; a protocol-v2 daemon answers in v2),
/// so that nothing is written to a daemon that would misread it. Without
/// an answer by then, writing starts anyway.
const REPLY_WAIT: Duration = Duration::from_secs(1);

/// How long records wait, after registering with a FIFO daemon, for its
/// first answer in our FIFO (every protocol-v1 daemon writes LOG_STATE
/// there right after REGISTER_APPLICATION, PROTOCOL.md §7.2). The wait
/// ends at the first answer, so a healthy daemon costs one round trip;
/// the bound is generous so that a busy daemon on a loaded machine is
/// never misjudged. Without an answer by then the daemon cannot reach us
/// (a protocol-v2 daemon misreads our registration and never opens our
/// FIFO): records are dropped as [`Loss::NoAnswer`] until it answers.
const FIFO_REPLY_WAIT: Duration = Duration::from_secs(5);

/// How long a shutdown that nobody asked for (every layer handle and the
/// guard dropped without one) may take.
const ORPHAN_SHUTDOWN: Duration = Duration::from_secs(1);

/// Everything the flusher needs from the builder (cloned to start a
/// forked child's own flusher).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) dir: PathBuf,
    pub(crate) app: AppId,
    pub(crate) app_description: String,
    pub(crate) ecu: EcuId,
    pub(crate) contexts: Arc<ContextTable>,
    pub(crate) ring_capacity: usize,
    pub(crate) ring_bytes: usize,
    pub(crate) reconnect_initial: Duration,
    pub(crate) reconnect_max: Duration,
    /// `SO_SNDBUF` for a UNIX-socket daemon, if the user set one.
    pub(crate) socket_send_buffer: Option<usize>,
    /// How the idle flusher waits (see [`FlusherWake`](crate::FlusherWake)).
    pub(crate) wake: crate::FlusherWake,
}

/// Starts the flusher thread. `app_fifo` was created by the builder, so
/// that a failure to create it is reported from `build`. If the thread
/// cannot be spawned, `ends` is dropped, which tells the producers that
/// no flusher will come.
///
/// # Errors
///
/// The OS error when the thread cannot be spawned.
pub(crate) fn spawn(
    cfg: Config,
    app_fifo: AppFifo,
    ends: FlusherEnds,
    counters: Arc<Counters>,
) -> std::io::Result<JoinHandle<()>> {
    let ring = OfflineRing::with_limits(cfg.ring_capacity, cfg.ring_bytes);
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            crate::channel::mark_thread_as_logger();
            ends.bell.register_flusher();
            // Without this a write to a FIFO whose daemon died could kill
            // the process with SIGPIPE; failure is not expected and, if it
            // happens, the process's own disposition applies (Rust
            // programs ignore SIGPIPE by default).
            let _ = sys::block_sigpipe_on_this_thread();
            Flusher::new(cfg, app_fifo, ends, counters, ring).run();
        })
}

/// The connection state.
#[derive(Debug)]
enum Conn {
    /// Connected.
    Up(Link),
    /// Not connected; the next attempt is due at `retry_at`.
    Down {
        retry_at: Instant,
        backoff: Duration,
    },
}

/// An open connection to the daemon.
#[derive(Debug)]
struct Link {
    daemon: DaemonLink,
    /// Registration messages written so far; records are written only
    /// once all are.
    registered: usize,
    /// The FIFO was full at the last write.
    congested: bool,
    /// A socket daemon's first answer is awaited until this deadline,
    /// while `LevelControl::replies` is still at the count given.
    awaiting_reply: Option<(Instant, u64)>,
    /// `LevelControl::v2_headers` when this link was opened.
    v2_base: u64,
    /// This daemon answered in protocol v2: nothing is written to it.
    protocol_v2: bool,
    /// This FIFO daemon did not answer within [`FIFO_REPLY_WAIT`], while
    /// `LevelControl::replies` was at the count given: nothing is written
    /// to it (records are dropped as [`Loss::NoAnswer`]) until it answers.
    unanswered: Option<u64>,
}

/// A flush barrier waiting for `target` records to be resolved.
#[derive(Debug)]
struct FlushRequest {
    target: u64,
    deadline: Instant,
    ack: flume::Sender<()>,
}

/// The flusher thread's state. Its fields drop in order when it exits:
/// `app_fifo` removes the application FIFO, then `ends` tells producers
/// the flusher is gone.
struct Flusher {
    cfg: Config,
    pid: i32,
    app_fifo: AppFifo,
    counters: Arc<Counters>,
    ring: OfflineRing,
    conn: Conn,
    levels: LevelControl,
    /// The daemon's trace-load limits, applied as records leave the channel.
    trace_load: TraceLoad,
    /// Registration messages, written after every connect.
    registration: Vec<Frame>,
    recent: RecentWrites,
    pacing: Pacing,
    flushes: Vec<FlushRequest>,
    shutdown: Option<(Instant, flume::Sender<()>)>,
    /// The stderr line about a daemon that does not answer was printed.
    warned_no_answer: bool,
    ends: FlusherEnds,
}

impl Flusher {
    fn new(
        cfg: Config,
        app_fifo: AppFifo,
        ends: FlusherEnds,
        counters: Arc<Counters>,
        ring: OfflineRing,
    ) -> Self {
        let pid = std::process::id() as i32;
        let now = Instant::now();
        Self {
            conn: Conn::Down {
                retry_at: now,
                backoff: cfg.reconnect_initial,
            },
            registration: batch::registration_frames(&cfg, pid),
            pacing: Pacing::new(now, cfg.wake),
            trace_load: TraceLoad::new(cfg.contexts.iter().count()),
            cfg,
            pid,
            app_fifo,
            counters,
            ring,
            levels: LevelControl::new(),
            recent: RecentWrites::new(),
            flushes: Vec::new(),
            shutdown: None,
            warned_no_answer: false,
            ends,
        }
    }

    /// The rounds described in the module docs, until shutdown.
    fn run(mut self) {
        loop {
            self.take_requests();
            let now = Instant::now();
            if self.pacing.housekeeping_due(now) {
                self.housekeeping();
            }
            self.reconnect_if_due(now);
            self.take_from_channel();
            self.write_to_daemon();
            self.publish_progress();
            if self.done() {
                return self.finish();
            }
            if !self.has_work() {
                self.wait();
            }
        }
    }

    /// True when another round can make progress without waiting.
    ///
    /// Whether records arrived is read from the doorbell, an atomic, not
    /// from the channel: every look at the channel takes the lock the
    /// producers need too.
    fn has_work(&self) -> bool {
        match &self.conn {
            Conn::Up(link) if link.congested || link.awaiting_reply.is_some() => false,
            Conn::Up(link) => {
                !self.ring.is_empty() || link.daemon.has_pending() || self.ends.bell.arrived()
            }
            Conn::Down { .. } => self.ends.bell.arrived(),
        }
    }

    // --- control requests ----------------------------------------------------

    fn take_requests(&mut self) {
        while let Ok(c) = self.ends.ctl.try_recv() {
            match c {
                Control::Flush {
                    target,
                    deadline,
                    ack,
                } => self.flushes.push(FlushRequest {
                    target,
                    deadline,
                    ack,
                }),
                Control::Shutdown { deadline, ack } => {
                    self.shutdown = Some((deadline, ack));
                    if let Conn::Down { retry_at, .. } = &mut self.conn {
                        // Try once more right away before giving up.
                        *retry_at = Instant::now();
                    }
                }
            }
        }
    }

    /// Publishes the ring's fill and answers the flush barriers whose
    /// target is resolved (or drops those past their deadline).
    fn publish_progress(&mut self) {
        self.counters
            .buffered
            .store(self.ring.len() as u64, Relaxed);
        self.complete_flushes();
    }

    fn complete_flushes(&mut self) {
        if self.flushes.is_empty() {
            return;
        }
        let resolved = self.counters.resolved();
        let now = Instant::now();
        self.flushes.retain(|f| {
            if resolved >= f.target {
                let _ = f.ack.send(());
                false
            } else {
                now < f.deadline && !f.ack.is_disconnected()
            }
        });
    }

    /// Whether to stop now: shut down and drained, or past the deadline.
    /// When every layer handle and the guard are gone without a shutdown
    /// (the guard was leaked), the flusher shuts itself down.
    fn done(&mut self) -> bool {
        if self.shutdown.is_none() && self.ends.orphaned() {
            let (ack, _) = flume::bounded(1);
            self.shutdown = Some((Instant::now() + ORPHAN_SHUTDOWN, ack));
        }
        let Some((deadline, _)) = &self.shutdown else {
            return false;
        };
        let unsent = matches!(&self.conn, Conn::Up(link) if link.daemon.has_pending());
        let drained = self.ring.is_empty() && self.ends.rx.is_empty() && !unsent;
        drained || Instant::now() >= *deadline
    }

    // --- housekeeping and the connection -------------------------------------

    fn housekeeping(&mut self) {
        self.read_app_fifo();
        if matches!(&self.conn, Conn::Up(link) if link.daemon.is_replaced()) {
            // The daemon was restarted (or stopped) while we were idle.
            self.lost_connection();
            self.reconnect_if_due(Instant::now());
        }
    }

    /// Applies what the daemon wrote into our FIFO, or, on a UNIX-socket
    /// daemon, on the connection: log levels, the client-connected state,
    /// ignored injections (see `LevelControl`).
    fn read_app_fifo(&mut self) {
        let contexts = &*self.cfg.contexts;
        let mut changed = false;
        let mut buf = [0u8; 512];
        let mut socket = match &mut self.conn {
            Conn::Up(link) => link.daemon.as_control_socket(),
            Conn::Down { .. } => None,
        };
        loop {
            let read = match socket.as_mut() {
                Some(s) => s.read(&mut buf),
                None => self.app_fifo.read(&mut buf),
            };
            let n = match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let trace_load = &mut self.trace_load;
            changed |= self
                .levels
                .feed_with(&buf[..n], contexts, &self.counters, |m| {
                    trace_load.on_msg(m, contexts)
                });
        }
        if changed {
            // Make tracing ask the layer again which callsites are enabled.
            tracing_core::callsite::rebuild_interest_cache();
        }
        self.levels.publish(&self.counters);
        self.note_replies();
    }

    /// After reading the daemon's messages: ends the wait for its first
    /// answer (on a FIFO, a wait that timed out makes the daemon
    /// unanswered until it does answer), and notices a daemon that
    /// answered in protocol v2.
    fn note_replies(&mut self) {
        let Conn::Up(link) = &mut self.conn else {
            return;
        };
        let replies = self.levels.replies();
        if let Some((deadline, seen)) = link.awaiting_reply {
            if replies > seen {
                link.awaiting_reply = None;
            } else if Instant::now() >= deadline {
                link.awaiting_reply = None;
                if link.daemon.as_control_socket().is_none() {
                    link.unanswered = Some(seen);
                    self.counters.not_answering.store(true, Relaxed);
                    if !std::mem::replace(&mut self.warned_no_answer, true) {
                        eprintln!(
                            "taktora-log: the dlt-daemon at {} did not answer our registration \
                             within {} s: most likely it is a dlt-daemon 3.0.0 started with -x 2 \
                             (DLT protocol v2, which taktora-log does not speak), or it cannot \
                             open our FIFO {}; records are dropped (Stats::dropped_no_answer) \
                             until it answers; start the daemon without -x 2",
                            self.cfg.dir.join("dlt").display(),
                            FIFO_REPLY_WAIT.as_secs(),
                            self.app_fifo.path().display()
                        );
                    }
                }
            }
        }
        if matches!(link.unanswered, Some(seen) if replies > seen) {
            // A slow daemon answered after all: write to it again.
            link.unanswered = None;
            self.counters.not_answering.store(false, Relaxed);
        }
        if !link.protocol_v2 && self.levels.v2_headers() > link.v2_base {
            link.protocol_v2 = true;
            if !self.counters.protocol_v2.swap(true, Relaxed) {
                eprintln!(
                    "taktora-log: the dlt-daemon at {} answers in DLT protocol v2 (started with \
                     -x 2), which taktora-log does not speak: its records are dropped \
                     (Stats::dropped_protocol_v2); start the daemon without -x 2",
                    self.cfg.dir.join("dlt").display()
                );
            }
        }
    }

    /// Opens the daemon's FIFO if disconnected and the backoff is over;
    /// on failure, backs off further (doubling, up to the maximum).
    fn reconnect_if_due(&mut self, now: Instant) {
        let backoff = match self.conn {
            Conn::Down { retry_at, backoff } if now >= retry_at => backoff,
            _ => return,
        };
        match DaemonLink::open(&self.cfg.dir, self.cfg.socket_send_buffer) {
            Ok(mut daemon) => {
                // Whether this daemon answers is not known yet.
                self.counters.not_answering.store(false, Relaxed);
                Counters::bump(&self.counters.connects);
                if daemon.as_control_socket().is_some() {
                    self.levels.new_stream();
                } else {
                    // What a previous daemon left in our FIFO is no
                    // answer from this one.
                    self.read_app_fifo();
                }
                self.conn = Conn::Up(Link {
                    daemon,
                    registered: 0,
                    congested: false,
                    awaiting_reply: None,
                    v2_base: self.levels.v2_headers(),
                    protocol_v2: false,
                    unanswered: None,
                });
            }
            Err(e) => {
                if let OpenError::Failed(_) = e {
                    Counters::bump(&self.counters.connect_errors);
                }
                self.counters.note_error(e.io());
                self.conn = Conn::Down {
                    retry_at: Instant::now() + backoff,
                    backoff: (backoff * 2).min(self.cfg.reconnect_max),
                };
            }
        }
    }

    /// The daemon is gone: record the records that may have died unread
    /// in its FIFO and start reconnecting.
    fn lost_connection(&mut self) {
        if let Conn::Up(link) = &self.conn {
            Counters::bump(&self.counters.disconnects);
            if let Ok(unread) = link.daemon.unread_bytes() {
                let lost = self.recent.records_within(unread);
                self.counters.losses.record_unconfirmed(lost);
            }
        }
        self.recent.clear();
        self.conn = Conn::Down {
            retry_at: Instant::now() + self.cfg.reconnect_initial,
            backoff: self.cfg.reconnect_initial,
        };
    }

    // --- the data path ---------------------------------------------------------

    /// Moves records from the channel into the ring. While connected,
    /// even while the daemon reads slowly, it takes only what the ring has
    /// room for, so both buffers fill before anything is dropped and the
    /// channel's own drop-oldest policy handles the rest; while
    /// disconnected it takes everything and the ring drops its oldest.
    fn take_from_channel(&mut self) {
        let limited = matches!(self.conn, Conn::Up(_));
        self.ends.bell.looking();
        let mut taken = 0;
        let now = self.trace_load.is_active().then(sys::monotonic_timestamp);
        while !limited || self.ring.fits(FRAME_CAP) {
            let Ok(slot) = self.ends.rx.try_recv() else {
                break;
            };
            self.store(slot, now);
            taken += 1;
        }
        if taken > 0 {
            let capacity = self.ends.rx.capacity().unwrap_or(1);
            self.pacing.took(taken, capacity, Instant::now());
        }
    }

    /// Moves the record in `slot` into the ring and frees the slot; the
    /// records it displaces are dropped and counted. With trace-load
    /// limits (`now` is then the time), a record over its hard limit is
    /// dropped instead.
    fn store(&mut self, slot: Slot, now: Option<u32>) {
        let (ring, limits, contexts) = (&mut self.ring, &mut self.trace_load, &*self.cfg.contexts);
        let outcome = self.ends.take_record(slot, |bytes| match now {
            Some(t) if !limits.admit(bytes, t, contexts) => None,
            _ => Some(ring.push(bytes)),
        });
        let displaced = match outcome {
            None => return self.counters.losses.record(Loss::TraceLoad, 1),
            Some(Ok(PushOutcome::Stored)) => 0,
            Some(Ok(PushOutcome::StoredDroppedOldest(n))) => n as u64,
            // Never happens: a frame is at most FRAME_CAP, the ring's limit.
            Some(Err(_)) => 1,
        };
        self.counters.losses.record(Loss::RingFull, displaced);
    }

    /// Writes as much as the daemon takes: registration first, then a
    /// pending loss report, then the ring in FIFO order.
    fn write_to_daemon(&mut self) {
        loop {
            let Conn::Up(link) = &mut self.conn else {
                return;
            };
            let sent = if link.registered < self.registration.len() {
                let sent = batch::write_registration(
                    link,
                    &self.registration,
                    &mut self.recent,
                    &self.counters,
                );
                if link.registered == self.registration.len() {
                    let wait = match link.daemon.as_control_socket() {
                        Some(_) => REPLY_WAIT,
                        None => FIFO_REPLY_WAIT,
                    };
                    link.awaiting_reply = Some((Instant::now() + wait, self.levels.replies()));
                }
                sent
            } else if link.protocol_v2 || link.unanswered.is_some() {
                let cause = if link.protocol_v2 {
                    Loss::ProtocolV2
                } else {
                    Loss::NoAnswer
                };
                let n = self.ring.pop_front_n(self.ring.len());
                self.counters.losses.record(cause, n as u64);
                link.congested = false;
                return;
            } else if link.awaiting_reply.is_some() {
                link.congested = false;
                return;
            } else {
                let report = (self.counters.losses.report())
                    .map(|r| LossReport::new(r, &self.cfg, self.pid));
                if report.is_none() && self.ring.is_empty() {
                    // A socket may still hold the rest of the last batch.
                    link.congested = match link.daemon.flush_pending() {
                        Ok(done) => !done,
                        Err(_) => return self.lost_connection(),
                    };
                    return;
                }
                let (ring, recent) = (&mut self.ring, &mut self.recent);
                batch::write_records(link, ring, report.as_ref(), recent, &self.counters)
            };
            match sent {
                Sent::Ok => {}
                Sent::Blocked => return link.congested = true,
                Sent::Lost => return self.lost_connection(),
            }
        }
    }

    // --- waiting ---------------------------------------------------------------

    /// Waits as [`Pacing`] chooses, at most until the next thing due.
    fn wait(&mut self) {
        let now = Instant::now();
        if let Conn::Up(Link {
            daemon,
            awaiting_reply: Some((deadline, _)),
            ..
        }) = &self.conn
        {
            // Wait for the daemon's first answer: on the socket, or in our
            // FIFO.
            let t = (*deadline)
                .min(self.next_due())
                .saturating_duration_since(now);
            let fd = match daemon {
                DaemonLink::Socket(s) => std::os::fd::AsFd::as_fd(s),
                DaemonLink::Fifo(_) => std::os::fd::AsFd::as_fd(&self.app_fifo),
            };
            let _ = sys::poll2(Some(fd), None, t.min(Duration::from_millis(10)));
            return self.read_app_fifo();
        }
        let congested = matches!(&self.conn, Conn::Up(link) if link.congested);
        match self.pacing.wait(now, self.next_due(), congested) {
            Wait::ForFifo(t) => self.wait_for_fifo(t),
            Wait::Nap(t) => self.ends.bell.nap(t),
            Wait::Sleep(t) => self.ends.bell.sleep(t),
        }
    }

    /// The earliest of housekeeping, the reconnect, and every deadline.
    fn next_due(&self) -> Instant {
        let mut until = self.pacing.next_housekeeping();
        if let Conn::Down { retry_at, .. } = self.conn {
            until = until.min(retry_at);
        }
        if let Some((deadline, _)) = &self.shutdown {
            until = until.min(*deadline);
        }
        self.flushes.iter().fold(until, |u, f| u.min(f.deadline))
    }

    /// Waits at most `t` for the daemon to read from its full FIFO.
    fn wait_for_fifo(&mut self, t: Duration) {
        let Conn::Up(link) = &mut self.conn else {
            return;
        };
        let fd = std::os::fd::AsFd::as_fd(&link.daemon);
        if let Ok((_, w)) = sys::poll2(None, Some(fd), t) {
            if w.writable || w.error {
                link.congested = false;
            }
        }
    }

    // --- shutdown --------------------------------------------------------------

    /// Counts what could not be written, unregisters, and acknowledges.
    /// Dropping `self` then removes the application FIFO and tells the
    /// producers the flusher is gone.
    fn finish(mut self) {
        let unwritten = self.ring.len() as u64;
        self.counters.losses.record(Loss::AtShutdown, unwritten);
        self.ends.discard_queued(Loss::AtShutdown);
        self.counters.buffered.store(0, Relaxed);
        if let Conn::Up(link) = &mut self.conn {
            let misreads = link.protocol_v2 || link.unanswered.is_some();
            if link.registered == self.registration.len() && !misreads {
                batch::write_unregistration(&mut link.daemon, &self.cfg, self.pid);
            }
        }
        self.complete_flushes();
        if let Some((_, ack)) = self.shutdown.take() {
            let _ = ack.send(());
        }
    }
}
