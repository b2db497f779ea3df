//! Tells the daemon tests, at build time, whether the DLT tools are
//! installed, so that without them they are *ignored* (visible in the
//! test summary) instead of passing without having run.
//!
//! Emits `cfg(no_dlt_tools)` when `dlt-daemon`, `dlt-receive` or
//! `dlt-control` is not on `PATH`, unless `CI` is `true` (or `1`): in CI
//! the daemon tests must run and fail, never be skipped. The tests use
//! `#[cfg_attr(no_dlt_tools, ignore = "...")]`; `require_dlt_tools` keeps
//! the same decision at run time, from the same `src/tool_path.rs`.
//!
//! Likewise `cfg(no_dlt_viewer)` when `dlt-viewer` is missing (outside
//! CI), for the DLT Viewer tests and `require_dlt_viewer`.

use std::env;

#[path = "src/tool_path.rs"]
mod tool_path;

use tool_path::{find_in_path, is_ci, REQUIRED_TOOLS, VIEWER_TOOL};

#[path = "src/variant_table.rs"]
#[allow(dead_code, unreachable_pub)]
mod variant_table;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_dlt_tools)");
    println!("cargo::rustc-check-cfg=cfg(no_dlt_viewer)");
    variants();
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    let ci = is_ci(env::var("CI").ok().as_deref());
    let path = env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<_> = env::split_paths(&path).collect();
    let mut missing = Vec::new();
    if !find_tool(VIEWER_TOOL, &path, &dirs) && !ci {
        println!("cargo::rustc-cfg=no_dlt_viewer");
        println!(
            "cargo::warning={VIEWER_TOOL} not found on PATH: the DLT Viewer tests will be \
             reported as ignored. Install: sudo apt-get install dlt-viewer (or scripts/install-deps.sh)"
        );
    }
    for tool in REQUIRED_TOOLS {
        match find_in_path(tool, Some(&path)) {
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

/// Whether `tool` is on `path`, with the same rerun rules as the daemon
/// tools: rebuild when it is removed, or when it appears in any of `dirs`.
fn find_tool(tool: &str, path: &std::ffi::OsStr, dirs: &[std::path::PathBuf]) -> bool {
    match find_in_path(tool, Some(path)) {
        Some(found) => {
            println!("cargo::rerun-if-changed={}", found.display());
            true
        }
        None => {
            for dir in dirs {
                println!("cargo::rerun-if-changed={}", dir.join(tool).display());
            }
            false
        }
    }
}

/// Emits `cfg(no_daemon_<variant>)` for every daemon variant of the matrix
/// that `scripts/build-daemons.sh` has not built, unless in CI, where the
/// variant tests must run and fail.
fn variants() {
    for key in ["TAKTORA_DAEMON_CACHE", "XDG_CACHE_HOME", "HOME"] {
        println!("cargo::rerun-if-env-changed={key}");
    }
    let ci = is_ci(env::var("CI").ok().as_deref());
    let mut missing = Vec::new();
    for v in variant_table::VARIANTS {
        println!("cargo::rustc-check-cfg=cfg({})", v.missing_cfg());
        if v.packaged {
            continue;
        }
        if let Some(bin) = v.daemon_binary() {
            // Rebuild when it appears or goes.
            println!("cargo::rerun-if-changed={}", bin.display());
        }
        if !v.is_built() {
            missing.push(v.name);
            if !ci {
                println!("cargo::rustc-cfg={}", v.missing_cfg());
            }
        }
    }
    if !missing.is_empty() && !ci {
        println!(
            "cargo::warning=dlt-daemon variants not built: {}; their tests will be reported as \
             ignored. Build them with: scripts/build-daemons.sh",
            missing.join(", ")
        );
    }
}
