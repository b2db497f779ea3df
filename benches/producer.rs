//! The producer's cost: what one ERROR event costs the calling thread.
//!
//! `cargo bench --bench producer` (add `--features libdlt-bench` for the
//! libdlt peer). A plain `std::time` harness: every call is timed on its
//! own and the report gives median, p99, p99.9 and the heap allocations
//! per call counted on the calling thread (a per-thread counting global
//! allocator). All scenarios run in this one process, one after another,
//! on the main thread, each under its own scoped subscriber.
//!
//! The event is one ERROR with a message and `id=42u64, temp=-3i64,
//! ok=true` (the `log` path: the same values formatted into its message).
//! Calls are paced at `RATE` per second (a busy-wait between calls, not
//! timed) so that "connected" measures a daemon that keeps up, not the
//! drop path; the queue-full scenario floods unpaced on purpose.
//!
//! Timing includes one `Instant::now()` pair; the `timer` row shows what
//! that alone costs.

// SIGSTOP/SIGCONT for the stalled daemon and the libdlt FFI need `unsafe`.
#![allow(unsafe_code)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use layer_tests::{count_allocs, CountingAllocator};
use taktora_log::{DltLayer, FlushGuard};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::Layer;

// === per-thread allocation counter ===

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

// === the harness ===

/// Timed calls per scenario.
const SAMPLES: usize = 20_000;
/// Untimed calls first.
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

/// Times `SAMPLES` calls of `f`, `period` apart (None: back to back).
/// The warm-up is paced like the timed calls, so that it does not flood
/// a connected pipeline into its drop path before the measurement.
fn measure(name: &str, period: Option<Duration>, mut f: impl FnMut()) -> Row {
    let mut ns = vec![0u64; SAMPLES];
    let mut next = Instant::now();
    for _ in 0..WARM_UP {
        if let Some(p) = period {
            next += p;
            while Instant::now() < next {
                std::hint::spin_loop();
            }
        }
        f();
    }
    let allocs = count_allocs(|| {
        for slot in ns.iter_mut() {
            if let Some(p) = period {
                next += p;
                while Instant::now() < next {
                    std::hint::spin_loop();
                }
            }
            let t0 = Instant::now();
            f();
            *slot = t0.elapsed().as_nanos() as u64;
        }
    }) as f64
        / SAMPLES as f64;
    ns.sort_unstable();
    let pct = |p: f64| ns[((SAMPLES as f64 * p) as usize).min(SAMPLES - 1)];
    Row {
        name: name.into(),
        median: pct(0.5),
        p99: pct(0.99),
        p999: pct(0.999),
        max: ns[SAMPLES - 1],
        allocs,
        note: String::new(),
    }
}

fn paced() -> Option<Duration> {
    Some(Duration::from_secs(1) / RATE)
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

// === peers ===

/// A layer that does nothing: the cost of `tracing`'s dispatch itself.
struct NoopLayer;

impl<S: Subscriber> Layer<S> for NoopLayer {
    fn on_event(&self, event: &Event<'_>, _cx: Context<'_, S>) {
        black_box(event);
    }
}

#[cfg(feature = "libdlt-bench")]
mod libdlt {
    extern "C" {
        fn taktora_bench_dlt_register() -> i32;
        fn taktora_bench_dlt_log();
        fn taktora_bench_dlt_unregister();
        fn taktora_bench_c_allocs_arm(on: i32);
        fn taktora_bench_c_allocs() -> u64;
        fn taktora_bench_c_malloc_probe();
    }

    /// `DLT_LOG(ctx, DLT_LOG_ERROR, DLT_STRING(msg), DLT_UINT64(42),
    /// DLT_INT64(-3), DLT_BOOL(1))`, with the C allocation counter armed
    /// around it (two thread-local stores through FFI, a few ns).
    #[inline(never)]
    pub(crate) fn log_counted() {
        // SAFETY: C functions without pointer arguments; they only write
        // the calling thread's own counter state.
        unsafe {
            taktora_bench_c_allocs_arm(1);
            taktora_bench_dlt_log();
            taktora_bench_c_allocs_arm(0);
        }
    }

    /// C allocations counted on this thread so far.
    pub(crate) fn c_allocs() -> u64 {
        // SAFETY: reads the calling thread's counter.
        unsafe { taktora_bench_c_allocs() }
    }

    /// One armed `malloc` + `free` from C: proves the counter sees C code.
    pub(crate) fn c_malloc_probe() {
        // SAFETY: as above; the probe frees what it allocates.
        unsafe {
            taktora_bench_c_allocs_arm(1);
            taktora_bench_c_malloc_probe();
            taktora_bench_c_allocs_arm(0);
        }
    }

    /// Registers the shim's app `LDLT` / context `BNCH` with the daemon
    /// in `$DLT_PIPE_DIR`.
    pub(crate) fn register() -> i32 {
        // SAFETY: a C function without arguments; libdlt is thread-safe.
        unsafe { taktora_bench_dlt_register() }
    }

    pub(crate) fn unregister() {
        // SAFETY: as above.
        unsafe { taktora_bench_dlt_unregister() }
    }
}

// === scenarios ===

fn with_layer<T>(layer: DltLayer, f: impl FnOnce() -> T) -> T {
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(levels));
    tracing::subscriber::with_default(subscriber, f)
}

fn build(app: &str, dir: &Path) -> (DltLayer, FlushGuard) {
    DltLayer::builder(app)
        .with_pipe_dir(dir)
        .build()
        .expect("build taktora-log layer")
}

fn wait_connected(guard: &FlushGuard) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while guard.stats().connects == 0 {
        assert!(Instant::now() < deadline, "layer did not connect");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stats_note(before: taktora_log::Stats, after: taktora_log::Stats) -> String {
    format!(
        "written {} dropped(queue {} ring {}) of {} (warm-up incl.)",
        after.written - before.written,
        after.dropped_queue_full - before.dropped_queue_full,
        after.dropped_ring_full - before.dropped_ring_full,
        after.emitted - before.emitted,
    )
}

/// Runs a taktora scenario and notes what the pipeline did meanwhile.
fn taktora_row(
    name: &str,
    layer: &DltLayer,
    guard: &FlushGuard,
    period: Option<Duration>,
    event: fn(),
) -> Row {
    with_layer(layer.clone(), || {
        let before = guard.stats();
        let mut row = measure(name, period, event);
        guard.flush(Duration::from_secs(5));
        row.note = stats_note(before, guard.stats());
        row
    })
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
        "samples {SAMPLES} per row after {WARM_UP} warm-up; paced rows at {RATE}/s (busy-wait between calls)"
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
    let mut rows = Vec::new();

    rows.push(measure(TIMER, paced(), || {}));

    let noop = tracing_subscriber::registry().with(NoopLayer);
    rows.push(tracing::subscriber::with_default(noop, || {
        measure(NOOP, paced(), tracing_event)
    }));

    // Connected, then stalled, on one private daemon.
    let mut daemon = layer_tests::PrivateDaemon::start().expect("start private dlt-daemon");
    {
        let (layer, guard) = build("TKLG", daemon.dir());
        wait_connected(&guard);
        rows.push(taktora_row(
            CONNECTED,
            &layer,
            &guard,
            paced(),
            tracing_event,
        ));
        rows.push(taktora_row(
            LOG_CONNECTED,
            &layer,
            &guard,
            paced(),
            log_event,
        ));
        let pid = daemon.pid().expect("daemon running");
        signal(pid, libc::SIGSTOP);
        let row = taktora_row(STALLED, &layer, &guard, paced(), tracing_event);
        signal(pid, libc::SIGCONT);
        rows.push(row);
        drop(guard);
    }

    #[cfg(feature = "libdlt-bench")]
    {
        std::env::set_var("DLT_PIPE_DIR", daemon.dir());
        assert_eq!(libdlt::register(), 0, "libdlt registration");
        std::thread::sleep(Duration::from_millis(500));
        let before = libdlt::c_allocs();
        libdlt::c_malloc_probe();
        assert_eq!(
            libdlt::c_allocs(),
            before + 1,
            "the C allocation counter does not see C's malloc"
        );
        let before = libdlt::c_allocs();
        let mut row = measure(LIBDLT, paced(), libdlt::log_counted);
        let calls = (WARM_UP + SAMPLES) as f64;
        row.allocs = (libdlt::c_allocs() - before) as f64 / calls;
        row.note = "allocs: C malloc/calloc/realloc, counted by the shim".into();
        rows.push(row);
        libdlt::unregister();
    }

    {
        let dir = tempfile::tempdir().expect("tempdir");
        let (layer, guard) = build("TKAB", dir.path());
        rows.push(taktora_row(ABSENT, &layer, &guard, paced(), tracing_event));
        drop(guard);
    }
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let (layer, guard) = DltLayer::builder("TKFL")
            .with_pipe_dir(dir.path())
            .with_channel_capacity(4)
            .with_ring_capacity(16)
            .build()
            .expect("build layer");
        rows.push(taktora_row(FULL, &layer, &guard, None, tracing_event));
        drop(guard);
    }
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = std::fs::File::create(dir.path().join("fmt.log")).expect("log file");
        let (writer, appender_guard) = tracing_appender::non_blocking(file);
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer);
        let subscriber = tracing_subscriber::registry().with(fmt);
        let mut row = tracing::subscriber::with_default(subscriber, || {
            measure(APPENDER, paced(), tracing_event)
        });
        row.note = "writes to a file in a temp dir".into();
        rows.push(row);
        drop(appender_guard);
    }
    let _ = daemon.kill(layer_tests::Signal::Term);
    drop(daemon);

    print_rows(&rows);
    println!();
    println!("ratios (lower is better for the first):");
    ratio(&rows, CONNECTED, NOOP);
    ratio(&rows, CONNECTED, APPENDER);
    #[cfg(feature = "libdlt-bench")]
    ratio(&rows, CONNECTED, LIBDLT);
    ratio(&rows, LOG_CONNECTED, CONNECTED);
    ratio(&rows, ABSENT, CONNECTED);
    ratio(&rows, STALLED, CONNECTED);
    ratio(&rows, FULL, CONNECTED);
    println!();
    println!("load average at end: {}", read("/proc/loadavg").trim());
}
