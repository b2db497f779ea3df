//! Trace-load limits (issue 12): against dlt-daemon 2.18.11 built with
//! `WITH_DLT_TRACE_LOAD_CTRL=ON`, which sends the application its limits
//! (TRACE_LOAD) after registration, a hard limit below the offered rate
//! drops records in the layer, as libdlt does, and the drops are counted
//! by that cause: what was dropped plus what arrived is what was emitted,
//! and the summary records say so (`trace_load=K`).

use std::time::Duration;

use layer_tests::{
    require_variant, wait_until, DltLine, PrivateDaemon, Receiver, V2_18_11_TRACELOAD,
};
use taktora_log::DltLayer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(30);

/// Records offered: about 200 KB, far above a 200 B/s budget (its
/// window holds 60 s × 200 B/s = 12,000 bytes).
const N: u64 = 2000;

const APP: &str = "TLAP";

/// The limits file: one application only (2.18.11's lookup compares the
/// first entry's application ID for every entry).
const LIMITS: &str = "TLAP 150 200\n";

/// The number after `name=` in a summary's text, 0 when absent.
fn field(args: &str, name: &str) -> u64 {
    args.find(&format!(" {name}="))
        .map(|at| {
            args[at + name.len() + 2..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// `(records arrived, summed count=, summed trace_load=)` from our app.
fn tally(lines: &[DltLine]) -> (u64, u64, u64) {
    let mut out = (0, 0, 0);
    for l in lines.iter().filter(|l| l.apid == APP && l.kind == "log") {
        if l.ctid == "TLOG" && l.args.starts_with("taktora.log.dropped") {
            out.1 += field(&format!(" {}", l.args), "count");
            out.2 += field(&l.args, "trace_load");
        } else if l.ctid == "TLCT" && l.args.starts_with("tl-") {
            out.0 += 1;
        }
    }
    out
}

#[test]
#[cfg_attr(
    any(no_dlt_tools, no_daemon_2_18_11_fifo_traceload),
    ignore = "dlt-daemon 2.18.11-fifo-traceload not built: run scripts/build-daemons.sh"
)]
fn hard_trace_load_limit_drops_are_counted_and_reported_dropped_plus_arrived_equals_emitted() {
    if !require_variant(&V2_18_11_TRACELOAD) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let limits = dir.path().join("limits.conf");
    std::fs::write(&limits, LIMITS).expect("write the limits file");
    let limits = limits.display().to_string();
    let daemon = PrivateDaemon::start_variant(&V2_18_11_TRACELOAD, &[], &["-l", &limits])
        .expect("start the trace-load daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    let (layer, guard) = DltLayer::builder(APP)
        .with_default_context("TLCT", "trace load")
        .with_channel_capacity(N as usize)
        .with_pipe_dir(daemon.pipe_dir())
        .build()
        .expect("build the layer");
    // TRACE_LOAD follows the application's registration, before the
    // contexts' LOG_LEVELs in the same stream: once both contexts' levels
    // are in, so are the limits.
    wait_until(
        ARRIVAL,
        "the daemon's answers to the registration",
        || layer.stats(),
        |s| s.levels_applied >= 2,
    );
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.clone().with_filter(levels));
    tracing::subscriber::with_default(subscriber, || {
        for n in 0..N {
            tracing::info!("tl-{n:06} offered above the hard limit");
        }
    });
    let out = guard.flush(ARRIVAL);
    assert!(out.complete, "{out:?} {:?}", guard.stats());
    let s = guard.stats();
    let dropped = s.dropped_trace_load;
    assert_eq!(s.emitted, N, "{s:?}");
    assert!(
        dropped > N / 2 && dropped < N,
        "the 200 B/s hard limit drops most, not all: {s:?}"
    );
    assert_eq!(s.written + dropped, N, "nothing else lost: {s:?}");
    assert_eq!(
        (s.control_malformed, s.control_garbage_bytes),
        (0, 0),
        "TRACE_LOAD is parsed, not skipped: {s:?}"
    );
    let lines = receiver
        .wait_for_count(
            |l| l.apid == APP && l.kind == "log",
            (s.written + s.summaries) as usize,
            ARRIVAL,
        )
        .unwrap_or_else(|e| panic!("{e}\n{s:?}\n{}", daemon.log_text()));
    let (arrived, count, trace_load) = tally(&lines);
    assert_eq!(
        arrived + dropped,
        N,
        "dropped by the limit + arrived = emitted: {s:?}"
    );
    assert_eq!(
        (count, trace_load),
        (dropped, dropped),
        "the summaries report every drop, by that cause: {s:?}"
    );
    eprintln!(
        "trace load: {N} emitted, {arrived} arrived, {dropped} dropped by the hard limit, \
         in {} summaries",
        s.summaries
    );
    drop(guard);
}
