//! Throughput: records per second delivered into a private real
//! `dlt-daemon` with zero loss, as counted by `dlt-receive`, for this
//! layer and (with `--features libdlt-bench`) for libdlt's `DLT_LOG` at
//! the same offered rates, in one run.
//!
//! `cargo bench --bench throughput [--features libdlt-bench]`. For each
//! offered rate and each peer: a fresh private daemon, `dlt-receive -o`
//! storing what the daemon forwards (see `layer_tests::Capture`),
//! `RECORDS` ERROR events paced at that rate from one thread, then the
//! count of that peer's records in the stored file. libdlt runs in a child
//! process (this binary again, with `--libdlt-child`), because libdlt is
//! process-global and reads `DLT_PIPE_DIR` once.
//!
//! With `--features peer-bench` OpenSOVD's `tracing-dlt` 0.2.0 (tracing
//! over libdlt) is the third peer, in a child process too (`--tracing-dlt-child`).
//!
//! Two pacings, both at the offered average rate: *even* (one record every
//! period) and *bursts* of 50 back to back (every 50 periods); the daemon's
//! CPU per record and its wake-ups depend on which (`THROUGHPUT_BURSTS=1,50`
//! is the default; `THROUGHPUT_BURSTS=1` measures only even pacing).
//!
//! The zero-loss rate of a peer is the highest offered rate at which it,
//! and every lower rate, lost nothing.

#![allow(unsafe_code)] // the libdlt FFI calls only, each under a `// SAFETY:` comment

use std::time::{Duration, Instant};

mod support;

#[cfg(feature = "libdlt-bench")]
use support::libdlt;
use taktora_log::DltLayer;
use tracing_subscriber::prelude::*;

/// Records offered per rate.
const RECORDS: usize = 100_000;
/// Pacings: records back to back per burst (1: evenly paced).
const BURSTS: [usize; 2] = [1, 50];
/// Runs per rate and peer (`THROUGHPUT_RUNS` overrides it).
const RUNS: usize = 3;
/// Offered rates, records per second; 0 = unpaced.
const RATES: [u32; 10] = [
    50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 350_000, 400_000, 500_000, 0,
];
/// The flusher thread's name as `/proc` shows it (15 bytes at most).
const FLUSHER_THREAD: &str = "taktora-log-flu";
/// How long the count may stay unchanged before it is final.
const QUIET: Duration = Duration::from_secs(2);
/// Longest wait for the count after the producer finished.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// What one peer did at one rate.
struct Outcome {
    achieved: f64,
    received: usize,
    /// CPU time the daemon and `dlt-receive` spent, per record received.
    daemon_ns: f64,
    receiver_ns: f64,
    /// Times the daemon blocked (and so was woken again), per 1000 records.
    daemon_wakeups: f64,
    note: String,
}

/// CPU time of the daemon and the receiver, read before and after a run.
struct CpuMeter {
    daemon: Option<u32>,
    receiver: Option<u32>,
    start: (Duration, Duration),
    switches: u64,
}

impl CpuMeter {
    fn start(daemon: &layer_tests::PrivateDaemon, capture: &layer_tests::Capture) -> Self {
        let (daemon, receiver) = (daemon.pid(), capture.pid());
        Self {
            daemon,
            receiver,
            start: (cpu(daemon), cpu(receiver)),
            switches: switches(daemon),
        }
    }

    /// Daemon wake-ups per 1000 received records.
    fn wakeups(&self, received: usize) -> f64 {
        let n = switches(self.daemon).saturating_sub(self.switches);
        n as f64 * 1000.0 / received.max(1) as f64
    }

    /// Nanoseconds of CPU per received record: (daemon, receiver).
    fn per_record(&self, received: usize) -> (f64, f64) {
        let n = received.max(1) as f64;
        let d = cpu(self.daemon).saturating_sub(self.start.0);
        let r = cpu(self.receiver).saturating_sub(self.start.1);
        (d.as_nanos() as f64 / n, r.as_nanos() as f64 / n)
    }
}

fn switches(pid: Option<u32>) -> u64 {
    pid.and_then(layer_tests::voluntary_switches)
        .unwrap_or_default()
}

fn cpu(pid: Option<u32>) -> Duration {
    pid.and_then(layer_tests::cpu_time).unwrap_or_default()
}

/// Busy-waits until each burst's slot, so that the offered rate is exact
/// and no sleep granularity gets in the way: `burst` records back to back
/// every `burst` periods (1: evenly paced).
fn paced(rate: u32, burst: usize, records: usize, mut emit: impl FnMut(u64)) -> Duration {
    let burst = burst.max(1);
    let period = (rate > 0).then(|| Duration::from_secs(1) * burst as u32 / rate);
    let start = Instant::now();
    let mut next = start;
    for i in 0..records {
        if let (Some(p), 0) = (period, i % burst) {
            next += p;
            while Instant::now() < next {
                std::hint::spin_loop();
            }
        }
        emit(i as u64);
    }
    start.elapsed()
}

/// The daemon variant to measure against: `THROUGHPUT_DAEMON=<name>` (see
/// `scripts/build-daemons.sh --list`), Debian's 2.18.8 by default.
fn daemon_variant() -> &'static layer_tests::DaemonVariant {
    let Ok(name) = std::env::var("THROUGHPUT_DAEMON") else {
        return &layer_tests::DEBIAN;
    };
    layer_tests::VARIANTS
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("THROUGHPUT_DAEMON={name}: not a daemon variant"))
}

/// A private daemon of [`daemon_variant`].
fn start_daemon() -> layer_tests::PrivateDaemon {
    layer_tests::PrivateDaemon::start_variant(daemon_variant(), &[], &[])
        .expect("start private dlt-daemon")
}

/// How long the idle measurement watches the flusher.
const IDLE_FOR: Duration = Duration::from_secs(5);

/// What an idle pipeline costs: its flusher's CPU time and wake-ups per
/// second while nothing is logged, connected to a daemon, in both wake
/// modes (one pipeline at a time: the flusher is found by thread name).
fn idle_cost() {
    let modes = [
        (
            "Poll(10 ms), the default",
            taktora_log::DEFAULT_FLUSHER_WAKE,
        ),
        (
            "Poll(100 ms)",
            taktora_log::FlusherWake::Poll(taktora_log::MAX_IDLE_POLL),
        ),
        ("OnRecord", taktora_log::FlusherWake::OnRecord),
    ];
    for (name, wake) in modes {
        let daemon = start_daemon();
        let (layer, guard) = DltLayer::builder("IDLE")
            .with_pipe_dir(daemon.pipe_dir())
            .with_flusher_wake(wake)
            .build()
            .expect("build layer");
        support::wait_connected(&guard);
        let levels = layer.levels();
        let subscriber = tracing_subscriber::registry().with(levels).with(layer);
        tracing::subscriber::with_default(subscriber, || tracing::error!("then idle"));
        guard.flush(Duration::from_secs(5));
        // Past the flusher's 50 ms hot window: idle from here on.
        std::thread::sleep(Duration::from_millis(200));
        let (cpu, woke) = (
            layer_tests::own_threads_cpu_time(FLUSHER_THREAD),
            layer_tests::own_threads_voluntary_switches(FLUSHER_THREAD),
        );
        std::thread::sleep(IDLE_FOR);
        let cpu = layer_tests::own_threads_cpu_time(FLUSHER_THREAD).saturating_sub(cpu);
        let woke = layer_tests::own_threads_voluntary_switches(FLUSHER_THREAD).saturating_sub(woke);
        let secs = IDLE_FOR.as_secs_f64();
        println!(
            "idle flusher, {name}: CPU {:.1} µs/s, wake-ups {:.0}/s",
            cpu.as_secs_f64() * 1e6 / secs,
            woke as f64 / secs
        );
        drop(guard);
    }
    bare_thread_wakes();
    unpark_cost();
}

/// What waking a parked thread costs the waker (`Thread::unpark`, a
/// `futex` wake), what `FlusherWake::OnRecord` puts on the first record
/// after a quiet spell: 50 times, after the parked thread's CPU had 20 ms
/// to go idle and the waker spun for 5 ms.
fn unpark_cost() {
    let parked = std::thread::spawn(|| {
        while !std::thread::panicking() {
            std::thread::park_timeout(Duration::from_secs(1));
            if STOP_PARKED.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
        }
    });
    let mut ns: Vec<u128> = (0..50)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            let spin = Instant::now();
            while spin.elapsed() < Duration::from_millis(5) {
                std::hint::spin_loop();
            }
            let t0 = Instant::now();
            parked.thread().unpark();
            t0.elapsed().as_nanos()
        })
        .collect();
    STOP_PARKED.store(true, std::sync::atomic::Ordering::Relaxed);
    parked.thread().unpark();
    let _ = parked.join();
    ns.sort_unstable();
    println!(
        "waking a parked thread costs the waker: min {:.1} µs, median {:.1} µs, max {:.1} µs (50 wake-ups)",
        ns[0] as f64 / 1e3,
        ns[ns.len() / 2] as f64 / 1e3,
        ns[ns.len() - 1] as f64 / 1e3
    );
}

/// Tells [`unpark_cost`]'s parked thread to end.
static STOP_PARKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The reference for the idle flusher's numbers: a thread that does
/// nothing but park for 10 ms at a time, and its CPU time per wake-up
/// (what the machine charges a thread for a timer wake-up).
fn bare_thread_wakes() {
    let thread = std::thread::spawn(|| {
        let (start, cpu) = (Instant::now(), layer_tests::thread_cpu_time());
        let mut wakes = 0u32;
        while start.elapsed() < IDLE_FOR {
            std::thread::park_timeout(Duration::from_millis(10));
            wakes += 1;
        }
        (wakes, layer_tests::thread_cpu_time().saturating_sub(cpu))
    });
    let (wakes, cpu) = thread.join().expect("reference thread");
    println!(
        "idle reference, a bare thread parking 10 ms at a time: CPU {:.1} µs/s, wake-ups {:.0}/s, {:.1} µs per wake-up",
        cpu.as_secs_f64() * 1e6 / IDLE_FOR.as_secs_f64(),
        f64::from(wakes) / IDLE_FOR.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / f64::from(wakes.max(1)),
    );
}

fn run_taktora(rate: u32, burst: usize) -> Outcome {
    let daemon = start_daemon();
    let capture = layer_tests::Capture::start(daemon.port()).expect("start dlt-receive -o");
    let (layer, guard) = DltLayer::builder("THRU")
        .with_pipe_dir(daemon.pipe_dir())
        .build()
        .expect("build layer");
    support::wait_connected(&guard);
    // As `init` composes it: the levels as a global filter.
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(levels).with(layer);
    let meter = CpuMeter::start(&daemon, &capture);
    let flusher_start = layer_tests::own_threads_cpu_time(FLUSHER_THREAD);
    let took = tracing::subscriber::with_default(subscriber, || {
        paced(rate, burst, RECORDS, |seq| {
            tracing::error!(id = 42u64, temp = -3i64, ok = true, seq, "tp");
        })
    });
    guard.flush(Duration::from_secs(10));
    let stats = guard.stats();
    let received = capture
        .settle("THRU", "DFLT", RECORDS, QUIET, SETTLE_LIMIT)
        .expect("count the stored messages");
    let (daemon_ns, receiver_ns) = meter.per_record(received);
    let flusher = layer_tests::own_threads_cpu_time(FLUSHER_THREAD).saturating_sub(flusher_start);
    drop(guard);
    Outcome {
        achieved: RECORDS as f64 / took.as_secs_f64(),
        received,
        daemon_ns,
        receiver_ns,
        daemon_wakeups: meter.wakeups(received),
        note: format!(
            "flusher {:.0} ns/record; dropped {} (queue {}, ring {}), written {}",
            flusher.as_nanos() as f64 / received.max(1) as f64,
            stats.dropped_queue_full + stats.dropped_ring_full,
            stats.dropped_queue_full,
            stats.dropped_ring_full,
            stats.written
        ),
    }
}

/// The child process: registers with libdlt, logs `RECORDS` records at
/// `rate`, unregisters and exits (libdlt flushes its buffer at exit).
/// Prints the time the records took on stdout.
#[cfg(feature = "libdlt-bench")]
fn libdlt_child(rate: u32, burst: usize) {
    let rc = libdlt::register();
    assert_eq!(rc, 0, "dlt_register_app/context failed");
    let took = paced(rate, burst, RECORDS, libdlt::log_seq);
    libdlt::unregister();
    println!("{}", took.as_nanos());
}

/// The tracing-dlt child: as [`libdlt_child`], through `tracing-dlt`'s
/// layer (app `TDLT`, context `DFLT`) inside the Tokio runtime it needs.
#[cfg(feature = "peer-bench")]
fn tracing_dlt_child(rate: u32, burst: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("a Tokio runtime for tracing-dlt");
    let _rt = rt.enter();
    let id = tracing_dlt::DltId::new(b"TDLT").expect("app ID");
    let layer = tracing_dlt::DltLayer::new(&id, "tracing-dlt bench").expect("tracing-dlt layer");
    // The global default, as tracing-dlt's docs set it up: the level
    // listener's `rebuild_interest_cache` runs on a Tokio thread.
    tracing_subscriber::registry().with(layer).init();
    let took = paced(rate, burst, RECORDS, |seq| {
        tracing::error!(id = 42u64, temp = -3i64, ok = true, seq, "tp");
    });
    println!("{}", took.as_nanos());
}

/// Runs this binary again as the child `flag` (libdlt or tracing-dlt) and
/// counts its records, `apid`/`ctid`, as received.
#[cfg(feature = "libdlt-bench")]
fn run_libdlt(rate: u32, burst: usize) -> Outcome {
    run_child("--libdlt-child", rate, burst, ("LDLT", "BNCH"))
}

#[cfg(feature = "peer-bench")]
fn run_tracing_dlt(rate: u32, burst: usize) -> Outcome {
    run_child("--tracing-dlt-child", rate, burst, ("TDLT", "DFLT"))
}

#[cfg(feature = "libdlt-bench")]
fn run_child(flag: &str, rate: u32, burst: usize, (apid, ctid): (&str, &str)) -> Outcome {
    // Debian's libdlt speaks FIFO IPC only: meaningful on FIFO variants.
    let daemon = start_daemon();
    let capture = layer_tests::Capture::start(daemon.port()).expect("start dlt-receive -o");
    let exe = std::env::current_exe().expect("path of this bench binary");
    let meter = CpuMeter::start(&daemon, &capture);
    let out = std::process::Command::new(exe)
        .args(["--bench", flag, &rate.to_string(), &burst.to_string()])
        .env("DLT_PIPE_DIR", daemon.pipe_dir())
        .output()
        .expect("run the child");
    assert!(
        out.status.success(),
        "{flag} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // libdlt prints its own notices on stdout too; the time is the last line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let nanos: u64 = stdout
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("{flag} printed no time:\n{stdout}"));
    let received = capture
        .settle(apid, ctid, RECORDS, QUIET, SETTLE_LIMIT)
        .expect("count the stored messages");
    let (daemon_ns, receiver_ns) = meter.per_record(received);
    Outcome {
        achieved: RECORDS as f64 * 1e9 / nanos as f64,
        received,
        daemon_ns,
        receiver_ns,
        daemon_wakeups: meter.wakeups(received),
        // What libdlt said on stderr (its own notices: a full buffer, a
        // lost connection), last line only.
        note: String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or_default()
            .chars()
            .take(120)
            .collect(),
    }
}

fn rate_name(rate: u32) -> String {
    if rate == 0 {
        "unpaced".to_string()
    } else {
        rate.to_string()
    }
}

fn row(peer: &str, rate: u32, burst: usize, o: &Outcome) {
    println!(
        "{:>10} {:>5} {:<11} {:>12.0} {:>9} {:>8} {:>9.0} {:>9.0} {:>8.0}  {:<9} {}",
        rate_name(rate),
        burst,
        peer,
        o.achieved,
        o.received,
        RECORDS - o.received.min(RECORDS),
        o.daemon_ns,
        o.receiver_ns,
        o.daemon_wakeups,
        if o.received >= RECORDS {
            "zero loss"
        } else {
            "LOSS"
        },
        o.note
    );
}

/// The highest paced rate at which every run, at it and at every lower
/// rate, lost nothing (`results` holds the fewest received per rate).
fn zero_loss_rate(results: &[(u32, usize)]) -> u32 {
    let mut best = 0;
    for &(rate, received) in results {
        if rate == 0 || received < RECORDS {
            break;
        }
        best = rate;
    }
    best
}

/// Runs the child named by `flag` in `args` (`FLAG RATE BURST`), if any:
/// returns whether it did.
fn child(args: &[String]) -> bool {
    for flag in ["--libdlt-child", "--tracing-dlt-child"] {
        let Some(i) = args.iter().position(|a| a == flag) else {
            continue;
        };
        let rate: Option<u32> = args.get(i + 1).and_then(|r| r.parse().ok());
        let burst: Option<usize> = args.get(i + 2).and_then(|r| r.parse().ok());
        let (Some(rate), Some(burst)) = (rate, burst) else {
            eprintln!("usage: {flag} RATE BURST");
            std::process::exit(2);
        };
        match flag {
            #[cfg(feature = "libdlt-bench")]
            "--libdlt-child" => libdlt_child(rate, burst),
            #[cfg(feature = "peer-bench")]
            "--tracing-dlt-child" => tracing_dlt_child(rate, burst),
            _ => {
                eprintln!("{flag} {rate} {burst}: this peer was not built (see --features)");
                std::process::exit(2);
            }
        }
        #[allow(unreachable_code)] // without the peer features, every arm exits
        return true;
    }
    false
}

/// A comma-separated list of numbers from the environment variable
/// `name`, or `default`.
fn list<T: std::str::FromStr + Copy>(name: &str, default: &[T]) -> Vec<T> {
    match std::env::var(name) {
        Ok(list) => list
            .split(',')
            .map(|r| {
                r.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: comma-separated integers"))
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

/// A peer's name and how to run it at a rate and burst size.
type Peer = (&'static str, fn(u32, usize) -> Outcome);

/// The peers built into this binary.
fn peers() -> Vec<Peer> {
    #[allow(unused_mut)]
    let mut peers: Vec<Peer> = vec![("taktora", run_taktora)];
    #[cfg(feature = "libdlt-bench")]
    peers.push(("libdlt", run_libdlt));
    #[cfg(feature = "peer-bench")]
    peers.push(("tracing-dlt", run_tracing_dlt));
    peers
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if child(&args) {
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("throughput bench: run with `cargo bench --bench throughput`");
        return;
    }
    if !layer_tests::require_dlt_tools() {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let loadavg = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    println!("{cpus} CPUs, load average at start: {}", loadavg());
    let variant = daemon_variant();
    if !layer_tests::require_variant(variant) {
        return;
    }
    println!("daemon: {} (THROUGHPUT_DAEMON)", variant.name);
    idle_cost();
    println!("{RECORDS} records per rate and peer, one producer thread, counted by dlt-receive -o");
    if cfg!(not(feature = "libdlt-bench")) {
        println!("(libdlt peer not built: add --features libdlt-bench)");
    }
    if cfg!(not(feature = "peer-bench")) {
        println!("(tracing-dlt peer not built: add --features peer-bench)");
    }
    println!(
        "{:>10} {:>5} {:<11} {:>12} {:>9} {:>8} {:>9} {:>9} {:>8}",
        "offered/s",
        "burst",
        "peer",
        "achieved/s",
        "received",
        "lost",
        "daemon",
        "receiver",
        "wakeups"
    );
    println!(
        "{:>85}",
        "(CPU ns per record received; daemon wake-ups per 1000 records)"
    );
    // THROUGHPUT_RATES=100000,200000,0 measures only those rates.
    let rates: Vec<u32> = list("THROUGHPUT_RATES", &RATES);
    let bursts: Vec<usize> = list("THROUGHPUT_BURSTS", &BURSTS);
    // Each rate runs RUNS times per peer, the peers alternating; a rate
    // counts as zero-loss only if every run lost nothing.
    let runs: usize = std::env::var("THROUGHPUT_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(RUNS)
        .max(1);
    println!("{runs} runs per rate, pacing and peer, alternating");
    let peers = peers();
    for &burst in &bursts {
        // Per peer: (rate, fewest received over the runs).
        let mut worst: Vec<Vec<(u32, usize)>> = vec![Vec::new(); peers.len()];
        for &rate in &rates {
            let mut fewest = vec![RECORDS; peers.len()];
            for _ in 0..runs {
                for (i, (name, run)) in peers.iter().enumerate() {
                    let o = run(rate, burst);
                    row(name, rate, burst, &o);
                    fewest[i] = fewest[i].min(o.received);
                }
            }
            for (w, f) in worst.iter_mut().zip(fewest) {
                w.push((rate, f));
            }
        }
        let pacing = if burst <= 1 {
            "evenly paced".to_string()
        } else {
            format!("in bursts of {burst}")
        };
        let zero: Vec<u32> = worst.iter().map(|w| zero_loss_rate(w)).collect();
        for ((name, _), z) in peers.iter().zip(&zero) {
            println!("zero-loss rate {pacing}, {name}: {z}/s");
        }
        for ((name, _), &z) in peers.iter().zip(&zero).skip(1) {
            if z > 0 {
                println!(
                    "ratio taktora-log / {name} ({pacing}): {:.2}",
                    f64::from(zero[0]) / f64::from(z)
                );
            }
        }
    }
    println!("load average at end: {}", loadavg());
}
