//! An in-process fake `dlt-daemon`: a FIFO at `<dir>/dlt` whose read end
//! the test holds, and a reader that cuts the byte stream into the user
//! protocol's messages (PROTOCOL.md §3), for tests that must see exact
//! bytes or control exactly when the "daemon" reads, stalls or goes away.
//!
//! LOG messages decode with `dlt_parse` ([`Msg::packet`]), an independent
//! decoder; the envelope and registration bodies are checked by offset.
//! No process is started, so these tests need no installed tool.
//!
//! Like a real daemon, the fake one answers each REGISTER_APPLICATION it
//! reads with LOG_STATE in the application's FIFO `dltpipes/dlt<pid>`
//! (PROTOCOL.md §7.2): the layer writes no record to a FIFO daemon
//! before that answer. A test that flushes before it reads lets the fake
//! daemon read meanwhile with [`FakeDaemon::serve`].

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dlt_parse::DltPacketSlice;

use crate::sys;

/// Message type of a LOG message (a DLT message follows the envelope).
pub const LOG: u32 = 1;
/// Message type of REGISTER_APPLICATION.
pub const REGISTER_APPLICATION: u32 = 2;
/// Message type of UNREGISTER_APPLICATION.
pub const UNREGISTER_APPLICATION: u32 = 3;
/// Message type of REGISTER_CONTEXT.
pub const REGISTER_CONTEXT: u32 = 4;
/// Message type of UNREGISTER_CONTEXT.
pub const UNREGISTER_CONTEXT: u32 = 5;
/// Message type of OVERFLOW (the count of dropped messages follows).
pub const OVERFLOW: u32 = 8;
/// Message type of LOG_STATE (daemon → application).
pub const LOG_STATE: u32 = 12;

/// The envelope every message starts with: `DUH` and version 1.
const PATTERN: &[u8; 4] = b"DUH\x01";
/// Envelope length: pattern and message type.
const ENVELOPE: usize = 8;

/// The daemon FIFO's name inside its directory, as `dlt-daemon` uses it.
const FIFO_NAME: &str = "dlt";

/// The daemon as far as the flusher can tell: a FIFO at `<dir>/dlt` whose
/// read end this value holds (non-blocking). Dropping it closes the read
/// end, as a crashed daemon would; the FIFO itself stays.
#[derive(Debug)]
pub struct FakeDaemon {
    path: PathBuf,
    reader: File,
    /// Bytes read but not yet cut into a whole message.
    buf: Vec<u8>,
}

/// One user-protocol message the fake daemon read: envelope included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// The message type ([`LOG`], [`REGISTER_APPLICATION`], ...).
    pub kind: u32,
    /// The whole message, from `DUH` on.
    pub bytes: Vec<u8>,
}

impl FakeDaemon {
    /// Creates the FIFO `<dir>/dlt` and opens its read end.
    ///
    /// The FIFO is made under a temporary name, opened, given its capacity
    /// (`pipe_size`, if any, via `F_SETPIPE_SZ`) and only then renamed into
    /// place, so the flusher can never write into it before it has its
    /// final size.
    ///
    /// # Panics
    ///
    /// If any of those steps fails (e.g. `<dir>/dlt.tmp` exists).
    pub fn start(dir: &Path, pipe_size: Option<i32>) -> Self {
        let tmp = dir.join("dlt.tmp");
        sys::mkfifo(&tmp, 0o620).unwrap_or_else(|e| panic!("mkfifo {}: {e}", tmp.display()));
        let reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&tmp)
            .unwrap_or_else(|e| panic!("open {} for reading: {e}", tmp.display()));
        if let Some(size) = pipe_size {
            let got = sys::set_pipe_size(reader.as_fd(), size)
                .unwrap_or_else(|e| panic!("F_SETPIPE_SZ {size}: {e}"));
            assert!(got >= size as usize, "F_SETPIPE_SZ {size} gave {got}");
        }
        let path = dir.join(FIFO_NAME);
        std::fs::rename(&tmp, &path)
            .unwrap_or_else(|e| panic!("rename the FIFO to {}: {e}", path.display()));
        Self {
            path,
            reader,
            buf: Vec::new(),
        }
    }

    /// The FIFO's path, `<dir>/dlt`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the pipe that nobody has read yet (`FIONREAD`).
    ///
    /// # Panics
    ///
    /// If the kernel refuses the query.
    pub fn unread(&self) -> usize {
        sys::unread_bytes(self.reader.as_fd()).unwrap_or_else(|e| panic!("FIONREAD: {e}"))
    }

    /// Reads exactly one message, waiting at most `timeout`, and reads no
    /// byte beyond it: what the fake daemon did not read stays in the pipe
    /// (and counts in [`unread`](Self::unread)).
    ///
    /// # Panics
    ///
    /// On timeout (with the bytes of the partial message), on a read
    /// error, and when the stream is not a sequence of messages.
    pub fn read_one(&mut self, timeout: Duration) -> Msg {
        self.next_msg(Instant::now() + timeout).unwrap_or_else(|| {
            panic!(
                "fake daemon at {}: timed out after {timeout:?} waiting for a message; \
                 have {} bytes of the next one: {:02x?}",
                self.path.display(),
                self.buf.len(),
                self.buf
            )
        })
    }

    /// Reads exactly one message, or returns `None` at `deadline`;
    /// answers a REGISTER_APPLICATION.
    fn next_msg(&mut self, deadline: Instant) -> Option<Msg> {
        loop {
            let wanted = wanted_len(&self.buf);
            if self.buf.len() >= wanted {
                let bytes: Vec<u8> = self.buf.drain(..wanted).collect();
                return Some(self.answer(Msg {
                    kind: kind_of(&bytes),
                    bytes,
                }));
            }
            let mut chunk = vec![0u8; wanted - self.buf.len()];
            let left = deadline.saturating_duration_since(Instant::now());
            match self.reader.read(&mut chunk) {
                Ok(n) if n > 0 => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    continue;
                }
                // No writer has the FIFO open (EOF): none may ever come,
                // so look again shortly rather than spin.
                Ok(_) => std::thread::sleep(crate::POLL_INTERVAL.min(left)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // EINTR or an error just means "look again".
                    let _ = sys::poll_readable(self.reader.as_fd(), left);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read {}: {e}", self.path.display()),
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// What a real daemon does after it read `msg`: for a
    /// REGISTER_APPLICATION, write LOG_STATE 0 into the application's FIFO
    /// `dltpipes/dlt<pid>` (as the daemon, ignoring a FIFO it cannot open).
    fn answer(&self, msg: Msg) -> Msg {
        if msg.kind == REGISTER_APPLICATION && msg.bytes.len() >= 16 {
            self.write_log_state(msg.i32_at(12));
        }
        msg
    }

    /// Answers this process's registration as if it had been read,
    /// leaving its bytes in the pipe: a daemon that answered and then
    /// stalled, for tests that need a full pipe. Call it once the
    /// registration is in the pipe ([`unread`](Self::unread) > 0).
    pub fn answer_registration(&self) {
        self.write_log_state(std::process::id() as i32);
    }

    /// Writes LOG_STATE 0 into `dltpipes/dlt<pid>`, if it can be opened.
    fn write_log_state(&self, pid: i32) {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let fifo = dir.join("dltpipes").join(format!("dlt{pid}"));
        let mut log_state = PATTERN.to_vec();
        log_state.extend_from_slice(&LOG_STATE.to_ne_bytes());
        log_state.push(0);
        if let Ok(mut f) = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
        {
            let _ = f.write_all(&log_state);
        }
    }

    /// Runs `f` (a flush, say) while this fake daemon reads, as a real one
    /// would, on another thread; returns what `f` returned and every
    /// message read, the rest of the pipe included once `f` returned.
    ///
    /// # Panics
    ///
    /// As [`drain`](Self::drain), or when the reading thread panicked.
    pub fn serve<R>(&mut self, f: impl FnOnce() -> R) -> (R, Vec<Msg>) {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (r, mut msgs) = std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut msgs = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let deadline = Instant::now() + crate::POLL_INTERVAL;
                    msgs.extend(self.next_msg(deadline));
                }
                msgs
            });
            /// Stops the reading thread even when `f` panics (the scope
            /// would otherwise wait for it forever).
            struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
            impl Drop for Stop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let r = {
                let _stop = Stop(&stop);
                f()
            };
            (r, reader.join().expect("the fake daemon's reading thread"))
        });
        msgs.extend(self.drain());
        (r, msgs)
    }

    /// Reads messages, one at a time, until `done` accepts all read so
    /// far, and returns them; waits at most `timeout` in all.
    ///
    /// # Panics
    ///
    /// On timeout, listing what was read (see [`describe`]); as
    /// [`read_one`](Self::read_one) otherwise.
    pub fn read_until(&mut self, timeout: Duration, done: impl Fn(&[Msg]) -> bool) -> Vec<Msg> {
        let what = format!("fake daemon at {}", self.path.display());
        read_until(&what, timeout, done, |left| self.read_one(left))
    }

    /// Reads everything the pipe holds now, without waiting, and cuts it
    /// into messages. Meant after a barrier (`FlushGuard::flush`, or the
    /// guard's drop), when every written byte is in the pipe.
    ///
    /// # Panics
    ///
    /// Unless the bytes tile into whole messages exactly, or on a read
    /// error.
    pub fn drain(&mut self) -> Vec<Msg> {
        let mut chunk = [0u8; 65536];
        loop {
            match self.reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read {}: {e}", self.path.display()),
            }
        }
        let mut out = Vec::new();
        while !self.buf.is_empty() {
            let wanted = wanted_len(&self.buf);
            assert!(
                wanted <= self.buf.len(),
                "a partial message at the end of the stream: {} of {wanted} bytes after {:?}: {:02x?}",
                self.buf.len(),
                describe(&out),
                self.buf
            );
            let bytes: Vec<u8> = self.buf.drain(..wanted).collect();
            out.push(self.answer(Msg {
                kind: kind_of(&bytes),
                bytes,
            }));
        }
        out
    }
}

/// A fake dlt-daemon built with UNIX-socket IPC: a listening socket at
/// `<dir>/dlt`, one accepted connection, and a reader that takes at most
/// `chunk` bytes per `read` and pauses `pause` after each (a slow daemon:
/// the pause paces it, it synchronises nothing), cutting the stream into
/// messages as [`FakeDaemon`] does. It can write daemon → application
/// messages back on the same connection, as the real one does.
#[derive(Debug)]
pub struct FakeSocketDaemon {
    path: PathBuf,
    listener: UnixListener,
    conn: Option<UnixStream>,
    chunk: usize,
    pause: Duration,
    buf: Vec<u8>,
}

impl FakeSocketDaemon {
    /// Binds `<dir>/dlt`; every `read` takes at most `chunk` bytes and is
    /// followed by a `pause`.
    ///
    /// # Panics
    ///
    /// If the socket cannot be bound.
    pub fn start(dir: &Path, chunk: usize, pause: Duration) -> Self {
        let path = dir.join(FIFO_NAME);
        let listener =
            UnixListener::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("nonblocking: {e}"));
        Self {
            path,
            listener,
            conn: None,
            chunk: chunk.max(1),
            pause,
            buf: Vec::new(),
        }
    }

    /// Waits (at most `timeout`) for the application to connect.
    ///
    /// # Panics
    ///
    /// On timeout or an accept error.
    fn connection(&mut self, deadline: Instant) -> &mut UnixStream {
        while self.conn.is_none() {
            match self.listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(true)
                        .unwrap_or_else(|e| panic!("nonblocking: {e}"));
                    self.conn = Some(s);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "fake socket daemon at {}: nobody connected",
                        self.path.display()
                    );
                    let _ = sys::poll_readable(self.listener.as_fd(), crate::POLL_INTERVAL);
                }
                Err(e) => panic!("accept on {}: {e}", self.path.display()),
            }
        }
        self.conn.as_mut().expect("connected")
    }

    /// Reads exactly one message, waiting at most `timeout`.
    ///
    /// # Panics
    ///
    /// On timeout, on end-of-file, on a read error, and when the stream
    /// is not a sequence of messages.
    pub fn read_one(&mut self, timeout: Duration) -> Msg {
        let deadline = Instant::now() + timeout;
        loop {
            let wanted = wanted_len(&self.buf);
            if self.buf.len() >= wanted {
                let bytes: Vec<u8> = self.buf.drain(..wanted).collect();
                return Msg {
                    kind: kind_of(&bytes),
                    bytes,
                };
            }
            let chunk = self.chunk.min(wanted - self.buf.len());
            let mut part = vec![0u8; chunk];
            let path = self.path.clone();
            let conn = self.connection(deadline);
            match conn.read(&mut part) {
                Ok(0) => panic!(
                    "fake socket daemon at {}: the application closed",
                    path.display()
                ),
                Ok(n) => {
                    self.buf.extend_from_slice(&part[..n]);
                    if !self.pause.is_zero() {
                        std::thread::sleep(self.pause);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let _ = sys::poll_readable(conn.as_fd(), left.min(crate::POLL_INTERVAL));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read {}: {e}", path.display()),
            }
            assert!(
                Instant::now() < deadline,
                "fake socket daemon at {}: timed out after {timeout:?}; have {} bytes of the next \
                 message: {:02x?}",
                self.path.display(),
                self.buf.len(),
                self.buf
            );
        }
    }

    /// Reads messages until `done` accepts all read so far; waits at most
    /// `timeout` in all.
    ///
    /// # Panics
    ///
    /// As [`read_one`](Self::read_one).
    pub fn read_until(&mut self, timeout: Duration, done: impl Fn(&[Msg]) -> bool) -> Vec<Msg> {
        read_until("fake socket daemon", timeout, done, |left| {
            self.read_one(left)
        })
    }

    /// Writes `bytes` (daemon → application messages) on the connection.
    ///
    /// # Panics
    ///
    /// When nobody connected within 10 s or the write fails.
    pub fn send(&mut self, bytes: &[u8]) {
        let conn = self.connection(Instant::now() + Duration::from_secs(10));
        conn.set_nonblocking(false)
            .unwrap_or_else(|e| panic!("blocking: {e}"));
        conn.write_all(bytes)
            .unwrap_or_else(|e| panic!("write to the application: {e}"));
        conn.set_nonblocking(true)
            .unwrap_or_else(|e| panic!("nonblocking: {e}"));
    }
}

/// The message type of a message whose envelope is complete.
fn kind_of(bytes: &[u8]) -> u32 {
    u32::from_ne_bytes(bytes[4..8].try_into().expect("4 bytes"))
}

/// How many bytes the message at the front of `buf` needs so far: the
/// envelope; then the header part that carries its length; then its
/// whole length.
///
/// # Panics
///
/// If the front of `buf` is not a message envelope of a known type.
fn wanted_len(buf: &[u8]) -> usize {
    if buf.len() < ENVELOPE {
        return ENVELOPE;
    }
    assert_eq!(
        &buf[..4],
        PATTERN,
        "stream out of sync: no DUH\\x01 at a message start: {:02x?}",
        &buf[..buf.len().min(32)]
    );
    let kind = kind_of(buf);
    // (bytes needed to know the length, the length from those bytes)
    let (header, length): (usize, fn(&[u8]) -> usize) = match kind {
        LOG => (12, |b| {
            ENVELOPE + usize::from(u16::from_be_bytes([b[10], b[11]]))
        }),
        REGISTER_APPLICATION => (20, |b| 20 + ne_u32(b, 16) as usize),
        REGISTER_CONTEXT => (30, |b| 30 + ne_u32(b, 26) as usize),
        UNREGISTER_APPLICATION | OVERFLOW => (16, |_| 16),
        UNREGISTER_CONTEXT => (20, |_| 20),
        other => panic!(
            "unexpected message type {other}: {:02x?}",
            &buf[..buf.len().min(32)]
        ),
    };
    if buf.len() < header {
        header
    } else {
        length(buf)
    }
}

/// The native-endian `u32` at `off`.
fn ne_u32(b: &[u8], off: usize) -> u32 {
    let bytes = b
        .get(off..off + 4)
        .unwrap_or_else(|| panic!("4 bytes at offset {off} of a {}-byte message", b.len()));
    u32::from_ne_bytes(bytes.try_into().expect("4 bytes"))
}

impl Msg {
    /// The native-endian `u32` at byte `off` (envelope included).
    ///
    /// # Panics
    ///
    /// If the message is shorter than `off + 4`.
    pub fn u32_at(&self, off: usize) -> u32 {
        ne_u32(&self.bytes, off)
    }

    /// The native-endian `i32` at byte `off` (a pid, a level position).
    ///
    /// # Panics
    ///
    /// If the message is shorter than `off + 4`.
    pub fn i32_at(&self, off: usize) -> i32 {
        i32::from_ne_bytes(self.u32_at(off).to_ne_bytes())
    }

    /// The 4-byte ID at byte `off`, without its `\0` padding.
    ///
    /// # Panics
    ///
    /// If the message is shorter than `off + 4`.
    pub fn id_at(&self, off: usize) -> String {
        String::from_utf8_lossy(&self.bytes[off..off + 4])
            .trim_end_matches('\0')
            .to_owned()
    }

    /// A LOG message's DLT message, decoded by `dlt_parse`.
    ///
    /// # Panics
    ///
    /// If this is not a LOG message, or `dlt_parse` rejects it, or its
    /// DLT length disagrees with the envelope's.
    pub fn packet(&self) -> DltPacketSlice<'_> {
        assert_eq!(self.kind, LOG, "not a LOG message: {self:?}");
        let packet = DltPacketSlice::from_slice(&self.bytes[ENVELOPE..])
            .unwrap_or_else(|e| panic!("dlt_parse rejects the LOG: {e:?}: {:02x?}", self.bytes));
        assert_eq!(
            packet.slice().len(),
            self.bytes.len() - ENVELOPE,
            "envelope + LEN = message"
        );
        packet
    }

    /// True when `needle` occurs anywhere in the message's bytes.
    pub fn contains(&self, needle: &str) -> bool {
        self.bytes
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    /// The number of a numbered test record, a message containing
    /// `rec-NNNNNN` (six digits).
    pub fn rec(&self) -> Option<u32> {
        let pos = self.bytes.windows(4).position(|w| w == b"rec-")?;
        let digits = self.bytes.get(pos + 4..pos + 10)?;
        std::str::from_utf8(digits).ok()?.parse().ok()
    }

    /// True for the layer's loss summary (`taktora.log.dropped count=...`).
    pub fn is_summary(&self) -> bool {
        self.kind == LOG && self.contains("taktora.log.dropped count=")
    }

    /// The number after ` {field}=` in a summary (`count`, `unconfirmed`).
    ///
    /// # Panics
    ///
    /// If the field is missing or not followed by a number.
    pub fn summary_field(&self, field: &str) -> u64 {
        let text = String::from_utf8_lossy(&self.bytes).into_owned();
        let start = text
            .find(&format!(" {field}="))
            .unwrap_or_else(|| panic!("no {field}= in {text:?}"))
            + field.len()
            + 2;
        text[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or_else(|e| panic!("{field}= is not a number in {text:?}: {e}"))
    }
}

/// One short word per message, for failure messages: `rec-N` for a
/// numbered record, `summary`, or `type K`.
pub fn describe(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .map(|m| match m.rec() {
            Some(r) => format!("rec-{r}"),
            None if m.is_summary() => "summary".to_owned(),
            None => format!("type {}", m.kind),
        })
        .collect()
}

/// Reads with `read_one` (given the time left) until `done` accepts all
/// read so far, at most `timeout` in all.
///
/// # Panics
///
/// On timeout, naming `what` and listing what was read.
fn read_until(
    what: &str,
    timeout: Duration,
    done: impl Fn(&[Msg]) -> bool,
    mut read_one: impl FnMut(Duration) -> Msg,
) -> Vec<Msg> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while !done(&out) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{what}: timed out after {timeout:?}; read so far: {:?}",
            describe(&out)
        );
        out.push(read_one(left));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut m = PATTERN.to_vec();
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(body);
        m
    }

    /// Writes `bytes` into the fake daemon's FIFO, as an application would.
    fn write_to(fake: &FakeDaemon, bytes: &[u8]) {
        OpenOptions::new()
            .write(true)
            .open(fake.path())
            .expect("open the FIFO for writing")
            .write_all(bytes)
            .expect("write");
    }

    #[test]
    fn reads_one_message_at_a_time_and_leaves_the_rest_in_the_pipe() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut fake = FakeDaemon::start(dir.path(), None);
        let a = msg(UNREGISTER_APPLICATION, &[b'A'; 8]);
        let b = msg(OVERFLOW, &[b'B'; 8]);
        write_to(&fake, &[a.clone(), b.clone()].concat());
        let got = fake.read_one(Duration::from_secs(20));
        assert_eq!((got.kind, got.bytes), (UNREGISTER_APPLICATION, a));
        assert_eq!(fake.unread(), 16, "the second message is still in the pipe");
        assert_eq!(
            fake.drain(),
            [Msg {
                kind: OVERFLOW,
                bytes: b
            }]
        );
    }

    #[test]
    #[should_panic(expected = "timed out after 10ms waiting for a message")]
    fn a_silent_pipe_times_out_with_a_message() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut fake = FakeDaemon::start(dir.path(), None);
        fake.read_one(Duration::from_millis(10));
    }

    #[test]
    #[should_panic(expected = "stream out of sync")]
    fn garbage_is_a_loud_failure() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut fake = FakeDaemon::start(dir.path(), None);
        write_to(&fake, b"not DUH!");
        fake.drain();
    }
}
