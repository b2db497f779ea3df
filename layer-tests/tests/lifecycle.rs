//! The edges of a process's life, each in a child process against a real
//! daemon: `exit` with the guard alive, a panic (unwinding, and aborting
//! right after the hooks as `panic = "abort"` does), and `fork` while
//! three threads log at full speed. What arrives is counted on the
//! daemon's side (`dlt-receive`), independently of the layer's counters,
//! and the counters, printed by the child, are checked to add up.
//!
//! Every scenario runs in a re-run of this test binary (`child`, ignored
//! unless [`SCENARIO`] is set), because each one ends its process or
//! changes process-wide state (a global subscriber, the panic hook).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use layer_tests::{require_dlt_tools, Capture, Forked, PrivateDaemon, Receiver};
use taktora_log::{DltLayer, FlushGuard, Stats};
use tracing_subscriber::layer::SubscriberExt;

/// Which scenario the re-run binary plays.
const SCENARIO: &str = "TAKTORA_LIFECYCLE_SCENARIO";
/// How long a child process may run before it counts as hung.
const CHILD_RUN: Duration = Duration::from_secs(240);
/// How long records may take to reach `dlt-receive`.
const ARRIVAL: Duration = Duration::from_secs(60);
/// Records logged right before `exit`.
const EXIT_RECORDS: usize = 500;
/// Records logged right before the panic.
const PANIC_RECORDS: usize = 100;
/// Forks in the fork scenario, and records each child logs.
const FORKS: usize = 100;
const CHILD_RECORDS: usize = 5;

// === the parent side ======================================================

/// What a child process left behind.
#[derive(Debug)]
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    pid: u32,
}

/// Runs `scenario` in a re-run of this binary, pointed at `daemon`, and
/// waits for it at most [`CHILD_RUN`].
fn run_child(scenario: &str, daemon: &PrivateDaemon) -> Ran {
    let mut cmd = layer_tests::child_test("child", true);
    cmd.env(SCENARIO, scenario);
    run_bounded(cmd, scenario, daemon)
}

/// Runs `cmd` pointed at `daemon`, waiting for it at most [`CHILD_RUN`].
fn run_bounded(mut cmd: Command, scenario: &str, daemon: &PrivateDaemon) -> Ran {
    let mut child = cmd
        .env("DLT_PIPE_DIR", daemon.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let pid = child.id();
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().expect("stdout")));
    let err = read(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + CHILD_RUN;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "scenario {scenario} hung for {CHILD_RUN:?}\n{}",
                daemon.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ran {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        pid,
    }
}

/// The `KEY=value` pairs of the child's line starting with `tag`.
fn tagged(ran: &Ran, tag: &str) -> HashMap<String, u64> {
    // The harness may have printed `test child ... ` on the same line.
    let line = ran
        .stdout
        .lines()
        .find_map(|l| l.find(&format!("{tag} ")).map(|at| &l[at..]))
        .unwrap_or_else(|| {
            panic!(
                "no {tag} line from the child: {ran:#?}
its stderr:
{}",
                ran.stderr
            )
        });
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("a number")))
        .collect()
}

/// The child's counters add up with nothing left on the way.
fn assert_stats_add_up(ran: &Ran, tag: &str, emitted: u64) -> HashMap<String, u64> {
    let s = tagged(ran, tag);
    assert_eq!(s["emitted"], emitted, "{tag}: {s:?}");
    assert_eq!(
        s["emitted"],
        s["written"] + s["dropped"] + s["queued"] + s["buffered"],
        "{tag}: emitted = written + dropped + queued + buffered: {s:?}"
    );
    assert_eq!((s["queued"], s["buffered"]), (0, 0), "{tag}: {s:?}");
    s
}

fn app_fifo(daemon: &PrivateDaemon, pid: u32) -> PathBuf {
    daemon.dir().join(format!("dltpipes/dlt{pid}"))
}

fn start() -> Option<(PrivateDaemon, Receiver)> {
    if !require_dlt_tools() {
        return None;
    }
    let daemon = PrivateDaemon::start().expect("start dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    Some((daemon, receiver))
}

/// `how` ends the child right after its last record; all of them arrive,
/// the application unregisters and its FIFO is gone.
fn exit_delivers_everything(how: &str, app: &str) {
    let Some((daemon, receiver)) = start() else {
        return;
    };
    let ran = run_child(&format!("exit:{how}:{app}"), &daemon);
    assert!(ran.status.success(), "{ran:#?}");
    let got = receiver
        .wait_for_count(|l| l.is_log_from(app, "DFLT"), EXIT_RECORDS, ARRIVAL)
        .unwrap_or_else(|e| panic!("{e}\n{ran:#?}\n{}", daemon.log_text()));
    let texts: Vec<&str> = got.iter().map(|l| l.args.as_str()).collect();
    let want: Vec<String> = (0..EXIT_RECORDS).map(|i| format!("rec-{i}")).collect();
    assert_eq!(texts, want, "every record once, in order");
    let unregistered = format!("Unregistered ApID '{app}'");
    receiver
        .wait_for(
            |lines| lines.iter().any(|l| l.contains(&unregistered)),
            ARRIVAL,
            "the application to unregister",
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    assert!(
        !app_fifo(&daemon, ran.pid).exists(),
        "the application FIFO was removed"
    );
    let s = assert_stats_add_up(&ran, "STATS", EXIT_RECORDS as u64);
    assert_eq!(s["written"], EXIT_RECORDS as u64, "{s:?}");
    eprintln!(
        "exit via {how}: {}/{EXIT_RECORDS} arrived, stats {s:?}",
        texts.len()
    );
}

#[test]
fn process_exit_right_after_the_last_record_delivers_all_500() {
    exit_delivers_everything("process_exit", "EXPX");
}

#[test]
fn returning_from_main_with_the_guard_in_a_static_delivers_all_500() {
    exit_delivers_everything("static", "EXST");
}

#[test]
fn libc_exit_as_from_c_code_delivers_all_500() {
    exit_delivers_everything("libc_exit", "EXLC");
}

/// The panic arrives as one FATAL record after everything before it;
/// neither the guard's drop nor the exit handler could have sent them
/// (the child aborts).
fn panic_arrives_as_fatal(scenario: &str, app: &str, message: &str, thread: &str) {
    let Some((daemon, receiver)) = start() else {
        return;
    };
    let ran = run_child(scenario, &daemon);
    let location = "layer-tests/tests/lifecycle.rs:";
    check_panic_arrived(&ran, &daemon, &receiver, app, message, location, thread);
}

/// What [`panic_arrives_as_fatal`] checks, for any child that panicked.
fn check_panic_arrived(
    ran: &Ran,
    daemon: &PrivateDaemon,
    receiver: &Receiver,
    app: &str,
    message: &str,
    location: &str,
    thread: &str,
) {
    assert_eq!(
        ran.status.signal(),
        Some(libc::SIGABRT),
        "the child aborted: {ran:#?}"
    );
    let got = receiver
        .wait_for_count(
            |l| l.kind == "log" && l.apid == app,
            PANIC_RECORDS + 1,
            ARRIVAL,
        )
        .unwrap_or_else(|e| panic!("{e}\n{ran:#?}\n{}", daemon.log_text()));
    let before: Vec<&str> = got[..PANIC_RECORDS]
        .iter()
        .map(|l| l.args.as_str())
        .collect();
    let want: Vec<String> = (0..PANIC_RECORDS).map(|i| format!("before-{i}")).collect();
    assert_eq!(before, want, "everything logged before the panic, in order");
    let fatal = &got[PANIC_RECORDS];
    assert_eq!(fatal.level, "fatal", "{}", fatal.raw);
    let prefix = format!("panicked: {message} {location}");
    assert!(
        fatal.args.starts_with(&prefix) && fatal.args.ends_with(&format!(" {thread}")),
        "message, location and thread: {}",
        fatal.raw
    );
    assert_eq!(got.len(), PANIC_RECORDS + 1, "nothing else: {got:#?}");
    let s = assert_stats_add_up(ran, "STATS", PANIC_RECORDS as u64 + 1);
    assert_eq!(s["written"], PANIC_RECORDS as u64 + 1, "{s:?}");
    eprintln!("{app}: {} arrived, stats {s:?}", got.len());
}

#[test]
fn a_panic_that_unwinds_arrives_as_one_fatal_record_after_everything_before_it() {
    panic_arrives_as_fatal("panic_unwind", "PANU", "boom 42", "worker-7");
}

#[test]
fn a_panic_that_aborts_arrives_as_one_fatal_record_after_everything_before_it() {
    panic_arrives_as_fatal("panic_abort", "PANA", "abort strategy", "child");
}

/// The same with a program really built with `panic = "abort"`:
/// `layer-tests/src/bin/panic_abort_child.rs`, built by `scripts/test.sh`
/// with the `panic-abort` profile (a test binary cannot abort on panic:
/// the harness needs unwinding).
#[test]
fn a_panic_in_a_program_built_with_panic_abort_arrives_as_one_fatal_record() {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let exe = target
        .parent()
        .expect("the target directory")
        .join("panic-abort/panic_abort_child");
    if !exe.exists() {
        let how = "cargo build -p layer-tests --bin panic_abort_child --profile panic-abort \
                   (scripts/test.sh does)";
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!ci, "CI=true but {} is missing: {how}", exe.display());
        eprintln!("SKIPPED: {} is missing: {how}", exe.display());
        return;
    }
    let Some((daemon, receiver)) = start() else {
        return;
    };
    let ran = run_bounded(Command::new(&exe), "panic_abort_child", &daemon);
    let location = "layer-tests/src/bin/panic_abort_child.rs:";
    let message = "built with panic=abort";
    check_panic_arrived(&ran, &daemon, &receiver, "PABT", message, location, "main");
}

/// 100 forks while three threads log at full speed: every child registers
/// under its own PID, its records arrive once, no child hangs, and the
/// parent's records arrive at most once and add up.
#[test]
fn forked_children_are_their_own_applications_and_never_hang() {
    if !require_dlt_tools() {
        return;
    }
    let daemon = PrivateDaemon::start().expect("start dlt-daemon");
    let capture = Capture::start(daemon.port()).expect("start dlt-receive -o");
    let ran = run_child("fork", &daemon);
    assert!(ran.status.success(), "{ran:#?}\n{}", daemon.log_text());
    let forks = tagged(&ran, "FORKS");
    assert_eq!(
        (forks["forks"], forks["hangs"], forks["failed"]),
        (FORKS as u64, 0, 0),
        "{ran:#?}"
    );
    let parent = assert_stats_add_up(&ran, "STATS", forks["parent_emitted"]);
    let child_total = FORKS * CHILD_RECORDS;
    capture
        .settle(
            "FORK",
            "CHLD",
            child_total,
            Duration::from_secs(10),
            ARRIVAL,
        )
        .expect("read the capture");
    capture
        .settle(
            "FORK",
            "PRNT",
            parent["written"] as usize,
            Duration::from_secs(10),
            ARRIVAL,
        )
        .expect("read the capture");
    let stored = std::fs::read(capture.file()).expect("read the capture");
    let messages = first_strings(&stored);
    let mut seen = HashSet::new();
    let (mut children, mut parents, mut registered) = (Vec::new(), 0u64, HashSet::new());
    for (apid, ctid, text) in &messages {
        match (apid.as_str(), ctid.as_str()) {
            ("FORK", "CHLD") => children.push(text.clone()),
            ("FORK", "PRNT") => {
                parents += 1;
                assert!(seen.insert(text.clone()), "parent record {text} twice");
            }
            _ => {
                if let Some(pid) = text.strip_prefix("ApplicationID 'FORK' registered for PID ") {
                    registered.insert(pid.split(',').next().unwrap_or_default().to_owned());
                }
            }
        }
    }
    children.sort();
    let mut want: Vec<String> = (0..FORKS)
        .flat_map(|i| (0..CHILD_RECORDS).map(move |j| format!("c{i}-{j}")))
        .collect();
    want.sort();
    assert_eq!(children, want, "every child's records, each once");
    assert_eq!(
        registered.len(),
        FORKS + 1,
        "the parent and each child registered under its own PID: {registered:?}"
    );
    assert!(
        parents <= parent["written"],
        "no parent record sent twice: {parents} arrived, {} written",
        parent["written"]
    );
    eprintln!(
        "fork: {} forks, hangs {}, failed {}, child records {}/{child_total}, \
         parent records emitted {} written {} arrived {parents}, registrations {}",
        forks["forks"],
        forks["hangs"],
        forks["failed"],
        children.len(),
        parent["emitted"],
        parent["written"],
        registered.len()
    );
}

/// The first string argument of every stored log message, with its APID
/// and CTID, in a `dlt-receive -o` file.
fn first_strings(bytes: &[u8]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 + 4 <= bytes.len() {
        let msg = at + 16;
        let htyp = bytes[msg];
        let len = usize::from(u16::from_be_bytes([bytes[msg + 2], bytes[msg + 3]]));
        if len < 4 || msg + len > bytes.len() {
            break;
        }
        let end = msg + len;
        let big = htyp & 0x02 != 0;
        let u16_at = |i: usize| {
            let b = [bytes[i], bytes[i + 1]];
            if big {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let mut ext = msg + 4;
        for flag in [0x04, 0x08, 0x10] {
            if htyp & flag != 0 {
                ext += 4;
            }
        }
        let p = ext + 10;
        if htyp & 0x01 != 0 && p + 6 <= end && (bytes[ext] >> 1) & 0x07 == 0 {
            let apid = String::from_utf8_lossy(&bytes[ext + 2..ext + 6]);
            let ctid = String::from_utf8_lossy(&bytes[ext + 6..ext + 10]);
            let info = [bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]];
            let info = if big {
                u32::from_be_bytes(info)
            } else {
                u32::from_le_bytes(info)
            };
            if info & 0x200 != 0 && info & 0x800 == 0 {
                let n = usize::from(u16_at(p + 4));
                if p + 6 + n <= end {
                    let s = &bytes[p + 6..p + 6 + n];
                    let s = s.strip_suffix(&[0]).unwrap_or(s);
                    out.push((
                        apid.trim_end_matches(['-', '\0']).to_owned(),
                        ctid.trim_end_matches(['-', '\0']).to_owned(),
                        String::from_utf8_lossy(s).into_owned(),
                    ));
                }
            }
        }
        at = end;
    }
    out
}

// === the child side =======================================================

/// The layer whose counters [`print_stats`] prints.
static LAYER: OnceLock<DltLayer> = OnceLock::new();

fn stats_line(tag: &str, s: &Stats) -> String {
    let dropped =
        s.dropped_queue_full + s.dropped_ring_full + s.dropped_no_flusher + s.lost_at_shutdown;
    format!(
        "{tag} emitted={} written={} dropped={dropped} queued={} buffered={}",
        s.emitted, s.written, s.queued, s.buffered
    )
}

/// Prints [`LAYER`]'s counters. Registered with `atexit` before the layer
/// registers its own handler, so it runs after that one (handlers run in
/// reverse order).
extern "C" fn print_stats() {
    use std::io::Write;
    if let Some(layer) = LAYER.get() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", stats_line("STATS", &layer.stats()));
        let _ = out.flush();
    }
}

fn pipe_dir() -> PathBuf {
    std::env::var_os("DLT_PIPE_DIR")
        .expect("DLT_PIPE_DIR")
        .into()
}

fn install(layer: DltLayer) {
    let _ = LAYER.set(layer.clone());
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("the only subscriber of this process");
}

#[test]
#[ignore = "run in a child process by the tests of this file"]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    let parts: Vec<&str> = scenario.split(':').collect();
    match parts.as_slice() {
        ["exit", how, app] => exit_child(how, app),
        ["panic_unwind"] => panic_unwind_child(),
        ["panic_abort"] => panic_abort_child(),
        ["fork"] => fork_child(),
        other => panic!("unknown scenario {other:?}"),
    }
}

fn exit_child(how: &str, app: &str) {
    layer_tests::at_exit(print_stats);
    let (layer, guard) = DltLayer::builder(app)
        .with_pipe_dir(pipe_dir())
        .build()
        .expect("build the layer");
    install(layer);
    for i in 0..EXIT_RECORDS {
        tracing::info!("rec-{i}");
    }
    match how {
        // The guard is alive on this stack: exit runs no destructors.
        "process_exit" => std::process::exit(0),
        "libc_exit" => layer_tests::exit_through_libc(0),
        "static" => {
            static GUARD: OnceLock<FlushGuard> = OnceLock::new();
            let _ = GUARD.set(guard);
            // Returns to the test harness, which returns from main.
        }
        other => panic!("unknown exit {other}"),
    }
}

fn panic_unwind_child() {
    static GUARD: OnceLock<taktora_log::InitGuard> = OnceLock::new();
    // Chained after init's hook: the counters right when it returned.
    std::panic::set_hook(Box::new(|_| {
        if let Some(s) = GUARD.get().and_then(taktora_log::InitGuard::stats) {
            println!("{}", stats_line("STATS", &s));
        }
    }));
    let guard = GUARD.get_or_init(|| taktora_log::init("PANU"));
    assert_eq!(guard.backend(), taktora_log::Backend::Dlt);
    for i in 0..PANIC_RECORDS {
        tracing::info!("before-{i}");
    }
    let worker = std::thread::Builder::new()
        .name("worker-7".into())
        .spawn(|| panic!("boom {}", 42))
        .expect("spawn");
    assert!(worker.join().is_err(), "the worker panicked");
    // Neither the guard's drop (in a static) nor the exit handler (abort
    // runs none) sends anything: what arrived, the hook flushed.
    std::process::abort();
}

fn panic_abort_child() {
    // What the runtime does after the hooks when built with panic =
    // "abort": the hook installed first runs last, after the layer's.
    std::panic::set_hook(Box::new(|_| {
        if let Some(layer) = LAYER.get() {
            println!("{}", stats_line("STATS", &layer.stats()));
        }
        std::process::abort()
    }));
    let (layer, guard) = DltLayer::builder("PANA")
        .with_pipe_dir(pipe_dir())
        .with_panic_hook(true)
        .build()
        .expect("build the layer");
    install(layer);
    for i in 0..PANIC_RECORDS {
        tracing::info!("before-{i}");
    }
    let _alive = guard;
    panic!("abort strategy");
}

fn fork_child() {
    let (layer, guard) = DltLayer::builder("FORK")
        .with_pipe_dir(pipe_dir())
        .with_context("parent", "PRNT", "the forking process")
        .with_context("child", "CHLD", "forked children")
        .with_shutdown_timeout(Duration::from_secs(20))
        .build()
        .expect("build the layer");
    install(layer.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let loggers: Vec<_> = (0..3)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tracing::info!(target: "parent", "p{t}-{n}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut guard = Some(guard);
    let (mut hangs, mut failed) = (0, 0);
    for i in 0..FORKS {
        match layer_tests::fork().expect("fork") {
            Forked::Child => in_forked_child(i, &mut guard, &layer),
            Forked::Parent(pid) => match layer_tests::wait_child(pid, Duration::from_secs(60)) {
                Ok(Some(0)) => {}
                Ok(Some(status)) => {
                    eprintln!("child {i} (pid {pid}) ended with wait status {status}");
                    failed += 1;
                }
                Ok(None) => {
                    eprintln!("child {i} (pid {pid}) hung; killed");
                    layer_tests::kill_child(pid);
                    hangs += 1;
                }
                Err(e) => panic!("waitpid: {e}"),
            },
        }
    }
    stop.store(true, Ordering::Relaxed);
    let emitted: u64 = loggers
        .into_iter()
        .map(|t| t.join().expect("logger thread"))
        .sum();
    let guard = guard.take().expect("the parent's guard");
    let outcome = guard.flush(Duration::from_secs(120));
    assert!(outcome.complete, "{outcome:?}");
    println!("FORKS forks={FORKS} hangs={hangs} failed={failed} parent_emitted={emitted}");
    println!("{}", stats_line("STATS", &guard.stats()));
    drop(guard);
}

/// A forked child: logs, then ends one of three ways. Never returns.
fn in_forked_child(i: usize, guard: &mut Option<FlushGuard>, layer: &DltLayer) -> ! {
    for j in 0..CHILD_RECORDS {
        tracing::info!(target: "child", "c{i}-{j}");
    }
    match i % 3 {
        0 => {
            // The inherited guard's drop stops the child's own pipeline.
            drop(guard.take());
            // With its flusher gone, a record is dropped and counted at
            // once, not left queued.
            tracing::info!(target: "child", "after the guard's drop");
            let s = layer.stats();
            let n = CHILD_RECORDS as u64;
            let ok = (
                s.emitted,
                s.written,
                s.dropped_no_flusher,
                s.queued,
                s.buffered,
            ) == (n + 1, n, 1, 0, 0);
            layer_tests::exit_now(if ok { 0 } else { 3 })
        }
        // The exit handler flushes the child's pipeline; the guard is alive.
        1 => std::process::exit(0),
        // Both: the guard's drop, then an exit handler with nothing left.
        _ => {
            drop(guard.take());
            std::process::exit(0)
        }
    }
}
