//! Issue 6 end to end: log levels set from the DLT side (`dlt-control`,
//! as DLT Viewer would) take effect in the layer, against a private real
//! `dlt-daemon`.
//!
//! The daemon does not filter (PROTOCOL.md §7.3): everything that arrives
//! at `dlt-receive` was sent by the layer, so "does not arrive" proves the
//! layer filtered it. "Nothing arrived" is checked with a marker: one
//! thread logs the suppressed events and then an event that must arrive;
//! the pipeline keeps order (one channel, one flusher, one FIFO), so once
//! the marker is there, anything logged before it would be too.
//!
//! Each test installs its subscriber with `set_default` on its own thread.
//! `tracing_core::callsite::rebuild_interest_cache`, which the flusher
//! calls after a level change, rebuilds the interest of every live
//! dispatcher (global and scoped alike; tracing-core keeps a list of them
//! once more than the global one exists), and the layer's filter also
//! decides per event, so the tests may run in parallel in one binary.
//! Waiting for a level to take effect polls `Stats::levels_applied`,
//! bounded, never a fixed sleep. (A first version polled
//! `tracing::enabled!` and lost events: see
//! `a_disabled_enabled_check_does_not_drop_the_next_event`.)

use std::process::Command;
use std::time::Duration;

use layer_tests::{
    try_wait_until, DaemonVariant, DltLine, PrivateDaemon, Receiver, Signal, DEBUG_PROBE,
};
use taktora_log::{DltLayer, FlushGuard, Stats};
use tracing_subscriber::prelude::*;

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(20);

/// Builds the layer for `app` with the given `(target prefix, context)`
/// mappings against `daemon`, and installs it (under its `DltLevels` as a
/// global filter, as `init` does) as this thread's default subscriber.
fn install(
    daemon: &PrivateDaemon,
    app: &str,
    contexts: &[(&str, &str)],
) -> (DltLayer, FlushGuard, tracing::subscriber::DefaultGuard) {
    install_with(daemon, DltLayer::builder(app), contexts)
}

/// As [`install`], from a prepared builder.
fn install_with(
    daemon: &PrivateDaemon,
    builder: taktora_log::DltLayerBuilder,
    contexts: &[(&str, &str)],
) -> (DltLayer, FlushGuard, tracing::subscriber::DefaultGuard) {
    let mut builder = builder.with_pipe_dir(daemon.pipe_dir());
    for (prefix, ctx) in contexts {
        builder = builder.with_context(prefix, ctx, "levels test");
    }
    let (layer, guard) = builder.build().expect("build the layer");
    // As `init` composes it: the levels as a global filter.
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry()
        .with(levels)
        .with(layer.clone());
    let default = tracing::subscriber::set_default(subscriber);
    (layer, guard, default)
}

/// Waits (bounded by [`ARRIVAL`], via [`try_wait_until`]) until the
/// layer's stats satisfy `cond`; a timeout names `what`, shows the last
/// stats and the daemon's log.
fn wait_for_stats(
    what: &str,
    layer: &DltLayer,
    daemon: &PrivateDaemon,
    cond: impl FnMut(&Stats) -> bool,
) {
    try_wait_until(ARRIVAL, what, || layer.stats(), cond)
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
}

/// Runs `dlt-control -p <port> ::1 <args>` and panics unless it succeeds.
fn dlt_control(daemon: &PrivateDaemon, args: &[&str]) {
    let out = Command::new("dlt-control")
        .arg("-p")
        .arg(daemon.port().to_string())
        .args(args)
        .arg("::1")
        .output()
        .expect("run dlt-control");
    assert!(
        out.status.success(),
        "dlt-control {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        daemon.log_text()
    );
}

/// Sets the level of `app`/`ctx` from the DLT side.
fn set_level(daemon: &PrivateDaemon, app: &str, ctx: &str, level: u8) {
    dlt_control(daemon, &["-a", app, "-c", ctx, "-l", &level.to_string()]);
}

/// Sets the level of `app`/`ctx` with `dlt-control` and waits until the
/// layer applied the daemon's LOG_LEVEL: `levels_applied` is published
/// only after the flusher rebuilt the interest cache, so the level is in
/// effect for this thread's next event.
fn change_level(layer: &DltLayer, daemon: &PrivateDaemon, app: &str, ctx: &str, level: u8) {
    let before = layer.stats().levels_applied;
    set_level(daemon, app, ctx, level);
    wait_for_stats(
        &format!("{app}/{ctx} at level {level}"),
        layer,
        daemon,
        |s| s.levels_applied > before,
    );
}

/// The `log` lines from `app`/`ctx` whose arguments contain `tag`.
fn tagged<'a>(lines: &'a [DltLine], app: &str, ctx: &str, tag: &str) -> Vec<&'a DltLine> {
    lines
        .iter()
        .filter(|l| l.is_log_from(app, ctx) && l.args.contains(tag))
        .collect()
}

/// Waits until a log line from `app`/`ctx` carrying `tag` arrived, and
/// returns everything received so far.
fn wait_tag(
    receiver: &Receiver,
    daemon: &PrivateDaemon,
    app: &str,
    ctx: &str,
    tag: &str,
) -> Vec<DltLine> {
    receiver
        .wait_for_count(
            |l| l.is_log_from(app, ctx) && l.args.contains(tag),
            1,
            ARRIVAL,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    receiver.dlt_lines()
}

/// The levels (`dlt-receive`'s words) of the lines tagged `tag`.
fn levels_of(lines: &[DltLine], app: &str, ctx: &str, tag: &str) -> Vec<String> {
    tagged(lines, app, ctx, tag)
        .iter()
        .map(|l| l.level.clone())
        .collect()
}

const APP: &str = "LVL6";

/// Logs one event of every level on `lvl::a` (`b == false`) or `lvl::b`,
/// each tagged `<tag>-<level>`. (This test first found that
/// `fatal!(target: ..)` did not compile.)
fn log_all_levels(b: bool, tag: &str) {
    if b {
        tracing::trace!(target: "lvl::b", "{tag}-verbose");
        tracing::debug!(target: "lvl::b", "{tag}-debug");
        tracing::info!(target: "lvl::b", "{tag}-info");
        tracing::warn!(target: "lvl::b", "{tag}-warn");
        tracing::error!(target: "lvl::b", "{tag}-error");
        taktora_log::fatal!(target: "lvl::b", "{tag}-fatal");
    } else {
        tracing::trace!(target: "lvl::a", "{tag}-verbose");
        tracing::debug!(target: "lvl::a", "{tag}-debug");
        tracing::info!(target: "lvl::a", "{tag}-info");
        tracing::warn!(target: "lvl::a", "{tag}-warn");
        tracing::error!(target: "lvl::a", "{tag}-error");
        taktora_log::fatal!(target: "lvl::a", "{tag}-fatal");
    }
}

layer_tests::daemon_matrix!(levels_set_with_dlt_control_take_effect_per_context);
fn levels_set_with_dlt_control_take_effect_per_context(v: &'static DaemonVariant) {
    let daemon = PrivateDaemon::start_variant(v, &[], &[]).expect("start private dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    let (layer, guard, _default) = install(&daemon, APP, &[("lvl::a", "CTXA"), ("lvl::b", "CTXB")]);
    // Registration: the daemon answers each "not set" context (DFLT,
    // TLOG, CTXA, CTXB) with its default level, INFO.
    wait_for_stats("the daemon's default levels", &layer, &daemon, |s| {
        s.levels_applied >= 4 && s.log_state == 1
    });

    // 1. Default level INFO: no DEBUG (nor VERBOSE) from either context.
    log_all_levels(false, "p1a");
    log_all_levels(true, "p1b");
    let lines = wait_tag(&receiver, &daemon, APP, "CTXB", "p1b-fatal");
    let info_and_up = ["info", "warn", "error", "fatal"];
    assert_eq!(levels_of(&lines, APP, "CTXA", "p1a"), info_and_up);
    assert_eq!(levels_of(&lines, APP, "CTXB", "p1b"), info_and_up);

    // 2. CTXA raised to DEBUG: its DEBUG arrives; CTXB unaffected.
    change_level(&layer, &daemon, APP, "CTXA", 5);
    log_all_levels(false, "p2a");
    log_all_levels(true, "p2b");
    let lines = wait_tag(&receiver, &daemon, APP, "CTXB", "p2b-fatal");
    assert_eq!(
        levels_of(&lines, APP, "CTXA", "p2a"),
        ["debug", "info", "warn", "error", "fatal"]
    );
    assert_eq!(levels_of(&lines, APP, "CTXB", "p2b"), info_and_up);

    // 3. CTXA at FATAL: FATAL still arrives, ERROR no longer.
    change_level(&layer, &daemon, APP, "CTXA", 1);
    log_all_levels(false, "p3a");
    log_all_levels(true, "p3b");
    let lines = wait_tag(&receiver, &daemon, APP, "CTXB", "p3b-fatal");
    assert_eq!(levels_of(&lines, APP, "CTXA", "p3a"), ["fatal"]);
    assert_eq!(levels_of(&lines, APP, "CTXB", "p3b"), info_and_up);

    // 4. CTXA OFF: nothing at all arrives from it, not even FATAL.
    change_level(&layer, &daemon, APP, "CTXA", 0);
    log_all_levels(false, "p4a");
    log_all_levels(true, "p4b");
    let lines = wait_tag(&receiver, &daemon, APP, "CTXB", "p4b-fatal");
    assert!(
        tagged(&lines, APP, "CTXA", "p4a").is_empty(),
        "CTXA is OFF: {:#?}",
        tagged(&lines, APP, "CTXA", "p4a")
    );
    assert_eq!(levels_of(&lines, APP, "CTXB", "p4b"), info_and_up);

    // An injection is ignored and counted; the layer keeps working.
    dlt_control(
        &daemon,
        &["-a", APP, "-c", "CTXB", "-s", "4096", "-m", "hello"],
    );
    wait_for_stats("the injection to be counted", &layer, &daemon, |s| {
        s.injections_ignored >= 1
    });
    let stats = layer.stats();
    assert_eq!(stats.control_malformed, 0, "{stats:#?}");
    assert_eq!(stats.control_garbage_bytes, 0, "{stats:#?}");
    assert_eq!(stats.reentrant, 0, "{stats:#?}");
    drop(guard);
}

const RST_APP: &str = "LVR6";

layer_tests::daemon_matrix!(levels_are_reapplied_from_the_restarted_daemon);
fn levels_are_reapplied_from_the_restarted_daemon(v: &'static DaemonVariant) {
    let mut daemon = PrivateDaemon::start_variant(v, &[], &[]).expect("start private dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    let (layer, guard, _default) = install(&daemon, RST_APP, &[("rst", "CTXR")]);
    wait_for_stats("the daemon's default levels", &layer, &daemon, |s| {
        s.levels_applied >= 3
    });

    change_level(&layer, &daemon, RST_APP, "CTXR", 5);
    tracing::debug!(target: "rst", "r1-debug");
    wait_tag(&receiver, &daemon, RST_APP, "CTXR", "r1-debug");
    drop(receiver);

    // The restarted daemon has forgotten the DEBUG set above. When the
    // layer registers again, the daemon answers every "not set" context
    // with its default level (INFO), which the layer applies.
    let applied = layer.stats().levels_applied;
    daemon.kill(Signal::Term).expect("stop the daemon");
    daemon.restart().expect("restart the daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive again");
    wait_for_stats("re-registration and its LOG_LEVELs", &layer, &daemon, |s| {
        s.connects >= 2 && s.levels_applied >= applied + 3
    });
    tracing::debug!(target: "rst", "r2-debug");
    tracing::info!(target: "rst", "r2-info");
    let lines = wait_tag(&receiver, &daemon, RST_APP, "CTXR", "r2-info");
    assert!(
        tagged(&lines, RST_APP, "CTXR", "r2-debug").is_empty(),
        "DEBUG after restart: {lines:#?}"
    );

    // The new daemon knows the application: level changes work again.
    change_level(&layer, &daemon, RST_APP, "CTXR", 5);
    tracing::debug!(target: "rst", "r3-debug");
    wait_tag(&receiver, &daemon, RST_APP, "CTXR", "r3-debug");
    drop(guard);
}

const EXP_APP: &str = "LVE6";

layer_tests::daemon_matrix!(explicit_registered_levels_are_restored_after_a_restart);
fn explicit_registered_levels_are_restored_after_a_restart(v: &'static DaemonVariant) {
    let mut daemon = PrivateDaemon::start_variant(v, &[], &[]).expect("start private dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    // Registered with an explicit INFO (and trace status "not set", so the
    // daemon still answers with a LOG_LEVEL: PROTOCOL.md §4.3).
    let builder = DltLayer::builder(EXP_APP).with_initial_level(taktora_log::LogLevel::Info);
    let (layer, guard, _default) = install_with(&daemon, builder, &[("exp", "CTXE")]);
    // DFLT, TLOG and CTXE answered.
    wait_for_stats("the daemon's answers", &layer, &daemon, |s| {
        s.levels_applied >= 3
    });
    tracing::info!(target: "exp", "e0-info");
    wait_tag(&receiver, &daemon, EXP_APP, "CTXE", "e0-info");

    change_level(&layer, &daemon, EXP_APP, "CTXE", 5);
    tracing::debug!(target: "exp", "e1-debug");
    wait_tag(&receiver, &daemon, EXP_APP, "CTXE", "e1-debug");
    drop(receiver);

    // The restarted daemon forgot DEBUG and holds the registered INFO;
    // its answers to the re-registration bring the layer back to INFO.
    let applied = layer.stats().levels_applied;
    daemon.kill(Signal::Term).expect("stop the daemon");
    daemon.restart().expect("restart the daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive again");
    wait_for_stats("re-registration and its LOG_LEVELs", &layer, &daemon, |s| {
        s.connects >= 2 && s.levels_applied >= applied + 3
    });
    tracing::debug!(target: "exp", "e2-debug");
    tracing::info!(target: "exp", "e2-info");
    let lines = wait_tag(&receiver, &daemon, EXP_APP, "CTXE", "e2-info");
    assert!(
        tagged(&lines, EXP_APP, "CTXE", "e2-debug").is_empty(),
        "DEBUG after restart: {lines:#?}"
    );
    drop(guard);
}

/// Asking the subscriber whether a record is enabled, and getting "no",
/// must not make the layer drop the next event. `log::log_enabled!`
/// through `LogTracer`, `tracing::enabled!`, and the layer's own `log`
/// bridge callsites all ask without an event following. With per-layer
/// filters, tracing-subscriber carries the answer to the next event in a
/// thread-local (tokio-rs/tracing#2519), which a callsite cached as
/// `Interest::always` then reads stale: found by the level test above
/// when it probed with `tracing::enabled!`. Needs no daemon.
#[test]
fn a_disabled_enabled_check_does_not_drop_the_next_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (layer, guard) = DltLayer::builder("PRB6")
        .with_pipe_dir(dir.path())
        .build()
        .expect("build the layer");
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.clone().with_filter(levels));
    let _default = tracing::subscriber::set_default(subscriber);
    for round in 0..3 {
        let before = layer.stats().emitted;
        // Our filter says no (DEBUG on a context at INFO); what the
        // registry answers overall is its business.
        tracing::dispatcher::get_default(|d| d.enabled(&DEBUG_PROBE));
        tracing::info!(round, "after a disabled check");
        assert_eq!(layer.stats().emitted, before + 1, "round {round}");
    }
    drop(guard);
}
