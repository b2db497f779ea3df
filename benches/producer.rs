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
//! The in-span row logs the same event inside two nested spans with two
//! fields each (`outer{req=7, path="/brake"}`, `inner{attempt=2,
//! retry=true}`), created and entered once per block, untimed: it
//! measures what carrying the scope adds to every event.

// SIGSTOP/SIGCONT for the stalled daemon and the libdlt FFI need `unsafe`.
#![allow(unsafe_code)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

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
/// Offered rate for the paced scenarios.
const RATE: u32 = 10_000;

#[derive(Clone, Debug)]
struct Row {
    name: String,
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
    /// Run the calls inside two nested spans with two fields each.
    in_spans: bool,
    note: String,
    ns: Vec<u64>,
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
            in_spans: false,
            note: String::new(),
            ns: Vec::with_capacity(SAMPLES),
            allocs: 0,
            waits: 0,
            preempted: 0,
        }
    }

    fn taktora(name: &'static str, layer: DltLayer, guard: FlushGuard, call: fn()) -> Self {
        let levels = layer.levels();
        let subscriber = tracing_subscriber::registry().with(layer.with_filter(levels));
        let mut case = Case::new(name, Some(tracing::Dispatch::new(subscriber)), call);
        case.guard = Some(guard);
        case
    }

    /// Runs `n` calls, timed when `timed`, paced like the measurement.
    fn run(&mut self, n: usize, timed: bool) {
        let (period, call) = (self.period, self.call);
        let ns = &mut self.ns;
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
                call();
                let dt = t0.elapsed().as_nanos() as u64;
                if timed {
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
            Some(d) => tracing::dispatcher::with_default(d, || {
                if in_spans {
                    in_two_spans(counted)
                } else {
                    counted()
                }
            }),
            None => counted(),
        };
        if timed {
            self.allocs += allocs;
            let (waits, preemptions) = layer_tests::thread_context_switches();
            self.waits += waits.abs_diff(switches);
            self.preempted += preemptions.abs_diff(preempted);
        }
    }

    fn row(mut self) -> Row {
        if let Some(guard) = &self.guard {
            guard.flush(Duration::from_secs(5));
            let s = guard.stats();
            self.note = format!(
                "written {} dropped(queue {} ring {}) of {} (warm-up incl.)",
                s.written, s.dropped_queue_full, s.dropped_ring_full, s.emitted
            );
        }
        self.note = format!(
            "waits {} preempted {}; {}",
            self.waits, self.preempted, self.note
        );
        let mut ns = self.ns;
        ns.sort_unstable();
        let n = ns.len().max(1);
        let pct = |p: f64| {
            ns.get(((n as f64 * p) as usize).min(n - 1))
                .copied()
                .unwrap_or(0)
        };
        Row {
            name: self.name.into(),
            median: pct(0.5),
            p99: pct(0.99),
            p999: pct(0.999),
            max: ns.last().copied().unwrap_or(0),
            allocs: self.allocs as f64 / n as f64,
            note: self.note,
        }
    }
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

#[inline(never)]
fn log_event() {
    log::error!("brake pressure low id={} temp={} ok={}", 42u64, -3i64, true);
}

/// Runs `f` inside two nested spans with two fields each (created and
/// entered here, before `f` starts counting and timing).
fn in_two_spans<T>(f: impl FnOnce() -> T) -> T {
    let outer = tracing::info_span!("outer", req = 7u64, path = "/brake");
    let _outer = outer.enter();
    let inner = tracing::info_span!("inner", attempt = 2i64, retry = true);
    let _inner = inner.enter();
    f()
}

// === peers ===

/// A layer that does nothing: the cost of `tracing`'s dispatch itself.
struct NoopLayer;

impl<S: Subscriber> Layer<S> for NoopLayer {
    fn on_event(&self, event: &Event<'_>, _cx: Context<'_, S>) {
        black_box(event);
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
        "{:<44} {:>9} {:>9} {:>9} {:>9} {:>8}  notes",
        "scenario", "median ns", "p99 ns", "p99.9 ns", "max ns", "allocs"
    );
    for r in rows {
        println!(
            "{:<44} {:>9} {:>9} {:>9} {:>9} {:>8.3}  {}",
            r.name, r.median, r.p99, r.p999, r.max, r.allocs, r.note
        );
    }
}

fn ratio(rows: &[Row], a: &str, b: &str) {
    let find = |n: &str| rows.iter().find(|r| r.name == n);
    if let (Some(a), Some(b)) = (find(a), find(b)) {
        println!(
            "{:<40} / {:<38} median {:>6.2}x  p99 {:>6.2}x  p99.9 {:>6.2}x",
            a.name,
            b.name,
            a.median as f64 / b.median as f64,
            a.p99 as f64 / b.p99 as f64,
            a.p999 as f64 / b.p999 as f64,
        );
    }
}

const TIMER: &str = "timer (Instant::now pair only)";
const NOOP: &str = "no-op layer (dispatch floor)";
const CONNECTED: &str = "taktora-log, daemon connected";
const IN_SPANS: &str = "taktora-log, connected, in 2 spans (2+2 fields)";
const LOG_CONNECTED: &str = "taktora-log via log bridge, connected";
const ABSENT: &str = "taktora-log, daemon absent (ring)";
const STALLED: &str = "taktora-log, daemon stalled (SIGSTOP)";
const FULL: &str = "taktora-log, queue full (flood, cap 4)";
const APPENDER: &str = "fmt + tracing-appender non_blocking";
#[cfg(feature = "libdlt-bench")]
const LIBDLT: &str = "libdlt DLT_LOG, daemon connected";

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

    // Connected (tracing) and libdlt share one private daemon; the
    // stalled scenario has its own, SIGSTOPped for the whole measurement.
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
    let (span_layer, span_guard) = build("TKSP", daemon.dir());
    wait_connected(&span_guard);
    let mut case = Case::taktora(IN_SPANS, span_layer, span_guard, tracing_event);
    case.in_spans = true;
    cases.push(case);

    let stalled_daemon = layer_tests::PrivateDaemon::start().expect("start private dlt-daemon");
    let (layer, guard) = build("TKST", stalled_daemon.dir());
    wait_connected(&guard);
    let stalled_pid = stalled_daemon.pid().expect("daemon running");
    signal(stalled_pid, libc::SIGSTOP);
    cases.push(Case::taktora(STALLED, layer, guard, tracing_event));

    #[cfg(feature = "libdlt-bench")]
    {
        std::env::set_var("DLT_PIPE_DIR", daemon.dir());
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

    for case in &mut cases {
        case.run(WARM_UP, false);
    }
    for _ in 0..ROUNDS {
        for case in &mut cases {
            case.run(BLOCK, true);
        }
    }
    signal(stalled_pid, libc::SIGCONT);
    #[cfg(feature = "libdlt-bench")]
    libdlt::unregister();
    let rows: Vec<Row> = cases.into_iter().map(Case::row).collect();
    drop(appender_guard);
    drop(stalled_daemon);
    drop(log_daemon);
    drop(daemon);

    print_rows(&rows);
    println!();
    println!("ratios (lower is better for the first):");
    ratio(&rows, CONNECTED, NOOP);
    ratio(&rows, CONNECTED, APPENDER);
    #[cfg(feature = "libdlt-bench")]
    ratio(&rows, CONNECTED, LIBDLT);
    ratio(&rows, LOG_CONNECTED, CONNECTED);
    ratio(&rows, IN_SPANS, CONNECTED);
    ratio(&rows, ABSENT, CONNECTED);
    ratio(&rows, STALLED, CONNECTED);
    ratio(&rows, FULL, CONNECTED);
    println!();
    println!("load average at end: {}", read("/proc/loadavg").trim());
}
