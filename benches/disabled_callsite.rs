//! What a `tracing` callsite disabled by the DLT context level costs,
//! compared with a disabled callsite and no subscriber at all.
//!
//! `cargo bench --bench disabled_callsite`. A plain `std::time` loop (no
//! bench framework): each case runs `ITERS` calls, `RUNS` times, and prints
//! the median in ns per call. Each case runs in a fresh child process,
//! because the global subscriber can be set only once per process and a
//! process's first subscriber changes how callsites cache their interest.
//!
//! Cases:
//! - `no-subscriber`: `tracing::debug!` with no subscriber installed.
//! - `layer-max-level`: registry + `DltLayer` with its `DltLevels` filter,
//!   every context at INFO. The filter hints TRACE as the global max level
//!   (spans of every level must reach the layer, so that a level raised
//!   later finds them), so `debug!` is stopped by its cached interest, as
//!   in the next case.
//! - `layer-interest`: the same, but another context at DEBUG (through
//!   `DLT_INITIAL_LOG_LEVEL`), so the max level lets DEBUG through and the
//!   `debug!` on the INFO context is stopped by its cached interest
//!   (`Interest::never` from `DltLevels`): the case of a context switched
//!   down from DLT Viewer while others stay verbose.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use tracing_subscriber::prelude::*;

const ITERS: u64 = 20_000_000;
const RUNS: usize = 9;
const MODE_VAR: &str = "TAKTORA_BENCH_MODE";
const CASES: [&str; 3] = ["no-subscriber", "layer-max-level", "layer-interest"];

fn main() {
    match std::env::var(MODE_VAR) {
        Ok(mode) => run_case(&mode),
        Err(_) => {
            let exe = std::env::current_exe().expect("own executable");
            for case in CASES {
                let status = Command::new(&exe)
                    .env(MODE_VAR, case)
                    .env_remove("DLT_INITIAL_LOG_LEVEL")
                    .status()
                    .expect("run bench case");
                assert!(status.success(), "case {case} failed: {status}");
            }
        }
    }
}

fn run_case(mode: &str) {
    let dir = std::env::temp_dir().join(format!("taktora-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create pipe dir");
    let guard = match mode {
        "no-subscriber" => None,
        "layer-max-level" | "layer-interest" => {
            if mode == "layer-interest" {
                // Single-threaded here: no other thread reads the env yet.
                std::env::set_var("DLT_INITIAL_LOG_LEVEL", "BNCH:ON:debug");
            }
            // No daemon is running there: nothing is sent, and nothing
            // needs to be, the measured events are all disabled.
            let (layer, guard) = taktora_log::DltLayer::builder("BNCH")
                .with_pipe_dir(&dir)
                .with_context("bench::on", "ON", "verbose context")
                .with_context("bench::off", "OFF", "context at INFO")
                .build()
                .expect("build the layer");
            // As `init` composes it: the levels as a global filter.
            let levels = layer.levels();
            tracing_subscriber::registry()
                .with(levels)
                .with(layer)
                .init();
            Some(guard)
        }
        other => panic!("unknown case {other}"),
    };
    // The callsite under test: DEBUG on a context at INFO.
    let mut samples: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..ITERS {
                tracing::debug!(target: "bench::off", i = black_box(i), "disabled");
                black_box(i);
            }
            start.elapsed().as_nanos() as f64 / ITERS as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let median = samples[RUNS / 2];
    println!(
        "disabled_callsite/{mode:<16} {median:6.2} ns/call  (median of {RUNS} runs of {ITERS} calls; min {:.2}, max {:.2})",
        samples[0],
        samples[RUNS - 1]
    );
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}
