//! `dlt-receive -o FILE` connected to a private daemon: everything the
//! daemon forwards, stored as a DLT file and counted afterwards.
//!
//! The benchmarks' counter. [`Receiver`](crate::Receiver) has
//! `dlt-receive` print every message as a line, line-buffered, and a
//! thread of ours parse each one: right for tests that look at message
//! contents, but at 100,000+ messages a second that printing costs as
//! much CPU as the daemon itself, on the same two cores as the producer
//! being measured. Here `dlt-receive` only appends each message to a file
//! (one `writev`, no formatting) and nothing runs on our side until the
//! count is wanted.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::daemon::{wait_exit, POLL_INTERVAL};
use crate::sys;

/// How long [`Capture::start`] waits for the daemon to accept the client.
pub const CAPTURE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `Drop` waits for `dlt-receive` to exit after SIGKILL.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the daemon sends every client when one connects (PROTOCOL.md §11).
const CONNECTED_MARKER: &[u8] = b"New client connection";

/// The DLT storage header: `DLT\x01`, seconds, microseconds, ECU ID.
const STORAGE_HEADER_LEN: usize = 16;
const STORAGE_PATTERN: &[u8; 4] = b"DLT\x01";

/// A running `dlt-receive -o FILE` attached to one daemon's TCP port.
///
/// `Drop` kills and reaps the process and removes its file.
#[derive(Debug)]
pub struct Capture {
    child: Option<Child>,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Capture {
    /// Starts `dlt-receive -o FILE -p <port> ::1` and waits until the
    /// daemon's "New client connection" message is in the file: from then
    /// on the daemon forwards everything to it.
    ///
    /// # Errors
    ///
    /// The temp dir or the process cannot be created, or the connection is
    /// not seen within [`CAPTURE_CONNECT_TIMEOUT`].
    pub fn start(port: u16) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("taktora-capture-")
            .tempdir()?;
        let file = dir.path().join("received.dlt");
        let mut cmd = Command::new("dlt-receive");
        cmd.arg("-o")
            .arg(&file)
            .arg("-p")
            .arg(port.to_string())
            .arg("::1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        sys::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot spawn dlt-receive -o: {e}")))?;
        let mut capture = Capture {
            child: Some(child),
            file,
            _dir: dir,
        };
        let deadline = Instant::now() + CAPTURE_CONNECT_TIMEOUT;
        loop {
            let bytes = fs::read(&capture.file).unwrap_or_default();
            if bytes
                .windows(CONNECTED_MARKER.len())
                .any(|w| w == CONNECTED_MARKER)
            {
                return Ok(capture);
            }
            if let Some(child) = capture.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(io::Error::other(format!(
                        "dlt-receive -o on [::1]:{port} exited ({status}) before connecting"
                    )));
                }
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "dlt-receive -o on [::1]:{port}: no \"New client connection\" \
                         within {CAPTURE_CONNECT_TIMEOUT:?}"
                    ),
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// The pid of `dlt-receive`; `None` once it has been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The DLT file `dlt-receive` writes.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Log messages from `apid`/`ctid` stored so far.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or it is not a sequence of stored DLT
    /// messages (the error names the offset).
    pub fn count(&self, apid: &str, ctid: &str) -> io::Result<usize> {
        count_messages(&fs::read(&self.file)?, apid, ctid)
    }

    /// Waits until `expected` messages from `apid`/`ctid` are stored, or
    /// until the count has not grown for `quiet`, and returns the count.
    /// Never waits longer than `limit` in all.
    ///
    /// # Errors
    ///
    /// As [`count`](Self::count).
    pub fn settle(
        &self,
        apid: &str,
        ctid: &str,
        expected: usize,
        quiet: Duration,
        limit: Duration,
    ) -> io::Result<usize> {
        let deadline = Instant::now() + limit;
        let mut last = self.count(apid, ctid)?;
        let mut last_change = Instant::now();
        while last < expected && last_change.elapsed() < quiet && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
            let now = self.count(apid, ctid)?;
            if now != last {
                last = now;
                last_change = Instant::now();
            }
        }
        Ok(last)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            if !matches!(wait_exit(&mut child, EXIT_TIMEOUT), Ok(Some(_))) {
                eprintln!(
                    "layer-tests: dlt-receive pid {} did not exit after SIGKILL",
                    child.id()
                );
            }
        }
    }
}

/// Counts the log messages from `apid`/`ctid` in a DLT file (storage
/// header + message, repeated). A message cut off at the end (still being
/// written) is not counted.
///
/// # Errors
///
/// `InvalidData` naming the offset where the bytes stop being stored
/// DLT messages.
pub fn count_messages(bytes: &[u8], apid: &str, ctid: &str) -> io::Result<usize> {
    let (apid, ctid) = (apid.as_bytes(), ctid.as_bytes());
    let mut at = 0;
    let mut n = 0;
    while at + STORAGE_HEADER_LEN + 4 <= bytes.len() {
        if &bytes[at..at + 4] != STORAGE_PATTERN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no DLT storage header at offset {at}"),
            ));
        }
        let msg = at + STORAGE_HEADER_LEN;
        let htyp = bytes[msg];
        let len = usize::from(u16::from_be_bytes([bytes[msg + 2], bytes[msg + 3]]));
        if len < 4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("message length {len} at offset {msg}"),
            ));
        }
        if msg + len > bytes.len() {
            break;
        }
        if htyp & 0x01 != 0 {
            // Optional standard-header fields: ECU ID, session ID, timestamp.
            let mut ext = msg + 4;
            for flag in [0x04, 0x08, 0x10] {
                if htyp & flag != 0 {
                    ext += 4;
                }
            }
            // Extended header: MSIN, NOAR, APID, CTID.
            if ext + 10 <= msg + len {
                let is_log = (bytes[ext] >> 1) & 0x07 == 0;
                if is_log && &bytes[ext + 2..ext + 6] == apid && &bytes[ext + 6..ext + 10] == ctid {
                    n += 1;
                }
            }
        }
        at = msg + len;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored LOG message with an extended header, as `dlt-receive -o`
    /// writes it.
    fn stored(apid: &[u8; 4], ctid: &[u8; 4], mstp: u8) -> Vec<u8> {
        let mut v = b"DLT\x01".to_vec();
        v.extend_from_slice(&[0; 8]); // seconds, microseconds
        v.extend_from_slice(b"ECU1");
        let body: &[u8] = &[0, 0, 0, 0];
        let len = 4 + 4 + 10 + body.len(); // header, ECU ID, ext header, payload
        v.extend_from_slice(&[0x25, 7]); // UEH | WEID | VERS=1
        v.extend_from_slice(&(len as u16).to_be_bytes());
        v.extend_from_slice(b"ECU1");
        v.extend_from_slice(&[(mstp << 1) | 0x01 | (2 << 4), 1]);
        v.extend_from_slice(apid);
        v.extend_from_slice(ctid);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn counts_only_log_messages_of_the_asked_app_and_context() {
        let mut f = stored(b"THRU", b"DFLT", 0);
        f.extend(stored(b"THRU", b"DFLT", 0));
        f.extend(stored(b"THRU", b"OTHR", 0));
        f.extend(stored(b"DLTD", b"DFLT", 0));
        f.extend(stored(b"THRU", b"DFLT", 3)); // a control message
        assert_eq!(count_messages(&f, "THRU", "DFLT").ok(), Some(2));
        // A message still being written is not counted.
        let mut cut = f.clone();
        cut.extend(&stored(b"THRU", b"DFLT", 0)[..20]);
        assert_eq!(count_messages(&cut, "THRU", "DFLT").ok(), Some(2));
    }

    #[test]
    fn garbage_is_an_error_naming_the_offset() {
        let mut f = stored(b"THRU", b"DFLT", 0);
        let at = f.len();
        f.extend_from_slice(&[0xAB; 40]);
        let e = count_messages(&f, "THRU", "DFLT").expect_err("garbage");
        assert!(e.to_string().contains(&format!("offset {at}")), "{e}");
    }
}
