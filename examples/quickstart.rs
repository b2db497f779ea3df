//! The shortest real program: log through `tracing` and through the `log`
//! crate into a running dlt-daemon.
//!
//! Run it against a daemon whose FIFO is in `$DLT_PIPE_DIR` (default
//! `/tmp`), and watch with `dlt-receive -a <daemon host>`. `scripts/demo.sh`
//! does all of that against a private daemon.

use std::time::Duration;

use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (layer, guard) = taktora_log::DltLayer::builder("QSTA")
        .with_app_description("taktora-log quickstart")
        .with_default_context("MAIN", "quickstart main")
        .with_context("quickstart::net", "NET", "network")
        .build()?;
    // DLT's levels as a global filter: DLT is this program's only output.
    let levels = layer.levels();
    tracing_subscriber::registry()
        .with(levels)
        .with(layer)
        .init();
    // Bridge the `log` crate, so dependencies that use it arrive too.
    tracing_log::LogTracer::init()?;

    tracing::info!(version = env!("CARGO_PKG_VERSION"), "quickstart started");
    tracing::warn!(target: "quickstart::net", peer = "10.0.0.2", retries = 3u32, "link flapping");
    {
        // An event inside a span carries the span's name and fields too,
        // typed and named (`job.id`, `job.kind`), after its own.
        let job = tracing::info_span!("job", id = 42u64, kind = "calibrate");
        let _in_job = job.enter();
        tracing::error!(code = -5i64, recoverable = true, "sensor read failed");
    }
    log::warn!(target: "quickstart::net", "a warning through the log crate");
    taktora_log::fatal!(ratio = 0.25, "a fatal message");
    tracing::info!("quickstart done");

    // Make sure everything reached the daemon before we exit.
    let outcome = guard.flush(Duration::from_secs(2));
    eprintln!(
        "quickstart: flushed={} written={} pending={}",
        outcome.complete, outcome.written, outcome.pending
    );
    Ok(())
}
