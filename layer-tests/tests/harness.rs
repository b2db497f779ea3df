//! Tests of the harness itself against the real Debian `dlt-daemon`, with
//! `shared/dlt/speak.py` (a stdlib Python client of the protocol) as the
//! application. Each test starts its own daemon, so they run in parallel.

use std::process::{Command, Output};
use std::time::Duration;

use layer_tests::{is_child_process, require_dlt_tools, speak_py, PrivateDaemon, Receiver, Signal};

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(20);

/// Runs speak.py against `daemon` and panics (with its output and the
/// daemon's log) unless it succeeds.
fn run_speak_py(daemon: &PrivateDaemon, extra_args: &[&str]) -> Output {
    let script = speak_py();
    assert!(
        script.is_file(),
        "{} not found: shared/ must sit beside the repository",
        script.display()
    );
    let output = Command::new("python3")
        .arg(&script)
        .args(extra_args)
        .env("DLT_PIPE_DIR", daemon.dir())
        .output()
        .expect("run python3 speak.py");
    assert!(
        output.status.success(),
        "speak.py failed with {}\nstdout:\n{}\nstderr:\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        daemon.log_text()
    );
    output
}

/// Waits until `receiver` has printed a line containing `tail`.
fn expect_line(receiver: &Receiver, daemon: &PrivateDaemon, tail: &str) -> Vec<String> {
    receiver
        .wait_for(
            |lines| lines.iter().any(|l| l.contains(tail)),
            ARRIVAL,
            &format!("a line containing {tail:?}"),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()))
}

#[test]
#[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
fn speak_py_messages_reach_the_receiver() {
    if !require_dlt_tools() {
        return;
    }
    let daemon = PrivateDaemon::start().expect("start private dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    run_speak_py(&daemon, &[]);

    expect_line(
        &receiver,
        &daemon,
        "PYAP PYCT log info V 1 [Hello from speak.py]",
    );
    expect_line(
        &receiver,
        &daemon,
        "PYAP PYCT log fatal V 1 [fatal from speak.py]",
    );

    let logs = receiver
        .wait_for_count(|l| l.is_log_from("PYAP", "PYCT"), 3, ARRIVAL)
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    let levels: Vec<&str> = logs.iter().map(|l| l.level.as_str()).collect();
    assert_eq!(levels, ["info", "warn", "fatal"], "levels in order");
    let mcnts: Vec<u8> = logs.iter().map(|l| l.mcnt).collect();
    assert_eq!(mcnts, [0, 1, 2], "per-context message counter");
    assert_eq!(logs[1].args_vec(), ["mixed", "-42", "42", "1", "3.14159"]);
    assert!(
        logs.iter().all(|l| l.verbose && l.ecu == "ECU1"),
        "{logs:#?}"
    );
}

#[test]
#[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
fn kill_9_then_restart_brings_back_fifo_and_clients() {
    if !require_dlt_tools() {
        return;
    }
    let mut daemon = PrivateDaemon::start().expect("start private dlt-daemon");
    let port = daemon.port();
    let first_pid = daemon.pid().expect("running daemon has a pid");
    let first = Receiver::start(port).expect("start first dlt-receive");

    let status = daemon.kill(Signal::Kill).expect("SIGKILL the daemon");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "killed by SIGKILL: {status}"
    );
    assert_eq!(daemon.pid(), None, "no pid while stopped");
    assert!(!is_child_process(first_pid), "old daemon reaped");
    assert!(
        daemon.fifo_path().exists(),
        "SIGKILL leaves the stale FIFO {} behind",
        daemon.fifo_path().display()
    );
    drop(first);

    daemon.restart().expect("restart the daemon");
    let second_pid = daemon.pid().expect("restarted daemon has a pid");
    assert_ne!(first_pid, second_pid, "a new process");
    assert_eq!(daemon.port(), port, "same port after restart");
    let fifo = std::fs::symlink_metadata(daemon.fifo_path()).expect("FIFO back after restart");
    assert!(
        std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()),
        "{} is a FIFO",
        daemon.fifo_path().display()
    );

    let second = Receiver::start(port).expect("a new dlt-receive connects after restart");
    run_speak_py(&daemon, &[]);
    expect_line(
        &second,
        &daemon,
        "PYAP PYCT log info V 1 [Hello from speak.py]",
    );
}

#[test]
#[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
fn sigterm_removes_the_fifo_and_restart_recreates_it() {
    if !require_dlt_tools() {
        return;
    }
    let mut daemon = PrivateDaemon::start().expect("start private dlt-daemon");
    let status = daemon.kill(Signal::Term).expect("SIGTERM the daemon");
    assert!(
        !daemon.fifo_path().exists(),
        "a clean exit ({status}) unlinks {}",
        daemon.fifo_path().display()
    );
    assert!(
        daemon.kill(Signal::Term).is_err(),
        "killing a stopped daemon is an error"
    );
    daemon.restart().expect("restart after SIGTERM");
    assert!(daemon.fifo_path().exists(), "FIFO recreated");
    assert!(
        daemon.restart().is_err(),
        "restart while running is an error"
    );
}

#[test]
#[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
fn drop_stops_and_reaps_the_daemon_and_removes_its_dir() {
    if !require_dlt_tools() {
        return;
    }
    let daemon = PrivateDaemon::start().expect("start private dlt-daemon");
    let pid = daemon.pid().expect("running daemon has a pid");
    let dir = daemon.dir().to_path_buf();
    assert!(
        is_child_process(pid),
        "daemon {pid} is our child while running"
    );
    drop(daemon);
    assert!(
        !is_child_process(pid),
        "no dlt-daemon child {pid} (not even a zombie) after drop"
    );
    assert!(!dir.exists(), "temp dir {} removed", dir.display());
}

#[test]
#[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
fn receiver_drop_reaps_dlt_receive() {
    if !require_dlt_tools() {
        return;
    }
    let daemon = PrivateDaemon::start().expect("start private dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    let pid = receiver.pid().expect("running receiver has a pid");
    assert!(is_child_process(pid), "dlt-receive {pid} is our child");
    drop(receiver);
    assert!(
        !is_child_process(pid),
        "dlt-receive {pid} reaped after drop"
    );
}

#[test]
#[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
fn extra_config_lines_reach_the_daemon() {
    if !require_dlt_tools() {
        return;
    }
    let daemon = PrivateDaemon::start_with(&["ECUId = ECU9", "ContextLogLevel = 6"])
        .expect("start with an overridden and an appended line");
    let config = std::fs::read_to_string(daemon.config_path()).expect("read config");
    assert!(config.contains("ECUId = ECU9\n"), "{config}");
    assert!(
        !config.contains("ECU1"),
        "ECUId replaced, not duplicated:\n{config}"
    );
    assert!(config.contains("ContextLogLevel = 6\n"), "{config}");
    assert!(config.contains("UDPConnectionSetup = 0\n"), "{config}");
    // The daemon's own messages carry its ECU ID: proof it read the file.
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    let daemon_lines = receiver
        .wait_for_count(|l| l.apid == "DLTD", 1, ARRIVAL)
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    assert_eq!(daemon_lines[0].ecu, "ECU9", "{:?}", daemon_lines[0].raw);
}

#[test]
fn protected_config_keys_cannot_be_overridden() {
    // Needs no daemon: the config is rejected before anything is spawned.
    let err = PrivateDaemon::start_with(&["UDPConnectionSetup = 1"])
        .expect_err("enabling UDP must be refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("UDPConnectionSetup"), "{err}");
}

#[test]
#[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
fn wait_failures_say_what_was_awaited_and_what_was_seen() {
    if !require_dlt_tools() {
        return;
    }
    let daemon = PrivateDaemon::start().expect("start private dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    let err = receiver
        .wait_for(|_| false, Duration::from_millis(200), "the impossible")
        .expect_err("never true");
    assert!(err.contains("timed out after 200ms"), "{err}");
    assert!(err.contains("waiting for the impossible"), "{err}");
    assert!(
        err.contains("New client connection"),
        "lines seen so far: {err}"
    );

    let err = receiver
        .wait_for_count(|l| l.apid == "NONE", 1, Duration::from_millis(200))
        .expect_err("no such app");
    assert!(err.contains("at least 1 lines matching"), "{err}");
    assert!(err.contains("0 lines matched"), "{err}");
}

#[test]
#[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
fn receiver_reports_when_dlt_receive_exits() {
    if !require_dlt_tools() {
        return;
    }
    let mut daemon = PrivateDaemon::start().expect("start private dlt-daemon");
    let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
    daemon.kill(Signal::Term).expect("stop the daemon");
    // dlt-receive exits when its connection closes, so the wait ends early
    // with a reason instead of running into the timeout.
    let err = receiver
        .wait_for(|_| false, ARRIVAL, "anything after the daemon stopped")
        .expect_err("never true");
    assert!(err.contains("dlt-receive exited"), "{err}");
}
