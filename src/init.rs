//! One-shot process-wide initialisation (REQ_0803, REQ_0804, REQ_0805,
//! REQ_0816): picks the backend by precedence, installs the `log` bridge,
//! and returns an [`InitGuard`].
//!
//! Precedence, in order:
//!
//! 1. `init` already ran in this process → `Err` of kind
//!    [`AlreadyInitialized`](crate::InitErrorKind::AlreadyInitialized);
//!    nothing is replaced.
//! 2. a global `tracing` subscriber or a `log` logger was installed by
//!    someone else → it is kept ([`Backend::PreExisting`]), nothing of
//!    theirs is touched; this holds even when a configured DLT layer's
//!    FIFO could not be created.
//! 3. a DLT layer was configured → a `Registry` with it is installed
//!    ([`Backend::Dlt`]).
//! 4. otherwise → the console fallback on stderr ([`Backend::Console`]).
//!
//! In every branch the `tracing_log::LogTracer` bridge is installed once,
//! unless a `log` logger already exists ([`LogBridge`] says which).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::builder::{DltLayerBuilder, Starter};
use crate::error::{ErrorChain, InitError, InitErrorKind};
use crate::guard::{FlushGuard, FlushOutcome};
use crate::ids::{AppId, IntoId};
use crate::stats::Stats;
use crate::{console, DltLayer};

/// Set by the first `try_init`; cleared again when it fails in a way
/// that leaves init retryable (see [`Init::try_init`]'s errors).
static INIT_RAN: AtomicBool = AtomicBool::new(false);

/// Set once our `LogTracer` is the process's `log` logger.
static BRIDGE_INSTALLED: AtomicBool = AtomicBool::new(false);

/// Which backend receives the process's `tracing` events.
///
/// See [`InitGuard`'s example](InitGuard#examples).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The DLT layer, in a `Registry` installed by `init`.
    Dlt,
    /// The console fallback on stderr.
    Console,
    /// A subscriber or `log` logger installed by someone else before
    /// `init`; it was kept and nothing was installed.
    PreExisting,
}

/// Whether the `log` → `tracing` bridge was installed.
///
/// See [`InitGuard`'s example](InitGuard#examples).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogBridge {
    /// `tracing_log::LogTracer` is the process's `log` logger: `log`
    /// records from any dependency reach the active backend.
    Installed,
    /// Another `log` logger was installed first; `log` records go to it,
    /// not through `tracing`. Init then installs no `tracing` subscriber
    /// either ([`Backend::PreExisting`]): `tracing` events reach only a
    /// subscriber the integrator installs, or, with `tracing`'s `log`
    /// feature and no subscriber, their logger as `log` records.
    LoggerAlreadySet,
}

/// Configures the one-shot process-wide initialisation.
///
/// # Examples
///
/// ```no_run
/// use taktora_log::{Backend, DltLayer, Init};
///
/// let logging = Init::new()
///     .with_dlt(DltLayer::builder("NAV").with_context("nav", "NAV", "navigation"))
///     .init();
/// assert_eq!(logging.backend(), Backend::Dlt);
/// tracing::info!("up");
/// ```
#[derive(Debug, Default)]
#[must_use = "nothing is installed until `init` or `try_init` is called"]
pub struct Init {
    dlt: Option<DltLayerBuilder>,
}

impl Init {
    /// An initialisation with no DLT layer: it installs the console
    /// fallback unless a subscriber or logger already exists.
    /// See [the example](Self#examples).
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses the DLT layer configured by `builder` as the backend.
    /// See [the example](Self#examples).
    pub fn with_dlt(self, builder: DltLayerBuilder) -> Self {
        Self { dlt: Some(builder) }
    }

    /// Installs the backend chosen by precedence (see the module docs)
    /// and the `log` bridge.
    ///
    /// # Errors
    ///
    /// - [`InitErrorKind::AlreadyInitialized`] when `init` already ran in
    ///   this process; the first backend keeps working.
    /// - [`InitErrorKind::InvalidId`] or [`InitErrorKind::InvalidConfig`]
    ///   from [`DltLayerBuilder::build`]'s checks: nothing global was
    ///   changed, and `try_init` may be called again.
    /// - [`InitErrorKind::Io`] when the application FIFO could not be
    ///   created and DLT would have been the backend; a pre-existing
    ///   subscriber or logger outranks DLT, so then the result is
    ///   [`Backend::PreExisting`] instead. Only the `log` bridge may have
    ///   been installed, and `try_init` may be called again. (The FIFO is
    ///   created even when a pre-existing subscriber or logger then wins,
    ///   and removed again.)
    /// - [`InitErrorKind::Io`] when the flusher thread cannot be spawned.
    ///   The bridge and the DLT layer are installed by then and stay
    ///   installed, and init counts as done (a retry is
    ///   [`InitErrorKind::AlreadyInitialized`]). Nothing reaches the
    ///   daemon: the application FIFO is removed, and every record, those
    ///   logged before the failure included, is dropped and counted in
    ///   [`Stats::dropped_no_flusher`], which only the layer's own
    ///   counters hold, since no guard is returned.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use taktora_log::{Backend, Init, InitErrorKind};
    ///
    /// // No DLT layer: the console fallback on stderr, filtered by RUST_LOG.
    /// let logging = Init::new().try_init()?;
    /// assert_eq!(logging.backend(), Backend::Console);
    /// // A second init is refused and changes nothing.
    /// let again = Init::new().try_init().map(|_| ()).unwrap_err();
    /// assert_eq!(again.kind(), InitErrorKind::AlreadyInitialized);
    /// # Ok::<(), taktora_log::InitError>(())
    /// ```
    pub fn try_init(self) -> Result<InitGuard, InitError> {
        if INIT_RAN.swap(true, Ordering::AcqRel) {
            return Err(InitError::new(
                InitErrorKind::AlreadyInitialized,
                "taktora-log is already initialised in this process; the first backend stays active",
            ));
        }
        // Validate and wire the DLT pipeline before touching any global
        // state; its flusher starts only once it is installed, so a
        // pre-existing subscriber never sees our application register.
        let prepared = match self
            .dlt
            .map(|b| b.panic_hook_by_default().prepare())
            .transpose()
        {
            Ok(p) => Ok(p),
            // A set-up failure (the FIFO) only matters if DLT would become
            // the backend: a pre-existing subscriber or logger outranks it.
            Err(e) if e.kind() == InitErrorKind::Io => Err(e),
            Err(e) => {
                INIT_RAN.store(false, Ordering::Release);
                return Err(e);
            }
        };
        let log_bridge = install_log_bridge();
        if log_bridge == LogBridge::LoggerAlreadySet {
            return Ok(InitGuard::new(Backend::PreExisting, log_bridge, None));
        }
        let prepared = match prepared {
            Ok(p) => p,
            Err(_) if tracing_core::dispatcher::has_been_set() => {
                return Ok(InitGuard::new(Backend::PreExisting, log_bridge, None));
            }
            Err(e) => {
                // Only our own bridge was installed; a retry reuses it.
                INIT_RAN.store(false, Ordering::Release);
                return Err(e);
            }
        };
        install_backend(prepared, log_bridge)
    }

    /// Like [`try_init`](Self::try_init), but panics on error.
    ///
    /// # Panics
    ///
    /// When [`try_init`](Self::try_init) returns an error: `init` already
    /// ran, the DLT configuration is invalid, or the DLT pipeline could
    /// not be set up while DLT was to be the backend.
    /// See [the example](Self#examples).
    pub fn init(self) -> InitGuard {
        match self.try_init() {
            Ok(g) => g,
            Err(e) => panic!("taktora_log::Init::init failed: {}", ErrorChain(&e)),
        }
    }
}

/// Installs the DLT layer (and its local printer) when `prepared`, else
/// the console fallback, and starts the flusher once the layer is the
/// global default; a subscriber set meanwhile by someone else wins.
///
/// # Errors
///
/// When the flusher thread cannot be started.
fn install_backend(
    prepared: Option<(DltLayer, Starter)>,
    log_bridge: LogBridge,
) -> Result<InitGuard, InitError> {
    match prepared {
        Some((layer, mut starter)) => {
            // Composed only when on.
            let installed = match starter.take_local_print() {
                Some(printer) => install(layer_with_levels(layer).and_then(printer)),
                None => install(layer_with_levels(layer)),
            };
            if !installed {
                return Ok(InitGuard::new(Backend::PreExisting, log_bridge, None));
            }
            let guard = starter.start()?;
            Ok(InitGuard::new(Backend::Dlt, log_bridge, Some(guard)))
        }
        None => {
            if !install(console::layer()) {
                return Ok(InitGuard::new(Backend::PreExisting, log_bridge, None));
            }
            Ok(InitGuard::new(Backend::Console, log_bridge, None))
        }
    }
}

/// Installs `tracing_log::LogTracer` as the `log` logger, once per
/// process: a retry after a failed `try_init` finds it already ours.
fn install_log_bridge() -> LogBridge {
    if BRIDGE_INSTALLED.load(Ordering::Acquire) {
        return LogBridge::Installed;
    }
    match tracing_log::LogTracer::init() {
        Ok(()) => {
            BRIDGE_INSTALLED.store(true, Ordering::Release);
            LogBridge::Installed
        }
        Err(_) => LogBridge::LoggerAlreadySet,
    }
}

/// The layer under its `DltLevels` as a global filter: DLT is this
/// registry's only output (the local printer applies the same levels
/// itself), so enabled callsites are cached as `always` and skip
/// `enabled` (see `DltLevels`'s `Layer` impl).
fn layer_with_levels(layer: DltLayer) -> impl Layer<tracing_subscriber::Registry> {
    layer.levels().and_then(layer)
}

/// Installs `layer` in a new global `Registry`; false when a global
/// subscriber already exists.
fn install<L>(layer: L) -> bool
where
    L: Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing_core::dispatcher::set_global_default(tracing_core::Dispatch::new(subscriber)).is_ok()
}

/// Initialises with a DLT layer for `app_id` with every other setting at
/// its default, as `Init::new().with_dlt(DltLayer::builder(app_id))`.
///
/// # Errors
///
/// As [`Init::try_init`].
///
/// # Examples
///
/// ```no_run
/// let _logging = taktora_log::try_init("NAV")?;
/// tracing::info!("up");
/// # Ok::<(), taktora_log::InitError>(())
/// ```
pub fn try_init(app_id: impl IntoId<AppId>) -> Result<InitGuard, InitError> {
    Init::new().with_dlt(DltLayer::builder(app_id)).try_init()
}

/// Like [`try_init`], but panics on error.
///
/// # Panics
///
/// When [`try_init`] returns an error: `init` already ran, `app_id` is
/// not 1–4 printable ASCII characters, or the application FIFO could not
/// be created (and no subscriber or logger was installed before).
///
/// # Examples
///
/// ```no_run
/// let _logging = taktora_log::init("NAV"); // keep it alive while logging
/// tracing::info!("up");
/// ```
///
/// `examples/init.rs` in the repository is the same as a program.
pub fn init(app_id: impl IntoId<AppId>) -> InitGuard {
    Init::new().with_dlt(DltLayer::builder(app_id)).init()
}

// === impl InitGuard ===

/// What [`Init`] installed. For the DLT backend it owns the flusher, like
/// a [`FlushGuard`]: keep it alive while logging; dropping it flushes with
/// a bounded timeout and unregisters from the daemon.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use taktora_log::{Backend, LogBridge};
///
/// let logging = taktora_log::init("NAV");
/// assert_eq!(logging.backend(), Backend::Dlt);
/// assert_eq!(logging.log_bridge(), LogBridge::Installed);
/// tracing::info!("up");
/// let outcome = logging.flush(Duration::from_secs(1));
/// println!("written {}, pending {}", outcome.written, outcome.pending);
/// if let Some(stats) = logging.stats() {
///     println!("dropped {}", stats.dropped_queue_full + stats.dropped_ring_full);
/// }
/// assert!(logging.dlt().is_some(), "the DLT backend owns a flusher");
/// ```
#[must_use = "dropping the guard stops the DLT flusher: keep it alive while logging"]
pub struct InitGuard {
    backend: Backend,
    log_bridge: LogBridge,
    dlt: Option<FlushGuard>,
}

impl fmt::Debug for InitGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitGuard")
            .field("backend", &self.backend)
            .field("log_bridge", &self.log_bridge)
            .finish_non_exhaustive()
    }
}

impl InitGuard {
    fn new(backend: Backend, log_bridge: LogBridge, dlt: Option<FlushGuard>) -> Self {
        Self {
            backend,
            log_bridge,
            dlt,
        }
    }

    /// The backend that receives events.
    /// See [the example](Self#examples).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the `log` bridge was installed.
    /// See [the example](Self#examples).
    pub fn log_bridge(&self) -> LogBridge {
        self.log_bridge
    }

    /// The DLT flusher's guard, for the DLT backend.
    /// See [the example](Self#examples).
    pub fn dlt(&self) -> Option<&FlushGuard> {
        self.dlt.as_ref()
    }

    /// Flushes the DLT backend (see [`FlushGuard::flush`]); other backends
    /// write synchronously, so for them this is immediately complete.
    /// See [the example](Self#examples).
    pub fn flush(&self, timeout: Duration) -> FlushOutcome {
        match &self.dlt {
            Some(g) => g.flush(timeout),
            None => FlushOutcome {
                complete: true,
                written: 0,
                pending: 0,
            },
        }
    }

    /// The DLT pipeline's counters, for the DLT backend.
    /// See [the example](Self#examples).
    pub fn stats(&self) -> Option<Stats> {
        self.dlt.as_ref().map(FlushGuard::stats)
    }
}
