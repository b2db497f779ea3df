//! `DltLevels` as a global filter, the composition `init` installs
//! (`registry().with(levels).with(layer)`): enabled callsites are cached
//! as `always`, so an enabled event costs no `enabled` call; what DLT
//! disables is disabled for the whole subscriber; and a "no" from a
//! dynamic `enabled` check does not drop the next event (the per-layer
//! filter's tokio-rs/tracing#2519, which has no thread-local to go stale
//! here).
//!
//! One test in its own binary on purpose: `tracing` combines a callsite's
//! interest over every live dispatcher of the process, and another test's
//! per-layer-filtered dispatcher would make every callsite `sometimes`.
//! No daemon needed: `Stats::emitted` counts what the layer accepted.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use layer_tests::DEBUG_PROBE;
use taktora_log::DltLayer;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Counts `enabled` calls for events and the events it sees.
#[derive(Clone, Default)]
struct Probe {
    enabled_calls: Arc<AtomicUsize>,
    events: Arc<AtomicUsize>,
}

impl<S: Subscriber> Layer<S> for Probe {
    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        if meta.is_event() {
            self.enabled_calls.fetch_add(1, Relaxed);
        }
        true
    }

    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        self.events.fetch_add(1, Relaxed);
    }
}

const EVENTS: usize = 100;

#[test]
fn the_global_filter_caches_enabled_callsites_as_always_and_disables_for_all_layers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (layer, guard) = DltLayer::builder("GLOB")
        .with_pipe_dir(dir.path())
        .with_shutdown_timeout(Duration::from_millis(50))
        .build()
        .expect("build the layer");
    let probe = Probe::default();
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry()
        .with(levels)
        .with(layer.clone())
        .with(probe.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    for i in 0..EVENTS {
        tracing::error!(i, "enabled at the default level INFO");
    }
    assert_eq!(layer.stats().emitted, EVENTS as u64);
    assert_eq!(probe.events.load(Relaxed), EVENTS);
    assert!(
        probe.enabled_calls.load(Relaxed) <= 1,
        "an `always` callsite is not asked again: {} enabled calls for {EVENTS} events",
        probe.enabled_calls.load(Relaxed)
    );

    // DEBUG on a context at INFO: disabled for every layer, the probe too.
    for i in 0..EVENTS {
        tracing::debug!(i, "disabled by the DLT level");
    }
    assert_eq!(layer.stats().emitted, EVENTS as u64);
    assert_eq!(probe.events.load(Relaxed), EVENTS, "globally disabled");

    // A dynamic check answered "no", then an event on an `always`
    // callsite: it still arrives (tokio-rs/tracing#2519 cannot happen).
    for round in 0..3u64 {
        let before = layer.stats().emitted;
        let asked = tracing::dispatcher::get_default(|d| d.enabled(&DEBUG_PROBE));
        assert!(!asked, "DEBUG is disabled at INFO");
        tracing::info!(round, "after a disabled check");
        assert_eq!(layer.stats().emitted, before + 1, "round {round}");
    }
    drop(guard);
}
