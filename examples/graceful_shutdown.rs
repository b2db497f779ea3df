//! A service that flushes its DLT records when it is told to stop with
//! SIGTERM (what systemd and most supervisors send) or SIGINT (Ctrl-C).
//!
//! A signal's default action ends the process at once: no destructor runs,
//! so the guard's drop does not flush, and a signal is not `exit(3)`, so
//! taktora-log's exit handler does not run either. Records still in the
//! channel or the ring are then lost, and the application FIFO stays in
//! `dltpipes/`. Catch the signal instead and return from `main`
//! normally: [signal-hook] turns it into an item the main thread waits
//! for (its handler only writes to a pipe, which is async-signal-safe),
//! and the guard's drop flushes, bounded by the shutdown timeout,
//! unregisters and removes the FIFO.
//!
//! Run it against a daemon whose FIFO is in `$DLT_PIPE_DIR`, then
//! `kill -TERM <pid>`; or pass `--stop-after-ms N` to have it send itself
//! SIGTERM after N milliseconds.
//!
//! [signal-hook]: https://docs.rs/signal-hook

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let logging = taktora_log::init("GSHD");
    // Register before starting work, so no signal finds the default action.
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    if let Some(ms) = stop_after_ms() {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            let _ = signal_hook::low_level::raise(SIGTERM);
        });
    }

    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tracing::info!(n, "working");
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    // Blocks until SIGTERM or SIGINT arrives.
    let signal = signals.forever().next().unwrap_or(SIGTERM);
    tracing::warn!(signal, "stopping");
    stop.store(true, Ordering::Relaxed);
    let _ = worker.join();
    let outcome = logging.flush(Duration::from_secs(2));
    eprintln!("graceful_shutdown: stopped by signal {signal}, {outcome:?}");
    // Dropping `logging` here unregisters and removes the FIFO.
    Ok(())
}

/// `--stop-after-ms N` from the command line.
fn stop_after_ms() -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--stop-after-ms")?;
    args.get(at + 1)?.parse().ok()
}
