//! With local print off, `build_with_local_print` returns no printer, and
//! adding that `None` to your own registry (as its docs show) leaves the
//! DLT layer delivering: an absent layer must not disable the callsites
//! of a per-layer-filtered one. Needs no tools (a fake daemon reads the
//! FIFO).

use std::time::Duration;

use layer_tests::fake_daemon::{FakeDaemon, LOG};
use taktora_log::{DltLayer, LocalPrint};
use tracing_subscriber::prelude::*;

#[test]
fn a_none_printer_in_your_own_registry_changes_nothing() {
    let dir = tempfile::Builder::new()
        .prefix("taktora-local-print-off-")
        .tempdir()
        .expect("temp dir");
    let mut daemon = FakeDaemon::start(dir.path(), None);
    let (dlt, printer, guard) = DltLayer::builder("LPOF")
        .with_pipe_dir(dir.path())
        .with_local_print(LocalPrint::Off)
        .build_with_local_print()
        .expect("build");
    assert!(printer.is_none(), "Off builds no printer");
    let levels = dlt.levels();
    let subscriber = tracing_subscriber::registry()
        .with(dlt.with_filter(levels))
        .with(printer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!("first");
        tracing::info!(n = 2u32, "second");
    });
    let (outcome, msgs) = daemon.serve(|| guard.flush(Duration::from_secs(20)));
    assert!(outcome.complete, "flush: {outcome:?}");
    let logs: Vec<bool> = msgs
        .iter()
        .filter(|m| m.kind == LOG)
        .map(|m| m.contains("first") || m.contains("second"))
        .collect();
    assert_eq!(logs, [true, true], "both records reached the daemon");
}
