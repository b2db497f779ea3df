//! Tells the daemon tests, at build time, whether the DLT tools are
//! installed, so that without them they are *ignored* (visible in the
//! test summary) instead of passing without having run.
//!
//! Emits `cfg(no_dlt_tools)` when `dlt-daemon`, `dlt-receive` or
//! `dlt-control` is not on `PATH`, unless `CI` is `true` (or `1`): in CI
//! the daemon tests must run and fail, never be skipped. The tests use
//! `#[cfg_attr(no_dlt_tools, ignore = "...")]`; `require_dlt_tools` keeps
//! the same decision at run time (src/tools.rs, which this mirrors).

use std::env;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Must match `REQUIRED_TOOLS` in src/tools.rs.
const REQUIRED_TOOLS: [&str; 3] = ["dlt-daemon", "dlt-receive", "dlt-control"];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_dlt_tools)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    let ci = env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let path = env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<_> = env::split_paths(&path).collect();
    let mut missing = Vec::new();
    for tool in REQUIRED_TOOLS {
        match dirs.iter().map(|d| d.join(tool)).find(|p| is_executable(p)) {
            // Rebuild when it is removed.
            Some(found) => println!("cargo::rerun-if-changed={}", found.display()),
            None => {
                missing.push(tool);
                // A path that does not exist makes Cargo rerun this script
                // on every build, so installing the tool is noticed.
                for dir in &dirs {
                    println!("cargo::rerun-if-changed={}", dir.join(tool).display());
                }
            }
        }
    }
    if !missing.is_empty() && !ci {
        println!("cargo::rustc-cfg=no_dlt_tools");
        println!(
            "cargo::warning={} not found on PATH: the dlt-daemon tests will be reported as \
             ignored. Install: sudo apt-get install dlt-daemon dlt-tools (or scripts/install-deps.sh)",
            missing.join(", ")
        );
    }
}

/// True for a regular file with any execute bit set.
fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
