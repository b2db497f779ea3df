//! Daemon-side policy that drops our records (issue 12): with
//! `ForceContextLogLevelAndTraceStatus = 1` in dlt.conf (the daemon's
//! `enforceContextLLAndTS` flag), dlt-daemon 2.18.10 and later drop every message above its
//! configured `ContextLogLevel`, even for a context whose level was
//! raised (here: registered at DEBUG). The layer wrote the record into
//! the daemon's FIFO, so it counts it as `written`: the loss is the
//! daemon's, visible only at the client. README "Daemon-side policy" says so.

use std::time::Duration;

use layer_tests::{DaemonVariant, PrivateDaemon, Receiver};
use taktora_log::{DltLayer, LogLevel};
use tracing_subscriber::layer::SubscriberExt;

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(30);

layer_tests::daemon_matrix!(
    enforce_context_ll_drops_written_records_above_the_daemons_default_level
);
fn enforce_context_ll_drops_written_records_above_the_daemons_default_level(
    v: &'static DaemonVariant,
) {
    let daemon = PrivateDaemon::start_variant(
        v,
        &[
            "ForceContextLogLevelAndTraceStatus = 1",
            "ContextLogLevel = 4",
        ],
        &[],
    )
    .expect("start dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    let (layer, guard) = DltLayer::builder("POLI")
        .with_default_context("PCTX", "policy")
        .with_initial_level(LogLevel::Debug)
        .with_pipe_dir(daemon.pipe_dir())
        .build()
        .expect("build the layer");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!("pol-debug");
        tracing::info!("pol-info");
    });
    let out = guard.flush(ARRIVAL);
    assert!(out.complete, "{out:?}");
    // The debug record was written before the info one, and the daemon
    // forwards in order: once the info record is here, a forwarded debug
    // record is too.
    receiver
        .wait_for_count(
            |l| l.is_log_from("POLI", "PCTX") && l.args == "pol-info",
            1,
            ARRIVAL,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    let ours: Vec<String> = receiver
        .dlt_lines()
        .into_iter()
        .filter(|l| l.is_log_from("POLI", "PCTX"))
        .map(|l| l.args)
        .collect();
    // Debian's 2.18.8 reads the option but forwards application messages
    // unfiltered (seen here); 2.18.10 and later apply it.
    let want: &[&str] = if v.version == "2.18.8" {
        &["pol-debug", "pol-info"]
    } else {
        &["pol-info"]
    };
    assert_eq!(ours, want, "{}: what the daemon forwarded", v.name);
    let s = guard.stats();
    assert_eq!(s.written, 2, "the layer wrote both: {s:?}");
}
