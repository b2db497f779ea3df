//! Way in 2, the builder: application and context IDs, descriptions and
//! capacities, then the same one-shot init as `taktora_log::init`.
//!
//! Run it against a daemon whose FIFO is in `$DLT_PIPE_DIR` (default
//! `/tmp`), and watch with `dlt-receive -a <daemon host>`; or let the demo
//! start a private daemon and show what arrived:
//!
//! ```sh
//! DEMO_CMD="cargo run -q --example builder" scripts/demo.sh
//! ```

use std::time::Duration;

use taktora_log::{Backend, DltLayer, Init};

fn main() -> Result<(), taktora_log::InitError> {
    let logging = Init::new()
        .with_dlt(
            DltLayer::builder("BLDR")
                .with_app_description("taktora-log builder example")
                .with_default_context("MAIN", "builder main")
                .with_context("builder::route", "ROUT", "route planning")
                .with_context("builder::net", "NET", "network")
                .with_channel_capacity(256),
        )
        .try_init()?;
    assert_eq!(logging.backend(), Backend::Dlt);

    tracing::info!(target: "builder::route", km = 12.5, "route computed");
    tracing::warn!(target: "builder::net", retries = 3u32, "link flapping");
    log::info!(target: "builder::net", "a record through the log crate");
    taktora_log::fatal!(code = 7u32, "map database corrupt");

    let outcome = logging.flush(Duration::from_secs(2));
    eprintln!(
        "builder: flushed={} written={} pending={}",
        outcome.complete, outcome.written, outcome.pending
    );
    Ok(())
}
