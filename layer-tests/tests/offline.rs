//! The offline ring, reconnect drain and drop accounting (FEAT_0076):
//! TEST_0812, TEST_0814 (mid-drain failure), REQ_0815, against an
//! in-process fake daemon (a FIFO this test reads), and a chaos test
//! against the real `dlt-daemon` killed and restarted under a steady load.

use std::path::Path;
use std::time::{Duration, Instant};

use layer_tests::fake_daemon::{
    describe as kinds, FakeDaemon, Msg, LOG, OVERFLOW, REGISTER_APPLICATION,
};
use layer_tests::{thread_context_switches as context_switches, thread_cpu_time, wait_until};
use taktora_log::{DltLayer, FlushGuard, Stats};
use tracing_subscriber::prelude::*;

/// Generous bound for anything to happen on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(20);

/// The producer-side bound of REQ_0812.
const PUSH_BOUND: Duration = Duration::from_millis(5);

// === helpers ===

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("taktora-offline-")
        .tempdir()
        .expect("temp dir")
}

fn build(
    dir: &Path,
    f: impl FnOnce(taktora_log::DltLayerBuilder) -> taktora_log::DltLayerBuilder,
) -> (DltLayer, FlushGuard) {
    let b = DltLayer::builder("OFFL")
        .with_pipe_dir(dir)
        .with_reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50));
    f(b).build().expect("build the layer")
}

/// Runs `body` with `layer` as the thread's subscriber.
fn with_layer<R>(layer: &DltLayer, body: impl FnOnce() -> R) -> R {
    let levels = layer.levels();
    let subscriber = tracing_subscriber::registry().with(layer.clone().with_filter(levels));
    tracing::subscriber::with_default(subscriber, body)
}

fn dropped(s: &Stats) -> u64 {
    s.dropped_queue_full + s.dropped_ring_full
}

/// Waits for the registration in `fake`'s pipe, then answers it without
/// reading it (a daemon that answered and then stalled): the flusher
/// writes records only after the answer.
fn answer_unread_registration(fake: &FakeDaemon) {
    wait_until(
        ARRIVAL,
        "the registration in the pipe",
        || fake.unread(),
        |unread| *unread > 0,
    );
    fake.answer_registration();
}

// === TEST_0812 ===

/// Nanoseconds this thread has spent runnable but waiting for a CPU
/// (the second field of `/proc/thread-self/schedstat`).
fn run_delay_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    text.split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// How the `tracing::error!` calls of [`timed_errors`] went.
#[derive(Debug, Default)]
struct Timing {
    /// The slowest call that was not preempted, and its record number.
    worst: (Duration, u32),
    /// Calls over the bound during which the scheduler preempted the
    /// thread (an involuntary context switch, or a millisecond or more
    /// runnable without a CPU): time the machine took, not time the
    /// logger waited.
    preempted_over_bound: Vec<(Duration, u32)>,
    /// Calls during which the thread gave up the CPU itself (a wait).
    voluntary_switches: i64,
    /// Write-family system calls the thread made during the calls.
    write_syscalls: u64,
    /// The most CPU time one call used.
    worst_cpu: Duration,
}

/// Write-family system calls (`write`, `writev`, ...) this thread has
/// made, from `/proc/thread-self/io` (`syscw`).
fn write_syscalls() -> u64 {
    std::fs::read_to_string("/proc/thread-self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("syscw:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("syscw in /proc/thread-self/io")
}

/// Emits the records of `range`, timing each call, and checks REQ_0812:
/// the calling thread makes no write system call (all I/O is the
/// flusher's), every call that the scheduler did not preempt returns
/// within [`PUSH_BOUND`], and waits are rare.
///
/// A wait (voluntary context switch) can happen without I/O: the channel
/// is a `flume` queue behind a mutex the flusher takes too, and if the
/// flusher is preempted while holding it a producer waits for it (seen 1
/// or 2 times in 3000 calls on a busy 2-core machine, each call still
/// under 50 µs). Such calls count against the same 5 ms bound.
fn timed_errors(layer: &DltLayer, range: std::ops::Range<u32>, pad: &str) -> Timing {
    let calls = range.len();
    let t = with_layer(layer, || {
        let mut t = Timing::default();
        let writes_before = write_syscalls();
        for i in range {
            let d0 = run_delay_ns();
            let (v0, i0) = context_switches();
            let c0 = thread_cpu_time();
            let t0 = Instant::now();
            tracing::error!("rec-{i:06} {pad}");
            let took = t0.elapsed();
            let cpu = thread_cpu_time() - c0;
            let (v1, i1) = context_switches();
            let waited_for_cpu = Duration::from_nanos(run_delay_ns() - d0);
            t.voluntary_switches += v1 - v0;
            t.worst_cpu = t.worst_cpu.max(cpu);
            // With no voluntary switch, time off the CPU was taken from
            // the thread, not given up by it.
            let off_cpu = took.saturating_sub(cpu);
            let preempted =
                i1 > i0 || waited_for_cpu >= PUSH_BOUND / 5 || off_cpu >= PUSH_BOUND / 2;
            if preempted && took >= PUSH_BOUND {
                t.preempted_over_bound.push((took, i));
            } else {
                t.worst = t.worst.max((took, i));
            }
        }
        t.write_syscalls = write_syscalls() - writes_before;
        t
    });
    assert!(
        t.worst.0 < PUSH_BOUND,
        "slowest push (bound {PUSH_BOUND:?}): {t:?}"
    );
    assert_eq!(t.write_syscalls, 0, "a push wrote (REQ_0812): {t:?}");
    assert!(
        t.voluntary_switches as usize <= calls / 100,
        "pushes waited in over 1% of the calls: {t:?}"
    );
    assert!(
        t.worst_cpu < PUSH_BOUND,
        "a push computed for too long: {t:?}"
    );
    assert!(
        t.preempted_over_bound.len() <= 30,
        "over 1% of the calls were preempted: too loaded to judge: {t:?}"
    );
    t
}

#[test]
fn test_0812_push_returns_within_5ms_while_transport_stuck() {
    // (a) A FIFO whose reader never reads: fill it until the flusher is
    // stuck on EAGAIN, and keep logging.
    let dir = temp_dir();
    let mut fake = FakeDaemon::start(dir.path(), Some(4096));
    let (layer, guard) = build(dir.path(), |b| b);
    answer_unread_registration(&fake);
    let pad = "x".repeat(200);
    timed_errors(&layer, 0..50, &pad);
    // A one-page pipe holds the registration; a batch of records does not
    // fit next to it, so the flusher waits on EAGAIN.
    wait_until(
        ARRIVAL,
        "the flusher to be stuck",
        || (fake.unread(), guard.stats()),
        |(unread, s)| *unread > 0 && s.buffered > 0,
    );
    let timing = timed_errors(&layer, 50..3000, &pad);
    let s = guard.stats();
    assert!(
        s.queued + s.buffered > 0 && s.written < 3000,
        "the transport must really be stuck: {s:#?}"
    );
    eprintln!("stuck FIFO: {timing:?}");
    // The reader appears: the newest record arrives, after a summary of
    // what the full channel dropped.
    let msgs = fake.read_until(ARRIVAL, |m| m.iter().any(|m| m.rec() == Some(2999)));
    let out = guard.flush(ARRIVAL);
    assert!(out.complete, "{out:?} {:#?}", guard.stats());
    let s = guard.stats();
    let delivered = msgs.iter().filter(|m| m.rec().is_some()).count() as u64;
    let reported: u64 = msgs
        .iter()
        .filter(|m| m.is_summary())
        .map(|m| m.summary_field("count"))
        .sum();
    assert_eq!(delivered, s.written, "{s:#?}");
    assert_eq!(delivered + reported, 3000, "conservation: {s:#?}");
    assert_eq!(reported, dropped(&s), "{s:#?}");

    // (b) No daemon at all.
    let dir = temp_dir();
    let (layer, guard) = build(dir.path(), |b| b.with_ring_capacity(64));
    let timing = timed_errors(&layer, 0..3000, "no daemon");
    eprintln!("no daemon: {timing:?}");
    assert_eq!(guard.stats().written, 0);
    // Records still in the channel when the daemon appears would be
    // delivered too: let the flusher move them all into the ring first.
    wait_until(
        ARRIVAL,
        "every record moved from the channel into the full ring",
        || guard.stats(),
        |s| s.queued == 0 && s.buffered == 64,
    );
    let mut fake = FakeDaemon::start(dir.path(), None);
    let msgs = fake.read_until(ARRIVAL, |m| m.iter().any(|m| m.rec() == Some(2999)));
    let recs: Vec<u32> = msgs.iter().filter_map(Msg::rec).collect();
    assert_eq!(
        recs,
        (2936..3000).collect::<Vec<_>>(),
        "the ring's 64 newest, in order"
    );
    assert!(msgs
        .iter()
        .any(|m| m.is_summary() && m.summary_field("count") == 2936));
}

// === TEST_0814 mid-drain failure ===

#[test]
fn test_0814_mid_drain_failure_keeps_unwritten_suffix_in_order() {
    let dir = temp_dir();
    let (layer, guard) = build(dir.path(), |b| b.with_ring_capacity(16));
    // Five records of 1372 bytes: the flusher's atomic writes (at most
    // PIPE_BUF = 4096 bytes) carry two of them each.
    let pad = "p".repeat(1320);
    with_layer(&layer, || {
        for i in 0..5 {
            tracing::error!("rec-{i:06} {pad}");
        }
    });
    wait_until(
        ARRIVAL,
        "five records in the ring",
        || guard.stats(),
        |s| s.buffered == 5,
    );

    // A one-page pipe: registration plus the first write of records fit,
    // the second write gets EAGAIN, so the flusher waits with [2, 3, 4].
    let mut fake = FakeDaemon::start(dir.path(), Some(4096));
    answer_unread_registration(&fake);
    wait_until(
        ARRIVAL,
        "the first write of records",
        || guard.stats(),
        |s| s.written == 2 && s.buffered == 3,
    );
    // The fake daemon reads the registration and exactly one record ...
    let mut got = fake.read_until(ARRIVAL, |m| m.iter().any(|m| m.kind == LOG));
    assert_eq!(got.last().and_then(Msg::rec), Some(0), "{:?}", kinds(&got));
    assert!(fake.unread() > 0, "record 1 is still unread in the pipe");
    // ... and goes away, with record 1 unread in its pipe. Reading one
    // record freed no whole page, so nothing more could be written.
    drop(fake);
    wait_until(
        ARRIVAL,
        "the flusher to notice the loss",
        || guard.stats(),
        |s| s.disconnects == 1,
    );
    let s = guard.stats();
    assert_eq!(
        (s.written, s.buffered),
        (2, 3),
        "nothing else left the ring: {s:#?}"
    );

    // A new daemon: the ring's suffix arrives in order, after the summary
    // that reports record 1 (and, as a bound, record 0 of the same write)
    // as unconfirmed.
    std::fs::remove_file(dir.path().join("dlt")).expect("remove the dead FIFO");
    let mut fake = FakeDaemon::start(dir.path(), None);
    got = fake.read_until(ARRIVAL, |m| m.iter().any(|m| m.rec() == Some(4)));
    let logs: Vec<&Msg> = got.iter().filter(|m| m.kind == LOG).collect();
    assert!(logs[0].is_summary(), "{:?}", kinds(&got));
    assert_eq!(logs[0].summary_field("count"), 0);
    // libdlt sends OVERFLOW only for a non-zero count; a notice of zero
    // dropped messages would only confuse DLT tools.
    assert!(!got.iter().any(|m| m.kind == OVERFLOW), "{:?}", kinds(&got));
    let unconfirmed = logs[0].summary_field("unconfirmed");
    assert!((1..=2).contains(&unconfirmed), "unconfirmed={unconfirmed}");
    let recs: Vec<u32> = logs[1..].iter().filter_map(|m| m.rec()).collect();
    assert_eq!(recs, [2, 3, 4], "{:?}", kinds(&got));
    assert!(guard.flush(ARRIVAL).complete);
    assert_eq!(guard.stats().written, 5);
}

// === REQ_0815 ===

#[test]
fn req_0815_ring_overflow_yields_one_leading_summary_then_survivors() {
    let dir = temp_dir();
    let (layer, guard) = build(dir.path(), |b| b.with_ring_capacity(4));
    with_layer(&layer, || {
        for i in 0..10 {
            tracing::warn!("rec-{i:06}");
        }
    });
    wait_until(
        ARRIVAL,
        "six ring drops",
        || guard.stats(),
        |s| s.queued == 0 && s.dropped_ring_full == 6,
    );

    let mut fake = FakeDaemon::start(dir.path(), None);
    let got = fake.read_until(ARRIVAL, |m| m.iter().any(|m| m.rec() == Some(9)));
    let k = kinds(&got);
    let first_log = got.iter().position(|m| m.kind == LOG).expect("a LOG");
    // Registration, then OVERFLOW and the summary, then the survivors.
    assert!(got[..first_log].iter().all(|m| m.kind != LOG), "{k:?}");
    assert_eq!(got[0].kind, REGISTER_APPLICATION, "{k:?}");
    let overflow = got
        .iter()
        .position(|m| m.kind == OVERFLOW)
        .expect("OVERFLOW");
    assert_eq!(overflow, first_log - 1, "{k:?}");
    assert_eq!(
        u32::from_ne_bytes(got[overflow].bytes[8..12].try_into().unwrap()),
        6
    );
    assert!(got[first_log].is_summary(), "{k:?}");
    assert_eq!(got[first_log].summary_field("count"), 6);
    assert_eq!(got[first_log].summary_field("unconfirmed"), 0);
    assert!(got[first_log].contains("first_dropped_at=20"), "{k:?}");
    assert!(got[first_log].contains(" OFFL") || got[first_log].contains("OFFL"));
    assert!(
        got[first_log].contains("TLOG"),
        "reserved diagnostic context"
    );
    let recs: Vec<u32> = got.iter().filter_map(Msg::rec).collect();
    assert_eq!(recs, [6, 7, 8, 9]);
    assert_eq!(got.iter().filter(|m| m.is_summary()).count(), 1);
    assert!(guard.flush(ARRIVAL).complete);
    assert_eq!(guard.stats().summaries, 1);

    // A second reconnect with no new drops: registration, no summary.
    drop(fake);
    std::fs::remove_file(dir.path().join("dlt")).expect("remove the FIFO");
    wait_until(
        ARRIVAL,
        "the flusher to notice the loss",
        || guard.stats(),
        |s| s.disconnects == 1,
    );
    let mut fake = FakeDaemon::start(dir.path(), None);
    with_layer(&layer, || tracing::warn!("rec-{:06}", 10));
    let got = fake.read_until(ARRIVAL, |m| m.iter().any(|m| m.rec() == Some(10)));
    assert_eq!(got[0].kind, REGISTER_APPLICATION, "{:?}", kinds(&got));
    assert!(
        !got.iter().any(|m| m.is_summary() || m.kind == OVERFLOW),
        "{:?}",
        kinds(&got)
    );
    assert_eq!(guard.stats().connects, 2);
    assert_eq!(guard.stats().summaries, 1);
}

#[test]
fn req_0815_drops_while_connected_are_reported_at_the_next_write() {
    let dir = temp_dir();
    let mut fake = FakeDaemon::start(dir.path(), Some(4096));
    let (layer, guard) = build(dir.path(), |b| {
        b.with_channel_capacity(8).with_ring_capacity(8)
    });
    answer_unread_registration(&fake);
    let pad = "c".repeat(200);
    // Connected, the daemon reads nothing: the one-page pipe fills, then
    // the ring; from then on the channel drops its oldest.
    let mut n = 0u32;
    with_layer(&layer, || {
        let deadline = Instant::now() + ARRIVAL;
        while !(fake.unread() > 0 && guard.stats().buffered > 0 && guard.stats().queued == 8) {
            assert!(
                Instant::now() < deadline,
                "never stuck: {:#?}",
                guard.stats()
            );
            tracing::error!("rec-{n:06} {pad}");
            n += 1;
        }
        for _ in 0..200 {
            tracing::error!("rec-{n:06} {pad}");
            n += 1;
        }
    });
    let before = guard.stats();
    assert!(before.dropped_queue_full > 0, "{before:#?}");
    assert_eq!(before.disconnects, 0, "congestion is not a disconnect");
    let last = n - 1;
    let got = fake.read_until(ARRIVAL, |m| m.iter().any(|m| m.rec() == Some(last)));
    assert!(guard.flush(ARRIVAL).complete);
    let s = guard.stats();
    let k = kinds(&got);
    let recs: Vec<u32> = got.iter().filter_map(Msg::rec).collect();
    assert!(
        recs.windows(2).all(|w| w[0] < w[1]),
        "in order, none twice: {k:?}"
    );
    let summaries: Vec<&Msg> = got.iter().filter(|m| m.is_summary()).collect();
    assert!(!summaries.is_empty(), "{k:?}");
    let reported: u64 = summaries.iter().map(|m| m.summary_field("count")).sum();
    assert_eq!(reported, dropped(&s), "{s:#?}");
    assert_eq!(
        recs.len() as u64 + reported,
        u64::from(n),
        "conservation: {k:?} {s:#?}"
    );
    // Every gap in the numbers is covered by a summary written before the
    // next record after the gap.
    let mut reported_so_far = 0;
    let mut expected_next = 0;
    for m in &got {
        if m.is_summary() {
            reported_so_far += m.summary_field("count");
        } else if let Some(r) = m.rec() {
            assert!(
                u64::from(r) <= expected_next + reported_so_far,
                "record {r} arrived before the summary of the records before it: {k:?}"
            );
            expected_next += 1;
        }
    }
}

// === chaos: the real daemon killed and restarted under a steady load ===

/// Records the chaos test emits at least.
const CHAOS_RECORDS: u32 = 20_000;
/// Daemon restarts, alternating SIGKILL and SIGTERM.
const CHAOS_RESTARTS: usize = 6;
/// Most records one read of a daemon can take from its FIFO: its read
/// buffer (65535 bytes) over our smallest `rec-NNNNNN` frame (over 40).
const DAEMON_READ_RECORDS: u64 = 65_535 / 40;

/// What one daemon incarnation's receiver saw from our application.
#[derive(Debug, Default)]
struct Incarnation {
    /// Record numbers, in arrival order.
    recs: Vec<u32>,
    /// (count, unconfirmed, index among our log lines) of each summary.
    summaries: Vec<(u64, u64, usize)>,
    /// Index of the daemon's "ApplicationID 'CHAO' registered" line and of
    /// our first log line, among all the receiver's lines.
    registered_at: Option<usize>,
    first_log_at: Option<usize>,
    /// For each of our contexts, the index of the first `get_log_info`
    /// response (sent by the daemon for every REGISTER_CONTEXT, with
    /// `SendContextRegistration = 1`) that lists it under our app.
    contexts_at: Vec<(&'static str, Option<usize>)>,
}

/// Our contexts: the default one and the reserved diagnostic one.
const CHAOS_CONTEXTS: [&str; 2] = ["DFLT", "TLOG"];

/// `id` as `dlt-receive` prints payload bytes: `43 48 41 4f`.
fn hex_id(id: &str) -> String {
    id.bytes()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn field(args: &str, name: &str) -> u64 {
    let start = args.find(&format!("{name}=")).expect("field") + name.len() + 1;
    args[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("number")
}

fn incarnation(receiver: &layer_tests::Receiver) -> Incarnation {
    let mut inc = Incarnation {
        contexts_at: CHAOS_CONTEXTS.iter().map(|c| (*c, None)).collect(),
        ..Incarnation::default()
    };
    let app = hex_id("CHAO");
    let mut ours = 0;
    for (i, raw) in receiver.lines().iter().enumerate() {
        if raw.contains("[get_log_info, 07,") && raw.contains(&app) {
            for (ctx, at) in &mut inc.contexts_at {
                if at.is_none() && raw.contains(&format!("{app} 01 00 {}", hex_id(ctx))) {
                    *at = Some(i);
                }
            }
        }
        if raw.contains("ApplicationID 'CHAO' registered") && inc.registered_at.is_none() {
            inc.registered_at = Some(i);
        }
        let Some(l) = layer_tests::parse_line(raw) else {
            continue;
        };
        if l.apid != "CHAO" || l.kind != "log" {
            continue;
        }
        inc.first_log_at.get_or_insert(i);
        if l.ctid == "TLOG" && l.args.contains("taktora.log.dropped count=") {
            assert_eq!(l.level, "warn", "{raw}");
            inc.summaries
                .push((field(&l.args, "count"), field(&l.args, "unconfirmed"), ours));
        } else if let Some(n) = l.args.strip_prefix("rec-") {
            inc.recs.push(n[..6].parse().expect("record number"));
        } else {
            panic!("unexpected line from our app: {raw}");
        }
        ours += 1;
    }
    inc
}

layer_tests::daemon_matrix!(chaos_daemon_killed_and_restarted_under_steady_load_conserves_records);
fn chaos_daemon_killed_and_restarted_under_steady_load_conserves_records(
    v: &'static layer_tests::DaemonVariant,
) {
    use layer_tests::{PrivateDaemon, Receiver, Signal};
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;

    let mut daemon = PrivateDaemon::start_variant(v, &[], &[]).expect("start private dlt-daemon");
    let mut receivers = vec![Receiver::start(daemon.port()).expect("start dlt-receive")];
    let (layer, guard) = DltLayer::builder("CHAO")
        .with_pipe_dir(daemon.pipe_dir())
        // Small enough that every outage overflows it: drops to report.
        .with_ring_capacity(128)
        .with_reconnect_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .build()
        .expect("build the layer");

    let stop = Arc::new(AtomicBool::new(false));
    let emitted = Arc::new(AtomicU32::new(0));
    let producer = {
        let (stop, emitted, layer) = (stop.clone(), emitted.clone(), layer.clone());
        std::thread::spawn(move || {
            with_layer(&layer, || {
                let mut n = 0u32;
                while n < CHAOS_RECORDS || !stop.load(Ordering::Relaxed) {
                    tracing::info!("rec-{n:06}");
                    n += 1;
                    emitted.store(n, Ordering::Relaxed);
                    // Pacing for a steady rate, not synchronisation.
                    std::thread::sleep(Duration::from_micros(100));
                }
                n
            })
        })
    };

    for k in 0..CHAOS_RESTARTS {
        // Let records flow into this incarnation (pacing, not sync).
        let before = emitted.load(Ordering::Relaxed);
        let deadline = Instant::now() + ARRIVAL;
        while emitted.load(Ordering::Relaxed) < before + 1500 {
            assert!(Instant::now() < deadline, "the producer stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
        let sig = if k % 2 == 0 {
            Signal::Kill
        } else {
            Signal::Term
        };
        daemon
            .kill(sig)
            .unwrap_or_else(|e| panic!("kill {sig:?}: {e}\n{}", daemon.log_text()));
        // Stay down for 400 records: more than the ring holds, so the
        // outage drops records and the next incarnation gets a summary.
        let down = emitted.load(Ordering::Relaxed);
        while emitted.load(Ordering::Relaxed) < down + 400 {
            assert!(Instant::now() < deadline + ARRIVAL, "the producer stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
        daemon
            .restart()
            .unwrap_or_else(|e| panic!("restart: {e}\n{}", daemon.log_text()));
        receivers.push(Receiver::start(daemon.port()).expect("start dlt-receive"));
    }
    stop.store(true, Ordering::Relaxed);
    let n = producer.join().expect("producer thread");
    assert!(n >= CHAOS_RECORDS);
    let out = guard.flush(ARRIVAL);
    assert!(out.complete, "{out:?} {:#?}", guard.stats());
    let s = guard.stats();
    let last = receivers.last().expect("a receiver");
    // Everything written to the live daemon arrives at its receiver.
    last.wait_for(
        |lines| {
            lines
                .iter()
                .any(|l| l.contains(&format!("rec-{:06}", n - 1)))
        },
        ARRIVAL,
        "the last record",
    )
    .unwrap_or_else(|e| panic!("{e}\n{:#?}\n{}", s, daemon.log_text()));

    let incs: Vec<Incarnation> = receivers.iter().map(incarnation).collect();
    let all: Vec<u32> = incs.iter().flat_map(|i| i.recs.iter().copied()).collect();
    let summary = |i: &Incarnation| {
        format!(
            "{} recs {:?}..{:?}, summaries {:?}",
            i.recs.len(),
            i.recs.first(),
            i.recs.last(),
            i.summaries
        )
    };
    let report: Vec<String> = incs.iter().map(summary).collect();
    let ctx = format!("emitted {n}, stats {s:#?}\nincarnations {report:#?}");

    // In emission order, none twice.
    if let Some(w) = all.windows(2).find(|w| w[0] >= w[1]) {
        panic!("out of order or twice: {} then {}\n{ctx}", w[0], w[1]);
    }
    // Every summary is the first of our records after its reconnect.
    for (k, inc) in incs.iter().enumerate() {
        for &(_, _, at) in &inc.summaries {
            assert_eq!(at, 0, "incarnation {k}: summary not first\n{ctx}");
        }
        assert!(inc.summaries.len() <= 1, "incarnation {k}\n{ctx}");
        if k > 0 {
            // The daemon announced the re-registration before our logs.
            let (Some(reg), Some(first)) = (inc.registered_at, inc.first_log_at) else {
                panic!("incarnation {k}: no registration or no logs\n{ctx}");
            };
            assert!(
                reg < first,
                "incarnation {k}: logs before registration\n{ctx}"
            );
            for (c, at) in &inc.contexts_at {
                assert!(
                    at.is_some_and(|at| at < first),
                    "incarnation {k}: context {c} not re-registered before our logs \
                     ({at:?}, first log {first})\n{ctx}"
                );
            }
        }
    }
    // Every record missing before an incarnation's last record is
    // accounted for by that incarnation's summary: the ring's drops during
    // the outage exactly, the previous daemon's unread FIFO as a bound.
    //
    // One loss no application can see: records a SIGKILLed daemon had
    // already read from its FIFO (so they are neither in the pipe nor
    // counted by FIONREAD) but not yet forwarded to dlt-receive die in
    // the daemon's own memory. They belong to the daemon, as its own
    // buffers do; libdlt loses them the same way. They are the newest
    // records written before the kill (the gap right after the previous
    // incarnation's last record), at most one daemon read buffer
    // (DLT_RECEIVE_BUFSIZE, 65535 bytes) of them, and only after SIGKILL:
    // a SIGTERMed daemon forwards what it read before it exits.
    let mut next = 0u64;
    let mut lost_in_daemon = 0u64;
    for (k, inc) in incs.iter().enumerate() {
        let Some(&last) = inc.recs.last() else {
            panic!("incarnation {k} received no records\n{ctx}");
        };
        let missing = u64::from(last) + 1 - next - inc.recs.len() as u64;
        let (c, u) = inc.summaries.first().map_or((0, 0), |s| (s.0, s.1));
        let mut gaps = Vec::new();
        let mut expect = next as u32;
        for &r in &inc.recs {
            if r != expect {
                gaps.push(expect..r);
            }
            expect = r + 1;
        }
        let prev_last = k.checked_sub(1).and_then(|p| incs[p].recs.last());
        let after_sigkill = k > 0 && (k - 1) % 2 == 0;
        let unseen = missing.saturating_sub(c + u);
        if after_sigkill && unseen > 0 {
            assert!(
                gaps.len() == 1 && gaps[0].start as u64 == next && unseen <= DAEMON_READ_RECORDS,
                "incarnation {k}: {unseen} records lost beyond the report are not \
                 the newest before the SIGKILL: gaps {gaps:?}\n{ctx}"
            );
            lost_in_daemon += unseen;
        }
        assert!(
            c <= missing && missing <= c + u + if after_sigkill { unseen } else { 0 },
            "incarnation {k}: {missing} missing, summary count={c} unconfirmed={u}, \
             gaps {gaps:?}, previous incarnation's last {prev_last:?}, this one's first {:?}\n{ctx}",
            inc.recs.first()
        );
        next = u64::from(last) + 1;
    }
    // Conservation.
    let delivered = all.len() as u64;
    let count: u64 = incs.iter().flat_map(|i| &i.summaries).map(|s| s.0).sum();
    let unconfirmed: u64 = incs.iter().flat_map(|i| &i.summaries).map(|s| s.1).sum();
    let summaries = incs.iter().map(|i| i.summaries.len() as u64).sum::<u64>();
    assert_eq!(s.emitted, u64::from(n), "{ctx}");
    assert_eq!(
        count,
        dropped(&s),
        "summed counts = the layer's drops\n{ctx}"
    );
    assert!(
        u64::from(n) - delivered <= count + unconfirmed + lost_in_daemon,
        "missing {} > count {count} + unconfirmed {unconfirmed} + lost in a killed daemon \
         {lost_in_daemon}\n{ctx}",
        u64::from(n) - delivered
    );
    assert!(s.written >= delivered, "{ctx}");
    assert!(
        s.written - delivered <= unconfirmed + lost_in_daemon,
        "written but lost\n{ctx}"
    );
    assert_eq!(s.written + dropped(&s), u64::from(n), "{ctx}");
    assert_eq!(s.summaries, summaries, "{ctx}");
    assert_eq!(s.connects, CHAOS_RESTARTS as u64 + 1, "{ctx}");
    eprintln!(
        "chaos: emitted {n}, delivered {delivered}, dropped {count}, unconfirmed {unconfirmed}, \
         lost in killed daemons {lost_in_daemon}, summaries {summaries}"
    );
    drop(guard);
}

#[test]
fn req_0815_a_failed_summary_write_keeps_the_count_for_the_next_daemon() {
    let dir = temp_dir();
    // Long descriptions make the registration about 1.5 KB, so that in a
    // one-page pipe the summary's batch (OVERFLOW, summary, two 1372-byte
    // records) cannot follow it: the summary write is still pending when
    // that daemon goes away.
    let long = "d".repeat(256);
    let (layer, guard) = build(dir.path(), |b| {
        b.with_ring_capacity(4)
            .with_app_description(&long)
            .with_context("a", "CTXA", &long)
            .with_context("b", "CTXB", &long)
            .with_context("c", "CTXC", &long)
            .with_context("d", "CTXD", &long)
    });
    let pad = "p".repeat(1320);
    with_layer(&layer, || {
        for i in 0..10 {
            tracing::error!("rec-{i:06} {pad}");
        }
    });
    wait_until(
        ARRIVAL,
        "six ring drops",
        || guard.stats(),
        |s| s.queued == 0 && s.dropped_ring_full == 6,
    );
    let fake = FakeDaemon::start(dir.path(), Some(4096));
    wait_until(
        ARRIVAL,
        "the registration, then a blocked summary",
        || (fake.unread(), guard.stats()),
        |(unread, s)| *unread > 1024 && s.connects == 1,
    );
    fake.answer_registration();
    let s = guard.stats();
    assert_eq!((s.written, s.summaries), (0, 0), "{s:#?}");
    // That daemon goes away without reading anything.
    drop(fake);
    std::fs::remove_file(dir.path().join("dlt")).expect("remove the dead FIFO");
    wait_until(
        ARRIVAL,
        "the flusher to notice the loss",
        || guard.stats(),
        |s| s.disconnects == 1,
    );
    let mut fake = FakeDaemon::start(dir.path(), None);
    let got = fake.read_until(ARRIVAL, |m| m.iter().any(|m| m.rec() == Some(9)));
    let k = kinds(&got);
    let summaries: Vec<&Msg> = got.iter().filter(|m| m.is_summary()).collect();
    assert_eq!(summaries.len(), 1, "{k:?}");
    assert_eq!(
        summaries[0].summary_field("count"),
        6,
        "the count survived: {k:?}"
    );
    assert_eq!(summaries[0].summary_field("unconfirmed"), 0, "{k:?}");
    let recs: Vec<u32> = got.iter().filter_map(Msg::rec).collect();
    assert_eq!(recs, [6, 7, 8, 9]);
    assert!(guard.flush(ARRIVAL).complete);
    assert_eq!(guard.stats().summaries, 1);
}
