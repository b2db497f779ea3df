//! The producer's cost: what one ERROR event costs the calling thread.
//!
//! `cargo bench --bench producer` (add `--features libdlt-bench` for the
//! libdlt peer). A plain `std::time` harness: every call is timed on its
//! own and the report gives median, p99, p99.9 and the heap allocations
//! per call counted on the calling thread (a per-thread counting global
//! allocator; libdlt's C allocations through a malloc shim). All scenarios
//! run in this one process on the main thread, each under its own scoped
//! subscriber, and they are *interleaved*: every scenario is set up first,
//! then `ROUNDS` rounds each time `BLOCK` calls of every scenario in turn,
//! so that a noisy spell on a shared machine lands on all rows alike and
//! the ratios between rows stay meaningful.
//!
//! The event is one ERROR with a message and `id=42u64, temp=-3i64,
//! ok=true` (the `log` path: the same values formatted into its message).
//! Calls are paced at `RATE` per second (`PRODUCER_RATE` overrides it;
//! a busy-wait between calls, not
//! timed) so that "connected" measures a daemon that keeps up, not the
//! drop path; the queue-full scenario floods unpaced on purpose.
//!
//! Timing includes one `Instant::now()` pair; the `timer` row shows what
//! that alone costs.
//!
//! The in-span rows log the same event inside 2 or 8 nested spans with
//! two fields each (alternately `outer{req=7, path="/brake"}` and
//! `inner{attempt=2, retry=true}`), created and entered once per block,
//! untimed: they measure what carrying the scope adds to every event.
//!
//! Peers: a no-op layer (the cost of `tracing`'s dispatch), the *design
//! floor* (a layer that encodes the event's arguments into a stack
//! `ArrayVec` and does one `flume::try_send` of it to a polling consumer
//! thread: what any channel-to-a-thread design must at least pay),
//! `tracing-subscriber`'s fmt layer through `tracing-appender`'s
//! `non_blocking` writer, libdlt's `DLT_LOG` (`--features libdlt-bench`)
//! and OpenSOVD's `tracing-dlt` 0.2.0, `tracing` over libdlt
//! (`--features peer-bench`, which includes `libdlt-bench`).
//!
//! How the cost grows: rows for 1, 10, 100 and 1,000 mapped contexts
//! (the event's target matches none of them, the most work a prefix walk
//! can do), for messages of 10 B, 200 B and 1,400 B (the last is cut to
//! the 1,424-byte frame and counted as truncated), and, after the
//! interleaved rows, for 1, 2 and 4 producer threads logging at once
//! (each paced at the same rate; per-call cost over all threads, and the
//! drops).

// SIGSTOP/SIGCONT for the stalled daemon and the libdlt FFI need `unsafe`.
#![allow(unsafe_code)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrayvec::ArrayVec;
use tracing::field::{Field, Visit};

mod support;

use layer_tests::{count_allocs, CountingAllocator};
#[cfg(feature = "libdlt-bench")]
use support::libdlt;
use support::wait_connected;
use taktora_log::{DltLayer, FlushGuard};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::Layer;

// === per-thread allocation counter ===

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

// === the harness ===

/// Rounds; every scenario runs `BLOCK` timed calls per round.
const ROUNDS: usize = 20;
/// Timed calls per scenario and round.
const BLOCK: usize = 1_000;
/// Timed calls per scenario in all.
const SAMPLES: usize = ROUNDS * BLOCK;
/// Untimed calls per scenario first.
const WARM_UP: usize = 2_000;
/// Untimed calls at the start of every block, after its cold call: the
/// timed calls then measure the scenario in its steady state, not the
/// cache footprint of the row that ran before it.
const BLOCK_WARM: usize = 10;
/// Bytes the scrub before every block writes (one byte per 64-byte
/// line): more than the L2 cache, so every row's cold call starts alike.
const SCRUB_BYTES: usize = 64 << 20;
/// Offered rate for the paced scenarios.
const RATE: u32 = 10_000;

#[derive(Clone, Debug)]
struct Row {
    name: String,
    /// Median over the blocks of the first call after the scrub.
    cold: u64,
    median: u64,
    p99: u64,
    p999: u64,
    max: u64,
    allocs: f64,
    note: String,
}

/// One scenario: what to call, under which subscriber, how fast.
struct Case {
    name: &'static str,
    /// The subscriber the calls run under (`None`: no `tracing` at all).
    dispatch: Option<tracing::Dispatch>,
    period: Option<Duration>,
    call: fn(),
    /// A taktora-log pipeline, for the notes on what it did.
    guard: Option<FlushGuard>,
    /// Count allocations with the C shim (libdlt) instead of the Rust
    /// allocator.
    c_allocs: bool,
    /// Run the calls inside this many nested spans with two fields each.
    in_spans: usize,
    note: String,
    ns: Vec<u64>,
    /// The first call of every block, after the scrub.
    cold: Vec<u64>,
    allocs: u64,
    /// Times the calling thread blocked during timed blocks (pacing spins,
    /// so every one is a wait inside a call).
    waits: u64,
    /// Times the scheduler preempted the calling thread during timed
    /// blocks (in a call or in the pacing spin between calls).
    preempted: u64,
}

impl Case {
    fn new(name: &'static str, dispatch: Option<tracing::Dispatch>, call: fn()) -> Self {
        Self {
            name,
            dispatch,
            period: paced(),
            call,
            guard: None,
            c_allocs: false,
            in_spans: 0,
            note: String::new(),
            ns: Vec::with_capacity(SAMPLES),
            cold: Vec::with_capacity(ROUNDS),
            allocs: 0,
            waits: 0,
            preempted: 0,
        }
    }

    fn taktora(name: &'static str, layer: DltLayer, guard: FlushGuard, call: fn()) -> Self {
        let levels = layer.levels();
        // As `init` composes it: the levels as a global filter.
        let subscriber = tracing_subscriber::registry().with(levels).with(layer);
        let mut case = Case::new(name, Some(tracing::Dispatch::new(subscriber)), call);
        case.guard = Some(guard);
        case
    }

    /// One round's block: the scrub, the cold call, `BLOCK_WARM` untimed
    /// calls, then `BLOCK` timed ones.
    fn block(&mut self, scrub: &mut [u8]) {
        for i in (0..scrub.len()).step_by(64) {
            scrub[i] = scrub[i].wrapping_add(1);
        }
        black_box(&scrub);
        self.run(1, Timed::Cold);
        self.run(BLOCK_WARM, Timed::No);
        self.run(BLOCK, Timed::Yes);
    }

    /// Runs `n` calls, paced like the measurement, their times kept as
    /// `timed` says.
    fn run(&mut self, n: usize, timed: Timed) {
        let (period, call) = (self.period, self.call);
        let ns = match timed {
            Timed::Cold => &mut self.cold,
            _ => &mut self.ns,
        };
        let (keep, cold) = (timed != Timed::No, timed == Timed::Cold);
        let timed = timed == Timed::Yes;
        let mut body = || {
            let mut next = Instant::now();
            for _ in 0..n {
                if let Some(p) = period {
                    next += p;
                    while Instant::now() < next {
                        std::hint::spin_loop();
                    }
                }
                let t0 = Instant::now();
                if cold {
                    cold_call(call);
                } else {
                    call();
                }
                let dt = t0.elapsed().as_nanos() as u64;
                if keep {
                    ns.push(dt);
                }
            }
        };
        let mut counted = || {
            if self.c_allocs {
                c_allocs(&mut body)
            } else {
                count_allocs(&mut body)
            }
        };
        let (switches, preempted) = layer_tests::thread_context_switches();
        let in_spans = self.in_spans;
        let allocs = match &self.dispatch {
            Some(d) => tracing::dispatcher::with_default(d, || in_spans_of(in_spans, counted)),
            None => counted(),
        };
        if keep {
            self.allocs += allocs;
        }
        if timed {
            let (waits, preemptions) = layer_tests::thread_context_switches();
            self.waits += waits.abs_diff(switches);
            self.preempted += preemptions.abs_diff(preempted);
        }
    }

    fn row(mut self) -> Row {
        if let Some(guard) = &self.guard {
            self.note = guard_note(guard);
        }
        self.note = format!(
            "waits {} preempted {}; {}",
            self.waits, self.preempted, self.note
        );
        let mut row = Row::of(self.name.into(), self.ns, self.allocs, self.note);
        self.cold.sort_unstable();
        row.cold = self.cold.get(self.cold.len() / 2).copied().unwrap_or(0);
        row
    }
}

/// The cold call, in a function of its own so that a profiler can single
/// it out (`valgrind --tool=callgrind --cache-sim=yes
/// --toggle-collect=producer::cold_call`).
#[inline(never)]
fn cold_call(call: fn()) {
    call();
}

/// Which of a block's calls a run times.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Timed {
    No,
    /// The block's first call, after the scrub.
    Cold,
    Yes,
}

impl Row {
    /// The row of the per-call times `ns` and `allocs` allocations.
    fn of(name: String, mut ns: Vec<u64>, allocs: u64, note: String) -> Self {
        print_tail(&name, &ns);
        ns.sort_unstable();
        let n = ns.len().max(1);
        let pct = |p: f64| {
            ns.get(((n as f64 * p) as usize).min(n - 1))
                .copied()
                .unwrap_or(0)
        };
        Row {
            name,
            cold: 0,
            median: pct(0.5),
            p99: pct(0.99),
            p999: pct(0.999),
            max: ns.last().copied().unwrap_or(0),
            allocs: allocs as f64 / n as f64,
            note,
        }
    }
}

/// With `PRODUCER_TAIL` set: the 25 slowest calls of a row, as
/// `microseconds@position in its block`, on stderr (slow calls at one
/// position point at something the block's start does).
fn print_tail(name: &str, ns: &[u64]) {
    if std::env::var_os("PRODUCER_TAIL").is_none() {
        return;
    }
    let mut at: Vec<usize> = (0..ns.len()).collect();
    at.sort_unstable_by_key(|&i| std::cmp::Reverse(ns[i]));
    let top: Vec<String> = at
        .iter()
        .take(25)
        .map(|&i| format!("{}@{}", ns[i] / 1000, i % BLOCK))
        .collect();
    eprintln!("slowest of {name}: {}", top.join(" "));
}

/// What a taktora-log pipeline did, once its queue is flushed.
fn guard_note(guard: &FlushGuard) -> String {
    guard.flush(Duration::from_secs(5));
    let s = guard.stats();
    format!(
        "written {} dropped(queue {} ring {}) truncated {} of {}, producer wake-ups {} (warm-up incl.)",
        s.written, s.dropped_queue_full, s.dropped_ring_full, s.truncated, s.emitted, s.producer_wakeups
    )
}

/// Counts libdlt's C allocations made by `f` on this thread.
#[cfg(feature = "libdlt-bench")]
fn c_allocs(f: impl FnOnce()) -> u64 {
    let before = libdlt::c_allocs();
    libdlt::armed(f);
    libdlt::c_allocs() - before
}

#[cfg(not(feature = "libdlt-bench"))]
fn c_allocs(f: impl FnOnce()) -> u64 {
    f();
    0
}

/// The paced rows' rate: `RATE`, or `PRODUCER_RATE` from the environment.
fn rate() -> u32 {
    std::env::var("PRODUCER_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(RATE)
}

fn paced() -> Option<Duration> {
    Some(Duration::from_secs(1) / rate())
}

// === the event ===

#[inline(never)]
fn tracing_event() {
    tracing::error!(id = 42u64, temp = -3i64, ok = true, "brake pressure low");
}

/// A case for `layer` under its `DltLevels` as a per-layer filter, logging
/// at [`tracing_event_per_layer`].
fn per_layer_case(name: &'static str, layer: DltLayer, guard: FlushGuard) -> Case {
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(levels));
    let mut case = Case::new(
        name,
        Some(tracing::Dispatch::new(subscriber)),
        tracing_event_per_layer,
    );
    case.guard = Some(guard);
    case
}

/// The same event at a callsite of its own, for the per-layer filter rows.
#[inline(never)]
fn tracing_event_per_layer() {
    tracing::error!(id = 42u64, temp = -3i64, ok = true, "brake pressure low");
}

/// A 10-byte message.
const MSG_10: &str = "brake low!";
/// A 200-byte message.
const MSG_200: &str = concat!(
    "brake pressure low on the front left circuit: the sensor reads below the",
    " lower bound of the plausibility window for the third cycle in a row, so the",
    " controller now falls back to the redundant circuit."
);

#[inline(never)]
fn event_10b() {
    tracing::error!(id = 42u64, temp = -3i64, ok = true, "{}", MSG_10);
}

#[inline(never)]
fn event_200b() {
    tracing::error!(id = 42u64, temp = -3i64, ok = true, "{}", MSG_200);
}

#[inline(never)]
fn event_1400b() {
    // Seven 200-byte pieces: a 1,400-byte message (cut to the frame).
    tracing::error!(id = 42u64, temp = -3i64, ok = true, "{}", MSG_1400.as_str());
}

static MSG_1400: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| MSG_200.repeat(7));

#[inline(never)]
fn log_event() {
    log::error!("brake pressure low id={} temp={} ok={}", 42u64, -3i64, true);
}

/// Runs `f` inside `depth` nested spans with two fields each (created
/// and entered here, before `f` starts counting and timing).
fn in_spans_of<T>(depth: usize, f: impl FnOnce() -> T) -> T {
    let mut entered = Vec::with_capacity(depth);
    for i in 0..depth {
        let span = if i % 2 == 0 {
            tracing::info_span!("outer", req = 7u64, path = "/brake")
        } else {
            tracing::info_span!("inner", attempt = 2i64, retry = true)
        };
        entered.push(span.entered());
    }
    let r = f();
    while let Some(span) = entered.pop() {
        drop(span);
    }
    r
}

// === peers ===

/// A layer that does nothing: the cost of `tracing`'s dispatch itself.
struct NoopLayer;

impl<S: Subscriber> Layer<S> for NoopLayer {
    fn on_event(&self, event: &Event<'_>, _cx: Context<'_, S>) {
        black_box(event);
    }
}

/// The floor's frame: as large as taktora-log's.
const FLOOR_CAP: usize = 1424;

/// The design floor: `tracing`'s dispatch, the event's arguments encoded
/// as DLT verbose arguments (type info, name, value) after a header's
/// worth of bytes into a stack `ArrayVec`, and one `try_send` of it into a
/// bounded `flume` channel read by a consumer thread that polls (so no
/// send ever has a receiver to wake). No levels, no counters, no
/// timestamps, no loss accounting: what a channel-to-a-thread design
/// cannot do without.
struct FloorLayer {
    tx: flume::Sender<ArrayVec<u8, FLOOR_CAP>>,
    dropped: Arc<AtomicU64>,
}

/// Starts the floor's consumer thread; the layer and its drop counter.
fn floor_layer() -> (FloorLayer, Arc<AtomicU64>) {
    let (tx, rx) = flume::bounded::<ArrayVec<u8, FLOOR_CAP>>(1024);
    std::thread::spawn(move || loop {
        match rx.try_recv() {
            Ok(frame) => {
                black_box(frame);
            }
            Err(flume::TryRecvError::Empty) => std::thread::sleep(Duration::from_micros(500)),
            Err(flume::TryRecvError::Disconnected) => return,
        }
    });
    let dropped = Arc::new(AtomicU64::new(0));
    let layer = FloorLayer {
        tx,
        dropped: dropped.clone(),
    };
    (layer, dropped)
}

impl<S: Subscriber> Layer<S> for FloorLayer {
    fn on_event(&self, event: &Event<'_>, _cx: Context<'_, S>) {
        let mut frame = ArrayVec::<u8, FLOOR_CAP>::new();
        // A standard + extended header's length (the values do not matter).
        let _ = frame.try_extend_from_slice(&[0x3d; 26]);
        event.record(&mut FloorVisitor(&mut frame));
        if self.tx.try_send(frame).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// Appends DLT verbose arguments, cut at the frame's end.
struct FloorVisitor<'a>(&'a mut ArrayVec<u8, FLOOR_CAP>);

impl FloorVisitor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let room = self.0.remaining_capacity().min(bytes.len());
        let _ = self.0.try_extend_from_slice(&bytes[..room]);
    }

    /// Type info, then the name (length, bytes, NUL) unless it is the
    /// message.
    fn head(&mut self, field: &Field, type_info: u32) {
        let named = field.name() != "message";
        let info = if named { type_info | 0x8000 } else { type_info };
        self.put(&info.to_le_bytes());
        if named {
            let name = field.name().as_bytes();
            self.put(&(name.len() as u16 + 1).to_le_bytes());
            self.put(name);
            self.put(&[0]);
        }
    }

    /// A string argument: length placeholder, bytes, NUL, length patched.
    fn string(&mut self, field: &Field, write: impl FnOnce(&mut Self)) {
        self.head(field, 0x0200);
        let at = self.0.len();
        self.put(&[0, 0]);
        write(self);
        self.put(&[0]);
        let len = (self.0.len() - at - 2) as u16;
        if let Some(slot) = self.0.get_mut(at..at + 2) {
            slot.copy_from_slice(&len.to_le_bytes());
        }
    }
}

impl std::fmt::Write for FloorVisitor<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.put(s.as_bytes());
        Ok(())
    }
}

impl Visit for FloorVisitor<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.head(field, 0x44);
        self.put(&value.to_le_bytes());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.head(field, 0x24);
        self.put(&value.to_le_bytes());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.head(field, 0x11);
        self.put(&[u8::from(value)]);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, |v| v.put(value.as_bytes()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.string(field, |v| {
            let _ = write!(v, "{value:?}");
        });
    }
}

// === scenarios ===

fn build(app: &str, dir: &Path) -> (DltLayer, FlushGuard) {
    DltLayer::builder(app)
        .with_pipe_dir(dir)
        .build()
        .expect("build taktora-log layer")
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid, with a valid signal.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

// === report ===

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn print_conditions() {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    println!("machine: {cpus} CPUs available, {model}");
    println!("kernel: {}", read("/proc/sys/kernel/osrelease").trim());
    println!("load average at start: {}", read("/proc/loadavg").trim());
    println!(
        "samples {SAMPLES} per row ({ROUNDS} interleaved rounds of {BLOCK}) after {WARM_UP} warm-up; paced rows at {}/s (busy-wait between calls)",
        rate()
    );
    println!(
        "profile: {}",
        if cfg!(debug_assertions) {
            "debug (numbers meaningless)"
        } else {
            "release"
        }
    );
}

fn print_rows(rows: &[Row]) {
    println!();
    println!(
        "{:<52} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}  notes",
        "scenario", "median ns", "p99 ns", "p99.9 ns", "max ns", "cold ns", "allocs"
    );
    for r in rows {
        println!(
            "{:<52} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8.3}  {}",
            r.name, r.median, r.p99, r.p999, r.max, r.cold, r.allocs, r.note
        );
    }
}

fn ratio(rows: &[Row], a: &str, b: &str) {
    let find = |n: &str| rows.iter().find(|r| r.name == n);
    if let (Some(a), Some(b)) = (find(a), find(b)) {
        println!(
            "{:<52} / {:<44} median {:>6.2}x  p99 {:>6.2}x  p99.9 {:>6.2}x  cold {:>6.2}x",
            a.name,
            b.name,
            a.median as f64 / b.median as f64,
            a.p99 as f64 / b.p99 as f64,
            a.p999 as f64 / b.p999 as f64,
            a.cold as f64 / b.cold.max(1) as f64,
        );
    }
}

const TIMER: &str = "timer (Instant::now pair only)";
const NOOP: &str = "no-op layer (dispatch floor)";
const CONNECTED: &str = "taktora-log, daemon connected";
const IN_SPANS: &str = "taktora-log, connected, in 2 spans (2+2 fields)";
const IN_8_SPANS: &str = "taktora-log, connected, in 8 spans (2 fields each)";
const FLOOR: &str = "floor: encode to ArrayVec + flume::try_send";
const UNFILTERED: &str = "taktora-log, connected, without DltLevels filter";
const BEFORE: &str = "taktora-log, connected, before: per-layer + OnRecord";
const PER_LAYER: &str = "taktora-log, connected, DltLevels per-layer filter";
const MSG_10_ROW: &str = "taktora-log, connected, 10 B message";
const MSG_200_ROW: &str = "taktora-log, connected, 200 B message";
const MSG_1400_ROW: &str = "taktora-log, connected, 1,400 B message";
/// Rows with this many mapped contexts (none matching the event).
const CONTEXT_COUNTS: [usize; 4] = [1, 10, 100, 1_000];
/// Producer threads in the threads phase.
const THREAD_COUNTS: [usize; 3] = [1, 2, 4];
/// Timed calls per thread in the threads phase.
const THREAD_SAMPLES: usize = 10_000;
const LOG_CONNECTED: &str = "taktora-log via log bridge, connected";
const ABSENT: &str = "taktora-log, daemon absent (ring)";
const STALLED: &str = "taktora-log, daemon stalled (SIGSTOP)";
const FULL: &str = "taktora-log, queue full (flood, cap 4)";
const APPENDER: &str = "fmt + tracing-appender non_blocking";
#[cfg(feature = "libdlt-bench")]
const LIBDLT: &str = "libdlt DLT_LOG, daemon connected";
#[cfg(feature = "peer-bench")]
const TRACING_DLT: &str = "tracing-dlt 0.2.0 (OpenSOVD), connected";

/// The row name for `n` mapped contexts.
fn contexts_row(n: usize) -> String {
    format!("taktora-log, connected, {n} mapped contexts")
}

/// A connected layer with `n` mapped contexts, `svc0`..: the bench's
/// events (target `producer`) match none, so they go to the default
/// context after whatever the lookup costs.
fn build_with_contexts(app: &str, dir: &Path, n: usize) -> (DltLayer, FlushGuard) {
    let mut b = DltLayer::builder(app).with_pipe_dir(dir);
    for i in 0..n {
        b = b.with_context(&format!("svc{i}"), format!("S{i}").as_str(), "bench");
    }
    b.build().expect("build taktora-log layer")
}

/// `n` threads, each logging `THREAD_SAMPLES` paced events (after a
/// warm-up) into one connected layer at once: per-call times of all
/// threads, and the drops.
fn threads_row(n: usize, dir: &Path) -> Row {
    let (layer, guard) = build(&format!("TH{n}"), dir);
    wait_connected(&guard);
    let levels = layer.levels();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(levels).with(layer));
    let period = paced();
    let per_thread: Vec<(Vec<u64>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let dispatch = dispatch.clone();
                s.spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        let mut ns = Vec::with_capacity(THREAD_SAMPLES);
                        let run = |count: usize, ns: &mut Vec<u64>| {
                            let mut next = Instant::now();
                            for _ in 0..count {
                                if let Some(p) = period {
                                    next += p;
                                    while Instant::now() < next {
                                        std::hint::spin_loop();
                                    }
                                }
                                let t0 = Instant::now();
                                tracing_event();
                                ns.push(t0.elapsed().as_nanos() as u64);
                            }
                        };
                        let mut warm = Vec::with_capacity(WARM_UP);
                        run(WARM_UP, &mut warm);
                        let allocs = count_allocs(|| run(THREAD_SAMPLES, &mut ns));
                        (ns, allocs)
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("producer thread"))
            .collect()
    });
    let mut all = Vec::with_capacity(n * THREAD_SAMPLES);
    let mut allocs = 0;
    for (ns, a) in per_thread {
        all.extend(ns);
        allocs += a;
    }
    let name = format!("taktora-log, connected, {n} producer thread(s)");
    Row::of(name, all, allocs, guard_note(&guard))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes
    // nothing: run a short smoke pass only for the former.
    if !std::env::args().any(|a| a == "--bench") {
        println!("producer bench: run with `cargo bench --bench producer`");
        return;
    }
    if !layer_tests::require_dlt_tools() {
        return;
    }
    print_conditions();
    tracing_log::LogTracer::init().expect("install LogTracer");
    let mut cases = Vec::new();

    cases.push(Case::new(TIMER, None, || {}));
    let noop = tracing_subscriber::registry().with(NoopLayer);
    cases.push(Case::new(
        NOOP,
        Some(tracing::Dispatch::new(noop)),
        tracing_event,
    ));

    // Every connected layer has a private daemon of its own (and libdlt,
    // whose FIFO is named after the process ID too, another); the stalled
    // scenario's daemon is SIGSTOPped for the whole measurement.
    let daemon = layer_tests::PrivateDaemon::start().expect("start private dlt-daemon");
    let (layer, guard) = build("TKLG", daemon.dir());
    wait_connected(&guard);
    // One application per pipe directory per process: the `log` case has
    // its own daemon.
    let log_daemon = layer_tests::PrivateDaemon::start().expect("start private dlt-daemon");
    let (log_layer, log_guard) = build("TKLB", log_daemon.dir());
    wait_connected(&log_guard);
    cases.push(Case::taktora(CONNECTED, layer, guard, tracing_event));
    cases.push(Case::taktora(
        LOG_CONNECTED,
        log_layer,
        log_guard,
        log_event,
    ));
    // One application per pipe directory per process: every other
    // connected layer gets a daemon of its own, kept until the end.
    let mut more_daemons = Vec::new();
    let mut own_daemon = || {
        let d = layer_tests::PrivateDaemon::start().expect("start private dlt-daemon");
        let dir = d.dir().to_path_buf();
        more_daemons.push(d);
        dir
    };
    let (span_layer, span_guard) = build("TKSP", &own_daemon());
    wait_connected(&span_guard);
    let mut case = Case::taktora(IN_SPANS, span_layer, span_guard, tracing_event);
    case.in_spans = 2;
    cases.push(case);
    let (span_layer, span_guard) = build("TKS8", &own_daemon());
    wait_connected(&span_guard);
    let mut case = Case::taktora(IN_8_SPANS, span_layer, span_guard, tracing_event);
    case.in_spans = 8;
    cases.push(case);
    assert_eq!(
        (MSG_10.len(), MSG_200.len(), MSG_1400.len()),
        (10, 200, 1400)
    );
    for (name, app, call) in [
        (MSG_10_ROW, "TKM1", event_10b as fn()),
        (MSG_200_ROW, "TKM2", event_200b),
        (MSG_1400_ROW, "TKM3", event_1400b),
    ] {
        let (layer, guard) = build(app, &own_daemon());
        wait_connected(&guard);
        cases.push(Case::taktora(name, layer, guard, call));
    }
    let context_rows: Vec<String> = CONTEXT_COUNTS.iter().map(|&n| contexts_row(n)).collect();
    for (i, (&n, name)) in CONTEXT_COUNTS.iter().zip(&context_rows).enumerate() {
        let (layer, guard) = build_with_contexts(&format!("TKC{i}"), &own_daemon(), n);
        wait_connected(&guard);
        // Leaked: a `Case` names its row with a `&'static str`.
        let name: &'static str = Box::leak(name.clone().into_boxed_str());
        cases.push(Case::taktora(name, layer, guard, tracing_event));
    }

    // The integrator's composition beside other layers: `DltLevels` as the
    // layer's per-layer filter. Its own callsite: `tracing` combines a
    // callsite's interest over every dispatcher, and this one's
    // `sometimes` would make the shared callsite `sometimes` for all.
    let (layer, guard) = build("TKPL", &own_daemon());
    wait_connected(&guard);
    cases.push(per_layer_case(PER_LAYER, layer, guard));

    // The connected row as it was before this layer's defaults changed:
    // the per-layer filter, and the first record after a quiet spell
    // waking the flusher (`FlusherWake::OnRecord`).
    let (layer, guard) = DltLayer::builder("TKWR")
        .with_pipe_dir(own_daemon())
        .with_flusher_wake(taktora_log::FlusherWake::OnRecord)
        .build()
        .expect("build taktora-log layer");
    wait_connected(&guard);
    cases.push(per_layer_case(BEFORE, layer, guard));

    // The layer alone, without any filter (it still applies the
    // levels itself): what the filter's bookkeeping costs.
    let (layer, guard) = build("TKNF", &own_daemon());
    wait_connected(&guard);
    let mut case = Case::new(
        UNFILTERED,
        Some(tracing::Dispatch::new(
            tracing_subscriber::registry().with(layer),
        )),
        tracing_event,
    );
    case.guard = Some(guard);
    cases.push(case);

    let (floor, floor_dropped) = floor_layer();
    let mut case = Case::new(
        FLOOR,
        Some(tracing::Dispatch::new(
            tracing_subscriber::registry().with(floor),
        )),
        tracing_event,
    );
    case.note = "consumer thread polls every 0.5 ms".into();
    cases.push(case);

    let stalled_daemon = layer_tests::PrivateDaemon::start().expect("start private dlt-daemon");
    let (layer, guard) = build("TKST", stalled_daemon.dir());
    wait_connected(&guard);
    let stalled_pid = stalled_daemon.pid().expect("daemon running");
    signal(stalled_pid, libc::SIGSTOP);
    cases.push(Case::taktora(STALLED, layer, guard, tracing_event));

    // tracing-dlt needs a Tokio runtime (its `DltLayer::new` spawns a
    // task); libdlt holds one application per process, so with both peers
    // tracing-dlt registers it (`TDLT`) and the libdlt row's context
    // `BNCH` joins it.
    // libdlt's FIFO is named after the process ID like ours: its own daemon.
    let peer_dir = own_daemon();
    std::env::set_var("DLT_PIPE_DIR", &peer_dir);
    #[cfg(feature = "peer-bench")]
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("a Tokio runtime for tracing-dlt");
    #[cfg(feature = "peer-bench")]
    {
        let _rt = tokio_rt.enter();
        let id = tracing_dlt::DltId::new(b"TDLT").expect("app ID");
        let layer =
            tracing_dlt::DltLayer::new(&id, "tracing-dlt bench").expect("tracing-dlt layer");
        let subscriber = tracing_subscriber::registry().with(layer);
        let mut case = Case::new(
            TRACING_DLT,
            Some(tracing::Dispatch::new(subscriber)),
            tracing_event,
        );
        case.c_allocs = true;
        case.note = "allocs: Rust and C, counted by the shim".into();
        cases.push(case);
    }
    #[cfg(feature = "libdlt-bench")]
    {
        #[cfg(feature = "peer-bench")]
        assert_eq!(libdlt::register_context(), 0, "libdlt context registration");
        #[cfg(not(feature = "peer-bench"))]
        assert_eq!(libdlt::register(), 0, "libdlt registration");
        std::thread::sleep(Duration::from_millis(500));
        let before = libdlt::c_allocs();
        libdlt::armed(libdlt::c_malloc_probe);
        assert_eq!(
            libdlt::c_allocs(),
            before + 1,
            "the C allocation counter does not see C's malloc"
        );
        let mut case = Case::new(LIBDLT, None, libdlt::log);
        case.c_allocs = true;
        case.note = "allocs: C malloc/calloc/realloc, counted by the shim".into();
        cases.push(case);
    }

    let absent_dir = tempfile::tempdir().expect("tempdir");
    let (layer, guard) = build("TKAB", absent_dir.path());
    cases.push(Case::taktora(ABSENT, layer, guard, tracing_event));

    let full_dir = tempfile::tempdir().expect("tempdir");
    let (layer, guard) = DltLayer::builder("TKFL")
        .with_pipe_dir(full_dir.path())
        .with_channel_capacity(4)
        .with_ring_capacity(16)
        .build()
        .expect("build layer");
    let mut case = Case::taktora(FULL, layer, guard, tracing_event);
    case.period = None;
    cases.push(case);

    let fmt_dir = tempfile::tempdir().expect("tempdir");
    let file = std::fs::File::create(fmt_dir.path().join("fmt.log")).expect("log file");
    let (writer, appender_guard) = tracing_appender::non_blocking(file);
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer);
    let subscriber = tracing_subscriber::registry().with(fmt);
    let mut case = Case::new(
        APPENDER,
        Some(tracing::Dispatch::new(subscriber)),
        tracing_event,
    );
    case.note = "writes to a file in a temp dir".into();
    cases.push(case);

    // PRODUCER_ROWS=a,b keeps only the rows whose name contains a or b
    // (for a profile of a few rows).
    let wanted = |name: &str| match std::env::var("PRODUCER_ROWS") {
        Ok(list) => list.split(',').any(|w| name.contains(w.trim())),
        Err(_) => true,
    };
    cases.retain(|c| wanted(c.name));
    for case in &mut cases {
        case.run(WARM_UP, Timed::No);
    }
    let mut scrub = vec![0u8; SCRUB_BYTES];
    for _ in 0..ROUNDS {
        for case in &mut cases {
            case.block(&mut scrub);
        }
    }
    signal(stalled_pid, libc::SIGCONT);
    // With tracing-dlt, the application is its to unregister (at exit).
    #[cfg(all(feature = "libdlt-bench", not(feature = "peer-bench")))]
    libdlt::unregister();
    let threads_dir = own_daemon();
    let mut rows: Vec<Row> = cases.into_iter().map(Case::row).collect();
    if let Some(floor) = rows.iter_mut().find(|r| r.name == FLOOR) {
        floor.note = format!(
            "{}; dropped {} (warm-up incl.)",
            floor.note,
            floor_dropped.load(Relaxed)
        );
    }
    for n in THREAD_COUNTS {
        if wanted("producer thread(s)") {
            rows.push(threads_row(n, &threads_dir));
        }
    }
    drop(appender_guard);
    drop(stalled_daemon);
    drop(log_daemon);
    drop(more_daemons);
    drop(daemon);

    print_rows(&rows);
    println!();
    println!("ratios (lower is better for the first):");
    ratio(&rows, CONNECTED, FLOOR);
    ratio(&rows, CONNECTED, NOOP);
    ratio(&rows, CONNECTED, APPENDER);
    #[cfg(feature = "libdlt-bench")]
    ratio(&rows, CONNECTED, LIBDLT);
    #[cfg(feature = "peer-bench")]
    ratio(&rows, CONNECTED, TRACING_DLT);
    ratio(&rows, FLOOR, NOOP);
    ratio(&rows, UNFILTERED, FLOOR);
    ratio(&rows, CONNECTED, UNFILTERED);
    ratio(&rows, PER_LAYER, FLOOR);
    ratio(&rows, CONNECTED, PER_LAYER);
    ratio(&rows, BEFORE, FLOOR);
    ratio(&rows, CONNECTED, BEFORE);
    println!();
    println!("how the cost grows (each against the connected row):");
    ratio(&rows, IN_8_SPANS, CONNECTED);
    ratio(&rows, MSG_10_ROW, CONNECTED);
    ratio(&rows, MSG_200_ROW, CONNECTED);
    ratio(&rows, MSG_1400_ROW, CONNECTED);
    for name in &context_rows {
        ratio(&rows, name, CONNECTED);
    }
    for n in THREAD_COUNTS {
        let name = format!("taktora-log, connected, {n} producer thread(s)");
        ratio(&rows, &name, CONNECTED);
    }
    println!();
    ratio(&rows, LOG_CONNECTED, CONNECTED);
    ratio(&rows, IN_SPANS, CONNECTED);
    ratio(&rows, ABSENT, CONNECTED);
    ratio(&rows, STALLED, CONNECTED);
    ratio(&rows, FULL, CONNECTED);
    println!();
    println!("load average at end: {}", read("/proc/loadavg").trim());
}
