//! The console fallback backend (REQ_0816): readable one-line records on
//! stderr, filtered by `RUST_LOG` exactly as `tracing-subscriber`'s
//! `EnvFilter` reads it. Used when no DLT layer was configured, so that a
//! developer running the program without a daemon still sees its logs.
//! Independent of frames, channels and the daemon.

use tracing_core::LevelFilter;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The level the console shows when `RUST_LOG` is unset.
pub const CONSOLE_DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;

/// The console layer: `time LEVEL target: message field=value ...` on
/// stderr, filtered by `RUST_LOG` (default [`CONSOLE_DEFAULT_LEVEL`]).
/// Directives in `RUST_LOG` that do not parse are skipped, never fatal.
pub(crate) fn layer<S>() -> impl Layer<S> + Send + Sync + 'static
where
    S: tracing_core::Subscriber + for<'a> LookupSpan<'a>,
{
    let filter = EnvFilter::builder()
        .with_default_directive(CONSOLE_DEFAULT_LEVEL.into())
        .from_env_lossy();
    fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_filter(filter)
}
