//! REQ_0804 (and REQ_0805), precedence branch 2a: an integrator installed their own global
//! `tracing` subscriber first. Init keeps it (`Backend::PreExisting`),
//! still installs the `log` bridge (`LogBridge::Installed`), so both
//! `tracing` events and `log` records reach *their* subscriber, and
//! nothing reaches DLT even though a DLT layer was configured. Its own
//! binary: global state can be set only once.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use layer_tests::{require_dlt_tools, speak_py, PrivateDaemon, Receiver};
use taktora_log::{Backend, DltLayer, Init, LogBridge};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(20);

/// One event as the integrator's layer saw it.
#[derive(Debug, Clone)]
struct Seen {
    level: tracing::Level,
    target: String,
    /// `name=value` for every field, `message` included; `log` records
    /// carry their real target in `log.target`.
    fields: Vec<String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
    }
}

/// The integrator's own layer: collects every event.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Seen>>>);

impl Collector {
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().expect("collector lock").clone()
    }
}

struct Fields<'a>(&'a mut Vec<String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
}

impl<S: Subscriber> Layer<S> for Collector {
    fn on_event(&self, event: &Event<'_>, _cx: Context<'_, S>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().expect("collector lock").push(Seen {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
        });
    }
}

#[test]
fn req_0804_pre_existing_subscriber_is_kept_and_gets_tracing_and_log_records() {
    // The daemon is only needed to show that nothing reaches DLT; the
    // rest of the test runs without it.
    let daemon = require_dlt_tools().then(|| PrivateDaemon::start().expect("start dlt-daemon"));
    let receiver = daemon
        .as_ref()
        .map(|d| Receiver::start(d.port()).expect("start dlt-receive"));
    let scratch = tempfile::tempdir().expect("temp pipe dir");
    let pipe_dir = daemon.as_ref().map_or(scratch.path(), |d| d.dir());

    let collector = Collector::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(collector.clone()))
        .expect("the integrator's subscriber is the first");

    let guard = Init::new()
        .with_dlt(
            DltLayer::builder("PREX")
                .with_pipe_dir(pipe_dir)
                .with_default_context("MAIN", "test main"),
        )
        .try_init()
        .expect("a pre-existing subscriber is a success, not an error");
    assert_eq!(guard.backend(), Backend::PreExisting);
    assert_eq!(guard.log_bridge(), LogBridge::Installed);
    assert!(guard.dlt().is_none(), "no DLT pipeline was started");
    assert!(guard.stats().is_none());

    tracing::info!(target: "prex::app", answer = 42u32, "traced into their subscriber");
    log::warn!(target: "prex::dep", "logged into their subscriber");
    assert!(guard.flush(ARRIVAL).complete, "nothing to flush");

    let seen = collector.seen();
    let traced = seen
        .iter()
        .find(|s| s.field("message") == Some("traced into their subscriber"))
        .unwrap_or_else(|| panic!("tracing event reached the collector: {seen:#?}"));
    assert_eq!(traced.level, tracing::Level::INFO);
    assert_eq!(traced.target, "prex::app");
    assert_eq!(traced.field("answer"), Some("42"), "{traced:?}");
    let bridged = seen
        .iter()
        .find(|s| s.field("message") == Some("logged into their subscriber"))
        .unwrap_or_else(|| panic!("log record reached the collector via the bridge: {seen:#?}"));
    assert_eq!(bridged.level, tracing::Level::WARN);
    assert_eq!(
        bridged.field("log.target"),
        Some("prex::dep"),
        "{bridged:?}"
    );

    // No application FIFO is left behind: the DLT pipeline prepared for
    // the builder was dropped unstarted.
    let app_fifo = pipe_dir
        .join("dltpipes")
        .join(format!("dlt{}", std::process::id()));
    assert!(!app_fifo.exists(), "{} removed", app_fifo.display());

    if let (Some(daemon), Some(receiver)) = (daemon.as_ref(), receiver.as_ref()) {
        // Another application's messages, sent after ours, are the
        // barrier: once they arrived, anything we had sent would have too.
        let out = std::process::Command::new("python3")
            .arg(speak_py())
            .env("DLT_PIPE_DIR", daemon.dir())
            .output()
            .expect("run speak.py");
        assert!(
            out.status.success(),
            "speak.py: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        receiver
            .wait_for_count(|l| l.is_log_from("PYAP", "PYCT"), 3, ARRIVAL)
            .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
        let ours: Vec<String> = receiver
            .dlt_lines()
            .iter()
            .filter(|l| l.apid == "PREX" || l.args.contains("PREX"))
            .map(|l| l.tail())
            .collect();
        assert!(ours.is_empty(), "nothing of PREX reached DLT: {ours:#?}");
    }
    drop(guard);
}
