//! REQ_0812 after a quiet spell: with the default `FlusherWake::Poll` no
//! logging call wakes the flusher (no system call on the calling thread),
//! and the records still reach the daemon on their own, without a flush;
//! with `FlusherWake::OnRecord` the first record after a quiet spell wakes
//! it, once. Against the in-process fake daemon.

use std::time::Duration;

use layer_tests::fake_daemon::{FakeDaemon, LOG};
use taktora_log::{DltLayer, FlusherWake, Stats};
use tracing_subscriber::prelude::*;

/// Generous bound for a record to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(20);

/// Longer than the flusher's 50 ms hot window: after it, the flusher is
/// idle.
const QUIET: Duration = Duration::from_millis(200);

/// Quiet spells, and records logged after each.
const SPELLS: u64 = 4;
const PER_SPELL: u64 = 3;

/// Logs `PER_SPELL` records after each of `SPELLS` quiet spells, and
/// waits, without a flush, until the fake daemon has read them; the
/// pipeline's stats then.
fn quiet_spells(wake: Option<FlusherWake>) -> Stats {
    let dir = tempfile::Builder::new()
        .prefix("taktora-wake-")
        .tempdir()
        .expect("temp dir");
    let mut fake = FakeDaemon::start(dir.path(), None);
    let mut b = DltLayer::builder("WAKE").with_pipe_dir(dir.path());
    if let Some(w) = wake {
        b = b.with_flusher_wake(w);
    }
    let (layer, guard) = b.build().expect("build the layer");
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(levels));
    tracing::subscriber::with_default(subscriber, || {
        for spell in 0..SPELLS {
            // A pause to create the quiet spell, not to wait for anything.
            std::thread::sleep(QUIET);
            for i in 0..PER_SPELL {
                tracing::error!(spell, i, "after a quiet spell");
            }
            // No flush: the flusher must find the records by itself.
            let logs = |m: &[layer_tests::fake_daemon::Msg]| {
                m.iter().filter(|m| m.kind == LOG).count() as u64 >= PER_SPELL
            };
            fake.read_until(ARRIVAL, logs);
        }
    });
    // The daemon can read a batch before the flusher counts it as
    // written; the flush (a control message, not a producer's wake-up)
    // waits for the count.
    let out = guard.flush(ARRIVAL);
    let s = guard.stats();
    assert!(out.complete, "{out:?} {s:?}");
    assert_eq!(s.written, SPELLS * PER_SPELL, "{s:?}");
    s
}

#[test]
fn req_0812_by_default_no_logging_call_wakes_an_idle_flusher() {
    let s = quiet_spells(None);
    assert_eq!(
        s.producer_wakeups, 0,
        "a logging call woke the flusher (a system call on the caller): {s:?}"
    );
}

#[test]
fn req_0812_a_short_idle_poll_still_lets_no_call_wake_the_flusher() {
    let s = quiet_spells(Some(FlusherWake::Poll(taktora_log::MIN_IDLE_POLL)));
    assert_eq!(s.producer_wakeups, 0, "{s:?}");
}

#[test]
fn on_record_wakes_the_idle_flusher_at_most_once_per_quiet_spell() {
    let s = quiet_spells(Some(FlusherWake::OnRecord));
    // The flusher sleeps once its hot window is over; a quiet spell four
    // times as long leaves it asleep for (almost) every first record.
    assert!(
        (1..=SPELLS).contains(&s.producer_wakeups),
        "expected 1 to {SPELLS} wake-ups, one per quiet spell at most: {s:?}"
    );
}
