//! libdlt's environment variables that the builder reads, read from the
//! real environment: `DLT_PIPE_DIR` (where the daemon's FIFO is, when
//! `with_pipe_dir` is not called) and `DLT_INITIAL_LOG_LEVEL` (context
//! levels at start-up). `DLT_LOCAL_PRINT_MODE` has its own binary,
//! `env_local_print.rs`.
//!
//! The environment is process-wide, so each case runs in a child process
//! (this binary again, with [`CHILD_ENV`] set) with its own environment.
//! The child starts an in-process fake daemon in the directory named by
//! its `DLT_PIPE_DIR`, builds a layer *without* `with_pipe_dir`, logs one
//! INFO and one DEBUG probe, and prints which probes the fake daemon read.

use std::time::Duration;

use layer_tests::fake_daemon::{FakeDaemon, LOG};
use taktora_log::DltLayer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Set in the child: "you are the child".
const CHILD_ENV: &str = "TAKTORA_ENV_LIBDLT_CHILD";
/// This test's name, for `--exact`.
const TEST_NAME: &str = "dlt_pipe_dir_and_dlt_initial_log_level_are_read_from_the_environment";
/// What the child prints before the probes that arrived.
const ARRIVED: &str = "ARRIVED:";

fn child() {
    let dir = std::env::var_os("DLT_PIPE_DIR").expect("DLT_PIPE_DIR for the child");
    let mut daemon = FakeDaemon::start(std::path::Path::new(&dir), None);
    let (layer, guard) = DltLayer::builder("LENV")
        .with_context("env::net", "NET", "network")
        .build()
        .expect("build without with_pipe_dir");
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(levels));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("info-probe");
        tracing::debug!("debug-probe");
        tracing::debug!(target: "env::net", "net-debug-probe");
    });
    let (outcome, msgs) = daemon.serve(|| guard.flush(Duration::from_secs(20)));
    assert!(outcome.complete, "flush: {outcome:?}");
    let arrived: Vec<&str> = {
        ["info-probe", "debug-probe", "net-debug-probe"]
            .into_iter()
            .filter(|p| {
                msgs.iter()
                    .any(|m| m.kind == LOG && m.contains(p) && !m.contains(&format!("net-{p}")))
            })
            .collect()
    };
    println!("{ARRIVED}{}", arrived.join(","));
    drop(guard);
}

/// Runs the child with `DLT_PIPE_DIR` set to a fresh directory and
/// `DLT_INITIAL_LOG_LEVEL` to `levels` (unset for `None`); returns the
/// probes the fake daemon read.
fn run(levels: Option<&str>) -> String {
    let dir = tempfile::Builder::new()
        .prefix("taktora-env-")
        .tempdir()
        .expect("temp dir");
    let mut cmd = layer_tests::child_test(TEST_NAME, false);
    cmd.env(CHILD_ENV, "1")
        .env("DLT_PIPE_DIR", dir.path())
        .env_remove("DLT_LOCAL_PRINT_MODE");
    match levels {
        Some(v) => cmd.env("DLT_INITIAL_LOG_LEVEL", v),
        None => cmd.env_remove("DLT_INITIAL_LOG_LEVEL"),
    };
    let out = cmd.output().expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child (DLT_INITIAL_LOG_LEVEL={levels:?}) failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split_once(ARRIVED).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no {ARRIVED} line in the child's output:\n{stdout}"))
        .to_owned()
}

#[test]
fn dlt_pipe_dir_and_dlt_initial_log_level_are_read_from_the_environment() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let cases = [
        // Unset: INFO, as libdlt; and the records reach the daemon in
        // DLT_PIPE_DIR, though with_pipe_dir was not called.
        (None, "info-probe"),
        // Every context of every application at DEBUG.
        (Some("::debug"), "info-probe,debug-probe,net-debug-probe"),
        // Only NET of LENV (the most specific item wins); DFLT stays.
        (Some("::info;LENV:NET:5"), "info-probe,net-debug-probe"),
        // Another application's item does not apply; a malformed one is
        // skipped and the rest applies.
        (Some("OTHR::debug"), "info-probe"),
        (
            Some("garbage;LENV::verbose"),
            "info-probe,debug-probe,net-debug-probe",
        ),
        // off: nothing at all.
        (Some("LENV::off"), ""),
    ];
    for (levels, want) in cases {
        assert_eq!(run(levels), want, "DLT_INITIAL_LOG_LEVEL={levels:?}");
    }
}
