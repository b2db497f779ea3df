//! What DLT engineers see: `tracing` and `log` events through
//! [`DltLayer`] into a real `dlt-daemon`, captured with `dlt-receive -o`
//! and decoded by COVESA DLT Viewer itself, headless
//! (`dlt-viewer -s -csv -c`). Every record must show in the viewer's
//! message table with the right application, context, level, session ID,
//! argument count and argument values: a wrong level or an argument of
//! the wrong type shows there as a wrong column or a wrong value (a
//! signed integer sent as unsigned, a bool as a number, a float as raw
//! bits).
//!
//! The viewer's table prints argument values, not their names; the names
//! are checked on the very bytes the viewer read, with `dlt_parse`. The
//! last record is longer than a frame: the viewer must show it cut, ending
//! in libdlt's truncation marker.
//!
//! Not asserted: 128-bit integers (`u128`/`i128` fields), which are sent
//! as DLT 128-bit arguments and which DLT Viewer 2.23 shows as `?` (the
//! README says so).
//!
//! Needs `dlt-daemon`, `dlt-receive` and `dlt-viewer`: without them the
//! test is ignored on a developer machine, and fails under `CI=true`.

use std::time::Duration;

use dlt_parse::verbose::VerboseValue;
use dlt_parse::DltPacketSlice;
use layer_tests::{
    require_dlt_tools, require_dlt_viewer, try_wait_until, viewer_rows, Capture, PrivateDaemon,
    ViewerRow,
};
use taktora_log::{DltLayer, LogLevel, TRUNCATION_MARKER};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(30);

/// The application ID of this test's records.
const APP: &str = "VIEW";

/// A value with a known `Debug` form.
#[derive(Debug)]
enum Gear {
    Reverse,
}

/// What one row of the viewer's table must show for one of our records,
/// and the argument names the same message must carry.
#[derive(Debug)]
struct Expected {
    ctid: &'static str,
    level: &'static str,
    payload: &'static str,
    /// One entry per argument: its name, `None` for the message itself.
    names: &'static [Option<&'static str>],
}

/// Every record the test logs, in order, as the viewer must show it.
const EXPECTED: [Expected; 9] = [
    Expected {
        ctid: "CAN",
        level: "error",
        payload: "tracing-error -42 42 true 1.5 word Reverse",
        names: &[
            None,
            Some("i"),
            Some("u"),
            Some("b"),
            Some("f"),
            Some("s"),
            Some("d"),
        ],
    },
    Expected {
        ctid: "MAIN",
        level: "warn",
        payload: "tracing-warn -9223372036854775808 18446744073709551615 false",
        names: &[None, Some("min"), Some("max"), Some("off")],
    },
    Expected {
        ctid: "NET",
        level: "info",
        payload: "tracing-info -0.25 two words 10.0.0.1",
        names: &[None, Some("ratio"), Some("text"), Some("addr")],
    },
    Expected {
        ctid: "NET",
        level: "debug",
        payload: "tracing-debug 0",
        names: &[None, Some("zero")],
    },
    Expected {
        ctid: "MAIN",
        level: "verbose",
        payload: "tracing-trace",
        names: &[None],
    },
    Expected {
        ctid: "MAIN",
        level: "fatal",
        payload: "tracing-fatal 7",
        names: &[None, Some("code")],
    },
    Expected {
        ctid: "NET",
        level: "warn",
        payload: "log-warn 3",
        names: &[None],
    },
    Expected {
        ctid: "MAIN",
        level: "info",
        payload: "log-info",
        names: &[None],
    },
    Expected {
        ctid: "MAIN",
        level: "error",
        payload: "",
        names: &[None],
    },
];

/// Logs the records of [`EXPECTED`], in order.
fn log_everything() {
    tracing::error!(
        target: "viewer::net::can",
        i = -42i64,
        u = 42u64,
        b = true,
        f = 1.5f64,
        s = "word",
        d = ?Gear::Reverse,
        "tracing-error"
    );
    tracing::warn!(min = i64::MIN, max = u64::MAX, off = false, "tracing-warn");
    tracing::info!(
        target: "viewer::net",
        ratio = -0.25f64,
        text = "two words",
        addr = %"10.0.0.1",
        "tracing-info"
    );
    tracing::debug!(target: "viewer::net::udp", zero = 0u64, "tracing-debug");
    tracing::trace!("tracing-trace");
    taktora_log::fatal!(code = 7u32, "tracing-fatal");
    log::warn!(target: "viewer::net", "log-warn {}", 3);
    log::info!("log-info");
    tracing::error!("");
    // Longer than a frame: cut, and ending in libdlt's marker.
    tracing::info!("{}", LONG.repeat(LONG_REPEAT));
}

/// The text of the last, truncated record: `LONG` repeated.
const LONG: &str = "long ";
const LONG_REPEAT: usize = 400;

#[test]
#[cfg_attr(
    any(no_dlt_tools, no_dlt_viewer),
    ignore = "no dlt-daemon or dlt-viewer: run scripts/install-deps.sh"
)]
fn dlt_viewer_shows_every_record_with_app_context_level_session_and_typed_args() {
    if !require_dlt_tools() || !require_dlt_viewer() {
        return;
    }
    tracing_log::LogTracer::init().expect("install LogTracer");
    let daemon = PrivateDaemon::start_with(&["ContextLogLevel = 6"]).expect("start dlt-daemon");
    let capture = Capture::start(daemon.port()).expect("start dlt-receive -o");
    let (layer, guard) = DltLayer::builder(APP)
        .with_app_description("DLT Viewer test")
        .with_default_context("MAIN", "unmapped targets")
        .with_context("viewer::net", "NET", "network")
        .with_context("viewer::net::can", "CAN", "CAN bus")
        .with_initial_level(LogLevel::Verbose)
        .with_pipe_dir(daemon.dir())
        .build()
        .expect("build the layer");
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(levels));
    tracing::subscriber::with_default(subscriber, log_everything);
    let outcome = guard.flush(ARRIVAL);
    assert!(
        outcome.complete && outcome.pending == 0,
        "flush: {outcome:?}"
    );

    // Every record stored by dlt-receive before the viewer reads the file.
    let stored = || {
        let bytes = std::fs::read(capture.file()).unwrap_or_default();
        our_messages(&bytes).len()
    };
    try_wait_until(
        ARRIVAL,
        "every record stored by dlt-receive -o",
        stored,
        |n| *n > EXPECTED.len(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));

    let rows = viewer_rows(capture.file()).expect("dlt-viewer decodes the capture");
    let ours: Vec<&ViewerRow> = rows.iter().filter(|r| r.apid == APP).collect();
    let table: Vec<String> = rows.iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(
        ours.len(),
        EXPECTED.len() + 1,
        "one viewer row per record; the table:\n{table:#?}"
    );
    let pid = std::process::id().to_string();
    for (i, (row, want)) in ours.iter().zip(&EXPECTED).enumerate() {
        let got = (
            row.ecu.as_str(),
            row.ctid.as_str(),
            row.session_id.as_str(),
            row.kind.as_str(),
            row.subtype.as_str(),
            row.mode.as_str(),
            row.args.as_str(),
            row.payload.as_str(),
        );
        let args = want.names.len().to_string();
        let expected = (
            "ECU1",
            want.ctid,
            pid.as_str(),
            "log",
            want.level,
            "verbose",
            args.as_str(),
            want.payload,
        );
        assert_eq!(got, expected, "record {i} in the viewer: {row:?}");
    }

    // The truncated record: a cut message ending in the marker, still one
    // argument, as libdlt's own truncation shows.
    let cut = ours[EXPECTED.len()];
    assert_eq!(
        (cut.ctid.as_str(), cut.subtype.as_str(), cut.args.as_str()),
        ("MAIN", "info", "1"),
        "{cut:?}"
    );
    assert!(
        cut.payload.starts_with(LONG)
            && cut.payload.ends_with(TRUNCATION_MARKER)
            && cut.payload.len() < LONG.len() * LONG_REPEAT,
        "a cut message ending in {TRUNCATION_MARKER:?}: {cut:?}"
    );

    // The names, on the bytes the viewer read.
    let bytes = std::fs::read(capture.file()).expect("read the capture");
    let messages = our_messages(&bytes);
    assert_eq!(messages.len(), EXPECTED.len() + 1, "stored records");
    for (i, (msg, want)) in messages.iter().zip(&EXPECTED).enumerate() {
        let packet = DltPacketSlice::from_slice(msg).expect("dlt_parse reads the stored message");
        let names: Vec<Option<String>> = packet
            .verbose_value_iter()
            .expect("verbose")
            .map(|v| name(&v.expect("argument decodes")))
            .collect();
        let want: Vec<Option<String>> = want.names.iter().map(|n| n.map(str::to_owned)).collect();
        assert_eq!(names, want, "argument names of record {i}");
    }
    drop(guard);
}

/// The name a verbose argument carries, if any.
fn name(v: &VerboseValue<'_>) -> Option<String> {
    v.name().map(str::to_owned)
}

/// The DLT messages (without their storage headers) of app [`APP`] in a
/// file written by `dlt-receive -o`, in order; a message still being
/// written at the end is left out.
fn our_messages(bytes: &[u8]) -> Vec<&[u8]> {
    const STORAGE_HEADER_LEN: usize = 16;
    let mut out = Vec::new();
    let mut at = 0;
    while at + STORAGE_HEADER_LEN + 4 <= bytes.len() && &bytes[at..at + 4] == b"DLT\x01" {
        let msg = at + STORAGE_HEADER_LEN;
        let len = usize::from(u16::from_be_bytes([bytes[msg + 2], bytes[msg + 3]]));
        if len < 4 || msg + len > bytes.len() {
            break;
        }
        let m = &bytes[msg..msg + len];
        if DltPacketSlice::from_slice(m)
            .ok()
            .and_then(|p| p.header().extended_header.clone())
            .is_some_and(|e| e.application_id == APP.as_bytes())
        {
            out.push(m);
        }
        at = msg + len;
    }
    out
}
