//! The subscriber the integration tests log through: a layer filtered by
//! its own DLT levels as the thread's default, the `log` bridge, and a
//! flush that must complete.

use std::sync::Once;
use std::time::Duration;

use taktora_log::{DltLayer, FlushGuard};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Installs the `log` → `tracing` bridge once per process. `LogTracer`
/// dispatches to the thread's current default subscriber, so each test's
/// local subscriber sees its own `log` records.
///
/// # Panics
///
/// If another `log` logger was installed first.
pub fn init_log_tracer() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| tracing_log::LogTracer::init().expect("install LogTracer"));
}

/// Runs `f` with `layer` (filtered by its own DLT levels) as this thread's
/// default subscriber.
pub fn with_layer<R>(layer: DltLayer, f: impl FnOnce() -> R) -> R {
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(levels));
    tracing::subscriber::with_default(subscriber, f)
}

/// Flushes, waiting at most `timeout`.
///
/// # Panics
///
/// Unless everything logged so far was written, naming `what`.
pub fn flush_all(guard: &FlushGuard, what: &str, timeout: Duration) {
    let outcome = guard.flush(timeout);
    assert!(
        outcome.complete && outcome.pending == 0,
        "flushing {what} within {timeout:?}: {outcome:?}, stats {:?}",
        guard.stats()
    );
}

/// The callsite of [`DEBUG_PROBE`].
struct ProbeCallsite;

impl tracing::callsite::Callsite for ProbeCallsite {
    fn set_interest(&self, _: tracing::subscriber::Interest) {}

    fn metadata(&self) -> &tracing::Metadata<'_> {
        &DEBUG_PROBE
    }
}

static PROBE_CALLSITE: ProbeCallsite = ProbeCallsite;

/// A DEBUG event's metadata, as `tracing-log`'s `LogTracer` builds one
/// when it asks `enabled` about a `log` record with no event following
/// (`log::log_enabled!`): ask a subscriber with
/// `dispatcher::get_default(|d| d.enabled(&DEBUG_PROBE))`.
pub static DEBUG_PROBE: tracing::Metadata<'static> = tracing::Metadata::new(
    "probe",
    "layer_tests::probe",
    tracing::Level::DEBUG,
    None,
    None,
    None,
    tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&PROBE_CALLSITE)),
    tracing::metadata::Kind::EVENT,
);
