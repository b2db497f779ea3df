//! Finding the external tools and shared files the daemon tests need.
//!
//! Decides whether a daemon test runs, skips (developer machine without
//! the DLT tools) or fails (CI without them); never starts anything.
//!
//! A skip is visible twice: `build.rs` emits `cfg(no_dlt_tools)` so that
//! daemon tests, marked `#[cfg_attr(no_dlt_tools, ignore = "...")]`, are
//! reported as ignored in the summary; and [`require_dlt_tools`] prints a
//! `SKIPPED` line to stderr if a test runs anyway (e.g. with `--ignored`,
//! or when `PATH` changed since the build).

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::tool_path::{find_in_path, is_ci, REQUIRED_TOOLS, VIEWER_TOOL};

/// The hint printed when the tools are missing.
const INSTALL_HINT: &str =
    "install them with: sudo apt-get install -y dlt-daemon dlt-tools (or ./scripts/install-deps.sh)";

/// Checks that `dlt-daemon`, `dlt-receive` and `dlt-control` are on
/// `PATH`.
///
/// Call it first in every test that needs the real daemon and return early
/// when it says `false`; mark the test
/// `#[cfg_attr(no_dlt_tools, ignore = "...")]` too, so that the summary
/// counts it as ignored rather than passed:
///
/// ```no_run
/// if !layer_tests::require_dlt_tools() {
///     return;
/// }
/// ```
///
/// On a developer machine without the tools it prints
/// `SKIPPED <test>: dlt-daemon, dlt-receive, dlt-control not found on PATH; install them with: ...`
/// to stderr and returns `false`.
///
/// # Panics
///
/// When a tool is missing and the environment variable `CI` is `true` (or
/// `1`): daemon tests must fail in CI, never skip.
pub fn require_dlt_tools() -> bool {
    let path = env::var_os("PATH");
    let ci = env::var("CI").ok();
    match check_tools(path.as_deref(), ci.as_deref()) {
        Ok(()) => true,
        Err(Missing { ci: true, tools }) => panic!(
            "CI=true but {} not found on PATH; daemon tests must not be skipped in CI. \
             {INSTALL_HINT}",
            tools.join(", ")
        ),
        Err(Missing { ci: false, tools }) => {
            let thread = std::thread::current();
            eprintln!(
                "SKIPPED {}: what needs the real daemon did not run: {} not found on PATH; \
                 {INSTALL_HINT}",
                thread.name().unwrap_or("this test"),
                tools.join(", ")
            );
            false
        }
    }
}

/// The hint printed when DLT Viewer is missing.
const VIEWER_INSTALL_HINT: &str =
    "install it with: sudo apt-get install -y dlt-viewer (or ./scripts/install-deps.sh)";

/// Checks that `dlt-viewer` (COVESA DLT Viewer) is on `PATH`, as
/// [`require_dlt_tools`] does for the daemon tools: call it first in every
/// test that runs the viewer, return early on `false`, and mark the test
/// `#[cfg_attr(no_dlt_viewer, ignore = "...")]`.
///
/// ```no_run
/// if !layer_tests::require_dlt_tools() || !layer_tests::require_dlt_viewer() {
///     return;
/// }
/// ```
///
/// On a developer machine without it, prints `SKIPPED <test>: ...
/// dlt-viewer not found on PATH; install it with: ...` to stderr and
/// returns `false`.
///
/// # Panics
///
/// When `dlt-viewer` is missing and `CI` is `true` (or `1`): viewer tests
/// must fail in CI, never skip.
pub fn require_dlt_viewer() -> bool {
    let path = env::var_os("PATH");
    let ci = env::var("CI").ok();
    let Err(in_ci) = check_viewer(path.as_deref(), ci.as_deref()) else {
        return true;
    };
    if in_ci {
        panic!(
            "CI=true but {VIEWER_TOOL} not found on PATH; viewer tests must not be skipped \
             in CI. {VIEWER_INSTALL_HINT}"
        );
    }
    let thread = std::thread::current();
    eprintln!(
        "SKIPPED {}: what needs DLT Viewer did not run: {VIEWER_TOOL} not found on PATH; \
         {VIEWER_INSTALL_HINT}",
        thread.name().unwrap_or("this test")
    );
    false
}

/// The decision behind [`require_dlt_viewer`] on explicit `PATH` and
/// `CI` values: `Ok` when the viewer is there, else `Err(in CI)`.
fn check_viewer(path: Option<&OsStr>, ci: Option<&str>) -> Result<(), bool> {
    match find_in_path(VIEWER_TOOL, path) {
        Some(_) => Ok(()),
        None => Err(is_ci(ci)),
    }
}

/// What [`check_tools`] found missing, and whether we are in CI.
#[derive(Debug, PartialEq, Eq)]
struct Missing {
    ci: bool,
    tools: Vec<&'static str>,
}

/// The decision behind [`require_dlt_tools`], on explicit `PATH` and `CI`
/// values so that it can be tested without touching the process
/// environment.
fn check_tools(path: Option<&OsStr>, ci: Option<&str>) -> Result<(), Missing> {
    let tools: Vec<&'static str> = REQUIRED_TOOLS
        .into_iter()
        .filter(|tool| find_in_path(tool, path).is_none())
        .collect();
    if tools.is_empty() {
        return Ok(());
    }
    Err(Missing {
        ci: is_ci(ci),
        tools,
    })
}

/// The project's `shared/` directory, which sits beside the repository
/// (`<repo>/../shared`) both in the team's checkouts and in CI.
///
/// Holds `dlt/speak.py` (a stdlib Python client of the daemon protocol) and
/// `dlt/vectors/` (golden byte vectors written by C libdlt).
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// `shared/dlt/speak.py`: logs three messages as app `PYAP`, context `PYCT`
/// into the daemon whose pipe dir is in `DLT_PIPE_DIR`.
pub fn speak_py() -> PathBuf {
    shared_dir().join("dlt/speak.py")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A directory with fake executables (and one non-executable file).
    fn fake_bin(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in names {
            let file = dir.path().join(name);
            fs::write(&file, "#!/bin/sh\n").expect("write fake tool");
            fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let plain = dir.path().join("dlt-receive-not-executable");
        fs::write(plain, "").expect("write plain file");
        dir
    }

    fn path_of(dir: &tempfile::TempDir) -> OsString {
        dir.path().as_os_str().to_owned()
    }

    #[test]
    fn both_tools_present_is_ok_in_and_out_of_ci() {
        let bin = fake_bin(&["dlt-daemon", "dlt-receive", "dlt-control"]);
        let path = path_of(&bin);
        assert_eq!(check_tools(Some(&path), None), Ok(()));
        assert_eq!(check_tools(Some(&path), Some("true")), Ok(()));
    }

    #[test]
    fn missing_tool_outside_ci_is_a_skip() {
        let bin = fake_bin(&["dlt-daemon", "dlt-control"]);
        let path = path_of(&bin);
        let missing = check_tools(Some(&path), Some("false")).expect_err("receiver missing");
        assert_eq!(
            missing,
            Missing {
                ci: false,
                tools: vec!["dlt-receive"]
            }
        );
    }

    #[test]
    fn missing_tool_in_ci_is_flagged_for_a_panic() {
        let bin = fake_bin(&[]);
        let path = path_of(&bin);
        for ci in ["true", "TRUE", "1"] {
            let missing = check_tools(Some(&path), Some(ci)).expect_err("tools missing");
            assert!(missing.ci, "CI={ci} must count as CI");
            assert_eq!(
                missing.tools,
                vec!["dlt-daemon", "dlt-receive", "dlt-control"]
            );
        }
        assert_eq!(check_tools(None, Some("true")).map_err(|m| m.ci), Err(true));
    }

    #[test]
    fn the_viewer_is_found_skipped_outside_ci_and_required_in_ci() {
        let with = fake_bin(&["dlt-viewer"]);
        let without = fake_bin(&["dlt-daemon", "dlt-receive", "dlt-control"]);
        assert_eq!(check_viewer(Some(&path_of(&with)), Some("true")), Ok(()));
        assert_eq!(check_viewer(Some(&path_of(&without)), None), Err(false));
        assert_eq!(
            check_viewer(Some(&path_of(&without)), Some("false")),
            Err(false)
        );
        assert_eq!(
            check_viewer(Some(&path_of(&without)), Some("true")),
            Err(true)
        );
        assert_eq!(check_viewer(None, Some("1")), Err(true));
    }

    #[test]
    fn non_executable_files_do_not_count() {
        let bin = fake_bin(&[]);
        assert_eq!(
            find_in_path("dlt-receive-not-executable", Some(&path_of(&bin))),
            None
        );
    }
}
