//! Pure encoding of the messages a producer writes into dlt-daemon's FIFO.
//!
//! A [`Frame`] holds exactly one complete user-protocol message (the
//! `DUH\x01` user header, the message type and the body): the bytes handed
//! to one `write()`. [`header`] writes the DLT headers of a verbose LOG,
//! [`args`] its arguments (truncating, never panicking, never exceeding
//! the caller's limit), [`text`] formats values straight into the frame,
//! and [`user`] writes the register/unregister/overflow messages.
//!
//! This module must not do I/O, must not know `tracing`, must not allocate
//! and must not panic on any input: it only turns values into bytes.

mod args;
mod header;
pub(crate) mod summary;
mod text;
pub(crate) mod user;

// The golden vectors were captured on a little-endian host.
#[cfg(all(test, target_endian = "little"))]
mod golden_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod truncation_tests;

use std::fmt;

use arrayvec::ArrayVec;

pub(crate) use self::{
    args::{Encoded, EncodedArgs, LogWriter},
    header::LogHeader,
};
pub use args::{MIN_FRAME_LIMIT, TRUNCATION_MARKER};

/// The largest message, in bytes, that taktora-log writes to the daemon:
/// the largest write libdlt 2.18.8 makes with its default buffer size.
///
/// The sum, term by term (PROTOCOL.md §4.5 and §10.5):
///
/// | bytes | what |
/// |---:|---|
/// | 8 | user header: `"DUH\x01"` + u32 message type |
/// | 4 | DLT standard header: HTYP, MCNT, LEN |
/// | 12 | standard header extras: ECU ID, session ID, timestamp |
/// | 10 | DLT extended header: MSIN, NOAR, APID, CTID |
/// | 1390 | verbose payload: libdlt's `DLT_USER_BUF_MAX_SIZE` |
/// | **1424** | |
///
/// It is below `PIPE_BUF` (4096), so every write is atomic against other
/// applications writing into the same FIFO.
///
/// Memory: a frame is 1428 bytes (1424 plus a 4-byte length), on the
/// producer's stack while one event is encoded. Queued records do not
/// travel as frames: each waits in a 1432-byte slot of the frame pool
/// (`channel/pool.rs`, plus a 4-byte free-list link), the channel carries
/// its index, and the offline ring stores only its bytes;
/// [`DEFAULT_CHANNEL_CAPACITY`](crate::DEFAULT_CHANNEL_CAPACITY) gives
/// the totals.
///
/// # Examples
///
/// ```
/// assert_eq!(taktora_log::FRAME_CAP, 8 + 4 + 12 + 10 + 1390);
/// ```
pub const FRAME_CAP: usize = 1424;

/// Returned when bytes do not fit into a [`Frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Full;

/// One complete user-protocol message, at most [`FRAME_CAP`] bytes, kept
/// inline (no heap): exactly the bytes written to the daemon FIFO.
#[derive(Clone, Default)]
pub(crate) struct Frame(ArrayVec<u8, FRAME_CAP>);

// === impl Frame ===

impl Frame {
    /// An empty frame.
    pub(crate) const fn new() -> Self {
        Self(ArrayVec::new_const())
    }

    /// The message bytes, ready for one `write()`.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// Number of bytes in the frame.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame holds no bytes.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes every byte.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Replaces the contents with `bytes`: a frame of given bytes, for
    /// tests (the pipeline moves bytes through the pool and the ring, not
    /// frames).
    ///
    /// # Errors
    ///
    /// [`Full`] if `bytes` is longer than [`FRAME_CAP`]; the frame is then
    /// left unchanged.
    #[cfg(test)]
    pub(crate) fn try_copy_from(&mut self, bytes: &[u8]) -> Result<(), Full> {
        if bytes.len() > FRAME_CAP {
            return Err(Full);
        }
        self.0.clear();
        self.push(bytes)
    }

    /// Appends `bytes`.
    ///
    /// # Errors
    ///
    /// [`Full`] if they do not fit into [`FRAME_CAP`]; nothing is appended.
    fn push(&mut self, bytes: &[u8]) -> Result<(), Full> {
        self.0.try_extend_from_slice(bytes).map_err(|_| Full)
    }

    /// Shortens the frame to `len` bytes (no effect if it is shorter).
    fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// Overwrites the bytes at `offset..offset + bytes.len()`, for
    /// back-patching a length or a count. Out-of-range patches are ignored
    /// (the callers only patch what they wrote before).
    fn patch(&mut self, offset: usize, bytes: &[u8]) {
        let Some(end) = offset.checked_add(bytes.len()) else {
            return;
        };
        if let Some(dst) = self.0.get_mut(offset..end) {
            dst.copy_from_slice(bytes);
        }
    }
}

impl fmt::Debug for Frame {
    /// Short form: message type, length and the first 16 bytes in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 16;
        let bytes = self.as_bytes();
        write!(
            f,
            "Frame({}, {} bytes:",
            user::message_type_name(bytes),
            bytes.len()
        )?;
        for b in bytes.iter().take(SHOWN) {
            write!(f, " {b:02x}")?;
        }
        if bytes.len() > SHOWN {
            f.write_str(" …")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_cap_is_libdlt_default_largest_write() {
        let user_header = 8;
        let standard_header = 4;
        let extras = 4 + 4 + 4;
        let extended_header = 10;
        let dlt_user_buf_max_size = 1390;
        assert_eq!(
            FRAME_CAP,
            user_header + standard_header + extras + extended_header + dlt_user_buf_max_size
        );
        let vector = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/dlt/vectors/u2d_vgen_log_long_string_truncated.bin"
        ));
        assert_eq!(vector.len(), FRAME_CAP, "libdlt's longest write");
    }

    #[test]
    fn frame_memory_per_record_is_cap_plus_length() {
        assert_eq!(
            std::mem::size_of::<Frame>(),
            FRAME_CAP + 4,
            "documented 1428"
        );
    }

    #[test]
    fn try_copy_from_replaces_contents_or_leaves_frame_unchanged() {
        let mut f = Frame::new();
        assert!(f.is_empty(), "new is empty");
        assert_eq!(f.try_copy_from(b"DUH\x01"), Ok(()), "short copy");
        assert_eq!(f.try_copy_from(b"abc"), Ok(()), "replace");
        assert_eq!(f.as_bytes(), b"abc", "replaced, not appended");
        assert_eq!(
            f.try_copy_from(&[7; FRAME_CAP]),
            Ok(()),
            "exactly FRAME_CAP"
        );
        assert_eq!(f.len(), FRAME_CAP, "full length");
        f.try_copy_from(b"xy").ok();
        assert_eq!(f.try_copy_from(&[7; FRAME_CAP + 1]), Err(Full), "too long");
        assert_eq!(f.as_bytes(), b"xy", "unchanged after Full");
        f.clear();
        assert_eq!(f.len(), 0, "cleared");
        let g = f.clone();
        assert!(g.is_empty(), "clone");
    }

    #[test]
    fn push_and_patch_never_exceed_the_frame() {
        let mut f = Frame::new();
        assert_eq!(f.push(b"abcd"), Ok(()), "push");
        f.patch(1, b"XY");
        assert_eq!(f.as_bytes(), b"aXYd", "patched in place");
        f.patch(3, b"XY");
        f.patch(usize::MAX, b"XY");
        assert_eq!(f.as_bytes(), b"aXYd", "out-of-range patch ignored");
        f.truncate(2);
        assert_eq!(f.as_bytes(), b"aX", "truncated");
        assert_eq!(f.push(&[0; FRAME_CAP]), Err(Full), "overflowing push");
        assert_eq!(f.as_bytes(), b"aX", "nothing appended on Full");
    }

    #[test]
    fn debug_is_short_and_names_the_message_type() {
        let mut f = Frame::new();
        let app = crate::AppId::new("LOG").unwrap();
        user::unregister_app(&mut f, app, 0x0102_0304);
        let s = format!("{f:?}");
        assert!(
            s.starts_with("Frame(UNREGISTER_APPLICATION, 16 bytes: 44 55 48 01"),
            "type name, length, 16 bytes shown whole: {s}"
        );
        assert!(!s.contains('…'), "nothing elided at 16 bytes: {s}");
        f.try_copy_from(&[0; 40]).ok();
        let s = format!("{f:?}");
        assert!(s.starts_with("Frame(unknown, 40 bytes: 00"), "{s}");
        assert!(s.ends_with(" …)"), "long frames are elided: {s}");
        assert_eq!(
            format!("{:?}", Frame::new()),
            "Frame(unknown, 0 bytes:)",
            "empty"
        );
    }
}
