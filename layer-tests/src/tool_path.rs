//! Which DLT tools the daemon tests need and whether they are on `PATH`.
//!
//! Shared, as one file, by `build.rs` (through `#[path]`), which turns a
//! missing tool into `cfg(no_dlt_tools)`, and by `tools.rs`, which makes
//! the same decision at run time: the two cannot disagree.

use std::env;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The programs the daemon tests run: the daemon, the reader, and the
/// control tool (`levels.rs`).
pub(crate) const REQUIRED_TOOLS: [&str; 3] = ["dlt-daemon", "dlt-receive", "dlt-control"];

/// COVESA DLT Viewer, which the viewer tests (`tests/viewer.rs`) run
/// headless to decode a capture as users see it.
pub(crate) const VIEWER_TOOL: &str = "dlt-viewer";

/// Whether the value of the environment variable `CI` means CI (`true`,
/// any case, or `1`): there daemon tests must fail, never skip.
pub(crate) fn is_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The first executable regular file called `name` in the directories of
/// `path` (a `PATH`-style list).
pub(crate) fn find_in_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// True for a regular file with any execute bit set.
fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
