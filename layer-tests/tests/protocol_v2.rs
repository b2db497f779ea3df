//! A daemon that speaks DLT protocol v2 (dlt-daemon 3.0.0 started with
//! `-x 2`) misreads protocol-v1 messages (issue 12). On a UNIX-socket
//! daemon, which answers on the connection, the layer detects it from the
//! `DUH\x02` answer to its registration and makes it a counted state:
//! nothing is written (never counted as written), every record is counted
//! in `dropped_protocol_v2`, and `daemon_speaks_protocol_v2` says why.

use std::time::Duration;

use layer_tests::fake_daemon::FakeSocketDaemon;
use layer_tests::{require_variant, PrivateDaemon, V3_0_0_SOCKET};
use taktora_log::{DltLayer, FlushGuard};
use tracing_subscriber::layer::SubscriberExt;

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(30);

/// Logs `n` records through `layer`, flushes, and checks the counted
/// protocol-v2 state.
fn log_and_check(layer: DltLayer, guard: &FlushGuard, n: u64) {
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..n {
            tracing::info!("v2-{i}");
        }
    });
    let out = guard.flush(ARRIVAL);
    assert!(out.complete, "{out:?} {:?}", guard.stats());
    let s = guard.stats();
    assert!(s.daemon_speaks_protocol_v2, "{s:?}");
    assert_eq!(s.written, 0, "nothing counted as written: {s:?}");
    assert_eq!(
        s.dropped_protocol_v2, n,
        "every record, by that cause: {s:?}"
    );
    assert_eq!(s.emitted, n, "{s:?}");
}

#[test]
#[cfg_attr(
    any(no_dlt_tools, no_daemon_3_0_0_socket),
    ignore = "dlt-daemon 3.0.0-socket not built: run scripts/build-daemons.sh"
)]
fn a_3_0_0_socket_daemon_started_with_x_2_is_a_counted_state_never_written() {
    if !require_variant(&V3_0_0_SOCKET) {
        return;
    }
    let daemon = PrivateDaemon::start_variant(&V3_0_0_SOCKET, &[], &["-x", "2"])
        .expect("start dlt-daemon 3.0.0 -x 2");
    let (layer, guard) = DltLayer::builder("PV2A")
        .with_pipe_dir(daemon.pipe_dir())
        .build()
        .expect("build the layer");
    log_and_check(layer, &guard, 6);
}

#[test]
fn a_fake_socket_daemon_answering_duh_2_is_detected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut fake = FakeSocketDaemon::start(dir.path(), 4096, Duration::ZERO);
    let (layer, guard) = DltLayer::builder("PV2F")
        .with_pipe_dir(dir.path())
        .build()
        .expect("build the layer");
    // What 3.0.0 -x 2 writes back at registration: a v2 LOG_STATE.
    fake.read_until(ARRIVAL, |m| m.len() == 3);
    let mut v2 = b"DUH\x02".to_vec();
    v2.extend(12u32.to_ne_bytes());
    v2.push(1);
    fake.send(&v2);
    log_and_check(layer, &guard, 4);
}
