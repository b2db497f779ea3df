//! Way in 1, `init`: one call gives a DLT layer with every default and the
//! `log` bridge, installed as the process's `tracing` subscriber.
//!
//! Run it against a daemon whose FIFO is in `$DLT_PIPE_DIR` (default
//! `/tmp`), and watch with `dlt-receive -a <daemon host>`; or let the demo
//! start a private daemon and show what arrived:
//!
//! ```sh
//! DEMO_CMD="cargo run -q --example init" scripts/demo.sh
//! ```

use std::time::Duration;

fn main() {
    // Keep the guard alive while logging: it owns the flusher thread.
    let logging = taktora_log::init("INIT");

    tracing::info!(speed_kmh = 87u64, "route computed");
    tracing::warn!(target: "init::net", peer = "10.0.0.2", "link flapping");
    log::error!("and from the log crate");

    // Dropping the guard flushes too; an explicit flush says how it went.
    let outcome = logging.flush(Duration::from_secs(2));
    eprintln!(
        "init: backend={:?} flushed={} written={} pending={}",
        logging.backend(),
        outcome.complete,
        outcome.written,
        outcome.pending
    );
}
