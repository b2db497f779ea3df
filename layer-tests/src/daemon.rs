//! A private `dlt-daemon` per test: own temp dir, own config, own port.
//!
//! Follows `shared/dlt/private-daemon.md`: no UDP multicast
//! (`UDPConnectionSetup = 0`), TCP only on `::1`, control socket and
//! runtime files inside the temp dir. Only ever signals the child it
//! spawned, by its pid, and never a daemon it did not start.

use std::fs::{self, OpenOptions};
use std::io;
use std::net::TcpListener;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::variant_table::{DaemonVariant, Ipc, DEBIAN};
use crate::{procfs, report, sys};

/// How long [`PrivateDaemon::start`] and [`PrivateDaemon::restart`] wait
/// for the FIFO and the listening port.
pub const DAEMON_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`PrivateDaemon::kill`] and `Drop` wait for the daemon to exit
/// after a signal.
pub const DAEMON_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Interval of the bounded polling loops (readiness, exit).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Start attempts, each on a fresh free port, when the daemon exits during
/// start-up (another process took the port between our probe and its bind).
const START_ATTEMPTS: usize = 4;

/// File names inside the daemon's temp dir.
const CONFIG_FILE: &str = "dlt.conf";
/// The daemon's own diagnostics (`LoggingFilename`, `LoggingMode = 2`).
const INTERNAL_LOG_FILE: &str = "dlt-daemon-internal.log";
/// The daemon process's stdout and stderr, appended across restarts.
const STDOUT_FILE: &str = "dlt-daemon-stdout.log";
/// The FIFO (or, in a UNIX-socket build, the socket) applications write
/// into, created by the daemon.
const FIFO_NAME: &str = "dlt";
/// The lock file in a UNIX-socket build's socket dir that serialises the
/// daemons sharing that compiled-in path.
const SOCKET_LOCK_FILE: &str = "lock";

/// Config keys that [`PrivateDaemon::start_with`] refuses to override:
/// they keep the daemon off the network and inside its temp dir.
const PROTECTED_KEYS: [&str; 5] = [
    "UDPConnectionSetup",
    "BindAddress",
    "ControlSocketPath",
    "PersistanceStoragePath",
    "LoggingFilename",
];

/// The limits file a trace-load daemon gets when the test gives none
/// (`-l`): the app IDs of the matrix tests with limits far above what any
/// test logs. Without one the daemon would read `/etc/dlt-trace-load.conf`,
/// and an application it does not list gets the compiled-in daemon
/// default, a hard limit of 0: nothing at INFO or above may be sent.
const GENEROUS_TRACE_LOAD: &str = "\
E2LV 100000000 100000000
E2BU 100000000 100000000
E2TR 100000000 100000000
LVL6 100000000 100000000
LVR6 100000000 100000000
LVE6 100000000 100000000
CHAO 100000000 100000000
POLI 100000000 100000000
THRU 100000000 100000000
";
/// Its file name inside the daemon's temp dir.
const TRACE_LOAD_FILE: &str = "trace-load.conf";

/// Longest path a UNIX socket address holds (`sun_path` minus the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A signal [`PrivateDaemon::kill`] can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: clean shutdown; the daemon removes its FIFO.
    Term,
    /// SIGKILL: crash; the FIFO stays behind with no reader.
    Kill,
}

impl Signal {
    fn as_raw(self) -> libc::c_int {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        }
    }
}

/// A `dlt-daemon` started for one test, stopped and cleaned up on drop.
///
/// Each instance has its own temp dir (the pipe dir applications use, via
/// `DLT_PIPE_DIR` or the layer's pipe-dir option), its own config file with
/// `UDPConnectionSetup = 0` and `BindAddress = ::1`, and its own free TCP
/// port for `dlt-receive -p <port> ::1`. Tests may run many in parallel.
///
/// The child gets `PR_SET_PDEATHSIG = SIGKILL`, so it dies with the thread
/// that started (or restarted) it: keep the `PrivateDaemon` on the test's
/// own thread. `Drop` sends SIGTERM, then SIGKILL after
/// [`DAEMON_EXIT_TIMEOUT`], reaps the child and removes the temp dir.
///
/// # Examples
///
/// ```no_run
/// use layer_tests::{PrivateDaemon, Receiver};
///
/// let daemon = PrivateDaemon::start().expect("start dlt-daemon");
/// let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
/// // ... point the application at daemon.dir() and log ...
/// receiver
///     .wait_for(
///         |lines| lines.iter().any(|l| l.contains("log info V 1 [hello]")),
///         std::time::Duration::from_secs(10),
///         "the hello message",
///     )
///     .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
/// ```
#[derive(Debug)]
pub struct PrivateDaemon {
    /// The running daemon; `None` after [`kill`](Self::kill) reaped it.
    child: Option<Child>,
    port: u16,
    variant: &'static DaemonVariant,
    /// Extra command-line arguments (e.g. `-l FILE`, `-x 2`).
    args: Vec<String>,
    /// Held while this daemon owns a UNIX-socket build's fixed socket path.
    _socket_lock: Option<fs::File>,
    /// Declared last so it is removed after the child is gone.
    dir: tempfile::TempDir,
}

impl PrivateDaemon {
    /// Starts a daemon with the standard private config.
    ///
    /// # Errors
    ///
    /// Creating the temp dir or config fails, `dlt-daemon` cannot be
    /// spawned, it keeps exiting during start-up (four attempts on fresh
    /// ports), or it is not ready within [`DAEMON_READY_TIMEOUT`]. The error
    /// text includes the daemon's log.
    pub fn start() -> io::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a daemon with extra `Key = Value` config lines, e.g.
    /// `"ContextLogLevel = 6"`. A line whose key is already in the private
    /// config replaces that line; any other is appended.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start); also `InvalidInput` for a line without
    /// `=` or one that overrides a key that keeps the daemon private
    /// (`UDPConnectionSetup`, `BindAddress`, `ControlSocketPath`,
    /// `PersistanceStoragePath`, `LoggingFilename`).
    pub fn start_with(extra_config_lines: &[&str]) -> io::Result<Self> {
        Self::start_variant(&DEBIAN, extra_config_lines, &[])
    }

    /// Starts `variant` (see [`VARIANTS`](crate::VARIANTS)) with extra
    /// config lines as [`start_with`](Self::start_with) and extra
    /// command-line arguments (e.g. `["-l", FILE]` for a trace-load build).
    /// A FIFO build gets `-t <dir>`; a UNIX-socket build, which rejects
    /// `-t`, listens at its compiled-in socket dir, which this daemon holds
    /// (an exclusive lock there) until it is dropped: tests of that
    /// variant run one at a time.
    ///
    /// # Errors
    ///
    /// As [`start_with`](Self::start_with); `NotFound` when the variant is
    /// not built (`scripts/build-daemons.sh <name>`).
    pub fn start_variant(
        variant: &'static DaemonVariant,
        extra_config_lines: &[&str],
        args: &[&str],
    ) -> io::Result<Self> {
        if !variant.is_built() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "dlt-daemon variant {} is not built: run scripts/build-daemons.sh {}",
                    variant.name, variant.name
                ),
            ));
        }
        let socket_lock = match variant.socket_dir() {
            Some(sock_dir) => {
                fs::create_dir_all(&sock_dir)?;
                let lock = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(sock_dir.join(SOCKET_LOCK_FILE))?;
                sys::lock_exclusive(&lock)?;
                Some(lock)
            }
            None => None,
        };
        let dir = tempfile::Builder::new().prefix("taktora-dlt-").tempdir()?;
        let socket_path = dir.path().join("dlt-ctrl.sock");
        if socket_path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "temp dir path too long for the daemon's control socket {} \
                     (max {MAX_SOCKET_PATH} bytes); set TMPDIR to a shorter directory",
                    socket_path.display()
                ),
            ));
        }
        let config = config_text(dir.path(), extra_config_lines)?;
        fs::write(dir.path().join(CONFIG_FILE), config)?;

        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        if variant.trace_load && !args.iter().any(|a| a == "-l") {
            let file = dir.path().join(TRACE_LOAD_FILE);
            fs::write(&file, GENEROUS_TRACE_LOAD)?;
            args.extend(["-l".to_owned(), file.display().to_string()]);
        }
        let mut daemon = PrivateDaemon {
            child: None,
            port: 0,
            variant,
            args,
            _socket_lock: socket_lock,
            dir,
        };
        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            daemon.port = free_port()?;
            match daemon.spawn_and_wait() {
                Ok(()) => return Ok(daemon),
                Err(StartError::Exited(status)) => failures.push(format!(
                    "attempt {attempt}/{START_ATTEMPTS} on port {}: exited with {status}",
                    daemon.port
                )),
                Err(StartError::Io(e)) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "dlt-daemon kept exiting during start-up:\n  {}\n{}",
            failures.join("\n  "),
            daemon.log_tail()
        )))
    }

    /// The daemon's directory: pass it as `DLT_PIPE_DIR` (or the layer's
    /// pipe-dir option). It holds the FIFO `dlt`, `dltpipes/`, the config
    /// and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The directory applications use as their pipe dir (`DLT_PIPE_DIR`, or
    /// the layer's pipe-dir option): [`dir`](Self::dir) for a FIFO build,
    /// the compiled-in socket dir for a UNIX-socket build.
    pub fn pipe_dir(&self) -> PathBuf {
        self.variant
            .socket_dir()
            .unwrap_or_else(|| self.dir().to_path_buf())
    }

    /// Which daemon build this is.
    pub fn variant(&self) -> &'static DaemonVariant {
        self.variant
    }

    /// The TCP port the daemon listens on, on `::1` only.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pid of the running daemon; `None` after [`kill`](Self::kill)
    /// until [`restart`](Self::restart).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The path applications write into, `<pipe dir>/dlt`: a FIFO, or a
    /// UNIX socket in a UNIX-socket build.
    pub fn fifo_path(&self) -> PathBuf {
        self.pipe_dir().join(FIFO_NAME)
    }

    /// The path of the config file the daemon was started with.
    pub fn config_path(&self) -> PathBuf {
        self.dir().join(CONFIG_FILE)
    }

    /// Sends `sig` to the daemon (our child, by pid) and waits until it has
    /// exited and been reaped, returning its exit status.
    ///
    /// After [`Signal::Kill`] the FIFO stays behind without a reader, as
    /// after a real crash; after [`Signal::Term`] the daemon removes it.
    ///
    /// # Errors
    ///
    /// `NotFound` when the daemon is not running; `TimedOut` when it has not
    /// exited within [`DAEMON_EXIT_TIMEOUT`] (it then stays owned here and
    /// `Drop` escalates to SIGKILL); the `kill(2)` error otherwise.
    pub fn kill(&mut self, sig: Signal) -> io::Result<ExitStatus> {
        let Some(child) = self.child.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "dlt-daemon is not running",
            ));
        };
        if let Some(status) = child.try_wait()? {
            self.child = None;
            return Ok(status);
        }
        sys::send_signal(child, sig.as_raw())?;
        match wait_exit(child, DAEMON_EXIT_TIMEOUT)? {
            Some(status) => {
                self.child = None;
                Ok(status)
            }
            None => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "dlt-daemon (pid {}) did not exit within {DAEMON_EXIT_TIMEOUT:?} after {sig:?}",
                    child.id()
                ),
            )),
        }
    }

    /// Stops the daemon with SIGSTOP: it stays alive and keeps its FIFO
    /// open, but reads nothing until [`resume`](Self::resume) (a stalled
    /// daemon, as opposed to a dead one).
    ///
    /// # Errors
    ///
    /// `NotFound` when the daemon is not running; the `kill(2)` error
    /// otherwise.
    pub fn pause(&mut self) -> io::Result<()> {
        self.signal_running(libc::SIGSTOP)
    }

    /// Lets a [`pause`](Self::pause)d daemon run again (SIGCONT).
    ///
    /// # Errors
    ///
    /// As [`pause`](Self::pause).
    pub fn resume(&mut self) -> io::Result<()> {
        self.signal_running(libc::SIGCONT)
    }

    /// Sends `signal` to the daemon if it is still running (unreaped).
    fn signal_running(&mut self, signal: libc::c_int) -> io::Result<()> {
        let not_running = || io::Error::new(io::ErrorKind::NotFound, "dlt-daemon is not running");
        let child = self.child.as_mut().ok_or_else(not_running)?;
        if child.try_wait()?.is_some() {
            self.child = None;
            return Err(not_running());
        }
        sys::send_signal(child, signal)
    }

    /// Starts the daemon again on the same dir, port and config after
    /// [`kill`](Self::kill), and waits for readiness as `start` does.
    ///
    /// A stale FIFO left by [`Signal::Kill`] is removed first, so that
    /// readiness means the new daemon's FIFO exists (the daemon would
    /// replace it anyway).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` when the daemon is still running; otherwise as
    /// [`start`](Self::start), without retrying on another port (the port
    /// is part of what the test observes).
    pub fn restart(&mut self) -> io::Result<()> {
        if let Some(child) = self.child.as_mut() {
            if child.try_wait()?.is_none() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "dlt-daemon (pid {}) is still running; kill it first",
                        child.id()
                    ),
                ));
            }
            self.child = None;
        }
        match self.spawn_and_wait() {
            Ok(()) => Ok(()),
            Err(StartError::Exited(status)) => Err(io::Error::other(format!(
                "restarted dlt-daemon exited during start-up with {status} (port {})\n{}",
                self.port,
                self.log_tail()
            ))),
            Err(StartError::Io(e)) => Err(e),
        }
    }

    /// The daemon's internal log (`LoggingFilename`) and its stdout/stderr,
    /// with headers, for failure messages. Files that cannot be read are
    /// reported as such.
    pub fn log_text(&self) -> String {
        let read = |name: &str| {
            let path = self.dir().join(name);
            match fs::read(&path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => format!("(cannot read {}: {e})\n", path.display()),
            }
        };
        format!(
            "--- dlt-daemon internal log ({INTERNAL_LOG_FILE}) ---\n{}\
             --- dlt-daemon stdout/stderr ({STDOUT_FILE}) ---\n{}\
             --- end of dlt-daemon logs ---",
            read(INTERNAL_LOG_FILE),
            read(STDOUT_FILE)
        )
    }

    /// The last lines of [`log_text`](Self::log_text), for error messages.
    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        report::tail(&lines, 2 * report::TAIL_LINES)
    }

    /// Spawns `dlt-daemon` on `self.port` and polls until it is ready,
    /// kills it on timeout, or reports that it exited.
    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        remove_if_exists(&self.fifo_path())?;
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir().join(STDOUT_FILE))?;
        let err = out.try_clone()?;
        let binary = self.variant.daemon_binary().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no cache dir for the daemon variants",
            )
        })?;
        let mut cmd = Command::new(&binary);
        cmd.arg("-c").arg(self.config_path());
        if self.variant.ipc == Ipc::Fifo {
            cmd.arg("-t").arg(self.dir());
        }
        cmd.arg("-p")
            .arg(self.port.to_string())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        sys::die_with_parent(&mut cmd);
        let endpoint = self.fifo_path();
        let ipc = self.variant.ipc;
        let child = self.child.insert(cmd.spawn().map_err(|e| {
            io::Error::new(e.kind(), format!("cannot spawn {}: {e}", binary.display()))
        })?);
        let pid = child.id();

        let deadline = Instant::now() + DAEMON_READY_TIMEOUT;
        let (mut fifo_ready, mut port_ready) = (false, false);
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Err(StartError::Exited(status));
            }
            fifo_ready = fifo_ready || is_endpoint(&endpoint, ipc);
            port_ready = port_ready || procfs::listens_on(pid, self.port);
            if fifo_ready && port_ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break;
            }
            thread::sleep(POLL_INTERVAL);
        }
        // Not ready in time: stop it so it cannot outlive the error.
        let _ = sys::send_signal(child, libc::SIGKILL);
        let _ = wait_exit(child, DAEMON_EXIT_TIMEOUT);
        self.child = None;
        Err(StartError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "dlt-daemon (pid {pid}) not ready within {DAEMON_READY_TIMEOUT:?}: \
                 FIFO {} exists: {fifo_ready}; listening on [::1]:{}: {port_ready}\n{}",
                self.fifo_path().display(),
                self.port,
                self.log_tail()
            ),
        )))
    }
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = sys::send_signal(child, libc::SIGTERM);
        if matches!(wait_exit(child, DAEMON_EXIT_TIMEOUT), Ok(Some(_))) {
            return;
        }
        let _ = sys::send_signal(child, libc::SIGKILL);
        if !matches!(wait_exit(child, DAEMON_EXIT_TIMEOUT), Ok(Some(_))) {
            eprintln!(
                "layer-tests: dlt-daemon pid {} did not exit after SIGKILL",
                child.id()
            );
        }
    }
}

/// Why one start attempt failed.
enum StartError {
    /// The daemon exited before it was ready (e.g. port already in use).
    Exited(ExitStatus),
    /// Anything else: not worth retrying.
    Io(io::Error),
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Io(e)
    }
}

/// Polls `child` until it exits (reaping it) or `timeout` passes.
///
/// # Errors
///
/// The `waitpid` error from `try_wait`.
pub(crate) fn wait_exit(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// A TCP port that was free on `::1` a moment ago (bind port 0, read the
/// port, close). Another process may take it before the daemon binds; the
/// caller retries on another port when the daemon exits at start-up.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind("[::1]:0")?;
    Ok(listener.local_addr()?.port())
}

/// True when `path` exists and is what applications of `ipc` connect to:
/// a FIFO or a UNIX socket.
fn is_endpoint(path: &Path, ipc: Ipc) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| match ipc {
        Ipc::Fifo => m.file_type().is_fifo(),
        Ipc::UnixSocket => m.file_type().is_socket(),
    })
}

/// Removes `path`, treating "already gone" as success.
fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The private config of `shared/dlt/private-daemon.md` for `dir`, with
/// `extra` lines replacing same-key lines or appended.
fn config_text(dir: &Path, extra: &[&str]) -> io::Result<String> {
    let d = dir.display();
    let mut entries: Vec<(String, String)> = [
        ("SendContextRegistration", "1".to_owned()),
        ("ECUId", "ECU1".to_owned()),
        ("SharedMemorySize", "100000".to_owned()),
        ("PersistanceStoragePath", format!("{d}")),
        ("LoggingMode", "2".to_owned()),
        ("LoggingLevel", "4".to_owned()),
        ("LoggingFilename", format!("{d}/{INTERNAL_LOG_FILE}")),
        ("TimeOutOnSend", "4".to_owned()),
        ("RingbufferMinSize", "500000".to_owned()),
        ("RingbufferMaxSize", "10000000".to_owned()),
        ("RingbufferStepSize", "500000".to_owned()),
        ("ControlSocketPath", format!("{d}/dlt-ctrl.sock")),
        ("UDPConnectionSetup", "0".to_owned()),
        ("BindAddress", "::1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    for line in extra {
        let Some((key, value)) = line.split_once('=') else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("config line {line:?} is not `Key = Value`"),
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("config line {line:?} has no key"),
            ));
        }
        if PROTECTED_KEYS.contains(&key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("config key {key} keeps the test daemon private and cannot be overridden"),
            ));
        }
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => entries.push((key.to_owned(), value.to_owned())),
        }
    }
    Ok(entries
        .iter()
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_matches_private_daemon_md() {
        let text = config_text(Path::new("/tmp/D"), &[]).expect("config");
        assert_eq!(
            text,
            "SendContextRegistration = 1\n\
             ECUId = ECU1\n\
             SharedMemorySize = 100000\n\
             PersistanceStoragePath = /tmp/D\n\
             LoggingMode = 2\n\
             LoggingLevel = 4\n\
             LoggingFilename = /tmp/D/dlt-daemon-internal.log\n\
             TimeOutOnSend = 4\n\
             RingbufferMinSize = 500000\n\
             RingbufferMaxSize = 10000000\n\
             RingbufferStepSize = 500000\n\
             ControlSocketPath = /tmp/D/dlt-ctrl.sock\n\
             UDPConnectionSetup = 0\n\
             BindAddress = ::1\n"
        );
    }

    #[test]
    fn extra_lines_override_or_append() {
        let text =
            config_text(Path::new("/d"), &["ECUId=ECU2", "ContextLogLevel = 6"]).expect("config");
        assert!(
            text.contains("ECUId = ECU2\n"),
            "overridden in place:\n{text}"
        );
        assert!(!text.contains("ECU1"), "old value gone:\n{text}");
        assert!(text.ends_with("ContextLogLevel = 6\n"), "appended:\n{text}");
    }

    #[test]
    fn protected_and_malformed_lines_are_rejected() {
        for line in [
            "UDPConnectionSetup = 1",
            "BindAddress = 0.0.0.0",
            "ControlSocketPath=/tmp/dlt-ctrl.sock",
            "PersistanceStoragePath = /tmp",
            "LoggingFilename = /tmp/x",
            "no equals sign",
            " = 3",
        ] {
            let err = config_text(Path::new("/d"), &[line]).expect_err(line);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{line}");
        }
    }
}
