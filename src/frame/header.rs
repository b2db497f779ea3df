//! The headers of a verbose LOG message: the user header (type LOG), the
//! DLT standard header with its three extra fields, and the extended
//! header, laid out exactly as libdlt 2.18.8 sends them (PROTOCOL.md
//! §4.5, §5, §9). LEN and NOAR are written as placeholders and
//! back-patched once the payload is complete.
//!
//! Byte order: the user header is host order; LEN, SEID and TMSP are
//! always big endian; the payload that follows is host order, announced
//! by the MSBF bit on big-endian hosts. This module writes headers only.

use crate::ids::{AppId, CtxId, EcuId, LogLevel};

use super::user::{user_header, USER_HEADER_LEN, USER_MSG_LOG};
use super::Frame;

/// HTYP bit UEH: an extended header follows (PROTOCOL.md §5,
/// `DLT_HTYP_UEH` in `dlt_protocol.h`).
const HTYP_UEH: u8 = 0x01;
/// HTYP bit MSBF: the payload is big endian (PROTOCOL.md §5,
/// `DLT_HTYP_MSBF`). libdlt sets it only on big-endian hosts.
const HTYP_MSBF: u8 = 0x02;
/// HTYP bit WEID: the ECU ID extra field is present (`DLT_HTYP_WEID`).
const HTYP_WEID: u8 = 0x04;
/// HTYP bit WSID: the session ID extra field is present (`DLT_HTYP_WSID`).
const HTYP_WSID: u8 = 0x08;
/// HTYP bit WTMS: the timestamp extra field is present (`DLT_HTYP_WTMS`).
const HTYP_WTMS: u8 = 0x10;
/// HTYP version 1 in bits 5..7 (`DLT_HTYP_PROTOCOL_VERSION1` = 1 << 5).
const HTYP_VERSION_1: u8 = 0x20;

/// The payload byte order flag for this host: MSBF on big-endian hosts,
/// nothing on little-endian ones, as libdlt does (PROTOCOL.md §2).
const HTYP_HOST_ORDER: u8 = if cfg!(target_endian = "big") {
    HTYP_MSBF
} else {
    0
};

/// HTYP of every LOG we send: `0x3D` on little-endian hosts (`0x3F` on
/// big-endian ones), libdlt 2.18.8's default (PROTOCOL.md §4.5).
pub(super) const HTYP: u8 =
    HTYP_UEH | HTYP_WEID | HTYP_WSID | HTYP_WTMS | HTYP_VERSION_1 | HTYP_HOST_ORDER;

/// MSIN bit VERB: verbose mode, arguments carry type info (PROTOCOL.md
/// §4.5, `DLT_MSIN_VERB`).
const MSIN_VERB: u8 = 0x01;
/// MSIN message type LOG in bits 1..3 (`DLT_TYPE_LOG` = 0 << 1).
const MSIN_MSTP_LOG: u8 = 0x00;
/// Shift of MTIN, the message type info (for LOG: the level), in MSIN
/// (`DLT_MSIN_MTIN_SHIFT` = 4).
const MSIN_MTIN_SHIFT: u8 = 4;

/// Length of the DLT standard header: HTYP, MCNT, LEN (PROTOCOL.md §5).
const STANDARD_HEADER_LEN: usize = 4;
/// Length of the three standard-header extras: ECU, SEID, TMSP.
const EXTRAS_LEN: usize = 4 + 4 + 4;
/// Length of the extended header: MSIN, NOAR, APID, CTID (PROTOCOL.md §4.5).
const EXTENDED_HEADER_LEN: usize = 10;

/// Bytes from HTYP to the first payload byte: 26 (PROTOCOL.md §4.5).
pub(super) const DLT_HEADERS_LEN: usize = STANDARD_HEADER_LEN + EXTRAS_LEN + EXTENDED_HEADER_LEN;

/// Bytes of a LOG frame before its payload: user header + DLT headers = 34.
pub(super) const LOG_PREFIX_LEN: usize = USER_HEADER_LEN + DLT_HEADERS_LEN;

/// Frame offset of LEN (u16 big endian): user header, HTYP, MCNT.
const LEN_OFFSET: usize = USER_HEADER_LEN + 2;
/// Frame offset of NOAR (u8): user header, standard header, extras, MSIN.
const NOAR_OFFSET: usize = USER_HEADER_LEN + STANDARD_HEADER_LEN + EXTRAS_LEN + 1;

/// Everything in the headers of one LOG message except the two values
/// known only at the end (LEN and NOAR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogHeader {
    /// ECU ID (the daemon rewrites the literal `ECU1` to its own).
    pub ecu: EcuId,
    /// Application ID (APID).
    pub app: AppId,
    /// Context ID (CTID).
    pub ctx: CtxId,
    /// Log level, sent as MTIN.
    pub level: LogLevel,
    /// Message counter MCNT: per context, wraps at 256 (PROTOCOL.md §9).
    pub counter: u8,
    /// Session ID SEID; libdlt sends the pid.
    pub session_id: u32,
    /// Timestamp TMSP in 0.1 ms units, CLOCK_MONOTONIC at the log call
    /// (PROTOCOL.md §9); the caller takes the clock.
    pub timestamp: u32,
}

// === impl LogHeader ===

impl LogHeader {
    /// MSIN for this header: verbose, type LOG, the level as MTIN.
    const fn msin(&self) -> u8 {
        MSIN_VERB | MSIN_MSTP_LOG | ((self.level as u8) << MSIN_MTIN_SHIFT)
    }

    /// The 34 bytes before the payload, with LEN and NOAR left at 0.
    pub(super) fn encode(&self) -> [u8; LOG_PREFIX_LEN] {
        let mut b = [0u8; LOG_PREFIX_LEN];
        let parts: [&[u8]; 10] = [
            &user_header(USER_MSG_LOG),
            &[HTYP, self.counter],
            &[0, 0], // LEN, back-patched by `patch_len_and_noar`
            self.ecu.as_bytes(),
            &self.session_id.to_be_bytes(),
            &self.timestamp.to_be_bytes(),
            &[self.msin()],
            &[0], // NOAR, back-patched by `patch_len_and_noar`
            self.app.as_bytes(),
            self.ctx.as_bytes(),
        ];
        let mut at = 0;
        for part in parts {
            if let Some(dst) = b.get_mut(at..at + part.len()) {
                dst.copy_from_slice(part);
            }
            at += part.len();
        }
        b
    }
}

/// Back-patches LEN (bytes from HTYP to the end, u16 big endian) and NOAR
/// into a frame that starts with a LOG prefix. A frame shorter than the
/// prefix is left alone. LEN cannot overflow: a frame holds at most
/// `FRAME_CAP` bytes, far below 65535.
pub(super) fn patch_len_and_noar(frame: &mut Frame, noar: u8) {
    if frame.len() < LOG_PREFIX_LEN {
        return;
    }
    let len = u16::try_from(frame.len() - USER_HEADER_LEN).unwrap_or(u16::MAX);
    frame.patch(LEN_OFFSET, &len.to_be_bytes());
    frame.patch(NOAR_OFFSET, &[noar]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with distinctive bytes in every field.
    fn header(level: LogLevel) -> LogHeader {
        LogHeader {
            ecu: EcuId::new("ECU1").unwrap(),
            app: AppId::new("APP").unwrap(),
            ctx: CtxId::new("CTX").unwrap(),
            level,
            counter: 0xAB,
            session_id: 0x0102_0304,
            timestamp: 0x0A0B_0C0D,
        }
    }

    #[test]
    fn htyp_is_libdlt_default_for_this_host() {
        let want = if cfg!(target_endian = "big") {
            0x3F
        } else {
            0x3D
        };
        assert_eq!(HTYP, want, "UEH|WEID|WSID|WTMS|v1 (+MSBF on BE)");
        assert_eq!(LOG_PREFIX_LEN, 34, "8 + 4 + 12 + 10");
    }

    #[test]
    fn msin_is_verbose_log_with_level_as_mtin() {
        let cases = [
            (LogLevel::Off, 0x01),
            (LogLevel::Fatal, 0x11),
            (LogLevel::Error, 0x21),
            (LogLevel::Warn, 0x31),
            (LogLevel::Info, 0x41),
            (LogLevel::Debug, 0x51),
            (LogLevel::Verbose, 0x61),
        ];
        for (level, msin) in cases {
            assert_eq!(header(level).encode()[24], msin, "{level:?}");
        }
    }

    #[test]
    fn prefix_fields_are_at_their_protocol_offsets() {
        let b = header(LogLevel::Warn).encode();
        let fields: [(&str, std::ops::Range<usize>, &[u8]); 10] = [
            ("pattern", 0..4, b"DUH\x01"),
            ("type LOG, host order", 4..8, &1u32.to_ne_bytes()),
            ("HTYP", 8..9, &[HTYP]),
            ("MCNT", 9..10, &[0xAB]),
            ("LEN placeholder", 10..12, &[0, 0]),
            ("ECU", 12..16, b"ECU1"),
            ("SEID big endian", 16..20, &[1, 2, 3, 4]),
            ("TMSP big endian", 20..24, &[0x0A, 0x0B, 0x0C, 0x0D]),
            ("NOAR placeholder", 25..26, &[0]),
            ("APID, CTID", 26..34, b"APP\0CTX\0"),
        ];
        for (label, range, want) in fields {
            assert_eq!(&b[range], want, "{label}");
        }
    }

    #[test]
    fn len_and_noar_are_back_patched() {
        let mut f = Frame::new();
        f.push(&header(LogLevel::Info).encode()).unwrap();
        f.push(&[0; 300]).unwrap();
        patch_len_and_noar(&mut f, 7);
        let b = f.as_bytes();
        assert_eq!(&b[10..12], &(26u16 + 300).to_be_bytes(), "LEN from HTYP");
        assert_eq!(b[25], 7, "NOAR");

        let mut short = Frame::new();
        short.push(b"DUH").unwrap();
        patch_len_and_noar(&mut short, 7);
        assert_eq!(short.as_bytes(), b"DUH", "short frame untouched");
    }
}
