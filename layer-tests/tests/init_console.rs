//! REQ_0816, precedence branch 4: no DLT layer and nothing pre-installed → the
//! console fallback on stderr (`Backend::Console`), one readable line per
//! record (time, level, target, message, fields), filtered by `RUST_LOG`.
//!
//! The test re-runs its own binary as a child (with [`CHILD_ENV`] set) to
//! capture the child's stderr; the child does the init and the logging.
//! Its own binary: global state can be set only once per process.

use taktora_log::{Backend, Init, LogBridge};

/// Set in the child process: "you are the child, log and exit".
const CHILD_ENV: &str = "TAKTORA_INIT_CONSOLE_CHILD";
/// This test's name, for `--exact`.
const TEST_NAME: &str = "req_0816_console_fallback_writes_readable_lines_filtered_by_rust_log";

/// Stands in for a dependency that logs through the `log` crate.
mod dep {
    pub(crate) fn work() {
        log::warn!("dependency says {}", "hi");
    }
}

/// What the child does: init with no DLT layer, then log.
fn child() {
    let guard = Init::new().try_init().expect("console init");
    assert_eq!(guard.backend(), Backend::Console);
    assert_eq!(guard.log_bridge(), LogBridge::Installed);
    assert!(guard.dlt().is_none());
    tracing::info!(answer = 42u32, who = "world", "console hello");
    tracing::debug!(detail = 7u32, "debug detail");
    dep::work();
    tracing::info_span!("request", id = 5u32).in_scope(|| {
        tracing::info!(ok = true, "inside a span");
    });
    assert!(guard.flush(std::time::Duration::ZERO).complete);
}

/// Runs the child with `RUST_LOG` set to `rust_log` (unset for `None`)
/// and returns the non-empty lines of its stderr.
fn run_child(rust_log: Option<&str>) -> Vec<String> {
    let mut cmd = layer_tests::child_test(TEST_NAME, false);
    cmd.env(CHILD_ENV, "1").env_remove("NO_COLOR");
    match rust_log {
        Some(v) => cmd.env("RUST_LOG", v),
        None => cmd.env_remove("RUST_LOG"),
    };
    let out = cmd.output().expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "child with RUST_LOG={rust_log:?} failed: {}\nstdout:\n{}\nstderr:\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The one line containing `needle`, or a panic showing all lines.
fn line_with<'a>(lines: &'a [String], needle: &str) -> &'a str {
    let found: Vec<&String> = lines.iter().filter(|l| l.contains(needle)).collect();
    assert_eq!(found.len(), 1, "one line with {needle:?} in {lines:#?}");
    found[0]
}

/// Asserts `line` starts with an RFC 3339 UTC timestamp
/// (`2026-11-23T10:49:26.123456Z`) and has no ANSI escapes.
fn assert_timestamped(line: &str) {
    assert!(
        !line.contains('\u{1b}'),
        "no ANSI colours in a pipe: {line:?}"
    );
    let time = line.split_whitespace().next().unwrap_or_default();
    let b = time.as_bytes();
    assert!(
        b.len() >= 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && time.ends_with('Z')
            && time[..4].bytes().all(|c| c.is_ascii_digit()),
        "line starts with a timestamp: {line:?}"
    );
}

#[test]
fn req_0816_console_fallback_writes_readable_lines_filtered_by_rust_log() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }

    // RUST_LOG unset: the default level is INFO.
    let lines = run_child(None);
    let hello = line_with(&lines, "console hello");
    assert_timestamped(hello);
    assert!(
        hello.ends_with(" INFO init_console: console hello answer=42 who=\"world\""),
        "level, target, message, fields: {hello:?}"
    );
    let bridged = line_with(&lines, "dependency says hi");
    assert_timestamped(bridged);
    assert!(
        bridged.ends_with(" WARN init_console::dep: dependency says hi"),
        "a bridged log record shows its own target and no log.* fields: {bridged:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("debug detail")),
        "DEBUG hidden by default: {lines:#?}"
    );
    let spanned = line_with(&lines, "inside a span");
    assert!(
        spanned.contains(" INFO request{id=5}: init_console: inside a span ok=true"),
        "span context, target, message, fields in order: {spanned:?}"
    );

    // RUST_LOG enables DEBUG for this crate: the debug line appears.
    let lines = run_child(Some("init_console=debug"));
    let debug = line_with(&lines, "debug detail");
    assert_timestamped(debug);
    assert!(
        debug.ends_with(" DEBUG init_console: debug detail detail=7"),
        "{debug:?}"
    );
    line_with(&lines, "console hello");

    // RUST_LOG per target: WARN for this crate, so INFO and DEBUG go,
    // while the dependency module is allowed everything.
    let lines = run_child(Some("init_console=warn,init_console::dep=trace"));
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("console hello") || l.contains("debug detail")),
        "INFO and DEBUG filtered out: {lines:#?}"
    );
    line_with(&lines, "dependency says hi");

    // A directive that does not parse is skipped, never fatal.
    let lines = run_child(Some("no=such=level,init_console=debug"));
    line_with(&lines, "debug detail");
}
