//! Scenarios that must run in a process of their own (process-global
//! state: the environment, the `log` logger, signals, `exit`): the test
//! re-runs its own binary with just the one child test.

use std::process::Command;

/// A command that runs exactly the test `name` of the current test binary,
/// on one thread with its output shown; with `ignored`, `name` is an
/// `#[ignore]`d entry point that only runs this way.
///
/// # Panics
///
/// If the path of the current binary cannot be read.
pub fn child_test(name: &str, ignored: bool) -> Command {
    let exe = std::env::current_exe().expect("own test binary");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    if ignored {
        cmd.arg("--ignored");
    }
    cmd
}
