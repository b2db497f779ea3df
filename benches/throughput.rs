//! Throughput: records per second this layer delivers into a private real
//! `dlt-daemon` with zero loss, as counted by `dlt-receive`.
//!
//! `cargo bench --bench throughput`. For each offered rate, a fresh
//! private daemon and receiver, `RECORDS` ERROR events paced at that rate
//! from one thread, a flush, then the count of our records that
//! `dlt-receive` printed. The layer's counters are printed beside it.
//! libdlt is not measured here (see docs/performance.md).

use std::time::{Duration, Instant};

use taktora_log::DltLayer;
use tracing_subscriber::prelude::*;

/// Records offered per rate.
const RECORDS: usize = 100_000;
/// Offered rates, records per second; 0 = unpaced.
const RATES: [u32; 7] = [50_000, 100_000, 175_000, 250_000, 300_000, 400_000, 0];

fn run(rate: u32) -> String {
    let daemon = layer_tests::PrivateDaemon::start().expect("start private dlt-daemon");
    let receiver = layer_tests::Receiver::start(daemon.port()).expect("start dlt-receive");
    let (layer, guard) = DltLayer::builder("THRU")
        .with_pipe_dir(daemon.dir())
        .build()
        .expect("build layer");
    let deadline = Instant::now() + Duration::from_secs(20);
    while guard.stats().connects == 0 {
        assert!(Instant::now() < deadline, "layer did not connect");
        std::thread::sleep(Duration::from_millis(10));
    }
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(levels));
    let period = (rate > 0).then(|| Duration::from_secs(1) / rate);
    let start = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        let mut next = Instant::now();
        for i in 0..RECORDS {
            if let Some(p) = period {
                next += p;
                while Instant::now() < next {
                    std::hint::spin_loop();
                }
            }
            tracing::error!(id = 42u64, temp = -3i64, ok = true, seq = i as u64, "tp");
        }
    });
    let offered_for = start.elapsed();
    guard.flush(Duration::from_secs(10));
    let stats = guard.stats();
    let got = match receiver.wait_for_count(
        |l| l.is_log_from("THRU", "DFLT"),
        RECORDS,
        Duration::from_secs(10),
    ) {
        Ok(lines) => lines.len(),
        Err(_) => receiver
            .dlt_lines()
            .iter()
            .filter(|l| l.is_log_from("THRU", "DFLT"))
            .count(),
    };
    drop(guard);
    drop(receiver);
    drop(daemon);
    let achieved = RECORDS as f64 / offered_for.as_secs_f64();
    format!(
        "{:>10} {:>12.0} {:>9} {:>9} {:>8} {:>8}  {}",
        if rate == 0 {
            "unpaced".to_string()
        } else {
            rate.to_string()
        },
        achieved,
        got,
        RECORDS - got.min(RECORDS),
        stats.dropped_queue_full + stats.dropped_ring_full,
        stats.written,
        if got >= RECORDS { "zero loss" } else { "LOSS" },
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput bench: run with `cargo bench --bench throughput`");
        return;
    }
    if !layer_tests::require_dlt_tools() {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{cpus} CPUs, load average at start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!("{RECORDS} records per rate, one producer thread");
    println!(
        "{:>10} {:>12} {:>9} {:>9} {:>8} {:>8}",
        "offered/s", "achieved/s", "received", "lost", "dropped", "written"
    );
    for rate in RATES {
        println!("{}", run(rate));
    }
}
