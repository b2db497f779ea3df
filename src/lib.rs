//! `tracing` into the AUTOSAR DLT daemon, without libdlt.
//!
//! taktora-log is a [`tracing_subscriber::Layer`] that sends every event to
//! COVESA's `dlt-daemon` as a DLT verbose LOG message, with your
//! application ID, a context ID chosen by the event's target, and the
//! level mapped from `tracing`'s. `log` records arrive the same way through
//! `tracing_log::LogTracer`. Events inside spans carry their span scope,
//! root first, as typed and named arguments (`span = "req"`, `req.id = 7`;
//! see [`SpanScope`]). It speaks the daemon's own user protocol over
//! its FIFO, so DLT Viewer, `dlt-receive` and `dlt-control` see it like any
//! libdlt application.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> Result<(), taktora_log::InitError> {
//! let (layer, _guard) = taktora_log::DltLayer::builder("NAV")
//!     .with_app_description("Navigation")
//!     .with_context("nav::route", "ROUT", "Route planning")
//!     .build()?;
//! let levels = layer.levels();
//! tracing_subscriber::registry().with(levels).with(layer).init();
//!
//! tracing::info!(target: "nav::route", km = 12.5, "route computed");
//! taktora_log::fatal!(code = 7u32, "map database corrupt");
//! # Ok(())
//! # }
//! ```
//!
//! The three ways in, each as a program in `examples/` of the repository
//! (run against a private daemon with `DEMO_CMD="cargo run -q --example
//! NAME" scripts/demo.sh`):
//!
//! - [`init()`](fn@init): every default, the `log` bridge, done (`examples/init.rs`);
//! - [`Init`] with a [`DltLayerBuilder`]: IDs, contexts, capacities, the
//!   same one-shot init (`examples/builder.rs`);
//! - [`DltLayer`] in your own registry, as above
//!   (`examples/integrator.rs`, `examples/quickstart.rs`).
//!
//! # Architecture
//!
//! Data flows one way: event → [`DltLayer`] → frame (encoded on the
//! stack) → bounded channel → background flusher thread → ring → the
//! daemon's FIFO. Every record passes through the ring, the flusher's send
//! buffer; while the daemon is away it is where records wait (the offline
//! ring of REQ_0814). The flusher is the only thread that does I/O. The one backward path, log levels set from
//! the DLT side, is data: the flusher reads them from the application's
//! own FIFO into atomics that the layer's filter reads.
//!
//! # Guarantees
//!
//! - **REQ_0812** Logging never blocks: the calling thread encodes and
//!   does one non-blocking push; it never waits on the daemon.
//! - **REQ_0813** ERROR and FATAL records never allocate on the calling
//!   thread: frames are fixed-size stack buffers, copied into a frame pool
//!   allocated at build time, and the channels' storage is reserved then.
//!   Inside spans too: a span's arguments are encoded when it is created
//!   or recorded into, and events only copy them.
//! - **REQ_0814** While the daemon is away, records wait in a bounded ring
//!   allocated once at build time, and drain in FIFO order on reconnect.
//! - **REQ_0815** When the channel or the ring is full, the oldest record
//!   is dropped and counted; the next write opportunity leads with exactly
//!   one `taktora.log.dropped count=N first_dropped_at=...` record on the
//!   reserved context `TLOG`.
//!
//! Counters for every outcome are in [`Stats`], from
//! [`FlushGuard::stats`] or [`DltLayer::stats`].

#![deny(unsafe_code)]
#![cfg_attr(docsrs, deny(rustdoc::broken_intra_doc_links))]
#![doc(test(attr(deny(warnings))))]

/// The bytes of golden vector `$name`, a file libdlt or the daemon wrote,
/// in `shared/dlt/vectors/` beside the repository.
#[cfg(test)]
macro_rules! vector {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/dlt/vectors/",
            $name
        ))
        .as_slice()
    };
}

mod builder;
mod channel;
mod console;
mod contexts;
mod control;
mod env_levels;
mod error;
mod fields;
mod flusher;
mod frame;
mod guard;
mod ids;
mod init;
mod layer;
mod ledger;
mod local_print;
mod process;
mod ring;
mod span;
mod stats;
mod sys;
mod transport;
mod wake;

pub use builder::{
    DltLayerBuilder, DEFAULT_APP_DESCRIPTION, DEFAULT_CHANNEL_CAPACITY,
    DEFAULT_CONTEXT_DESCRIPTION, DEFAULT_CONTEXT_ID, DEFAULT_ECU_ID, DEFAULT_PIPE_DIR,
    DEFAULT_RECONNECT_INITIAL, DEFAULT_RECONNECT_MAX, MAX_CHANNEL_CAPACITY, MAX_DESCRIPTION_LEN,
    MAX_RECONNECT_BACKOFF, MAX_RING_BYTES, MAX_RING_CAPACITY, MAX_SHUTDOWN_TIMEOUT,
    MAX_SOCKET_SEND_BUFFER,
};
pub use console::CONSOLE_DEFAULT_LEVEL;
pub use contexts::DIAGNOSTIC_CONTEXT;
pub use error::{IdError, IdErrorReason, InitError, InitErrorKind};
pub use flusher::HOUSEKEEPING_INTERVAL;
pub use frame::{FRAME_CAP, MIN_FRAME_LIMIT, TRUNCATION_MARKER};
pub use guard::{FlushGuard, FlushOutcome, DEFAULT_SHUTDOWN_TIMEOUT, SHUTDOWN_ACK_GRACE};
pub use ids::{AppId, CtxId, EcuId, IntoId, LogLevel, ID_LEN};
pub use init::{init, try_init, Backend, Init, InitGuard, LogBridge};
pub use layer::{DltLayer, DltLevels, CLOSE_BUSY_FIELD, CLOSE_IDLE_FIELD, FATAL_FIELD};
pub use local_print::{LocalPrint, LocalPrinter};
pub use process::panic::PANIC_TARGET;
pub use ring::{DEFAULT_RING_BYTES, DEFAULT_RING_CAPACITY};
pub use span::{
    SpanScope, DEFAULT_SPAN_MAX_DEPTH, MAX_SPAN_DEPTH, SPAN_CONTEXT_FIELD, SPAN_FIELD_MAX_BYTES,
    SPAN_NAME_ARG,
};
pub use stats::Stats;
pub use wake::{FlusherWake, DEFAULT_FLUSHER_WAKE, MAX_IDLE_POLL, MIN_IDLE_POLL};

#[doc(hidden)]
pub mod __private {
    pub use tracing;
}

/// Logs a DLT **FATAL** message: takes the same arguments as
/// [`tracing::error!`] and arrives in DLT as `log fatal`.
///
/// `tracing` has no FATAL level, so this emits an ERROR event carrying the
/// marker field [`FATAL_FIELD`], which [`DltLayer`] turns into DLT's FATAL
/// and does not send as an argument. Other layers see an ERROR event.
///
/// # Examples
///
/// ```
/// taktora_log::fatal!("brake pressure sensor lost");
/// taktora_log::fatal!(target: "chassis::brake", sensor = 3u8, "lost {}", "sensor");
/// taktora_log::fatal!(target: "chassis::brake", "lost");
/// taktora_log::fatal!(name: "brake", target: "chassis::brake", parent: None, "lost");
/// taktora_log::fatal!(name: "brake", "lost {n}", n = 3);
/// taktora_log::fatal!(parent: None, sensor = 3u8);
/// ```
#[macro_export]
macro_rules! fatal {
    (name: $name:expr, target: $target:expr, parent: $parent:expr, $($arg:tt)+) => {
        $crate::__private::tracing::error!(name: $name, target: $target, parent: $parent, taktora_log_fatal = true, $($arg)+)
    };
    (name: $name:expr, target: $target:expr, $($arg:tt)+) => {
        $crate::__private::tracing::error!(name: $name, target: $target, taktora_log_fatal = true, $($arg)+)
    };
    (name: $name:expr, parent: $parent:expr, $($arg:tt)+) => {
        $crate::__private::tracing::error!(name: $name, parent: $parent, taktora_log_fatal = true, $($arg)+)
    };
    (name: $name:expr, $($arg:tt)+) => {
        $crate::__private::tracing::error!(name: $name, taktora_log_fatal = true, $($arg)+)
    };
    (target: $target:expr, parent: $parent:expr, $($arg:tt)+) => {
        $crate::__private::tracing::error!(target: $target, parent: $parent, taktora_log_fatal = true, $($arg)+)
    };
    (target: $target:expr, $($arg:tt)+) => {
        $crate::__private::tracing::error!(target: $target, taktora_log_fatal = true, $($arg)+)
    };
    (parent: $parent:expr, $($arg:tt)+) => {
        $crate::__private::tracing::error!(parent: $parent, taktora_log_fatal = true, $($arg)+)
    };
    ($($arg:tt)+) => {
        $crate::__private::tracing::error!(taktora_log_fatal = true, $($arg)+)
    };
}
