//! [`DltLayerBuilder`]: validates the configuration and wires the pipeline
//! together (context table, application FIFO, channel, flusher thread,
//! layer, guard). The only module that knows every other one.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::channel;
use crate::contexts::{Context, ContextTable, DIAGNOSTIC_CONTEXT, DIAGNOSTIC_DESCRIPTION};
use crate::env_levels::InitialLevels;
use crate::error::{InitError, InitErrorKind};
use crate::flusher;
use crate::frame::{FRAME_CAP, MIN_FRAME_LIMIT};
use crate::guard::{FlushGuard, DEFAULT_SHUTDOWN_TIMEOUT};
use crate::ids::{id_text, AppId, CtxId, EcuId, IntoId, LogLevel, RegisterLevel};
use crate::layer::DltLayer;
use crate::local_print::{LocalPrint, LocalPrinter};
use crate::process::{
    self, claims,
    fork::{Recipe, Respawn},
    live::{self, Live},
};
use crate::ring::{DEFAULT_RING_BYTES, DEFAULT_RING_CAPACITY};
use crate::span::{SpanConfig, SpanScope, MAX_SPAN_DEPTH};
use crate::stats::Counters;
use crate::transport::AppFifo;
use crate::wake::{FlusherWake, DEFAULT_FLUSHER_WAKE};

/// Default application description.
///
/// Example: [every setting at its default](DltLayerBuilder#examples).
pub const DEFAULT_APP_DESCRIPTION: &str = "";
/// Default context ID, used for every target no mapping matches.
///
/// Example: [every setting at its default](DltLayerBuilder#examples).
pub const DEFAULT_CONTEXT_ID: &str = "DFLT";
/// Default description of the default context.
///
/// Example: [every setting at its default](DltLayerBuilder#examples).
pub const DEFAULT_CONTEXT_DESCRIPTION: &str = "default context";
/// Default ECU ID: libdlt's. The daemon replaces exactly this value with
/// its own configured `ECUId`.
///
/// Example: [every setting at its default](DltLayerBuilder#examples).
pub const DEFAULT_ECU_ID: &str = "ECU1";
/// Where the daemon's FIFO is looked for when `$DLT_PIPE_DIR` is not set
/// (libdlt's default).
///
/// Example: [every setting at its default](DltLayerBuilder#examples).
pub const DEFAULT_PIPE_DIR: &str = "/tmp";
/// Default capacity of the channel between the layer and the flusher, in
/// records.
///
/// Its storage, allocated and reserved at build time, is the frame pool,
/// `capacity × 1436` bytes (a 1432-byte slot holding up to
/// [`FRAME_CAP`] bytes and a 4-byte free-list link per record), and the
/// channel of slot indices, `capacity × 4` bytes (a 4-byte index per
/// place; flume grows its queue by doubling while it is filled once at
/// build, so a capacity that is not a power of two reserves up to twice
/// that): 1,474,560 bytes, about 1.4 MiB, by default. The offline ring comes on top (see
/// [`DEFAULT_RING_BYTES`]).
///
/// Example: [every setting at its default](DltLayerBuilder#examples).
pub const DEFAULT_CHANNEL_CAPACITY: usize = 1024;
/// First delay before reconnecting to an absent daemon; doubles on every
/// failed attempt up to [`DEFAULT_RECONNECT_MAX`].
///
/// Example: [every setting at its default](DltLayerBuilder#examples).
pub const DEFAULT_RECONNECT_INITIAL: Duration = Duration::from_millis(50);
/// Longest delay between reconnection attempts (libdlt retries about
/// every second).
///
/// Example: [every setting at its default](DltLayerBuilder#examples).
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(1);
/// Most records [`with_channel_capacity`](DltLayerBuilder::with_channel_capacity)
/// accepts: 65,536, a frame pool of about 94 MB.
pub const MAX_CHANNEL_CAPACITY: usize = 1 << 16;
/// Most records [`with_ring_capacity`](DltLayerBuilder::with_ring_capacity)
/// accepts: 1,048,576 (an index of 10 MiB).
pub const MAX_RING_CAPACITY: usize = 1 << 20;
/// Largest arena [`with_ring_bytes`](DltLayerBuilder::with_ring_bytes)
/// accepts: 256 MiB.
pub const MAX_RING_BYTES: usize = 256 << 20;
/// Longest delay [`with_reconnect_backoff`](DltLayerBuilder::with_reconnect_backoff)
/// accepts, first or maximum: one hour.
pub const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(3600);
/// Longest [`with_shutdown_timeout`](DltLayerBuilder::with_shutdown_timeout)
/// accepted: one hour.
pub const MAX_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3600);
/// Largest [`with_socket_send_buffer`](DltLayerBuilder::with_socket_send_buffer)
/// accepted: 1 GiB (Linux doubles the value into an `int`, and caps it at
/// `net.core.wmem_max` anyway).
pub const MAX_SOCKET_SEND_BUFFER: usize = 1 << 30;
/// Longest description the daemon stores (`DLT_USER_MAX_DESCRIPTION`
/// handling in dlt-daemon 2.18.8 caps it at 256 bytes).
///
/// Example: a longer description is refused by `build`, see
/// [`InitErrorKind`'s example](crate::InitErrorKind#examples) for the
/// error it returns.
pub const MAX_DESCRIPTION_LEN: usize = 256;

/// One target-prefix mapping, as given (validated in `build`).
#[derive(Debug, Clone)]
struct Mapping {
    prefix: String,
    id: String,
    description: String,
}

/// Configures and builds a [`DltLayer`] and its [`FlushGuard`].
///
/// Setters take plain strings and never fail; [`build`](Self::build)
/// validates everything at once and says which value is wrong.
///
/// # Default values
///
/// | setting | default |
/// |---|---|
/// | application description | [`DEFAULT_APP_DESCRIPTION`] (empty) |
/// | default context | [`DEFAULT_CONTEXT_ID`] `DFLT`, [`DEFAULT_CONTEXT_DESCRIPTION`] |
/// | target mappings | none |
/// | ECU ID | [`DEFAULT_ECU_ID`] `ECU1` (the daemon substitutes its own) |
/// | pipe directory | `$DLT_PIPE_DIR`, else [`DEFAULT_PIPE_DIR`] `/tmp` |
/// | initial level | INFO until the daemon says otherwise, as libdlt; `$DLT_INITIAL_LOG_LEVEL` overrides it per context |
/// | channel capacity | [`DEFAULT_CHANNEL_CAPACITY`] records |
/// | offline ring capacity | [`DEFAULT_RING_CAPACITY`] records and [`DEFAULT_RING_BYTES`] bytes, whichever is reached first |
/// | largest frame | [`FRAME_CAP`] bytes |
/// | reconnect backoff | [`DEFAULT_RECONNECT_INITIAL`] doubling to [`DEFAULT_RECONNECT_MAX`] |
/// | shutdown timeout | [`DEFAULT_SHUTDOWN_TIMEOUT`] |
/// | panic hook | off for `build`, on for [`init`](crate::init()) ([`with_panic_hook`](Self::with_panic_hook)) |
/// | local print on stderr | `$DLT_LOCAL_PRINT_MODE`, else off (see [`with_local_print`](Self::with_local_print)) |
/// | span scope | [`SpanScope::NamesAndFields`], innermost [`DEFAULT_SPAN_MAX_DEPTH`](crate::DEFAULT_SPAN_MAX_DEPTH) spans |
/// | span close records | off |
///
/// The diagnostic context [`DIAGNOSTIC_CONTEXT`] (`TLOG`) is always
/// registered too; it carries the logger's own drop reports.
///
/// # Log levels
///
/// Each context starts at INFO, as libdlt's do, and registers with the
/// level "not set": the daemon answers with its default level
/// (`ContextLogLevel` in `dlt.conf`, INFO unless configured), which then
/// applies. [`with_initial_level`](Self::with_initial_level) registers every
/// context with an explicit level instead. At runtime, `dlt-control` or
/// DLT Viewer set a context's level, and the layer applies it within
/// [`HOUSEKEEPING_INTERVAL`](crate::HOUSEKEEPING_INTERVAL). After a daemon
/// restart the layer registers again and takes the levels the new daemon
/// holds (a level set at runtime is forgotten by the daemon, as with
/// libdlt).
///
/// `build` reads `DLT_INITIAL_LOG_LEVEL` as libdlt does, and it overrides
/// both the default and `with_initial_level` for the contexts it matches:
/// `APID:CTID:LEVEL` items separated by `;`, where an empty APID or CTID
/// matches any, the most specific item wins (APID and CTID, then APID
/// only, then CTID only, then neither), and LEVEL is `-1`..`6` or
/// `default`, `off`, `fatal`, `error`, `warning`, `info`, `debug`,
/// `verbose` (any case). A matched context starts at that level and
/// registers with it; `-1`/`default` registers as "default", so the
/// daemon's level applies. Unlike libdlt, a malformed item is skipped and
/// the others still apply ([`Stats::initial_levels_ignored`](crate::Stats)
/// counts the skipped ones). For example, `DLT_INITIAL_LOG_LEVEL=
/// "NAV:ROUT:debug;::warning"` starts `ROUT` of `NAV` at DEBUG and every
/// other context at WARN.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), taktora_log::InitError> {
/// let (layer, guard) = taktora_log::DltLayer::builder("NAV")
///     .with_app_description("Navigation")
///     .with_context("nav::route", "ROUT", "Route planning")
///     .with_context("hyper", "HTTP", "HTTP client")
///     .build()?;
/// # drop((layer, guard));
/// # Ok(())
/// # }
/// ```
///
/// Every setting, at its default value:
///
/// ```no_run
/// use taktora_log::*;
///
/// let (layer, guard) = DltLayer::builder("NAV")
///     .with_app_description(DEFAULT_APP_DESCRIPTION)
///     .with_default_context(DEFAULT_CONTEXT_ID, DEFAULT_CONTEXT_DESCRIPTION)
///     .with_ecu_id(DEFAULT_ECU_ID)
///     .with_pipe_dir(DEFAULT_PIPE_DIR) // unless $DLT_PIPE_DIR says otherwise
///     .with_initial_level(LogLevel::Info)
///     .with_channel_capacity(DEFAULT_CHANNEL_CAPACITY)
///     .with_ring_capacity(DEFAULT_RING_CAPACITY)
///     .with_ring_bytes(DEFAULT_RING_BYTES)
///     .with_max_frame(FRAME_CAP)
///     .with_reconnect_backoff(DEFAULT_RECONNECT_INITIAL, DEFAULT_RECONNECT_MAX)
///     .with_shutdown_timeout(DEFAULT_SHUTDOWN_TIMEOUT)
///     .with_flusher_wake(DEFAULT_FLUSHER_WAKE)
///     .with_local_print(LocalPrint::Off) // unless $DLT_LOCAL_PRINT_MODE says otherwise
///     .build()?;
/// # drop((layer, guard));
/// # Ok::<(), InitError>(())
/// ```
///
/// (`with_initial_level(LogLevel::Info)` is not quite the default: it
/// registers every context at INFO, where the default lets the daemon
/// choose.)
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct DltLayerBuilder {
    app: String,
    app_description: String,
    default_context: (String, String),
    mappings: Vec<Mapping>,
    ecu: String,
    pipe_dir: Option<PathBuf>,
    initial_level: Option<LogLevel>,
    /// A `DLT_INITIAL_LOG_LEVEL` value to use instead of the environment's
    /// (tests only).
    initial_levels_spec: Option<String>,
    limits: Limits,
    /// Whether the panic hook writes into this pipeline; `None`: the
    /// caller's default (off for `build`, on for `init`).
    panic_hook: Option<bool>,
    /// `None`: `$DLT_LOCAL_PRINT_MODE` decides.
    local_print: Option<LocalPrint>,
    spans: SpanConfig,
}

impl DltLayer {
    /// Starts configuring a layer for the application `app_id`: an
    /// [`AppId`], or a string of 1–4 printable ASCII characters that
    /// [`build`](DltLayerBuilder::build) checks (see [`IntoId`]).
    ///
    /// See [`DltLayerBuilder`'s examples](DltLayerBuilder#examples).
    pub fn builder(app_id: impl IntoId<AppId>) -> DltLayerBuilder {
        DltLayerBuilder {
            app: id_text(app_id),
            app_description: DEFAULT_APP_DESCRIPTION.into(),
            default_context: (
                DEFAULT_CONTEXT_ID.into(),
                DEFAULT_CONTEXT_DESCRIPTION.into(),
            ),
            mappings: Vec::new(),
            ecu: DEFAULT_ECU_ID.into(),
            pipe_dir: None,
            initial_level: None,
            initial_levels_spec: None,
            limits: Limits::DEFAULT,
            panic_hook: None,
            local_print: None,
            spans: SpanConfig::DEFAULT,
        }
    }
}

impl DltLayerBuilder {
    /// Sets the application description the daemon lists (at most 256
    /// bytes). Defaults to empty.
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_app_description(self, description: &str) -> Self {
        Self {
            app_description: description.into(),
            ..self
        }
    }

    /// Sets the context used for targets no mapping matches: a [`CtxId`]
    /// or a string that `build` checks. Defaults to `DFLT`, "default
    /// context".
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_default_context(self, ctx_id: impl IntoId<CtxId>, description: &str) -> Self {
        Self {
            default_context: (id_text(ctx_id), description.into()),
            ..self
        }
    }

    /// Maps events whose target starts with `prefix` to the context
    /// `ctx_id` (a [`CtxId`] or a string that `build` checks).
    ///
    /// A target matches when it is `prefix` itself, or continues after
    /// `prefix` with `::` or `.`: `"app::net"` takes `app::net`,
    /// `app::net::can` and `app::net.rx`, not `app::network`. A prefix
    /// that itself ends in `::` or `.` (`"app."`) takes every target that
    /// starts with it (`app.rx`, not `app`). The longest matching prefix
    /// wins; `log` records map by their target too. Defaults to no
    /// mappings.
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_context(
        mut self,
        prefix: &str,
        ctx_id: impl IntoId<CtxId>,
        description: &str,
    ) -> Self {
        self.mappings.push(Mapping {
            prefix: prefix.into(),
            id: id_text(ctx_id),
            description: description.into(),
        });
        self
    }

    /// Sets the ECU ID written into every message (an [`EcuId`] or a
    /// string that `build` checks). Defaults to `ECU1`,
    /// which the daemon replaces with its own configured ECU ID.
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_ecu_id(self, ecu_id: impl IntoId<EcuId>) -> Self {
        Self {
            ecu: id_text(ecu_id),
            ..self
        }
    }

    /// Sets the directory holding the daemon's FIFO `dlt` (the daemon's
    /// `-t` option). Defaults to `$DLT_PIPE_DIR`, else `/tmp`.
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_pipe_dir(self, dir: impl Into<PathBuf>) -> Self {
        Self {
            pipe_dir: Some(dir.into()),
            ..self
        }
    }

    /// Registers every context with this level instead of letting the
    /// daemon assign its default (the daemon can still change it later).
    /// Defaults to INFO until the daemon answers, as libdlt does.
    /// `$DLT_INITIAL_LOG_LEVEL` overrides it for the contexts it matches
    /// (see [Log levels](Self#log-levels)).
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_initial_level(self, level: LogLevel) -> Self {
        Self {
            initial_level: Some(level),
            ..self
        }
    }

    /// Sets how many records the channel to the flusher holds (1 to
    /// [`MAX_CHANNEL_CAPACITY`]). When it is full, the oldest queued record is dropped and
    /// counted. Defaults to [`DEFAULT_CHANNEL_CAPACITY`].
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_channel_capacity(self, records: usize) -> Self {
        Self {
            limits: Limits {
                channel_capacity: records,
                ..self.limits
            },
            ..self
        }
    }

    /// Sets the most records the offline ring keeps while the daemon is
    /// away or reads slowly (1 to [`MAX_RING_CAPACITY`]). Defaults to
    /// [`DEFAULT_RING_CAPACITY`]. The ring also has a byte limit
    /// ([`with_ring_bytes`](Self::with_ring_bytes)); whichever is reached
    /// first drops the oldest record. The byte arena is never made larger
    /// than `records` maximum-size frames can use.
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_ring_capacity(self, records: usize) -> Self {
        Self {
            limits: Limits {
                ring_capacity: records,
                ..self.limits
            },
            ..self
        }
    }

    /// Sets the size of the offline ring's byte arena, allocated once at
    /// build: records are stored back to back, each taking its own length
    /// (at least [`FRAME_CAP`], so that any record fits, and at most
    /// [`MAX_RING_BYTES`]). Defaults to
    /// [`DEFAULT_RING_BYTES`] (384 KiB: about 3,900 records of 100 bytes,
    /// or 276 of the maximum size).
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_ring_bytes(self, bytes: usize) -> Self {
        Self {
            limits: Limits {
                ring_bytes: bytes,
                ..self.limits
            },
            ..self
        }
    }

    /// Sets the largest frame in bytes, user header included, from
    /// [`MIN_FRAME_LIMIT`] to [`FRAME_CAP`]. Longer
    /// messages are truncated with a visible marker. Defaults to
    /// [`FRAME_CAP`].
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_max_frame(self, bytes: usize) -> Self {
        Self {
            limits: Limits {
                max_frame: bytes,
                ..self.limits
            },
            ..self
        }
    }

    /// Sets the reconnect backoff: the first delay, doubling up to `max`
    /// (at most [`MAX_RECONNECT_BACKOFF`]). Defaults to [`DEFAULT_RECONNECT_INITIAL`] and
    /// [`DEFAULT_RECONNECT_MAX`].
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_reconnect_backoff(self, initial: Duration, max: Duration) -> Self {
        Self {
            limits: Limits {
                reconnect_initial: initial,
                reconnect_max: max,
                ..self.limits
            },
            ..self
        }
    }

    /// For a daemon built with UNIX-socket IPC only: sets the connection's
    /// kernel send buffer (`SO_SNDBUF`; Linux doubles the value and keeps
    /// it above its minimum). The kernel then holds at most about that
    /// much for the daemon, which is what can be lost unread in a crash
    /// (the `unconfirmed` bound). Small values make the kernel take
    /// batches in parts, which the layer handles: the rest of a batch is
    /// written, whole and first, when the socket drains. At most
    /// [`MAX_SOCKET_SEND_BUFFER`]. Defaults to the system's default
    /// (`net.core.wmem_default`).
    pub fn with_socket_send_buffer(self, bytes: usize) -> Self {
        Self {
            limits: Limits {
                socket_send_buffer: Some(bytes),
                ..self.limits
            },
            ..self
        }
    }

    /// Sets how the idle flusher learns that records are waiting, and so
    /// whether a logging call after a quiet spell makes a system call: see
    /// [`FlusherWake`]. Defaults to [`DEFAULT_FLUSHER_WAKE`] (poll every
    /// 10 ms; no logging call wakes the flusher except for a burst that
    /// fills half the channel). An idle poll outside
    /// [`MIN_IDLE_POLL`](crate::MIN_IDLE_POLL) to
    /// [`MAX_IDLE_POLL`](crate::MAX_IDLE_POLL) makes `build` fail with `InvalidConfig`.
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_flusher_wake(self, wake: FlusherWake) -> Self {
        Self {
            limits: Limits {
                flusher_wake: wake,
                ..self.limits
            },
            ..self
        }
    }

    /// Sets how long dropping the guard waits for buffered records; the
    /// drop itself returns at most [`SHUTDOWN_ACK_GRACE`](crate::SHUTDOWN_ACK_GRACE) (0.5 s) after
    /// that (see [`FlushGuard`]); at most [`MAX_SHUTDOWN_TIMEOUT`]. It
    /// also bounds the flush at exit and at a panic.
    /// Defaults to [`DEFAULT_SHUTDOWN_TIMEOUT`].
    ///
    /// Example: [every setting at its default](Self#examples).
    pub fn with_shutdown_timeout(self, timeout: Duration) -> Self {
        Self {
            limits: Limits {
                shutdown_timeout: timeout,
                ..self.limits
            },
            ..self
        }
    }

    /// Writes every panic of this process into this pipeline as one FATAL
    /// record (message, `location`, `thread`), then waits at most the
    /// shutdown timeout for it and everything logged before it to be
    /// written, before the panic unwinds or aborts. The hook that was
    /// installed before is called after it. Off by default for `build`,
    /// on by default for [`init`](crate::init()) and [`Init`](crate::Init);
    /// see `docs/guarantees.md`, "Panics".
    pub fn with_panic_hook(self, on: bool) -> Self {
        Self {
            panic_hook: Some(on),
            ..self
        }
    }

    /// Also prints every record on stderr, as libdlt's
    /// `DLT_LOCAL_PRINT_MODE` does (on stdout there); overrides
    /// `$DLT_LOCAL_PRINT_MODE`, which decides otherwise (`FORCE_ON`,
    /// `FORCE_OFF`, `AUTOMATIC`; unset or anything else is off).
    ///
    /// [`Init`](crate::Init) composes the printer next to the layer; with
    /// your own registry, use
    /// [`build_with_local_print`](Self::build_with_local_print), since
    /// [`build`](Self::build) returns the DLT layer alone. See
    /// [`LocalPrint`] for what each mode prints and what it costs the
    /// calling thread.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use taktora_log::{DltLayer, Init, LocalPrint};
    ///
    /// let _logging = Init::new()
    ///     .with_dlt(DltLayer::builder("NAV").with_local_print(LocalPrint::On))
    ///     .init();
    /// tracing::info!("to the daemon and on stderr");
    /// ```
    pub fn with_local_print(self, mode: LocalPrint) -> Self {
        Self {
            local_print: Some(mode),
            ..self
        }
    }

    /// Turns the panic hook on unless the builder said otherwise.
    pub(crate) fn panic_hook_by_default(self) -> Self {
        Self {
            panic_hook: Some(self.panic_hook.unwrap_or(true)),
            ..self
        }
    }

    /// Sets which part of its span scope every event carries: nothing,
    /// each span's name, or each span's name and fields (see
    /// [`SpanScope`]). Defaults to [`SpanScope::NamesAndFields`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use taktora_log::{DltLayer, SpanScope};
    ///
    /// let (layer, guard) = DltLayer::builder("NAV")
    ///     .with_span_scope(SpanScope::Names) // span names, not their fields
    ///     .with_span_max_depth(4)            // the innermost 4 spans
    ///     .with_span_close_records(true)     // "NAME closed" with busy/idle time
    ///     .build()?;
    /// # drop((layer, guard));
    /// # Ok::<(), taktora_log::InitError>(())
    /// ```
    pub fn with_span_scope(self, scope: SpanScope) -> Self {
        Self {
            spans: SpanConfig {
                scope,
                ..self.spans
            },
            ..self
        }
    }

    /// As [`build`](Self::build), and also returns the stderr printer of
    /// [`with_local_print`](Self::with_local_print) /
    /// `$DLT_LOCAL_PRINT_MODE` (`None` when local print is off), for your
    /// own registry: add it as a layer beside the DLT layer (an `Option`
    /// of a layer is a layer).
    ///
    /// # Examples
    ///
    /// See [`LocalPrinter`].
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    pub fn build_with_local_print(
        self,
    ) -> Result<(DltLayer, Option<LocalPrinter>, FlushGuard), InitError> {
        let (layer, mut starter) = self.prepare()?;
        let printer = starter.take_local_print();
        Ok((layer, printer, starter.start()?))
    }

    /// Sets how many spans of an event's scope, counted from the
    /// innermost, travel with it; the outer ones are left out (this does
    /// not count as truncation). 1 to [`MAX_SPAN_DEPTH`]: anything else
    /// makes [`build`](Self::build) return
    /// [`InitErrorKind::InvalidConfig`]. Defaults to
    /// [`DEFAULT_SPAN_MAX_DEPTH`](crate::DEFAULT_SPAN_MAX_DEPTH).
    /// Example: [`with_span_scope`](Self::with_span_scope).
    pub fn with_span_max_depth(self, depth: usize) -> Self {
        Self {
            spans: SpanConfig {
                max_depth: depth,
                ..self.spans
            },
            ..self
        }
    }

    /// Sends one record when a span closes: `"NAME closed"`, the span's
    /// name and fields, then its busy and idle time in microseconds
    /// ([`CLOSE_BUSY_FIELD`](crate::CLOSE_BUSY_FIELD),
    /// [`CLOSE_IDLE_FIELD`](crate::CLOSE_IDLE_FIELD)), at the span's
    /// level on the span's context. Off by default: it costs two clock
    /// reads per enter and exit of every span. Example:
    /// [`with_span_scope`](Self::with_span_scope).
    pub fn with_span_close_records(self, on: bool) -> Self {
        Self {
            spans: SpanConfig {
                close_records: on,
                ..self.spans
            },
            ..self
        }
    }

    /// Validates the configuration, creates the application FIFO, starts
    /// the flusher thread and returns the layer with its guard.
    ///
    /// No daemon is needed: without one, records wait in the offline ring
    /// and the flusher keeps trying to connect.
    ///
    /// # Errors
    ///
    /// - [`InitErrorKind::InvalidId`]: an application, context or ECU ID
    ///   is not 1–4 printable ASCII characters.
    /// - [`InitErrorKind::InvalidConfig`]: a description over 256 bytes, a
    ///   duplicate context ID or prefix, a mapping with an empty prefix,
    ///   the reserved context `TLOG`, a capacity or size of 0 or above its
    ///   maximum ([`MAX_CHANNEL_CAPACITY`], [`MAX_RING_CAPACITY`],
    ///   [`MAX_RING_BYTES`]), a frame size out of range, a zero or
    ///   inverted backoff, a backoff above [`MAX_RECONNECT_BACKOFF`] or a
    ///   shutdown timeout above [`MAX_SHUTDOWN_TIMEOUT`]; or another
    ///   pipeline of this process still uses the same pipe directory (the
    ///   daemon knows an application's FIFO by its process ID alone, so
    ///   there is one application per pipe directory per process).
    /// - [`InitErrorKind::Io`]: the application FIFO could not be created
    ///   in `<pipe dir>/dltpipes`, or the thread could not be spawned.
    ///
    /// See [the examples](Self#examples).
    pub fn build(self) -> Result<(DltLayer, FlushGuard), InitError> {
        let (layer, starter) = self.prepare()?;
        Ok((layer, starter.start()?))
    }

    /// Validates and wires everything but does not start the flusher.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), except for spawning the thread.
    pub(crate) fn prepare(self) -> Result<(DltLayer, Starter), InitError> {
        self.validate()?.wire()
    }

    /// Every check `build` documents, in one place: parses the IDs,
    /// checks descriptions, mappings and limits, and builds the context
    /// table with its initial levels. Touches nothing outside the process
    /// (it reads `$DLT_INITIAL_LOG_LEVEL` and `$DLT_PIPE_DIR`).
    ///
    /// # Errors
    ///
    /// [`InitErrorKind::InvalidId`] or [`InitErrorKind::InvalidConfig`],
    /// as listed on [`build`](Self::build).
    fn validate(self) -> Result<Validated, InitError> {
        let app = AppId::new(&self.app)
            .map_err(|e| InitError::id(format!("application ID {:?}", self.app), e))?;
        let ecu = EcuId::new(&self.ecu)
            .map_err(|e| InitError::id(format!("ECU ID {:?}", self.ecu), e))?;
        check_description("application", &self.app_description)?;
        let levels = Levels {
            env: match &self.initial_levels_spec {
                Some(spec) => InitialLevels::parse(spec),
                None => InitialLevels::from_env(),
            },
            app,
            level: self.initial_level.unwrap_or(LogLevel::Info),
            register: self
                .initial_level
                .map_or(RegisterLevel::NotSet, RegisterLevel::Level),
        };
        let contexts = self.context_table(&levels)?;
        self.limits.check()?;
        check_span_depth(self.spans.max_depth)?;
        Ok(Validated {
            dir: self.pipe_dir.unwrap_or_else(default_pipe_dir),
            app,
            app_description: self.app_description,
            ecu,
            contexts,
            initial_levels_ignored: levels.env.ignored(),
            limits: self.limits,
            panic_hook: self.panic_hook.unwrap_or(false),
            local_print: self.local_print.unwrap_or_else(LocalPrint::from_env),
            spans: self.spans,
        })
    }

    /// The default context, the diagnostic context and the mapped ones,
    /// each at its initial level.
    ///
    /// # Errors
    ///
    /// A bad context ID or description, the reserved `TLOG`, an empty or
    /// duplicate prefix, or a duplicate context ID.
    fn context_table(&self, levels: &Levels) -> Result<ContextTable, InitError> {
        let (def_id, def_desc) = &self.default_context;
        let default_id = ctx_id(def_id)?;
        check_description("default context", def_desc)?;
        if default_id == DIAGNOSTIC_CONTEXT {
            return Err(reserved());
        }
        let mut seen_ids = vec![default_id];
        let mut seen_prefixes: Vec<&str> = Vec::new();
        let mut mapped = Vec::with_capacity(self.mappings.len());
        for m in &self.mappings {
            let id = check_mapping(m, &seen_ids, &seen_prefixes)?;
            seen_prefixes.push(&m.prefix);
            seen_ids.push(id);
            mapped.push(levels.context(&m.prefix, id, &m.description));
        }
        // The diagnostic context always passes WARN: drop reports must not
        // be filtered away by a default level.
        let diagnostic = levels.context("", DIAGNOSTIC_CONTEXT, DIAGNOSTIC_DESCRIPTION);
        diagnostic.set_level(diagnostic.level().max(LogLevel::Warn));
        Ok(ContextTable::new(
            levels.context("", default_id, def_desc),
            diagnostic,
            mapped,
        ))
    }
}

/// The builder's sizes and timings, carried unchanged from the builder
/// through validation into the wiring.
#[derive(Debug, Clone, Copy)]
struct Limits {
    channel_capacity: usize,
    ring_capacity: usize,
    ring_bytes: usize,
    max_frame: usize,
    reconnect_initial: Duration,
    reconnect_max: Duration,
    shutdown_timeout: Duration,
    socket_send_buffer: Option<usize>,
    flusher_wake: FlusherWake,
}

impl Limits {
    /// Every default, as `DltLayerBuilder`'s docs list them.
    const DEFAULT: Self = Self {
        channel_capacity: DEFAULT_CHANNEL_CAPACITY,
        ring_capacity: DEFAULT_RING_CAPACITY,
        ring_bytes: DEFAULT_RING_BYTES,
        max_frame: FRAME_CAP,
        reconnect_initial: DEFAULT_RECONNECT_INITIAL,
        reconnect_max: DEFAULT_RECONNECT_MAX,
        shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        socket_send_buffer: None,
        flusher_wake: DEFAULT_FLUSHER_WAKE,
    };

    /// The capacity, frame-size and backoff checks.
    ///
    /// # Errors
    ///
    /// [`InitErrorKind::InvalidConfig`] naming the value out of range.
    fn check(&self) -> Result<(), InitError> {
        if self.channel_capacity == 0 {
            return Err(config("the channel capacity must be at least 1"));
        }
        if self.ring_capacity == 0 {
            return Err(config("the ring capacity must be at least 1"));
        }
        self.check_maxima()?;
        self.flusher_wake.check().map_err(config)?;
        if self.ring_bytes < FRAME_CAP {
            return Err(config(format!(
                "the ring must have at least {FRAME_CAP} bytes (one largest frame), not {}",
                self.ring_bytes
            )));
        }
        if !(MIN_FRAME_LIMIT..=FRAME_CAP).contains(&self.max_frame) {
            return Err(config(format!(
                "the largest frame must be {MIN_FRAME_LIMIT} to {FRAME_CAP} bytes, not {}",
                self.max_frame
            )));
        }
        if self.reconnect_initial.is_zero() || self.reconnect_max < self.reconnect_initial {
            return Err(config(format!(
                "the reconnect backoff must start above 0 and not exceed its maximum ({:?} to {:?})",
                self.reconnect_initial, self.reconnect_max
            )));
        }
        Ok(())
    }

    /// Every size and timing against its documented maximum.
    ///
    /// # Errors
    ///
    /// [`InitErrorKind::InvalidConfig`] naming the option, the value and
    /// the limit.
    fn check_maxima(&self) -> Result<(), InitError> {
        above_max(
            "with_channel_capacity",
            self.channel_capacity,
            MAX_CHANNEL_CAPACITY,
            "MAX_CHANNEL_CAPACITY",
        )?;
        above_max(
            "with_ring_capacity",
            self.ring_capacity,
            MAX_RING_CAPACITY,
            "MAX_RING_CAPACITY",
        )?;
        above_max(
            "with_ring_bytes",
            self.ring_bytes,
            MAX_RING_BYTES,
            "MAX_RING_BYTES",
        )?;
        above_max(
            "with_reconnect_backoff (maximum)",
            self.reconnect_max,
            MAX_RECONNECT_BACKOFF,
            "MAX_RECONNECT_BACKOFF",
        )?;
        if let Some(bytes) = self.socket_send_buffer {
            above_max(
                "with_socket_send_buffer",
                bytes,
                MAX_SOCKET_SEND_BUFFER,
                "MAX_SOCKET_SEND_BUFFER",
            )?;
        }
        above_max(
            "with_shutdown_timeout",
            self.shutdown_timeout,
            MAX_SHUTDOWN_TIMEOUT,
            "MAX_SHUTDOWN_TIMEOUT",
        )?;
        Ok(())
    }
}

/// The span depth is 1 to [`MAX_SPAN_DEPTH`].
///
/// # Errors
///
/// [`InitErrorKind::InvalidConfig`] naming the option, the value and the
/// range.
fn check_span_depth(depth: usize) -> Result<(), InitError> {
    if depth == 0 {
        return Err(config(
            "with_span_max_depth(0): the span depth must be at least 1 (turn the scope off with with_span_scope(SpanScope::Off))",
        ));
    }
    above_max(
        "with_span_max_depth",
        depth,
        MAX_SPAN_DEPTH,
        "MAX_SPAN_DEPTH",
    )
}

/// An error when `value` of `option` is above `max` (the constant `name`).
///
/// # Errors
///
/// [`InitErrorKind::InvalidConfig`] naming the option, the value and the
/// limit.
fn above_max<T: PartialOrd + std::fmt::Debug>(
    option: &str,
    value: T,
    max: T,
    name: &str,
) -> Result<(), InitError> {
    if value > max {
        return Err(config(format!(
            "{option}: {value:?} is above the maximum {max:?} ({name})"
        )));
    }
    Ok(())
}

/// What `validate` produced: a configuration every check accepted. Only
/// [`wire`](Self::wire) touches the operating system.
#[derive(Debug)]
struct Validated {
    dir: PathBuf,
    app: AppId,
    app_description: String,
    ecu: EcuId,
    contexts: ContextTable,
    /// Malformed `DLT_INITIAL_LOG_LEVEL` items, for the counters.
    initial_levels_ignored: usize,
    limits: Limits,
    panic_hook: bool,
    local_print: LocalPrint,
    spans: SpanConfig,
}

impl Validated {
    /// Creates the application FIFO and the channel, and assembles the
    /// layer and the flusher's configuration; the flusher does not run
    /// yet.
    ///
    /// # Errors
    ///
    /// [`InitErrorKind::Io`] when the application FIFO cannot be created.
    fn wire(self) -> Result<(DltLayer, Starter), InitError> {
        process::install();
        let claim = claim_pipe_dir(&self.dir)?;
        let app_fifo = create_app_fifo(&self.dir)?;
        let counters = Arc::new(Counters::new());
        counters
            .initial_levels_ignored
            .store(self.initial_levels_ignored as u64, Relaxed);
        let contexts = Arc::new(self.contexts);
        let (mut producer, ctl, mut ends) =
            channel::channel(self.limits.channel_capacity, counters.clone());
        ends.hold(claim);
        let cfg = flusher::Config {
            dir: self.dir,
            app: self.app,
            app_description: self.app_description,
            ecu: self.ecu,
            contexts: contexts.clone(),
            ring_capacity: self.limits.ring_capacity,
            ring_bytes: self.limits.ring_bytes,
            reconnect_initial: self.limits.reconnect_initial,
            reconnect_max: self.limits.reconnect_max,
            socket_send_buffer: self.limits.socket_send_buffer,
            wake: self.limits.flusher_wake,
        };
        let recipe = recipe(&cfg, &self.limits, self.panic_hook);
        let respawn = Arc::new(Respawn::new(recipe.clone()));
        producer.set_respawn(respawn.clone());
        let local_print = LocalPrinter::new(
            self.local_print,
            contexts.clone(),
            self.app,
            self.ecu,
            counters.clone(),
        );
        let starter = Starter {
            cfg,
            app_fifo,
            ends,
            ctl,
            counters: counters.clone(),
            producer: producer.clone(),
            recipe,
            respawn,
            local_print,
        };
        let layer = DltLayer::new(
            producer,
            contexts.clone(),
            counters.clone(),
            self.app,
            self.ecu,
            self.limits.max_frame,
            self.spans,
        );
        Ok((layer, starter))
    }
}

/// How a forked child rebuilds this pipeline for itself.
fn recipe(cfg: &flusher::Config, limits: &Limits, panic_hook: bool) -> Arc<Recipe> {
    Arc::new(Recipe {
        cfg: cfg.clone(),
        channel_capacity: limits.channel_capacity,
        shutdown_timeout: limits.shutdown_timeout,
        max_frame: limits.max_frame,
        panic_hook,
    })
}

/// Claims `dir` for this process's one application there.
///
/// # Errors
///
/// [`InitErrorKind::InvalidConfig`] when another live layer of this
/// process holds it.
fn claim_pipe_dir(dir: &Path) -> Result<claims::Claim, InitError> {
    claims::claim(dir).map_err(|dir| {
        config(format!(
            "the pipe directory {} is already used by another live DLT layer of this process; \
             the daemon knows an application's FIFO by its process ID, so a process has one \
             application per pipe directory (drop the other layer's guard first)",
            dir.display()
        ))
    })
}

/// Creates this process's application FIFO in `dir/dltpipes`.
///
/// # Errors
///
/// [`InitErrorKind::Io`] naming the directory.
fn create_app_fifo(dir: &Path) -> Result<AppFifo, InitError> {
    AppFifo::create(dir, std::process::id()).map_err(|e| {
        let fifo_dir = dir.join("dltpipes");
        InitError::io(
            format!("creating the application FIFO in {}", fifo_dir.display()),
            e,
        )
    })
}

/// How contexts start: `DLT_INITIAL_LOG_LEVEL`'s items over the builder's
/// initial level.
#[derive(Debug)]
struct Levels {
    env: InitialLevels,
    app: AppId,
    /// The builder's starting level (INFO unless configured).
    level: LogLevel,
    /// The builder's registered level ("not set" unless configured).
    register: RegisterLevel,
}

impl Levels {
    /// A context of this application, at its initial level.
    fn context(&self, prefix: &str, id: CtxId, description: &str) -> Context {
        let (level, register) = self.env.apply(self.app, id, self.level, self.register);
        Context::new(prefix.into(), id, description.into(), level, register)
    }
}

/// `$DLT_PIPE_DIR` if set and not empty, else [`DEFAULT_PIPE_DIR`].
fn default_pipe_dir() -> PathBuf {
    std::env::var_os("DLT_PIPE_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_PIPE_DIR), PathBuf::from)
}

/// Checks one target mapping against those before it and returns its
/// context ID.
///
/// # Errors
///
/// A bad ID or description, the reserved `TLOG`, an empty or duplicate
/// prefix, or a context ID already used.
fn check_mapping(
    m: &Mapping,
    seen_ids: &[CtxId],
    seen_prefixes: &[&str],
) -> Result<CtxId, InitError> {
    let id = ctx_id(&m.id)?;
    if id == DIAGNOSTIC_CONTEXT {
        return Err(reserved());
    }
    check_description("context", &m.description)?;
    if m.prefix.is_empty() {
        return Err(config(format!(
            "context {:?} has an empty target prefix; use with_default_context for the fallback",
            m.id
        )));
    }
    if seen_prefixes.contains(&m.prefix.as_str()) {
        return Err(config(format!(
            "target prefix {:?} is mapped twice",
            m.prefix
        )));
    }
    if seen_ids.contains(&id) {
        return Err(config(format!("context ID {:?} is used twice", m.id)));
    }
    Ok(id)
}

/// A validated, wired pipeline whose flusher thread has not started yet:
/// nothing has talked to the daemon. Records logged through the layer
/// meanwhile wait in the channel.
#[derive(Debug)]
pub(crate) struct Starter {
    cfg: flusher::Config,
    app_fifo: AppFifo,
    ends: channel::FlusherEnds,
    ctl: channel::ControlHandle,
    counters: Arc<Counters>,
    /// For the exit handler and the panic hook.
    producer: channel::Producer,
    recipe: Arc<Recipe>,
    respawn: Arc<Respawn>,
    /// The stderr printer, when local print is on.
    local_print: Option<LocalPrinter>,
}

impl Starter {
    /// Takes the stderr printer (when local print is on), to compose it
    /// next to the layer.
    pub(crate) fn take_local_print(&mut self) -> Option<LocalPrinter> {
        self.local_print.take()
    }

    /// Starts the flusher thread.
    ///
    /// # Errors
    ///
    /// [`InitErrorKind::Io`] when the thread cannot be spawned.
    pub(crate) fn start(self) -> Result<FlushGuard, InitError> {
        let ticket = live::register(Live {
            pid: process::pid(),
            producer: self.producer,
            ctl: self.ctl.clone(),
            counters: self.counters.clone(),
            recipe: self.recipe.clone(),
        });
        if self.recipe.panic_hook {
            process::panic::install_hook();
        }
        let handle = match flusher::spawn(self.cfg, self.app_fifo, self.ends, self.counters.clone())
        {
            Ok(h) => h,
            Err(e) => {
                ticket.withdraw();
                return Err(InitError::io("spawning the flusher thread", e));
            }
        };
        Ok(FlushGuard::new(
            self.ctl,
            handle,
            self.counters,
            self.recipe.shutdown_timeout,
            self.respawn,
            ticket,
        ))
    }
}

fn ctx_id(s: &str) -> Result<CtxId, InitError> {
    CtxId::new(s).map_err(|e| InitError::id(format!("context ID {s:?}"), e))
}

fn config(msg: impl Into<String>) -> InitError {
    InitError::new(InitErrorKind::InvalidConfig, msg)
}

fn reserved() -> InitError {
    config(format!(
        "context ID {DIAGNOSTIC_CONTEXT} is reserved for the logger's own diagnostics"
    ))
}

fn check_description(what: &str, d: &str) -> Result<(), InitError> {
    if d.len() > MAX_DESCRIPTION_LEN {
        return Err(config(format!(
            "the {what} description is {} bytes; DLT allows at most {MAX_DESCRIPTION_LEN}",
            d.len()
        )));
    }
    Ok(())
}

impl DltLayerBuilder {
    /// Uses `spec` instead of `$DLT_INITIAL_LOG_LEVEL` (tests only: the
    /// environment is shared by all tests of a process).
    #[cfg(test)]
    pub(crate) fn with_initial_levels_spec(self, spec: &str) -> Self {
        Self {
            initial_levels_spec: Some(spec.into()),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_log_levels_set_start_and_registered_levels() {
        let dir = tempfile_dir("levels");
        let (_layer, starter) = DltLayer::builder("NAV")
            .with_pipe_dir(&dir)
            .with_context("nav::route", "ROUT", "")
            .with_context("nav::map", "MAP", "")
            .with_context("hmi", "HMI", "")
            .with_initial_level(LogLevel::Warn)
            .with_initial_levels_spec("NAV:ROUT:debug;:MAP:0;NAV:HMI:-1;bad;OTHR::6")
            .prepare()
            .expect("prepare");
        let got: Vec<(String, LogLevel, i8)> = starter
            .cfg
            .contexts
            .iter()
            .map(|c| (c.id.to_string(), c.level(), c.register_level.wire()))
            .collect();
        let want = [
            ("DFLT", LogLevel::Warn, 3),
            ("TLOG", LogLevel::Warn, 3),
            ("ROUT", LogLevel::Debug, 5),
            ("MAP", LogLevel::Off, 0),
            ("HMI", LogLevel::Warn, -1),
        ];
        let want: Vec<(String, LogLevel, i8)> = want
            .iter()
            .map(|&(id, l, r)| (id.to_string(), l, r))
            .collect();
        assert_eq!(got, want);
        // One application per pipe directory: release it for the next.
        drop(starter);

        // Without the builder's level, unmatched contexts stay "not set".
        let (layer, starter) = DltLayer::builder("NAV")
            .with_pipe_dir(&dir)
            .with_initial_levels_spec("::garbage;NAV:DFLT:fatal")
            .prepare()
            .expect("prepare");
        assert_eq!(layer.stats().initial_levels_ignored, 1, "::garbage");
        let got: Vec<(LogLevel, RegisterLevel)> = starter
            .cfg
            .contexts
            .iter()
            .map(|c| (c.level(), c.register_level))
            .collect();
        assert_eq!(
            got,
            [
                (LogLevel::Fatal, RegisterLevel::Level(LogLevel::Fatal)),
                (LogLevel::Info, RegisterLevel::NotSet)
            ]
        );
        drop(starter);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn typed_ids_and_strings_configure_the_same_contexts() {
        let dir = tempfile_dir("typed-ids");
        let app = AppId::new("NAV").expect("valid");
        let route = CtxId::new("ROUT").expect("valid");
        let main = CtxId::new("MAIN").expect("valid");
        let route_text = String::from("ROUT");
        let typed = DltLayer::builder(app)
            .with_pipe_dir(&dir)
            .with_default_context(main, "main")
            .with_context("nav::route", route, "Route planning")
            .with_ecu_id(EcuId::new("ECU7").expect("valid"));
        let strings = DltLayer::builder("NAV")
            .with_pipe_dir(&dir)
            .with_default_context(String::from("MAIN"), "main")
            .with_context("nav::route", &route_text, "Route planning")
            .with_ecu_id("ECU7");
        let ids = |b: DltLayerBuilder| {
            let (_layer, starter) = b.prepare().expect("prepare");
            let ctxs: Vec<String> = starter
                .cfg
                .contexts
                .iter()
                .map(|c| c.id.to_string())
                .collect();
            (starter.cfg.app, starter.cfg.ecu, ctxs)
        };
        let want = (
            app,
            EcuId::new("ECU7").expect("valid"),
            vec![main.to_string(), "TLOG".into(), route_text],
        );
        assert_eq!(ids(typed), want, "typed IDs");
        assert_eq!(ids(strings), want, "strings");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("taktora-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create test dir");
        dir
    }

    fn err(b: DltLayerBuilder) -> InitError {
        match b.build() {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_configuration_is_a_clear_error_not_a_panic() {
        let dir = std::env::temp_dir();
        let b = || DltLayer::builder("APP").with_pipe_dir(&dir);
        let cases: Vec<(DltLayerBuilder, InitErrorKind, &str)> = vec![
            (
                DltLayer::builder("TOOLONG"),
                InitErrorKind::InvalidId,
                "application ID \"TOOLONG\"",
            ),
            (
                DltLayer::builder(""),
                InitErrorKind::InvalidId,
                "application ID \"\"",
            ),
            (b().with_ecu_id("E C"), InitErrorKind::InvalidId, "ECU ID"),
            (
                b().with_context("a", "BAD!!", "x"),
                InitErrorKind::InvalidId,
                "context ID \"BAD!!\"",
            ),
            (
                b().with_context("a", "TLOG", "x"),
                InitErrorKind::InvalidConfig,
                "reserved",
            ),
            (
                b().with_default_context("TLOG", "x"),
                InitErrorKind::InvalidConfig,
                "reserved",
            ),
            (
                b().with_context("", "X", "x"),
                InitErrorKind::InvalidConfig,
                "empty target prefix",
            ),
            (
                b().with_context("a", "X", "x").with_context("a", "Y", "y"),
                InitErrorKind::InvalidConfig,
                "mapped twice",
            ),
            (
                b().with_context("a", "X", "x").with_context("b", "X", "y"),
                InitErrorKind::InvalidConfig,
                "used twice",
            ),
            (
                b().with_context("a", "DFLT", "x"),
                InitErrorKind::InvalidConfig,
                "used twice",
            ),
            (
                b().with_channel_capacity(0),
                InitErrorKind::InvalidConfig,
                "channel capacity",
            ),
            (
                b().with_ring_capacity(0),
                InitErrorKind::InvalidConfig,
                "ring capacity",
            ),
            (
                b().with_ring_bytes(FRAME_CAP - 1),
                InitErrorKind::InvalidConfig,
                "at least 1424 bytes",
            ),
            (
                b().with_max_frame(FRAME_CAP + 1),
                InitErrorKind::InvalidConfig,
                "largest frame",
            ),
            (
                b().with_max_frame(0),
                InitErrorKind::InvalidConfig,
                "largest frame",
            ),
            (
                b().with_app_description(&"x".repeat(257)),
                InitErrorKind::InvalidConfig,
                "257 bytes",
            ),
            (
                b().with_reconnect_backoff(Duration::ZERO, Duration::ZERO),
                InitErrorKind::InvalidConfig,
                "backoff",
            ),
            (
                DltLayer::builder("APP").with_pipe_dir("/nonexistent/taktora"),
                InitErrorKind::Io,
                "creating the application FIFO in /nonexistent/taktora/dltpipes",
            ),
        ];
        for (builder, kind, needle) in cases {
            let e = err(builder);
            assert_eq!(e.kind(), kind, "{e}");
            assert!(
                e.to_string().contains(needle),
                "{e:?} should mention {needle:?}"
            );
        }
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;
    use proptest::prelude::*;

    fn dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("taktora-limits-")
            .tempdir()
            .expect("temp dir")
    }

    fn err(b: DltLayerBuilder) -> InitError {
        match b.build() {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_span_depth_outside_1_to_max_is_an_error_naming_it_and_the_edges_build() {
        let d = dir();
        let b = || DltLayer::builder("DEEP").with_pipe_dir(d.path());
        let e = err(b().with_span_max_depth(0));
        assert_eq!(e.kind(), InitErrorKind::InvalidConfig);
        assert!(e.to_string().contains("with_span_max_depth(0)"), "{e}");
        let e = err(b().with_span_max_depth(MAX_SPAN_DEPTH + 1));
        assert_eq!(
            e.to_string(),
            "with_span_max_depth: 33 is above the maximum 32 (MAX_SPAN_DEPTH)"
        );
        for depth in [1, MAX_SPAN_DEPTH] {
            let (_, guard) = b().with_span_max_depth(depth).build().expect("in range");
            drop(guard);
        }
    }

    #[test]
    fn every_size_above_its_maximum_is_an_error_naming_option_value_and_limit() {
        let d = dir();
        let b = || DltLayer::builder("LIM").with_pipe_dir(d.path());
        let hour = Duration::from_secs(3600);
        let cases: Vec<(DltLayerBuilder, String)> = vec![
            (
                b().with_channel_capacity(usize::MAX),
                format!("with_channel_capacity: {} is above the maximum 65536 (MAX_CHANNEL_CAPACITY)", usize::MAX),
            ),
            (
                b().with_channel_capacity(1 << 30),
                "with_channel_capacity: 1073741824 is above the maximum 65536".into(),
            ),
            (
                b().with_ring_capacity(usize::MAX),
                format!("with_ring_capacity: {} is above the maximum 1048576 (MAX_RING_CAPACITY)", usize::MAX),
            ),
            (
                b().with_ring_bytes(MAX_RING_BYTES + 1),
                "with_ring_bytes: 268435457 is above the maximum 268435456 (MAX_RING_BYTES)".into(),
            ),
            (
                b().with_reconnect_backoff(Duration::from_millis(1), Duration::MAX),
                "with_reconnect_backoff (maximum): 18446744073709551615.999999999s is above the maximum 3600s (MAX_RECONNECT_BACKOFF)".into(),
            ),
            (
                b().with_socket_send_buffer(usize::MAX),
                format!("with_socket_send_buffer: {} is above the maximum 1073741824 (MAX_SOCKET_SEND_BUFFER)", usize::MAX),
            ),
            (
                b().with_shutdown_timeout(hour + Duration::from_nanos(1)),
                "with_shutdown_timeout: 3600.000000001s is above the maximum 3600s (MAX_SHUTDOWN_TIMEOUT)".into(),
            ),
        ];
        for (builder, want) in cases {
            let e = err(builder);
            assert_eq!(e.kind(), InitErrorKind::InvalidConfig, "{e}");
            assert!(e.to_string().contains(&want), "{e} should say {want:?}");
        }
        // The maxima themselves are accepted.
        let (_layer, guard) = b()
            .with_ring_capacity(MAX_RING_CAPACITY)
            .with_ring_bytes(MAX_RING_BYTES)
            .with_reconnect_backoff(MAX_RECONNECT_BACKOFF, MAX_RECONNECT_BACKOFF)
            .with_shutdown_timeout(Duration::from_millis(100))
            .build()
            .expect("the maxima build");
        drop(guard);
    }

    #[test]
    fn a_second_live_layer_on_one_pipe_directory_is_an_error_until_the_first_is_gone() {
        let d = dir();
        let b = || {
            DltLayer::builder("ONE")
                .with_pipe_dir(d.path())
                .with_shutdown_timeout(Duration::from_millis(100))
        };
        let (_first, guard) = b().build().expect("the first layer");
        let fifo = d.path().join(format!("dltpipes/dlt{}", std::process::id()));
        assert!(fifo.exists(), "the first layer's FIFO");
        let e = err(b());
        assert_eq!(e.kind(), InitErrorKind::InvalidConfig);
        assert!(
            e.to_string()
                .contains("is already used by another live DLT layer"),
            "{e}"
        );
        assert!(fifo.exists(), "the refused build left the first FIFO alone");
        // The same directory by another path is the same directory.
        let dotted = d.path().join(".");
        let e = err(DltLayer::builder("TWO").with_pipe_dir(&dotted));
        assert!(e.to_string().contains("already used"), "{e}");
        drop(guard);
        assert!(!fifo.exists(), "the guard removed its FIFO");
        let (_again, guard) = b().build().expect("free again once the guard is gone");
        drop(guard);
    }

    fn size() -> impl Strategy<Value = usize> {
        prop_oneof![
            6 => FRAME_CAP..=64 * 1024,
            2 => 0usize..4,
            2 => FRAME_CAP - 2..FRAME_CAP + 2,
            2 => MAX_CHANNEL_CAPACITY - 1..MAX_CHANNEL_CAPACITY + 2,
            2 => MAX_RING_CAPACITY - 1..MAX_RING_CAPACITY + 2,
            2 => MAX_RING_BYTES - 1..MAX_RING_BYTES + 2,
            1 => (usize::MAX - 2)..=usize::MAX,
            1 => any::<usize>(),
        ]
    }

    fn span_depth() -> impl Strategy<Value = usize> {
        prop_oneof![3 => 0..=MAX_SPAN_DEPTH + 1, 1 => size()]
    }

    fn frame_size() -> impl Strategy<Value = usize> {
        prop_oneof![3 => MIN_FRAME_LIMIT - 1..=FRAME_CAP + 1, 1 => size()]
    }

    fn id() -> impl Strategy<Value = String> {
        prop_oneof![3 => "[A-Z]{1,4}", 1 => text()]
    }

    /// Both modes, the poll at, inside and just outside its range.
    fn wake() -> impl Strategy<Value = FlusherWake> {
        prop_oneof![
            Just(FlusherWake::OnRecord),
            Just(FlusherWake::Poll(Duration::ZERO)),
            Just(FlusherWake::Poll(
                crate::MIN_IDLE_POLL - Duration::from_nanos(1)
            )),
            Just(FlusherWake::Poll(crate::MIN_IDLE_POLL)),
            (1u64..=100).prop_map(|ms| FlusherWake::Poll(Duration::from_millis(ms))),
            Just(FlusherWake::Poll(
                crate::MAX_IDLE_POLL + Duration::from_nanos(1)
            )),
            Just(FlusherWake::Poll(Duration::MAX)),
        ]
    }

    fn duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            Just(Duration::ZERO),
            (0u64..200).prop_map(Duration::from_millis),
            Just(MAX_SHUTDOWN_TIMEOUT),
            Just(MAX_SHUTDOWN_TIMEOUT + Duration::from_nanos(1)),
            Just(Duration::MAX),
            any::<(u64, u32)>().prop_map(|(s, n)| Duration::new(s, n % 1_000_000_000)),
        ]
    }

    fn backoff() -> impl Strategy<Value = (Duration, Duration)> {
        prop_oneof![
            3 => (1u64..100, 100u64..2000)
                .prop_map(|(a, b)| (Duration::from_millis(a), Duration::from_millis(b))),
            1 => (duration(), duration()),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,6}",
            ".{0,6}",
            (250usize..260).prop_map(|n| "d".repeat(n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever the options, `build` returns: a layer or an error,
        /// never a panic or an abort (an abort would end the test run).
        #[test]
        fn build_returns_for_any_value_of_every_option(
            (app, ecu, ctx, def_ctx) in (id(), id(), id(), id()),
            (desc, prefix, ctx_desc) in (text(), text(), text()),
            channel in size(), ring in size(), ring_bytes in size(), max_frame in frame_size(),
            backoff in backoff(), shutdown in duration(), sndbuf in size(),
            spans in (span_depth(), any::<bool>()), wake in wake(),
        ) {
            let d = dir();
            let b = DltLayer::builder(app.as_str())
                .with_flusher_wake(wake)
                .with_span_max_depth(spans.0)
                .with_span_close_records(spans.1)
                .with_socket_send_buffer(sndbuf)
                .with_pipe_dir(d.path())
                .with_app_description(&desc)
                .with_ecu_id(ecu.as_str())
                .with_default_context(def_ctx.as_str(), &desc)
                .with_context(&prefix, ctx.as_str(), &ctx_desc)
                .with_channel_capacity(channel)
                .with_ring_capacity(ring)
                .with_ring_bytes(ring_bytes)
                .with_max_frame(max_frame)
                .with_reconnect_backoff(backoff.0, backoff.1)
                // Keeps the drop short; the timeout itself is checked below.
                .with_shutdown_timeout(shutdown.min(Duration::from_millis(200)));
            match b.clone().build() {
                Ok((layer, guard)) => {
                    prop_assert!(channel <= MAX_CHANNEL_CAPACITY && ring <= MAX_RING_CAPACITY);
                    prop_assert!(ring_bytes <= MAX_RING_BYTES);
                    prop_assert_eq!(layer.stats().emitted, 0);
                    drop(guard);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            // The shutdown timeout as given, on a configuration otherwise valid.
            let r = DltLayer::builder("PROP")
                .with_pipe_dir(d.path())
                .with_shutdown_timeout(shutdown)
                .build();
            prop_assert_eq!(r.is_ok(), shutdown <= MAX_SHUTDOWN_TIMEOUT);
            if let Ok((_, guard)) = r {
                // A long timeout only matters with records left; none are.
                drop(guard);
            }
        }

        /// With valid IDs, `build` succeeds exactly when every size and
        /// timing is within its documented range.
        #[test]
        fn sizes_and_timings_build_exactly_when_within_their_documented_ranges(
            channel in size(), ring in size(), ring_bytes in size(), max_frame in frame_size(),
            backoff in backoff(), shutdown in duration(), sndbuf in size(),
            span_depth in span_depth(), wake in wake(),
        ) {
            let d = dir();
            let r = DltLayer::builder("SIZE")
                .with_flusher_wake(wake)
                .with_span_max_depth(span_depth)
                .with_socket_send_buffer(sndbuf)
                .with_pipe_dir(d.path())
                .with_channel_capacity(channel)
                .with_ring_capacity(ring)
                .with_ring_bytes(ring_bytes)
                .with_max_frame(max_frame)
                .with_reconnect_backoff(backoff.0, backoff.1)
                .with_shutdown_timeout(shutdown)
                .build();
            let within = (1..=MAX_CHANNEL_CAPACITY).contains(&channel)
                && (1..=MAX_RING_CAPACITY).contains(&ring)
                && (FRAME_CAP..=MAX_RING_BYTES).contains(&ring_bytes)
                && (MIN_FRAME_LIMIT..=FRAME_CAP).contains(&max_frame)
                && !backoff.0.is_zero()
                && backoff.0 <= backoff.1
                && backoff.1 <= MAX_RECONNECT_BACKOFF
                && shutdown <= MAX_SHUTDOWN_TIMEOUT
                && sndbuf <= MAX_SOCKET_SEND_BUFFER
                && (1..=MAX_SPAN_DEPTH).contains(&span_depth)
                && match wake {
                    FlusherWake::Poll(p) => (crate::MIN_IDLE_POLL..=crate::MAX_IDLE_POLL).contains(&p),
                    _ => true,
                };
            match r {
                Ok((_, guard)) => {
                    prop_assert!(within, "built out of range");
                    drop(guard);
                }
                Err(e) => prop_assert!(!within, "refused within range: {}", e),
            }
        }
    }
}
