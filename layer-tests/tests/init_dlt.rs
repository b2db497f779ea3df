//! REQ_0805 (and REQ_0803), precedence branch 3: `Init` with a DLT layer installs a `Registry` with
//! it (`Backend::Dlt`), and the `log` bridge carries `log` records from a
//! dependency-style module to the daemon under the context mapped to the
//! module's target. Its own binary: global state can be set only once.

use std::time::Duration;

use layer_tests::{require_dlt_tools, PrivateDaemon, Receiver};
use taktora_log::{Backend, DltLayer, Init, LogBridge};

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(20);

/// Stands in for a dependency that logs through the `log` crate; its
/// records carry the target `init_dlt::dep`.
mod dep {
    pub(crate) fn work() {
        log::warn!("dependency degraded: {} retries", 3);
    }
}

#[test]
#[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
fn req_0805_dlt_backend_and_log_bridge_reach_the_daemon() {
    if !require_dlt_tools() {
        return;
    }
    let daemon = PrivateDaemon::start().expect("start private dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");

    let guard = Init::new()
        .with_dlt(
            DltLayer::builder("INDL")
                .with_pipe_dir(daemon.dir())
                .with_default_context("MAIN", "test main")
                .with_context("init_dlt::dep", "DEP", "dependency-style module"),
        )
        .try_init()
        .expect("first init succeeds");
    assert_eq!(guard.backend(), Backend::Dlt);
    assert_eq!(guard.log_bridge(), LogBridge::Installed);
    assert!(guard.dlt().is_some(), "the DLT backend owns a flusher");

    tracing::info!(answer = 42u32, "hello through tracing");
    dep::work();
    log::info!("hello through log");

    let outcome = guard.flush(ARRIVAL);
    assert!(outcome.complete, "flush completes: {outcome:?}");

    let lines = receiver
        .wait_for_count(|l| l.apid == "INDL" && l.kind == "log", 3, ARRIVAL)
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    let tails: Vec<String> = lines.iter().map(|l| l.tail()).collect();

    let traced = lines
        .iter()
        .find(|l| l.args.contains("hello through tracing"))
        .unwrap_or_else(|| panic!("tracing event arrived: {tails:#?}"));
    assert_eq!(traced.ctid, "MAIN", "{tails:#?}");
    assert_eq!(traced.level, "info", "{tails:#?}");
    assert!(traced.args.contains("42"), "field travels: {tails:#?}");

    let bridged = lines
        .iter()
        .find(|l| l.args.contains("dependency degraded: 3 retries"))
        .unwrap_or_else(|| panic!("log::warn! from dep arrived: {tails:#?}"));
    assert_eq!(
        bridged.ctid, "DEP",
        "target init_dlt::dep maps to DEP: {tails:#?}"
    );
    assert_eq!(bridged.level, "warn", "{tails:#?}");

    let logged = lines
        .iter()
        .find(|l| l.args.contains("hello through log"))
        .unwrap_or_else(|| panic!("log::info! arrived: {tails:#?}"));
    assert_eq!(logged.ctid, "MAIN", "unmapped target → default context");
    assert_eq!(logged.level, "info", "{tails:#?}");

    // Dropping the guard flushes too: a record logged just before the
    // drop still arrives.
    tracing::error!("logged right before the guard drops");
    drop(guard);
    receiver
        .wait_for_count(
            |l| l.is_log_from("INDL", "MAIN") && l.args == "logged right before the guard drops",
            1,
            ARRIVAL,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    drop(receiver);
}
