//! REQ_0804, the integrator swap without init: `DltLayer` under filters other than
//! its own `DltLevels` still applies the DLT context levels, because the
//! layer checks them in `on_event`. Scoped subscribers (`with_default`)
//! only, so no global state is touched and the tests share a process.
//! No daemon needed: `Stats::emitted` counts what the layer accepted.

use std::time::Duration;

use taktora_log::{DltLayer, LogLevel};
use tracing_subscriber::filter::{FilterExt, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// There is no daemon: do not wait long for one when the guard drops.
const NO_DAEMON_SHUTDOWN: Duration = Duration::from_millis(50);

/// A layer whose every context is at ERROR, with a private pipe dir.
fn error_level_layer(dir: &std::path::Path) -> (DltLayer, taktora_log::FlushGuard) {
    DltLayer::builder("FILT")
        .with_pipe_dir(dir)
        .with_initial_level(LogLevel::Error)
        .with_shutdown_timeout(NO_DAEMON_SHUTDOWN)
        .build()
        .expect("build the DLT layer")
}

/// Logs one event at each level from ERROR to TRACE.
fn log_every_level() {
    tracing::error!("e");
    tracing::warn!("w");
    tracing::info!("i");
    tracing::debug!("d");
    tracing::trace!("t");
}

#[test]
fn req_0804_a_foreign_filter_does_not_bypass_the_dlt_context_levels() {
    let dir = tempfile::tempdir().expect("temp pipe dir");
    let (layer, _guard) = error_level_layer(dir.path());
    let stats = layer.clone();
    // WARN lets ERROR and WARN through; the ERROR context level then
    // keeps only ERROR.
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(LevelFilter::WARN));
    tracing::subscriber::with_default(subscriber, log_every_level);
    assert_eq!(stats.stats().emitted, 1, "only ERROR passes both");
}

#[test]
fn req_0804_a_foreign_filter_still_narrows_what_the_dlt_levels_allow() {
    let dir = tempfile::tempdir().expect("temp pipe dir");
    let (layer, _guard) = DltLayer::builder("FILT")
        .with_pipe_dir(dir.path())
        .with_initial_level(LogLevel::Verbose)
        .with_shutdown_timeout(NO_DAEMON_SHUTDOWN)
        .build()
        .expect("build the DLT layer");
    let stats = layer.clone();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(LevelFilter::WARN));
    tracing::subscriber::with_default(subscriber, log_every_level);
    assert_eq!(stats.stats().emitted, 2, "ERROR and WARN: the filters AND");
}

#[test]
fn req_0804_dlt_levels_combine_with_another_filter() {
    let dir = tempfile::tempdir().expect("temp pipe dir");
    let (layer, _guard) = error_level_layer(dir.path());
    let stats = layer.clone();
    let levels = layer.levels();
    let subscriber =
        tracing_subscriber::registry().with(layer.with_filter(levels.and(LevelFilter::WARN)));
    tracing::subscriber::with_default(subscriber, log_every_level);
    assert_eq!(stats.stats().emitted, 1, "only ERROR passes both");
}
