//! Way in 3, your own registry (the integrator swap): put
//! [`DltLayer`](taktora_log::DltLayer) into your own `Registry`, next to
//! your own layers and filters, without calling `taktora_log::init` at all.
//!
//! Here a `fmt` layer prints everything at INFO and above on stderr, while
//! the DLT layer sends to the daemon whatever the DLT context levels allow
//! (set with `dlt-control` or DLT Viewer at runtime).
//!
//! Run it against a daemon whose FIFO is in `$DLT_PIPE_DIR` (default
//! `/tmp`), and watch with `dlt-receive -a <daemon host>`. Without a
//! daemon the records wait in the offline ring and the final flush reports
//! them as pending. Against a private daemon the demo starts:
//!
//! ```sh
//! DEMO_CMD="cargo run -q --example integrator" scripts/demo.sh
//! ```

use std::time::Duration;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dlt_layer, guard) = taktora_log::DltLayer::builder("INTG")
        .with_app_description("taktora-log integrator example")
        .with_default_context("MAIN", "integrator main")
        .with_context("integrator::db", "DB", "database access")
        .build()?;
    let levels = dlt_layer.levels();

    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(LevelFilter::INFO),
        )
        // The DLT context levels as a per-layer filter: the daemon can
        // raise or lower them at runtime.
        .with(dlt_layer.with_filter(levels))
        .init();
    // Variant: any other filter composes too. The layer checks the DLT
    // context level of every event itself, so with
    //
    //     .with(dlt_layer.with_filter(LevelFilter::WARN))
    //
    // DLT gets only events that pass *both* WARN and their context level;
    // the DLT levels are not lost, only no longer used to skip callsites
    // early. To keep that early skip as well, combine them:
    //
    //     use tracing_subscriber::filter::FilterExt;
    //     .with(dlt_layer.with_filter(levels.and(LevelFilter::WARN)))

    // Bridge the `log` crate, so dependencies that use it arrive too.
    tracing_log::LogTracer::init()?;

    tracing::info!(version = env!("CARGO_PKG_VERSION"), "integrator started");
    tracing::warn!(target: "integrator::db", table = "users", "slow query");
    tracing::debug!("only where a filter allows DEBUG");
    log::error!(target: "integrator::db", "connection lost");

    let outcome = guard.flush(Duration::from_secs(2));
    eprintln!(
        "integrator: flushed={} written={} pending={}",
        outcome.complete, outcome.written, outcome.pending
    );
    Ok(())
}
