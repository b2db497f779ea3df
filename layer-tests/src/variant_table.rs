//! The dlt-daemon variants the daemon tests run against, and where
//! `scripts/build-daemons.sh` puts them.
//!
//! Shared, as one file, by `build.rs` (through `#[path]`), which turns a
//! variant that is not built into `cfg(no_daemon_<ident>)`, and by
//! `variant.rs`, which makes the same decision at run time. Keep the names
//! and options in step with `scripts/build-daemons.sh`.

use std::env;
use std::path::{Path, PathBuf};

/// How applications reach a daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipc {
    /// `<dir>/dlt` is a FIFO; levels come back through `dltpipes/dlt<pid>`.
    Fifo,
    /// `<DLT_USER_IPC_PATH>/dlt` is a UNIX stream socket, fixed when the
    /// daemon was compiled; levels come back on the same socket.
    UnixSocket,
}

/// One daemon build of the test matrix.
#[derive(Debug, PartialEq, Eq)]
pub struct DaemonVariant {
    /// The name `scripts/build-daemons.sh` knows it by, e.g. `3.0.0-socket`
    /// (`debian-2.18.8` for the packaged default).
    pub name: &'static str,
    /// The upstream version.
    pub version: &'static str,
    /// Its IPC build.
    pub ipc: Ipc,
    /// Debian's package on `PATH` rather than a build in the cache.
    pub packaged: bool,
    /// The daemon shows the application description of a protocol-v1
    /// REGISTER_APPLICATION (3.0.0 drops it: see the daemons' README).
    pub keeps_app_description: bool,
    /// Built with `WITH_DLT_TRACE_LOAD_CTRL=ON`: sends TRACE_LOAD after
    /// registration and takes `-l FILE`.
    pub trace_load: bool,
    /// Understands `-x 2` (DLT protocol v2).
    pub protocol_v2: bool,
}

/// Debian 12's packaged daemon, the default.
pub const DEBIAN: DaemonVariant = DaemonVariant {
    name: "debian-2.18.8",
    version: "2.18.8",
    ipc: Ipc::Fifo,
    packaged: true,
    keeps_app_description: true,
    trace_load: false,
    protocol_v2: false,
};

/// 2.18.10, FIFO: Debian 13.
pub const V2_18_10_FIFO: DaemonVariant = DaemonVariant {
    name: "2.18.10-fifo",
    version: "2.18.10",
    ipc: Ipc::Fifo,
    packaged: false,
    keeps_app_description: true,
    trace_load: false,
    protocol_v2: false,
};

/// 2.18.11, FIFO: upstream's last 2.18.
pub const V2_18_11_FIFO: DaemonVariant = DaemonVariant {
    name: "2.18.11-fifo",
    version: "2.18.11",
    ipc: Ipc::Fifo,
    packaged: false,
    keeps_app_description: true,
    trace_load: false,
    protocol_v2: false,
};

/// 2.18.11, FIFO, with trace-load control.
pub const V2_18_11_TRACELOAD: DaemonVariant = DaemonVariant {
    name: "2.18.11-fifo-traceload",
    version: "2.18.11",
    ipc: Ipc::Fifo,
    packaged: false,
    keeps_app_description: true,
    trace_load: true,
    protocol_v2: false,
};

/// 3.0.0, FIFO: Yocto meta-oe, Debian unstable.
pub const V3_0_0_FIFO: DaemonVariant = DaemonVariant {
    name: "3.0.0-fifo",
    version: "3.0.0",
    ipc: Ipc::Fifo,
    packaged: false,
    keeps_app_description: false,
    trace_load: false,
    protocol_v2: true,
};

/// 3.0.0, UNIX socket: socket-activated deployments.
pub const V3_0_0_SOCKET: DaemonVariant = DaemonVariant {
    name: "3.0.0-socket",
    version: "3.0.0",
    ipc: Ipc::UnixSocket,
    packaged: false,
    keeps_app_description: false,
    trace_load: false,
    protocol_v2: true,
};

/// Every variant, the default first.
pub const VARIANTS: [&DaemonVariant; 6] = [
    &DEBIAN,
    &V2_18_10_FIFO,
    &V2_18_11_FIFO,
    &V2_18_11_TRACELOAD,
    &V3_0_0_FIFO,
    &V3_0_0_SOCKET,
];

impl DaemonVariant {
    /// The `cfg` that `build.rs` sets when this variant is not built:
    /// `no_daemon_` and the name with `.` and `-` as `_`.
    pub fn missing_cfg(&self) -> String {
        format!("no_daemon_{}", self.name.replace(['.', '-'], "_"))
    }

    /// Where `scripts/build-daemons.sh` installs this variant: `None` for
    /// the packaged one (it is on `PATH`) or when no cache dir is known.
    pub fn prefix(&self) -> Option<PathBuf> {
        if self.packaged {
            return None;
        }
        Some(cache_dir()?.join(self.name))
    }

    /// The daemon binary: `dlt-daemon` (on `PATH`) for the packaged
    /// variant, `<prefix>/bin/dlt-daemon` otherwise.
    pub fn daemon_binary(&self) -> Option<PathBuf> {
        if self.packaged {
            return Some(PathBuf::from("dlt-daemon"));
        }
        Some(self.prefix()?.join("bin/dlt-daemon"))
    }

    /// Whether the cache holds this variant's daemon (always true for the
    /// packaged one; `tools.rs` checks that one).
    pub fn is_built(&self) -> bool {
        self.packaged || self.daemon_binary().is_some_and(|b| is_executable_file(&b))
    }

    /// The directory holding a UNIX-socket build's application socket
    /// (its compiled-in `DLT_USER_IPC_PATH`); `None` for FIFO builds.
    pub fn socket_dir(&self) -> Option<PathBuf> {
        match self.ipc {
            Ipc::UnixSocket => Some(self.prefix()?.join("ipc")),
            Ipc::Fifo => None,
        }
    }
}

/// `$TAKTORA_DAEMON_CACHE`, else `${XDG_CACHE_HOME:-$HOME/.cache}/taktora-log/daemons`,
/// as in `scripts/build-daemons.sh`.
pub fn cache_dir() -> Option<PathBuf> {
    let non_empty = |k: &str| env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("TAKTORA_DAEMON_CACHE") {
        return Some(PathBuf::from(dir));
    }
    let base = non_empty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("taktora-log/daemons"))
}

/// True for a regular file with any execute bit set.
fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
