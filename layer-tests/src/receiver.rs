//! `dlt-receive -a` connected to a private daemon, its lines collected live.
//!
//! Runs `stdbuf -oL dlt-receive -a -p <port> ::1` (line-buffered, so lines
//! arrive as the daemon sends them), reads its output on a thread, and lets
//! tests wait — bounded, on a condition variable — for what they expect.
//! Never talks to a daemon it was not pointed at.

use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::daemon::wait_exit;
use crate::line::{parse_line, DltLine};
use crate::report::{tail, TAIL_LINES};
use crate::sys;

/// How long [`Receiver::start`] waits for the connection to be established.
pub const RECEIVER_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the daemon sends every connected client when a client connects
/// (PROTOCOL.md §11):
/// `DLTD INTM log info V 1 [New client connection #9 established, Total Clients : 1]`.
/// Seeing it in our own stream proves our TCP connection is accepted and
/// known to the daemon.
const CONNECTED_MARKER: &str = "New client connection";

/// How long `Drop` waits for `dlt-receive` to exit after SIGKILL.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running `dlt-receive -a` attached to one daemon's TCP port.
///
/// Every line it prints is kept (in order) for the receiver's lifetime.
/// `Drop` kills and reaps the process; `PR_SET_PDEATHSIG` kills it too if
/// the thread that started it dies first.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use layer_tests::{PrivateDaemon, Receiver};
///
/// let daemon = PrivateDaemon::start().expect("start dlt-daemon");
/// let receiver = Receiver::start(daemon.port()).expect("start dlt-receive");
/// // ... log three messages as APP1/CTX1 into daemon.dir() ...
/// let got = receiver
///     .wait_for_count(|l| l.is_log_from("APP1", "CTX1"), 3, Duration::from_secs(10))
///     .unwrap_or_else(|e| panic!("{e}"));
/// assert_eq!(got[0].level, "info");
/// ```
#[derive(Debug)]
pub struct Receiver {
    child: Option<Child>,
    port: u16,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
}

/// State shared with the reader threads.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// What has been read so far.
#[derive(Debug, Default)]
struct State {
    /// stdout lines, newline removed.
    lines: Vec<String>,
    /// stderr lines, for failure messages.
    stderr: Vec<String>,
    /// stdout reached end of file: `dlt-receive` exited.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A reader thread never panics while holding the lock, and the data
        // (a list of lines) stays valid even if one did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Receiver {
    /// Starts `stdbuf -oL dlt-receive -a -p <port> ::1` and waits until the
    /// daemon has accepted the connection: until the daemon's own
    /// `New client connection` line arrives on this receiver's stream.
    ///
    /// Start it before the application registers: the daemon tells an
    /// application at registration whether a client is connected.
    ///
    /// # Errors
    ///
    /// `stdbuf`/`dlt-receive` cannot be spawned, or the connection is not
    /// confirmed within [`RECEIVER_CONNECT_TIMEOUT`] (the error text shows
    /// what was received and printed on stderr).
    pub fn start(port: u16) -> io::Result<Self> {
        let mut cmd = Command::new("stdbuf");
        cmd.args(["-oL", "dlt-receive", "-a", "-p"])
            .arg(port.to_string())
            .arg("::1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        sys::die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| {
            io::Error::new(e.kind(), format!("cannot spawn stdbuf dlt-receive: {e}"))
        })?;
        let shared = Arc::new(Shared::default());
        let mut receiver = Receiver {
            port,
            shared: Arc::clone(&shared),
            readers: Vec::new(),
            child: None,
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        receiver.child = Some(child);
        if let Some(stdout) = stdout {
            receiver
                .readers
                .push(spawn_reader("dlt-receive-stdout", stdout, &shared, true)?);
        }
        if let Some(stderr) = stderr {
            receiver
                .readers
                .push(spawn_reader("dlt-receive-stderr", stderr, &shared, false)?);
        }
        receiver
            .wait_for(
                |lines| lines.iter().any(|l| l.contains(CONNECTED_MARKER)),
                RECEIVER_CONNECT_TIMEOUT,
                &format!("dlt-receive's connection to [::1]:{port} (the daemon's \"{CONNECTED_MARKER}\" line)"),
            )
            .map_err(|e| io::Error::new(io::ErrorKind::TimedOut, e))?;
        Ok(receiver)
    }

    /// The daemon port this receiver is connected to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pid of `dlt-receive`; `None` once it has been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A copy of every stdout line so far, in order, newlines removed.
    pub fn lines(&self) -> Vec<String> {
        self.shared.lock().lines.clone()
    }

    /// Every stdout line so far that [`parse_line`] accepts.
    pub fn dlt_lines(&self) -> Vec<DltLine> {
        self.shared
            .lock()
            .lines
            .iter()
            .filter_map(|l| parse_line(l))
            .collect()
    }

    /// Waits until `pred` holds for the lines received so far, and returns
    /// a copy of them.
    ///
    /// `pred` runs with the receiver's lock held, after every new line: keep
    /// it cheap and do not call this receiver from it.
    ///
    /// # Errors
    ///
    /// A message saying that `what` was awaited, whether the wait timed out
    /// after `timeout` or `dlt-receive` exited, and the last lines seen
    /// (plus its stderr, if any).
    pub fn wait_for(
        &self,
        pred: impl Fn(&[String]) -> bool,
        timeout: Duration,
        what: &str,
    ) -> Result<Vec<String>, String> {
        self.wait_locked(|lines| pred(lines), timeout, || what.to_owned())
            .map(|state| state.lines.clone())
    }

    /// Waits until at least `n` received lines parse as [`DltLine`] and pass
    /// `filter`, and returns all matching lines (possibly more than `n`).
    ///
    /// Lines are parsed once each, so waiting for thousands is cheap.
    ///
    /// # Errors
    ///
    /// As [`wait_for`](Self::wait_for); the message says how many lines
    /// matched.
    pub fn wait_for_count(
        &self,
        filter: impl Fn(&DltLine) -> bool,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<DltLine>, String> {
        let mut matched = Vec::new();
        let mut scanned = 0;
        let result = self.wait_locked(
            |lines| {
                matched.extend(
                    lines[scanned..]
                        .iter()
                        .filter_map(|l| parse_line(l))
                        .filter(|l| filter(l)),
                );
                scanned = lines.len();
                matched.len() >= n
            },
            timeout,
            || format!("at least {n} lines matching the filter"),
        );
        match result {
            Ok(_) => Ok(matched),
            Err(e) => Err(format!(
                "{e}    ({} lines matched the filter)",
                matched.len()
            )),
        }
    }

    /// The bounded condition-variable loop behind the `wait_*` methods:
    /// returns the locked state once `check` holds. Woken by every new
    /// line, so unlike [`crate::wait_until`] it does not poll.
    fn wait_locked(
        &self,
        mut check: impl FnMut(&[String]) -> bool,
        timeout: Duration,
        what: impl Fn() -> String,
    ) -> Result<MutexGuard<'_, State>, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if check(&state.lines) {
                return Ok(state);
            }
            let why = if state.closed {
                "dlt-receive exited (its output closed)".to_owned()
            } else {
                let now = Instant::now();
                if now < deadline {
                    state = self
                        .shared
                        .changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    continue;
                }
                format!("timed out after {timeout:?}")
            };
            let mut msg = format!(
                "dlt-receive on [::1]:{}: {why} while waiting for {}; {} lines received:\n{}",
                self.port,
                what(),
                state.lines.len(),
                tail(&state.lines, TAIL_LINES)
            );
            if !state.stderr.is_empty() {
                msg.push_str("dlt-receive stderr:\n");
                msg.push_str(&tail(&state.stderr, TAIL_LINES));
            }
            return Err(msg);
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Child::kill sends SIGKILL only while the child is unreaped.
        let _ = child.kill();
        if !matches!(wait_exit(&mut child, EXIT_TIMEOUT), Ok(Some(_))) {
            eprintln!(
                "layer-tests: dlt-receive pid {} did not exit after SIGKILL",
                child.id()
            );
            return; // do not join readers that may still be blocked
        }
        // The process is gone, so its pipes are at end of file.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

/// Starts a thread that reads `pipe` line by line into `shared` (stdout
/// lines or stderr lines) and wakes waiters after each line and at EOF.
fn spawn_reader(
    name: &str,
    pipe: impl Read + Send + 'static,
    shared: &Arc<Shared>,
    is_stdout: bool,
) -> io::Result<JoinHandle<()>> {
    let shared = Arc::clone(shared);
    thread::Builder::new().name(name.to_owned()).spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    let mut state = shared.lock();
                    if is_stdout {
                        state.lines.push(line);
                    } else {
                        state.stderr.push(line);
                    }
                    drop(state);
                    shared.changed.notify_all();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if is_stdout {
            shared.lock().closed = true;
            shared.changed.notify_all();
        }
    })
}
