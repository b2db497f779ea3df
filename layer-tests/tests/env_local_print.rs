//! `DLT_LOCAL_PRINT_MODE`, as libdlt reads it: `FORCE_ON` prints every
//! record on stderr as well as sending it, `AUTOMATIC` only while the
//! daemon is not connected, `FORCE_OFF`, unset or any other word prints
//! nothing; `with_local_print` overrides the variable.
//!
//! The environment is process-wide, so the test re-runs its own binary as
//! a child per case (with [`CHILD_ENV`] set), each with its own
//! environment, pipe directory and, where the case needs a connected
//! daemon, an in-process fake daemon reading the FIFO. The child inits,
//! logs, flushes; the parent reads its stderr.

use std::path::Path;
use std::time::Duration;

use layer_tests::fake_daemon::{FakeDaemon, LOG};
use layer_tests::wait_until;
use taktora_log::{Backend, DltLayer, Init, LocalPrint};

/// Set in the child: "you are the child, log and exit".
const CHILD_ENV: &str = "TAKTORA_LOCAL_PRINT_CHILD";
/// The child's pipe directory.
const DIR_ENV: &str = "TAKTORA_LOCAL_PRINT_DIR";
/// `1`: the child runs a fake daemon and logs only once connected.
const DAEMON_ENV: &str = "TAKTORA_LOCAL_PRINT_DAEMON";
/// `on`: the child calls `with_local_print(LocalPrint::On)`.
const BUILDER_ENV: &str = "TAKTORA_LOCAL_PRINT_BUILDER";
/// This test's name, for `--exact`.
const TEST_NAME: &str = "dlt_local_print_mode_prints_on_stderr_as_libdlt_does";

/// The line the probe record prints as (`dlt-receive -a`'s words).
const PROBE_LINE: &str = "ECU1 LPRT DFLT log warn V 2 [local print probe 3]";

/// Generous bound on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(20);

fn child() {
    let dir = std::env::var_os(DIR_ENV).expect("pipe dir for the child");
    let dir = Path::new(&dir);
    let daemon = std::env::var_os(DAEMON_ENV).map(|_| FakeDaemon::start(dir, None));
    let mut builder = DltLayer::builder("LPRT")
        .with_pipe_dir(dir)
        .with_shutdown_timeout(Duration::from_millis(200));
    if std::env::var(BUILDER_ENV).as_deref() == Ok("on") {
        builder = builder.with_local_print(LocalPrint::On);
    }
    let guard = Init::new().with_dlt(builder).try_init().expect("init");
    assert_eq!(guard.backend(), Backend::Dlt);
    if daemon.is_some() {
        wait_until(
            WAIT,
            "the flusher connected to the fake daemon",
            || guard.stats().map_or(0, |s| s.connects),
            |c| *c >= 1,
        );
    }
    tracing::warn!(n = 3u32, "local print probe");
    tracing::debug!("below the context's INFO level: never printed");
    if let Some(mut daemon) = daemon {
        let (outcome, msgs) = daemon.serve(|| guard.flush(WAIT));
        // Printing is in addition to sending, never instead of it.
        assert!(outcome.complete, "flush: {outcome:?}");
        let sent = msgs
            .iter()
            .any(|m| m.kind == LOG && m.contains("local print probe"));
        assert!(sent, "the probe reached the daemon too");
    } else {
        let _ = guard.flush(Duration::ZERO);
    }
    drop(guard);
}

/// Runs one case and returns the child's stderr.
fn run(mode: Option<&str>, with_daemon: bool, builder_on: bool) -> String {
    let dir = tempfile::Builder::new()
        .prefix("taktora-local-print-")
        .tempdir()
        .expect("temp dir");
    let mut cmd = layer_tests::child_test(TEST_NAME, false);
    cmd.env(CHILD_ENV, "1")
        .env(DIR_ENV, dir.path())
        .env_remove("DLT_LOCAL_PRINT_MODE")
        .env_remove("DLT_INITIAL_LOG_LEVEL");
    if let Some(m) = mode {
        cmd.env("DLT_LOCAL_PRINT_MODE", m);
    }
    if with_daemon {
        cmd.env(DAEMON_ENV, "1");
    }
    if builder_on {
        cmd.env(BUILDER_ENV, "on");
    }
    let out = cmd.output().expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "child (mode {mode:?}, daemon {with_daemon}) failed: {}\n{stderr}",
        out.status
    );
    stderr
}

/// How many lines of `stderr` are exactly [`PROBE_LINE`]; and that
/// nothing below the level was printed.
fn probes(stderr: &str) -> usize {
    assert!(
        !stderr.contains("never printed"),
        "the context level filters local print too:\n{stderr}"
    );
    stderr.lines().filter(|l| *l == PROBE_LINE).count()
}

#[test]
fn dlt_local_print_mode_prints_on_stderr_as_libdlt_does() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let cases: [(Option<&str>, bool, bool, usize); 9] = [
        // (DLT_LOCAL_PRINT_MODE, fake daemon connected, builder On, lines)
        (None, false, false, 0),
        (Some("FORCE_OFF"), false, false, 0),
        (Some("FORCE_ON"), false, false, 1),
        (Some("FORCE_ON"), true, false, 1),
        (Some("AUTOMATIC"), false, false, 1),
        (Some("AUTOMATIC"), true, false, 0),
        // libdlt compares exactly: other spellings are ignored.
        (Some("force_on"), false, false, 0),
        (Some("1"), false, false, 0),
        // The builder's choice overrides the variable.
        (Some("FORCE_OFF"), false, true, 1),
    ];
    for (mode, daemon, builder, want) in cases {
        let stderr = run(mode, daemon, builder);
        assert_eq!(
            probes(&stderr),
            want,
            "DLT_LOCAL_PRINT_MODE={mode:?}, daemon connected: {daemon}, builder On: {builder}; \
             stderr:\n{stderr}"
        );
    }
}
