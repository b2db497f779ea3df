//! Verbose LOG arguments: [`LogWriter`] writes the headers, then one
//! argument per call (type info + value, PROTOCOL.md §6), then
//! back-patches LEN and NOAR.
//!
//! It never panics, never allocates and never lets a frame grow past the
//! caller's limit. Room for one marker argument is kept free at all
//! times, so whatever does not fit can always be replaced by
//! [`TRUNCATION_MARKER`]: a string that does not fit is cut at a UTF-8
//! boundary and ends with the marker, a scalar that does not fit is
//! dropped and the marker follows as its own argument; every later
//! argument is ignored. Payload values are in host byte order, which the
//! header's MSBF bit announces.

use std::fmt;

use super::header::{patch_len_and_noar, LogHeader, LOG_PREFIX_LEN};
use super::text::TextWriter;
use super::{Frame, Full, FRAME_CAP};

/// The text that ends a truncated message: libdlt 2.18.8's own words
/// (`DLT_USER_STRING_TRUNCATED` text, seen in the
/// `u2d_vgen_log_long_string_truncated.bin` vector), 35 bytes.
///
/// A string argument that does not fit is cut at a UTF-8 character
/// boundary and ends with this text; when a number or boolean does not
/// fit, the message ends with this text as one extra string argument.
///
/// # Examples
///
/// ```
/// assert!(taktora_log::TRUNCATION_MARKER.ends_with("too long>>"));
/// assert_eq!(taktora_log::TRUNCATION_MARKER.len(), 35);
/// ```
pub const TRUNCATION_MARKER: &str = "... <<Message truncated, too long>>";

/// Type info TYLE for 8-bit values (PROTOCOL.md §6.1, `DLT_TYLE_8BIT`).
const TYLE_8: u32 = 0x1;
/// Type info TYLE for 64-bit values (`DLT_TYLE_64BIT`).
const TYLE_64: u32 = 0x4;
/// Type info TYLE for 128-bit values (`DLT_TYLE_128BIT`).
const TYLE_128: u32 = 0x5;
/// Type info BOOL (PROTOCOL.md §6.1, `DLT_TYPE_INFO_BOOL`).
const TYPE_BOOL: u32 = 0x10;
/// Type info SINT, signed integer (`DLT_TYPE_INFO_SINT`).
const TYPE_SINT: u32 = 0x20;
/// Type info UINT, unsigned integer (`DLT_TYPE_INFO_UINT`).
const TYPE_UINT: u32 = 0x40;
/// Type info FLOA, IEEE-754 float (`DLT_TYPE_INFO_FLOA`).
const TYPE_FLOA: u32 = 0x80;
/// Type info STRG, NUL-terminated string (`DLT_TYPE_INFO_STRG`).
const TYPE_STRG: u32 = 0x200;
/// Type info VARI: a name (and for numbers a unit) follows
/// (`DLT_TYPE_INFO_VARI`; layouts in PROTOCOL.md §6.2).
const TYPE_VARI: u32 = 0x800;
/// Type info SCOD UTF-8 for strings (`DLT_SCOD_UTF8` = 1 << 15).
const SCOD_UTF8: u32 = 0x8000;

/// Bytes of the type info that starts every argument (PROTOCOL.md §6).
const TYPE_INFO_LEN: usize = 4;
/// Bytes of a u16 length field (string length, name length, unit length).
const LEN_FIELD: usize = 2;

/// Bytes of the marker argument: type info, length, the marker, its NUL.
const MARKER_ARG_LEN: usize = TYPE_INFO_LEN + LEN_FIELD + TRUNCATION_MARKER.len() + 1;

/// The marker argument's length field: the marker and its NUL.
const MARKER_LEN_FIELD: u16 = 36;
const _: () = assert!(MARKER_LEN_FIELD as usize == TRUNCATION_MARKER.len() + 1);

/// Bytes of an empty unnamed string argument: type info, length, NUL.
const EMPTY_STRING_ARG_LEN: usize = TYPE_INFO_LEN + LEN_FIELD + 1;

/// The smallest frame size limit taktora-log accepts (smaller limits are
/// raised to it): room for the headers, an empty message argument and the
/// marker argument that is always kept free for [`TRUNCATION_MARKER`].
///
/// | bytes | what |
/// |---:|---|
/// | 8 | user header |
/// | 26 | DLT standard header, extras, extended header |
/// | 7 | empty unnamed string: type info 4 + length 2 + NUL 1 |
/// | 42 | marker argument: type info 4 + length 2 + 35 marker bytes + NUL 1 |
/// | **83** | |
///
/// # Examples
///
/// ```
/// assert_eq!(taktora_log::MIN_FRAME_LIMIT, 8 + 26 + 7 + 42);
/// assert!(taktora_log::MIN_FRAME_LIMIT <= taktora_log::FRAME_CAP);
/// ```
pub const MIN_FRAME_LIMIT: usize = LOG_PREFIX_LEN + EMPTY_STRING_ARG_LEN + MARKER_ARG_LEN;

const _: () = assert!(MIN_FRAME_LIMIT <= FRAME_CAP);

/// The most arguments NOAR can count (it is one byte).
const MAX_NOAR: u8 = u8::MAX;

/// What [`LogWriter::finish`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Encoded {
    /// Whether anything was cut or dropped (the marker is then present).
    pub truncated: bool,
    /// Total frame length, user header included.
    pub len: usize,
}

/// Encodes one verbose LOG message into a [`Frame`]: [`begin`] writes the
/// headers, each argument method appends one argument, [`finish`]
/// back-patches LEN and NOAR.
///
/// Names (`Some(name)`) set the VARI bit and are encoded as libdlt's
/// `_ATTR` macros do: NUL-terminated, the length counting the NUL; numbers
/// also get an empty unit (length 0, no bytes, as libdlt writes a NULL
/// unit).
///
/// Truncation: every argument must leave the marker argument's room (42
/// bytes) free behind it. A string that does not is cut as late as the
/// limit allows and ends with [`TRUNCATION_MARKER`], even when its whole
/// text still fits in front of the marker (no text lost then, but nothing
/// could follow it); a scalar that does not is dropped and the marker
/// follows as an unnamed string argument. Either way every later call is
/// ignored and [`Encoded::truncated`] is set. NOAR is capped at 255, the
/// marker included.
///
/// [`begin`]: LogWriter::begin
/// [`finish`]: LogWriter::finish
pub(crate) struct LogWriter<'a> {
    /// The frame being written; it holds the headers from `begin` on.
    frame: &'a mut Frame,
    /// Largest frame length allowed, in `MIN_FRAME_LIMIT..=FRAME_CAP`.
    limit: usize,
    /// Arguments written so far, the marker included.
    noar: u8,
    /// Whether the message was truncated; once set, nothing more is written.
    truncated: bool,
}

// === impl LogWriter ===

impl<'a> LogWriter<'a> {
    /// Clears `frame` and writes the user header and the DLT headers of a
    /// verbose LOG from `hdr`. The finished frame will be at most `limit`
    /// bytes, user header included; `limit` is clamped to
    /// [`MIN_FRAME_LIMIT`]`..=`[`FRAME_CAP`].
    #[must_use = "call finish() to back-patch LEN and NOAR"]
    pub(crate) fn begin(frame: &'a mut Frame, limit: usize, hdr: &LogHeader) -> Self {
        frame.clear();
        // Cannot fail: 34 bytes into an empty frame of FRAME_CAP. Should it,
        // the writer is closed and `finish` reports an empty, truncated frame.
        let ok = frame.push(&hdr.encode()).is_ok();
        Self {
            frame,
            limit: limit.clamp(MIN_FRAME_LIMIT, FRAME_CAP),
            noar: 0,
            truncated: !ok,
        }
    }

    /// Appends a string: STRG with SCOD UTF-8 (`0x8200`, `0x8A00` named),
    /// u16 length including the NUL, the name if any, the bytes, NUL.
    pub(crate) fn str(&mut self, name: Option<&str>, value: &str) {
        self.string_with(name, |w| fmt::Write::write_str(w, value));
    }

    /// Appends `value` formatted with `Debug` as a string argument,
    /// written straight into the frame (no allocation).
    pub(crate) fn fmt(&mut self, name: Option<&str>, value: &dyn fmt::Debug) {
        self.string_with(name, |w| fmt::write(w, format_args!("{value:?}")));
    }

    /// Appends `value` formatted with `Display` as a string argument,
    /// written straight into the frame (no allocation).
    pub(crate) fn display(&mut self, name: Option<&str>, value: &dyn fmt::Display) {
        self.string_with(name, |w| fmt::write(w, format_args!("{value}")));
    }

    /// Appends a signed 64-bit integer: SINT TYLE 4 (`0x24`).
    pub(crate) fn i64(&mut self, name: Option<&str>, value: i64) {
        self.scalar(name, TYPE_SINT | TYLE_64, true, &value.to_ne_bytes());
    }

    /// Appends an unsigned 64-bit integer: UINT TYLE 4 (`0x44`).
    pub(crate) fn u64(&mut self, name: Option<&str>, value: u64) {
        self.scalar(name, TYPE_UINT | TYLE_64, true, &value.to_ne_bytes());
    }

    /// Appends a signed 128-bit integer: SINT TYLE 5 (`0x25`).
    pub(crate) fn i128(&mut self, name: Option<&str>, value: i128) {
        self.scalar(name, TYPE_SINT | TYLE_128, true, &value.to_ne_bytes());
    }

    /// Appends an unsigned 128-bit integer: UINT TYLE 5 (`0x45`).
    pub(crate) fn u128(&mut self, name: Option<&str>, value: u128) {
        self.scalar(name, TYPE_UINT | TYLE_128, true, &value.to_ne_bytes());
    }

    /// Appends a boolean: BOOL TYLE 1 (`0x11`), one byte 0/1. Named
    /// booleans carry a name but no unit (PROTOCOL.md §6.2).
    pub(crate) fn bool(&mut self, name: Option<&str>, value: bool) {
        self.scalar(name, TYPE_BOOL | TYLE_8, false, &[u8::from(value)]);
    }

    /// Appends a 64-bit float: FLOA TYLE 4 (`0x84`).
    pub(crate) fn f64(&mut self, name: Option<&str>, value: f64) {
        self.scalar(name, TYPE_FLOA | TYLE_64, true, &value.to_ne_bytes());
    }

    /// Whether the message was truncated: the marker is written and every
    /// later argument is ignored.
    pub(crate) fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Whether `count` pre-encoded arguments of `len` bytes in all would
    /// fit with the marker argument's room still free behind them, and
    /// NOAR could count them and the marker.
    pub(crate) fn has_room_for_encoded(&self, len: usize, count: usize) -> bool {
        !self.truncated
            && usize::from(self.noar).saturating_add(count) < usize::from(MAX_NOAR)
            && self
                .frame
                .len()
                .saturating_add(len)
                .saturating_add(MARKER_ARG_LEN)
                <= self.limit
    }

    /// Appends arguments encoded earlier by [`EncodedArgs::encode`]
    /// (`args.bytes()`, `args.count()` of them), unchanged. Returns
    /// `false` and writes nothing when they do not fit
    /// ([`has_room_for_encoded`](Self::has_room_for_encoded)).
    pub(crate) fn encoded(&mut self, bytes: &[u8], count: u8) -> bool {
        if !self.has_room_for_encoded(bytes.len(), usize::from(count)) {
            return false;
        }
        let start = self.frame.len();
        if self.frame.push(bytes).is_err() {
            self.frame.truncate(start);
            return false;
        }
        self.noar += count;
        true
    }

    /// Ends the message with the marker argument because something the
    /// caller had to leave out (arguments that did not fit) is missing;
    /// every later call is ignored. No effect once truncated.
    pub(crate) fn mark_truncated(&mut self) {
        if !self.truncated {
            self.close_with_marker_arg();
        }
    }

    /// Back-patches LEN and NOAR and reports the frame length and whether
    /// anything was truncated.
    pub(crate) fn finish(self) -> Encoded {
        patch_len_and_noar(self.frame, self.noar);
        Encoded {
            truncated: self.truncated,
            len: self.frame.len(),
        }
    }

    /// Whether an argument of `arg_len` bytes fits with the marker
    /// argument still free behind it, and NOAR can count both.
    fn has_room_for(&self, arg_len: usize) -> bool {
        self.noar < MAX_NOAR - 1
            && self
                .frame
                .len()
                .saturating_add(arg_len)
                .saturating_add(MARKER_ARG_LEN)
                <= self.limit
    }

    /// Appends a scalar argument (`type_info` without VARI; `value` in
    /// host order), or, if it does not fit, closes the message with the
    /// marker argument.
    fn scalar(&mut self, name: Option<&str>, type_info: u32, has_unit: bool, value: &[u8]) {
        if self.truncated {
            return;
        }
        let unit_field = if has_unit { LEN_FIELD } else { 0 };
        let vari_len = name.map_or(0, |n| (LEN_FIELD + unit_field + 1).saturating_add(n.len()));
        let arg_len = (TYPE_INFO_LEN + value.len()).saturating_add(vari_len);
        if !self.has_room_for(arg_len) {
            return self.close_with_marker_arg();
        }
        let start = self.frame.len();
        match self.write_scalar(name, type_info, has_unit, value) {
            Ok(()) => self.noar += 1,
            Err(Full) => {
                self.frame.truncate(start);
                self.close_with_marker_arg();
            }
        }
    }

    /// Writes type info, then if named: name length, unit length 0
    /// (numbers only), name, NUL; then the value. The caller has checked
    /// the room.
    fn write_scalar(
        &mut self,
        name: Option<&str>,
        type_info: u32,
        has_unit: bool,
        value: &[u8],
    ) -> Result<(), Full> {
        let vari = if name.is_some() { TYPE_VARI } else { 0 };
        self.frame.push(&(type_info | vari).to_ne_bytes())?;
        if let Some(name) = name {
            self.frame.push(&name_len(name)?)?;
            if has_unit {
                // libdlt writes a NULL unit as length 0 and no bytes.
                self.frame.push(&0u16.to_ne_bytes())?;
            }
            self.frame.push(name.as_bytes())?;
            self.frame.push(&[0])?;
        }
        self.frame.push(value)
    }

    /// Appends a string argument whose text `write` produces, cutting it
    /// and ending it with the marker if it does not fit; if not even the
    /// cut form fits (a very long name), closes the message with the
    /// marker argument instead.
    fn string_with(
        &mut self,
        name: Option<&str>,
        write: impl FnOnce(&mut TextWriter<'_>) -> fmt::Result,
    ) {
        if self.truncated {
            return;
        }
        let vari_len = name.map_or(0, |n| (LEN_FIELD + 1).saturating_add(n.len()));
        let cut_len =
            (TYPE_INFO_LEN + LEN_FIELD + TRUNCATION_MARKER.len() + 1).saturating_add(vari_len);
        let fits_cut = self.frame.len().saturating_add(cut_len) <= self.limit;
        if self.noar >= MAX_NOAR - 1 || !fits_cut {
            return self.close_with_marker_arg();
        }
        let start = self.frame.len();
        match self.write_string(name, write) {
            Ok(whole) => {
                self.noar += 1;
                self.truncated = !whole;
            }
            Err(Full) => {
                self.frame.truncate(start);
                self.close_with_marker_arg();
            }
        }
    }

    /// Writes type info, u16 length (back-patched), the name if any
    /// (length, name, NUL), the text, the marker if cut, NUL. Returns
    /// whether the text was kept whole with the marker argument's room
    /// still free behind it. The caller has checked that the cut form fits.
    fn write_string(
        &mut self,
        name: Option<&str>,
        write: impl FnOnce(&mut TextWriter<'_>) -> fmt::Result,
    ) -> Result<bool, Full> {
        let vari = if name.is_some() { TYPE_VARI } else { 0 };
        self.frame
            .push(&(TYPE_STRG | SCOD_UTF8 | vari).to_ne_bytes())?;
        let len_at = self.frame.len();
        self.frame.push(&[0, 0])?;
        if let Some(name) = name {
            self.frame.push(&name_len(name)?)?;
            self.frame.push(name.as_bytes())?;
            self.frame.push(&[0])?;
        }
        let text_start = self.frame.len();
        // Text may run up to where the marker and NUL still fit.
        let text_end = self.limit.saturating_sub(TRUNCATION_MARKER.len() + 1);
        let mut w = TextWriter::new(self.frame, text_end);
        // An error means the writer cut, or the value's own `fmt` failed;
        // either way the text written so far is kept.
        let _ = write(&mut w);
        let cut = w.cut();
        let whole = !cut && self.has_room_for(1);
        if !whole {
            self.frame.push(TRUNCATION_MARKER.as_bytes())?;
        }
        self.frame.push(&[0])?;
        let len = u16::try_from(self.frame.len() - text_start).map_err(|_| Full)?;
        self.frame.patch(len_at, &len.to_ne_bytes());
        Ok(whole)
    }

    /// Ends the message: appends [`TRUNCATION_MARKER`] as an unnamed
    /// string argument and ignores everything after. The room for it was
    /// kept free by every earlier argument.
    fn close_with_marker_arg(&mut self) {
        self.truncated = true;
        let start = self.frame.len();
        let pushed = self
            .frame
            .push(&(TYPE_STRG | SCOD_UTF8).to_ne_bytes())
            .and_then(|()| self.frame.push(&MARKER_LEN_FIELD.to_ne_bytes()))
            .and_then(|()| self.frame.push(TRUNCATION_MARKER.as_bytes()))
            .and_then(|()| self.frame.push(&[0]));
        match pushed {
            Ok(()) => self.noar = self.noar.saturating_add(1),
            Err(Full) => self.frame.truncate(start),
        }
    }
}

/// Arguments encoded on their own, without headers, to be copied into
/// later frames unchanged with [`LogWriter::encoded`]: a span's name and
/// fields are encoded once, when recorded, not at every event. The bytes
/// are exactly what [`LogWriter`] writes (same truncation rules, within
/// `max_len` bytes), so a frame built from them is as valid as one written
/// directly. Lives on the stack (a scratch [`Frame`]); never allocates.
pub(crate) struct EncodedArgs {
    frame: Frame,
    noar: u8,
    truncated: bool,
}

impl EncodedArgs {
    /// Encodes the arguments `write` appends, at most `max_len` bytes in
    /// all (clamped to 49 bytes, an empty string and the marker, up to a
    /// whole frame's payload, 1390).
    /// What does not fit is cut and marked as [`LogWriter`] does.
    pub(crate) fn encode(max_len: usize, write: impl FnOnce(&mut LogWriter<'_>)) -> Self {
        let mut frame = Frame::new();
        let limit = LOG_PREFIX_LEN.saturating_add(max_len);
        let mut w = LogWriter::begin(&mut frame, limit, &SCRATCH_HEADER);
        write(&mut w);
        let (noar, truncated) = (w.noar, w.truncated);
        Self {
            frame,
            noar,
            truncated,
        }
    }

    /// The encoded arguments, back to back.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.frame.as_bytes().get(LOG_PREFIX_LEN..).unwrap_or(&[])
    }

    /// How many arguments [`bytes`](Self::bytes) holds, a marker included.
    pub(crate) fn count(&self) -> u8 {
        self.noar
    }

    /// Whether something was cut (the bytes then end with the marker).
    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }
}

/// The headers [`EncodedArgs`] writes and then skips: any valid ones.
const SCRATCH_HEADER: LogHeader = LogHeader {
    ecu: match crate::ids::EcuId::new("ECU1") {
        Ok(id) => id,
        Err(_) => panic!("ECU1 is a valid ECU ID"),
    },
    app: match crate::ids::AppId::new("SPAN") {
        Ok(id) => id,
        Err(_) => panic!("SPAN is a valid application ID"),
    },
    ctx: match crate::ids::CtxId::new("SPAN") {
        Ok(id) => id,
        Err(_) => panic!("SPAN is a valid context ID"),
    },
    level: crate::ids::LogLevel::Info,
    counter: 0,
    session_id: 0,
    timestamp: 0,
};

impl fmt::Debug for LogWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter")
            .field("len", &self.frame.len())
            .field("limit", &self.limit)
            .field("noar", &self.noar)
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// The VARI name length field: `name.len() + 1` (the NUL counts), host
/// order.
///
/// # Errors
///
/// [`Full`] if it does not fit a u16 (such a name never fits a frame).
fn name_len(name: &str) -> Result<[u8; 2], Full> {
    let len = name.len().checked_add(1).ok_or(Full)?;
    u16::try_from(len).map(u16::to_ne_bytes).map_err(|_| Full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::test_support::{check_log_invariants, encode, WriteArgs};

    /// Concatenates byte pieces.
    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// A type info in host (payload) byte order.
    fn ti(v: u32) -> [u8; 4] {
        v.to_ne_bytes()
    }

    /// A u16 length in host (payload) byte order.
    fn u16ne(v: u16) -> [u8; 2] {
        v.to_ne_bytes()
    }

    #[test]
    fn each_argument_kind_encodes_as_libdlt_does() {
        let cases: Vec<(&str, WriteArgs<'_>, Vec<u8>)> = vec![
            (
                "str unnamed: 0x8200, len incl. NUL",
                Box::new(|w| w.str(None, "hello")),
                cat(&[&ti(0x8200), &u16ne(6), b"hello\0"]),
            ),
            (
                "str named: data length before name length",
                Box::new(|w| w.str(Some("state"), "on")),
                cat(&[&ti(0x8A00), &u16ne(3), &u16ne(6), b"state\0", b"on\0"]),
            ),
            (
                "str with empty name: name_len 1, lone NUL",
                Box::new(|w| w.str(Some(""), "x")),
                cat(&[&ti(0x8A00), &u16ne(2), &u16ne(1), b"\0", b"x\0"]),
            ),
            (
                "i64 unnamed: 0x24",
                Box::new(|w| w.i64(None, -3)),
                cat(&[&ti(0x24), &(-3i64).to_ne_bytes()]),
            ),
            (
                "i64 named: name_len, unit_len 0, name, no unit",
                Box::new(|w| w.i64(Some("speed"), 100)),
                cat(&[
                    &ti(0x824),
                    &u16ne(6),
                    &u16ne(0),
                    b"speed\0",
                    &100i64.to_ne_bytes(),
                ]),
            ),
            (
                "u64 unnamed: 0x44",
                Box::new(|w| w.u64(None, 3)),
                cat(&[&ti(0x44), &3u64.to_ne_bytes()]),
            ),
            (
                "u64 named",
                Box::new(|w| w.u64(Some("n"), u64::MAX)),
                cat(&[
                    &ti(0x844),
                    &u16ne(2),
                    &u16ne(0),
                    b"n\0",
                    &u64::MAX.to_ne_bytes(),
                ]),
            ),
            (
                "i128 unnamed: 0x25",
                Box::new(|w| w.i128(None, i128::MIN)),
                cat(&[&ti(0x25), &i128::MIN.to_ne_bytes()]),
            ),
            (
                "u128 named: 0x845",
                Box::new(|w| w.u128(Some("big"), u128::MAX)),
                cat(&[
                    &ti(0x845),
                    &u16ne(4),
                    &u16ne(0),
                    b"big\0",
                    &u128::MAX.to_ne_bytes(),
                ]),
            ),
            (
                "bool unnamed: 0x11",
                Box::new(|w| w.bool(None, true)),
                cat(&[&ti(0x11), &[1]]),
            ),
            (
                "bool named: name but no unit",
                Box::new(|w| w.bool(Some("flag"), false)),
                cat(&[&ti(0x811), &u16ne(5), b"flag\0", &[0]]),
            ),
            (
                "f64 unnamed: 0x84",
                Box::new(|w| w.f64(None, 3.5)),
                cat(&[&ti(0x84), &3.5f64.to_ne_bytes()]),
            ),
            (
                "f64 named",
                Box::new(|w| w.f64(Some("temp"), 2.25)),
                cat(&[
                    &ti(0x884),
                    &u16ne(5),
                    &u16ne(0),
                    b"temp\0",
                    &2.25f64.to_ne_bytes(),
                ]),
            ),
            (
                "fmt: Debug text as a string",
                Box::new(|w| w.fmt(None, &[1, 2])),
                cat(&[&ti(0x8200), &u16ne(7), b"[1, 2]\0"]),
            ),
            (
                "display named: Display text as a string",
                Box::new(|w| w.display(Some("d"), &42)),
                cat(&[&ti(0x8A00), &u16ne(3), &u16ne(2), b"d\0", b"42\0"]),
            ),
        ];
        for (label, write, want) in cases {
            let (frame, enc) = encode(FRAME_CAP, |w| write(w));
            assert_eq!(&frame.as_bytes()[LOG_PREFIX_LEN..], &want[..], "{label}");
            assert!(!enc.truncated, "{label}: not truncated");
            let d = check_log_invariants(&frame, FRAME_CAP, false);
            assert_eq!(d.noar, 1, "{label}: NOAR");
        }
    }
}
