//! A program built with `panic = "abort"` (`cargo build -p layer-tests
//! --bin panic_abort_child --profile panic-abort`), for the lifecycle test
//! that a panic reaches DLT when the process aborts right after the panic
//! hooks. Logs 100 records into the daemon of `$DLT_PIPE_DIR`, then
//! panics on the main thread. The hook installed before the layer's runs
//! after it and prints the counters; then the runtime aborts.

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;

static LAYER: OnceLock<taktora_log::DltLayer> = OnceLock::new();

fn main() {
    std::panic::set_hook(Box::new(|_| {
        if let Some(s) = LAYER.get().map(taktora_log::DltLayer::stats) {
            let dropped = s.dropped_queue_full
                + s.dropped_ring_full
                + s.dropped_no_flusher
                + s.lost_at_shutdown;
            println!(
                "STATS emitted={} written={} dropped={dropped} queued={} buffered={}",
                s.emitted, s.written, s.queued, s.buffered
            );
        }
    }));
    let dir = std::env::var_os("DLT_PIPE_DIR").unwrap_or_else(|| "/tmp".into());
    let (layer, guard) = match taktora_log::DltLayer::builder("PABT")
        .with_pipe_dir(dir)
        .with_panic_hook(true)
        .build()
    {
        Ok(built) => built,
        Err(e) => {
            eprintln!("panic_abort_child: {e}");
            std::process::exit(2);
        }
    };
    let _ = LAYER.set(layer.clone());
    if tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).is_err()
    {
        eprintln!("panic_abort_child: a subscriber was already set");
        std::process::exit(2);
    }
    for i in 0..100 {
        tracing::info!("before-{i}");
    }
    let _alive = guard;
    panic!("built with panic=abort");
}
