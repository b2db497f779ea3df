//! The UNIX-socket transport against an in-process fake daemon that reads
//! slowly (issue 12): with a small send buffer the kernel takes the
//! layer's batches in parts, and still every record arrives whole, once
//! and in order, after the registration; the daemon's messages come back
//! on the same connection. Needs no installed tool.

use std::time::Duration;

use layer_tests::fake_daemon::{
    describe, FakeSocketDaemon, LOG, REGISTER_APPLICATION, REGISTER_CONTEXT,
};
use layer_tests::wait_until;
use taktora_log::DltLayer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(30);

/// Records logged.
const N: u32 = 3000;

/// The fake daemon's read size and its pause after each read: a slow
/// reader.
const READ_CHUNK: usize = 97;
const READ_PAUSE: Duration = Duration::from_micros(20);

/// LOG_STATE (12) "a client is connected" and LOG_LEVEL (6) "DEBUG" for
/// `log_level_pos` 0, as the daemon writes them (host byte order).
fn daemon_replies() -> Vec<u8> {
    let mut v = b"DUH\x01".to_vec();
    v.extend(12u32.to_ne_bytes());
    v.push(1);
    v.extend(b"DUH\x01");
    v.extend(6u32.to_ne_bytes());
    v.extend([5u8, 0u8]);
    v.extend(0i32.to_ne_bytes());
    v
}

#[test]
fn slow_socket_daemon_gets_every_record_whole_once_in_order_despite_partial_writes() {
    let dir = tempfile::Builder::new()
        .prefix("taktora-sock-")
        .tempdir()
        .expect("temp dir");
    let mut daemon = FakeSocketDaemon::start(dir.path(), READ_CHUNK, READ_PAUSE);
    let (layer, guard) = DltLayer::builder("SOCK")
        .with_default_context("SLOW", "slow reader")
        .with_channel_capacity(N as usize)
        // Linux raises it to its minimum (about 4.5 KiB): a batch of
        // 4 KiB no longer fits one kernel buffer (half of that), so the
        // kernel takes batches in parts.
        .with_socket_send_buffer(1024)
        .with_pipe_dir(dir.path())
        .build()
        .expect("build the layer");
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.clone().with_filter(levels));
    let pad = "x".repeat(250);

    // Registration first, then the daemon answers on the same socket.
    let reg = daemon.read_until(ARRIVAL, |m| m.len() == 3);
    let kinds: Vec<u32> = reg.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [REGISTER_APPLICATION, REGISTER_CONTEXT, REGISTER_CONTEXT],
        "registration first: {:?}",
        describe(&reg)
    );
    daemon.send(&daemon_replies());
    wait_until(
        ARRIVAL,
        "the LOG_LEVEL and LOG_STATE sent on the socket",
        || layer.stats(),
        |s| s.levels_applied == 1 && s.log_state == 1,
    );

    tracing::subscriber::with_default(subscriber, || {
        for n in 0..N {
            // DEBUG passes: the daemon set the default context to DEBUG.
            tracing::debug!("rec-{n:06} {pad}");
        }
    });
    let logs = daemon.read_until(ARRIVAL, |m| m.len() == N as usize);
    for (i, m) in logs.iter().enumerate() {
        assert_eq!(m.kind, LOG, "message {i}: {:?}", describe(&logs[i..=i]));
        // Whole: dlt_parse decodes it, and its LEN matches the envelope.
        m.packet();
        assert_eq!(m.rec(), Some(i as u32), "record {i} once, in order");
    }
    let out = guard.flush(ARRIVAL);
    assert!(out.complete && out.pending == 0, "{out:?}");
    let s = guard.stats();
    assert_eq!(
        (s.emitted, s.written),
        (u64::from(N), u64::from(N)),
        "{s:?}"
    );
    assert_eq!(s.dropped_queue_full + s.dropped_ring_full, 0, "{s:?}");
    assert!(
        s.partial_writes > 0,
        "the slow reader forced partial writes: {s:?}"
    );
    assert_eq!(
        (s.control_malformed, s.control_garbage_bytes),
        (0, 0),
        "{s:?}"
    );
    eprintln!(
        "socket: {N} records whole and in order through {} partial writes",
        s.partial_writes
    );
}
