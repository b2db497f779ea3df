//! The background flusher: the one thread that does I/O to the daemon.
//!
//! It moves records from the channel into the offline ring and writes the
//! ring's front to the daemon's FIFO in batches of whole records of at most
//! `PIPE_BUF` bytes (one atomic write each). A record leaves the ring only
//! once the write that carried it succeeded, so every failure leaves the
//! unwritten records in place and in order (REQ_0814, TEST_0814).
//!
//! States: `Up` (connected; possibly still re-registering or congested)
//! and `Down` (reconnecting with bounded exponential backoff). After every
//! (re)connect it writes, in this order and from this one thread, so
//! nothing can come in between: REGISTER_APPLICATION, every
//! REGISTER_CONTEXT, then, if records were lost since the last report, one
//! OVERFLOW message (only when records were dropped, as libdlt does) and
//! one `taktora.log.dropped` summary record, then the ring in FIFO order,
//! then live records (REQ_0815).

use std::io::IoSlice;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrayvec::ArrayVec;

use super::{Control, FlusherEnds, Msg, Slot};
use crate::contexts::{ContextTable, DIAGNOSTIC_INDEX};
use crate::control::LevelControl;
use crate::frame::{self, Frame, FRAME_CAP};
use crate::ids::{AppId, EcuId};
use crate::ring::{OfflineRing, PushOutcome};
use crate::stats::Counters;
use crate::sys;
use crate::transport::{AppFifo, DaemonFifo, OpenError, SendError, PIPE_BUF};

/// Name of the flusher thread.
pub(crate) const THREAD_NAME: &str = "taktora-log-flusher";

/// How often the flusher reads the application FIFO (log levels from the
/// daemon) and checks whether the daemon was restarted while we were idle.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);

/// After it handled records, the flusher polls the channel (sleeping in
/// between) for `HOT_FOR` before it blocks in `recv`, so that producers
/// under steady load find it awake and never pay a system call to wake it.
///
/// The poll interval adapts to the rate seen: it aims to find the channel
/// about an eighth full (`POLL_FILL`), between `POLL_MIN` and `POLL_MAX`,
/// shortening at once and at most doubling per round. The other seven
/// eighths are for a flusher the scheduler keeps waiting (8 ms was seen on
/// a busy 2-core machine); a burst that fills half the channel before the
/// next poll unparks the flusher (`Nudge`). While the FIFO is full the
/// flusher waits for it at most one poll too, so records keep moving from
/// the channel into the ring. Every wake-up makes a producer pull the
/// channel's and the slots' cache lines back from the flusher's core: at
/// 10,000 records/s a 1 ms poll did that every 10th call, a 10 ms poll
/// every 100th, and each write to the daemon carries more.
const HOT_FOR: Duration = Duration::from_millis(50);
const POLL_MIN: Duration = Duration::from_micros(200);
const POLL_MAX: Duration = Duration::from_millis(10);
const POLL_START: Duration = Duration::from_millis(1);
const POLL_FILL: usize = 8;

/// Longest wait for the FIFO to become writable before the flusher looks
/// at its control channel again.
const CONGESTED_POLL: Duration = Duration::from_millis(10);

/// Most records one write can carry: the smallest LOG frame is 42 bytes,
/// so a `PIPE_BUF` write holds fewer than 100.
const MAX_BATCH: usize = 128;

/// Recent writes remembered to bound the records lost in a dead daemon's
/// FIFO: enough to cover a 1 MiB pipe of smallest writes.
const RECENT_WRITES: usize = 1024;

/// Everything the flusher needs from the builder.
#[derive(Debug)]
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
}

/// Starts the flusher thread. `app_fifo` was created by the builder, so
/// that a failure to create it is reported from `build`.
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
            super::mark_thread_as_logger();
            ends.nudge.register_flusher();
            // Without this a write to a FIFO whose daemon died could kill
            // the process with SIGPIPE; failure is not expected and, if it
            // happens, the process's own disposition applies (Rust
            // programs ignore SIGPIPE by default).
            let _ = sys::block_sigpipe_on_this_thread();
            let alive = ends.alive.clone();
            Flusher::new(cfg, app_fifo, ends, counters, ring).run();
            alive.store(false, Ordering::Release);
        })
}

/// The connection state.
#[derive(Debug)]
enum Conn {
    /// Connected. `registered` counts the registration messages written
    /// so far; records are written only once all are.
    Up {
        fifo: DaemonFifo,
        registered: usize,
        congested: bool,
    },
    /// Not connected; the next attempt is due at `retry_at`.
    Down {
        retry_at: Instant,
        backoff: Duration,
    },
}

/// How a write attempt ended.
enum Sent {
    Ok,
    Blocked,
    Lost,
}

struct Flusher {
    cfg: Config,
    app_fifo: AppFifo,
    ends: FlusherEnds,
    counters: Arc<Counters>,
    ring: OfflineRing,
    conn: Conn,
    levels: LevelControl,
    pid: i32,
    /// Registration messages, written after every connect.
    registration: Vec<Frame>,
    /// Drops committed as reported (see `DropLedger`).
    reported: u64,
    /// Records that may have died in a dead daemon's FIFO, not yet
    /// reported in a summary.
    unconfirmed: u64,
    /// When the first of the `unconfirmed` records was found lost
    /// (nanoseconds since the Unix epoch), 0 when there are none.
    unconfirmed_at: u64,
    recent: RecentWrites,
    flushes: Vec<(u64, Instant, flume::Sender<()>)>,
    shutdown: Option<(Instant, flume::Sender<()>)>,
    next_housekeeping: Instant,
    /// Poll the channel until then, instead of blocking in `recv`.
    hot_until: Instant,
    /// The current poll interval (see `HOT_FOR`).
    poll: Duration,
    /// When records were last taken from the channel.
    last_take: Instant,
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
        let registration = registration_frames(&cfg, pid);
        let now = Instant::now();
        Self {
            conn: Conn::Down {
                retry_at: now,
                backoff: cfg.reconnect_initial,
            },
            cfg,
            app_fifo,
            ends,
            counters,
            ring,
            levels: LevelControl::new(),
            pid,
            registration,
            reported: 0,
            unconfirmed: 0,
            unconfirmed_at: 0,
            recent: RecentWrites::new(),
            flushes: Vec::new(),
            shutdown: None,
            next_housekeeping: now,
            hot_until: now,
            poll: POLL_START,
            last_take: now,
        }
    }

    fn run(mut self) {
        loop {
            self.handle_control();
            let now = Instant::now();
            if now >= self.next_housekeeping {
                self.housekeeping();
                self.next_housekeeping = now + HOUSEKEEPING_INTERVAL;
            }
            if let Conn::Down { retry_at, .. } = self.conn {
                if now >= retry_at {
                    self.connect();
                }
            }
            self.take_from_channel();
            self.pump();
            self.counters
                .buffered
                .store(self.ring.len() as u64, Ordering::Relaxed);
            self.complete_flushes();
            if let Some((deadline, _)) = &self.shutdown {
                let drained = self.ring.is_empty() && self.ends.rx.is_empty();
                if drained || Instant::now() >= *deadline {
                    self.finish();
                    return;
                }
            }
            if self.ends.rx.is_disconnected() && self.ends.rx.is_empty() {
                // Every layer and the guard are gone without a shutdown
                // (the guard was leaked): write what we can, then stop.
                self.shutdown.get_or_insert_with(|| {
                    let (tx, _) = flume::bounded(1);
                    (Instant::now() + Duration::from_secs(1), tx)
                });
            }
            if !self.has_work() {
                self.wait();
            }
        }
    }

    /// True when another round can make progress without waiting.
    ///
    /// Whether records arrived is read from the nudge counter, an atomic,
    /// not from the channel: every look at the channel takes the lock the
    /// producers need too.
    fn has_work(&self) -> bool {
        match &self.conn {
            Conn::Up {
                congested: true, ..
            } => false,
            Conn::Up { .. } => !self.ring.is_empty() || self.ends.nudge.arrived(),
            Conn::Down { .. } => self.ends.nudge.arrived(),
        }
    }

    // --- control -------------------------------------------------------

    fn handle_control(&mut self) {
        while let Ok(c) = self.ends.ctl.try_recv() {
            match c {
                Control::Flush {
                    target,
                    deadline,
                    ack,
                } => self.flushes.push((target, deadline, ack)),
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

    /// Records resolved so far: written or dropped for any reason.
    fn resolved(&self) -> u64 {
        let c = &self.counters;
        c.written.load(Ordering::Relaxed)
            + c.dropped_queue_full.load(Ordering::Relaxed)
            + c.dropped_ring_full.load(Ordering::Relaxed)
            + c.dropped_no_flusher.load(Ordering::Relaxed)
            + c.lost_at_shutdown.load(Ordering::Relaxed)
    }

    fn complete_flushes(&mut self) {
        if self.flushes.is_empty() {
            return;
        }
        let resolved = self.resolved();
        let now = Instant::now();
        self.flushes.retain(|(target, deadline, ack)| {
            if resolved >= *target {
                let _ = ack.send(());
                false
            } else {
                now < *deadline && !ack.is_disconnected()
            }
        });
    }

    // --- housekeeping ----------------------------------------------------

    fn housekeeping(&mut self) {
        self.read_app_fifo();
        let replaced = matches!(&self.conn, Conn::Up { fifo, .. } if fifo.is_replaced());
        if replaced {
            // The daemon was restarted (or stopped) while we were idle.
            self.lost_connection();
            self.connect();
        }
    }

    /// Applies what the daemon wrote into our FIFO: log levels, the
    /// client-connected state, ignored injections (see `LevelControl`).
    fn read_app_fifo(&mut self) {
        let contexts = &*self.cfg.contexts;
        let mut changed = false;
        let mut buf = [0u8; 512];
        loop {
            let n = match self.app_fifo.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            changed |= self.levels.feed(&buf[..n], contexts, &self.counters);
        }
        if changed {
            // Make tracing ask the layer again which callsites are enabled.
            tracing_core::callsite::rebuild_interest_cache();
        }
        self.levels.publish(&self.counters);
    }

    // --- connection ------------------------------------------------------

    fn connect(&mut self) {
        let backoff = match self.conn {
            Conn::Up { .. } => return,
            Conn::Down { backoff, .. } => backoff,
        };
        match DaemonFifo::open(&self.cfg.dir) {
            Ok(fifo) => {
                Counters::bump(&self.counters.connects);
                self.conn = Conn::Up {
                    fifo,
                    registered: 0,
                    congested: false,
                };
            }
            Err(e) => {
                if let OpenError::Failed(_) = e {
                    Counters::bump(&self.counters.connect_errors);
                }
                self.counters.note_error(e.io());
                let next = (backoff * 2).min(self.cfg.reconnect_max);
                self.conn = Conn::Down {
                    retry_at: Instant::now() + backoff,
                    backoff: next,
                };
            }
        }
    }

    /// The daemon is gone: note the records that may have died with its
    /// FIFO and start reconnecting.
    fn lost_connection(&mut self) {
        if let Conn::Up { fifo, .. } = &self.conn {
            Counters::bump(&self.counters.disconnects);
            if let Ok(unread) = fifo.unread_bytes() {
                let lost = self.recent.records_within(unread);
                if lost > 0 && self.unconfirmed == 0 {
                    self.unconfirmed_at = crate::stats::now_unix_nanos();
                }
                self.unconfirmed += lost;
            }
        }
        self.recent.clear();
        self.conn = Conn::Down {
            retry_at: Instant::now() + self.cfg.reconnect_initial,
            backoff: self.cfg.reconnect_initial,
        };
    }

    // --- data path ---------------------------------------------------------

    /// Moves records from the channel into the ring. While connected,
    /// even while the daemon reads slowly, it takes only what the ring has
    /// room for, so both buffers fill before anything is dropped and the
    /// channel's own drop-oldest policy handles the rest; while
    /// disconnected it takes everything and the ring drops its oldest.
    fn take_from_channel(&mut self) {
        let limited = matches!(self.conn, Conn::Up { .. });
        self.ends.nudge.looking();
        let mut taken = 0;
        // While connected, take a record only when any record would fit
        // without displacing one.
        while !limited || self.ring.fits(FRAME_CAP) {
            match self.ends.rx.try_recv() {
                Ok(Msg::Record(slot)) => {
                    taken += 1;
                    self.store(slot);
                }
                Ok(Msg::Wake) => {}
                Err(_) => break,
            }
        }
        if taken > 0 {
            self.took(taken);
        }
    }

    /// Stays hot after taking `taken` records, and adapts the poll
    /// interval to the rate they arrived at.
    fn took(&mut self, taken: usize) {
        let now = Instant::now();
        let since = now.saturating_duration_since(self.last_take);
        self.last_take = now;
        self.hot_until = now + HOT_FOR;
        let target = (self.ends.rx.capacity().unwrap_or(1) / POLL_FILL).max(1);
        let per_record = since / u32::try_from(taken).unwrap_or(u32::MAX);
        let ideal = per_record.saturating_mul(u32::try_from(target).unwrap_or(u32::MAX));
        // Shorten at once, lengthen gradually.
        self.poll = ideal.min(self.poll * 2).clamp(POLL_MIN, POLL_MAX);
    }

    /// Moves the record in `slot` into the ring and frees the slot.
    fn store(&mut self, slot: Slot) {
        let ring = &mut self.ring;
        let outcome = self.ends.take_record(slot, |bytes| ring.push(bytes));
        let dropped = match outcome {
            Ok(PushOutcome::Stored) => 0,
            Ok(PushOutcome::StoredDroppedOldest(n)) => n as u64,
            // Never happens: a frame is at most FRAME_CAP, the ring's limit.
            Err(_) => 1,
        };
        self.counters.drop_ring_full(dropped);
    }

    /// Writes as much as the daemon takes: registration first, then a
    /// pending summary, then the ring in FIFO order.
    fn pump(&mut self) {
        loop {
            let Conn::Up {
                fifo,
                registered,
                congested,
            } = &mut self.conn
            else {
                return;
            };
            let result = if *registered < self.registration.len() {
                // Registration, batched into writes of at most PIPE_BUF.
                let mut slices: ArrayVec<IoSlice<'_>, MAX_BATCH> = ArrayVec::new();
                let mut bytes = 0;
                for f in &self.registration[*registered..] {
                    if bytes + f.len() > PIPE_BUF || slices.is_full() {
                        break;
                    }
                    bytes += f.len();
                    slices.push(IoSlice::new(f.as_bytes()));
                }
                let n = slices.len();
                let r = send(fifo, &slices, &self.counters);
                if let Sent::Ok = r {
                    *registered += n;
                    self.recent.push(bytes, 0);
                }
                r
            } else {
                let pending = self.counters.ledger.pending(self.reported);
                if pending.is_none() && self.unconfirmed == 0 && self.ring.is_empty() {
                    *congested = false;
                    return;
                }
                // A summary leads the batch when anything was lost.
                let mut summary = Frame::new();
                let mut overflow = Frame::new();
                let report = pending.is_some() || self.unconfirmed > 0;
                if report {
                    let count = pending.map_or(0, |p| p.count);
                    // The earlier of the first drop and the first loss
                    // found in a dead daemon's FIFO.
                    let first = match (pending, self.unconfirmed_at) {
                        (Some(p), 0) => p.first_at_unix_nanos,
                        (Some(p), t) => p.first_at_unix_nanos.min(t),
                        (None, t) => t,
                    };
                    let diag = self.cfg.contexts.get(DIAGNOSTIC_INDEX);
                    frame::summary::encode(
                        &mut summary,
                        &frame::summary::Summary {
                            ecu: self.cfg.ecu,
                            app: self.cfg.app,
                            ctx: crate::contexts::DIAGNOSTIC_CONTEXT,
                            counter: diag.map_or(0, |c| c.next_counter()),
                            session_id: self.pid as u32,
                            timestamp: sys::monotonic_timestamp(),
                            count,
                            first_dropped_at_unix_nanos: first,
                            unconfirmed: self.unconfirmed,
                        },
                    );
                    if count > 0 {
                        // Like libdlt, only for a real count: a summary
                        // that reports only `unconfirmed` records must not
                        // make DLT tools show "0 messages discarded".
                        frame::user::overflow(
                            &mut overflow,
                            count.min(u64::from(u32::MAX)) as u32,
                            self.cfg.app,
                        );
                    }
                }
                let (r, records, bytes) = {
                    let mut slices: ArrayVec<IoSlice<'_>, MAX_BATCH> = ArrayVec::new();
                    let mut bytes = 0;
                    if report {
                        if !overflow.is_empty() {
                            bytes += overflow.len();
                            slices.push(IoSlice::new(overflow.as_bytes()));
                        }
                        bytes += summary.len();
                        slices.push(IoSlice::new(summary.as_bytes()));
                    }
                    let mut records = 0;
                    for r in self.ring.iter() {
                        if bytes + r.len() > PIPE_BUF || slices.is_full() {
                            break;
                        }
                        bytes += r.len();
                        records += 1;
                        slices.push(IoSlice::new(r));
                    }
                    (send(fifo, &slices, &self.counters), records, bytes)
                };
                if let Sent::Ok = r {
                    self.ring.pop_front_n(records);
                    self.counters
                        .written
                        .fetch_add(records as u64, Ordering::Relaxed);
                    self.recent.push(bytes, records);
                    if report {
                        if let Some(p) = pending {
                            self.reported = self.counters.ledger.commit(p);
                        }
                        self.unconfirmed = 0;
                        self.unconfirmed_at = 0;
                        Counters::bump(&self.counters.summaries);
                    }
                }
                r
            };
            match result {
                Sent::Ok => {}
                Sent::Blocked => {
                    if let Conn::Up { congested, .. } = &mut self.conn {
                        *congested = true;
                    }
                    return;
                }
                Sent::Lost => {
                    self.lost_connection();
                    return;
                }
            }
        }
    }

    // --- waiting -------------------------------------------------------------

    fn wait(&mut self) {
        let now = Instant::now();
        let mut until = self.next_housekeeping;
        if let Conn::Down { retry_at, .. } = self.conn {
            until = until.min(retry_at);
        }
        if let Some((deadline, _)) = &self.shutdown {
            until = until.min(*deadline);
        }
        for (_, deadline, _) in &self.flushes {
            until = until.min(*deadline);
        }
        let timeout = until.saturating_duration_since(now);
        match &self.conn {
            Conn::Up {
                fifo,
                congested: true,
                ..
            } => {
                // Wait for the daemon to read, without spinning.
                // No longer than a poll: records must keep moving from the
                // channel into the ring while the daemon is slow.
                let t = timeout.min(CONGESTED_POLL).min(self.poll);
                if let Ok((_, w)) = sys::poll2(None, Some(std::os::fd::AsFd::as_fd(fifo)), t) {
                    if w.writable || w.error {
                        if let Conn::Up { congested, .. } = &mut self.conn {
                            *congested = false;
                        }
                    }
                }
            }
            _ if now < self.hot_until => {
                // A producer unparks us early if the channel fills first.
                std::thread::park_timeout(timeout.min(self.poll));
            }
            _ => match self.ends.rx.recv_timeout(timeout) {
                Ok(Msg::Record(slot)) => {
                    self.store(slot);
                    self.took(1);
                }
                Ok(Msg::Wake) | Err(_) => {}
            },
        }
    }

    // --- shutdown --------------------------------------------------------------

    /// Counts what could not be written, unregisters, and acknowledges.
    /// The application FIFO is removed when `self` drops.
    fn finish(mut self) {
        let mut lost = self.ring.len() as u64;
        lost += self
            .ends
            .rx
            .try_iter()
            .filter(|m| matches!(m, Msg::Record(_)))
            .count() as u64;
        self.counters
            .lost_at_shutdown
            .fetch_add(lost, Ordering::Relaxed);
        self.counters.buffered.store(0, Ordering::Relaxed);
        if let Conn::Up {
            fifo, registered, ..
        } = &mut self.conn
        {
            if *registered == self.registration.len() {
                for f in unregistration_frames(&self.cfg, self.pid) {
                    // Best effort: the daemon also forgets an application
                    // whose FIFO it can no longer write.
                    let _ = fifo.send(&[IoSlice::new(f.as_bytes())]);
                }
            }
        }
        self.complete_flushes();
        if let Some((_, ack)) = self.shutdown.take() {
            let _ = ack.send(());
        }
    }
}

/// One write of `slices` (at most `PIPE_BUF` bytes in all).
fn send(fifo: &mut DaemonFifo, slices: &[IoSlice<'_>], counters: &Counters) -> Sent {
    if slices.is_empty() {
        return Sent::Ok;
    }
    match fifo.send(slices) {
        Ok(()) => Sent::Ok,
        Err(SendError::WouldBlock) => Sent::Blocked,
        Err(SendError::Gone(e)) => {
            counters.note_error(&e);
            Sent::Lost
        }
    }
}

/// REGISTER_APPLICATION then one REGISTER_CONTEXT per context, in
/// `log_level_pos` order.
fn registration_frames(cfg: &Config, pid: i32) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut f = Frame::new();
    frame::user::register_app(&mut f, cfg.app, pid, &cfg.app_description);
    out.push(f);
    for (pos, ctx) in cfg.contexts.iter().enumerate() {
        let mut f = Frame::new();
        frame::user::register_context(
            &mut f,
            cfg.app,
            ctx.id,
            pos as i32,
            ctx.register_level,
            pid,
            &ctx.description,
        );
        out.push(f);
    }
    out
}

/// UNREGISTER_CONTEXT for every context, then UNREGISTER_APPLICATION.
fn unregistration_frames(cfg: &Config, pid: i32) -> Vec<Frame> {
    let mut out = Vec::new();
    for ctx in cfg.contexts.iter() {
        let mut f = Frame::new();
        frame::user::unregister_context(&mut f, cfg.app, ctx.id, pid);
        out.push(f);
    }
    let mut f = Frame::new();
    frame::user::unregister_app(&mut f, cfg.app, pid);
    out.push(f);
    out
}

// === impl RecentWrites ===

/// The sizes of our most recent writes and how many records each carried,
/// newest last: when the daemon dies, the `FIONREAD` count of unread bytes
/// in its FIFO tells which of them it may never have read.
#[derive(Debug)]
struct RecentWrites {
    writes: Box<[(u32, u32)]>,
    next: usize,
    len: usize,
}

impl RecentWrites {
    fn new() -> Self {
        Self {
            writes: vec![(0, 0); RECENT_WRITES].into_boxed_slice(),
            next: 0,
            len: 0,
        }
    }

    fn push(&mut self, bytes: usize, records: usize) {
        self.writes[self.next] = (bytes as u32, records as u32);
        self.next = (self.next + 1) % self.writes.len();
        self.len = (self.len + 1).min(self.writes.len());
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// An upper bound on our records that are (even partly) among the
    /// last `unread` bytes of the pipe: a write is counted when it started
    /// less than `unread` bytes before the end. Other applications' bytes
    /// interleaved in the pipe only make the true number smaller. When
    /// the history is shorter than the unread bytes, every remembered
    /// write is counted.
    fn records_within(&self, unread: usize) -> u64 {
        let mut from_end = 0usize;
        let mut records = 0u64;
        for i in 0..self.len {
            if from_end >= unread {
                break;
            }
            let idx = (self.next + self.writes.len() - 1 - i) % self.writes.len();
            let (bytes, recs) = self.writes[idx];
            from_end += bytes as usize;
            records += u64::from(recs);
        }
        records
    }
}

const _: () = assert!(FRAME_CAP <= PIPE_BUF, "one frame must fit one atomic write");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_writes_bound_counts_writes_touching_the_unread_suffix() {
        let mut r = RecentWrites::new();
        r.push(100, 2); // oldest
        r.push(50, 1);
        r.push(30, 0); // a registration write
        r.push(200, 5); // newest
        assert_eq!(r.records_within(0), 0, "nothing unread");
        assert_eq!(r.records_within(1), 5, "last byte belongs to the newest");
        assert_eq!(r.records_within(200), 5);
        assert_eq!(r.records_within(201), 5, "the 30-byte write has no records");
        assert_eq!(r.records_within(231), 6);
        assert_eq!(r.records_within(10_000), 8, "history shorter than unread");
        r.clear();
        assert_eq!(r.records_within(10_000), 0);
    }
}
