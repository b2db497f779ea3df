//! The dlt-daemon user-protocol envelope (`"DUH\x01"` + message type) and
//! the small app → daemon messages: register and unregister application
//! and context, and the overflow report.
//!
//! Everything here is in **host byte order** and packed, as the C structs
//! in `dlt_user_shared.h` are (PROTOCOL.md §2–§4). The message-type
//! constants are shared with the daemon → app parser in `control`. This
//! module only writes bytes into a [`Frame`]; it does no I/O.

use crate::ids::{AppId, CtxId, RegisterLevel};

use super::text::floor_char_boundary;
use super::{Frame, Full, FRAME_CAP};

/// The 4-byte pattern that starts every user message in both FIFOs
/// (`DLT_USER_MAGIC`-style `"DUH"` + 0x01 in `dlt_user_shared.h`;
/// PROTOCOL.md §3). The daemon resynchronises on it.
pub(crate) const USER_PATTERN: [u8; 4] = *b"DUH\x01";

/// Length of the user header: the pattern plus a u32 message type
/// (`DltUserHeader` in `dlt_user_shared.h`; PROTOCOL.md §3).
pub(crate) const USER_HEADER_LEN: usize = 8;

/// Message type LOG: a complete DLT message follows (`DLT_USER_MESSAGE_LOG`).
pub(crate) const USER_MSG_LOG: u32 = 1;
/// Message type REGISTER_APPLICATION (`DLT_USER_MESSAGE_REGISTER_APPLICATION`).
pub(crate) const USER_MSG_REGISTER_APPLICATION: u32 = 2;
/// Message type UNREGISTER_APPLICATION (`DLT_USER_MESSAGE_UNREGISTER_APPLICATION`).
pub(crate) const USER_MSG_UNREGISTER_APPLICATION: u32 = 3;
/// Message type REGISTER_CONTEXT (`DLT_USER_MESSAGE_REGISTER_CONTEXT`).
pub(crate) const USER_MSG_REGISTER_CONTEXT: u32 = 4;
/// Message type UNREGISTER_CONTEXT (`DLT_USER_MESSAGE_UNREGISTER_CONTEXT`).
pub(crate) const USER_MSG_UNREGISTER_CONTEXT: u32 = 5;
/// Message type LOG_LEVEL, daemon → app, 14 bytes (`DLT_USER_MESSAGE_LOG_LEVEL`).
pub(crate) const USER_MSG_LOG_LEVEL: u32 = 6;
/// Message type INJECTION, daemon → app, 20 + n bytes (`DLT_USER_MESSAGE_INJECTION`).
pub(crate) const USER_MSG_INJECTION: u32 = 7;
/// Message type OVERFLOW: how many messages the app dropped (`DLT_USER_MESSAGE_OVERFLOW`).
pub(crate) const USER_MSG_OVERFLOW: u32 = 8;
/// Message type APP_LL_TS: application-wide level limit (`DLT_USER_MESSAGE_APP_LL_TS`).
pub(crate) const USER_MSG_APP_LL_TS: u32 = 9;
/// Message type LOG_SHM, shared-memory builds only (`DLT_USER_MESSAGE_LOG_SHM`).
pub(crate) const USER_MSG_LOG_SHM: u32 = 10;
/// Message type LOG_MODE; the 2.18.8 daemon rejects it (`DLT_USER_MESSAGE_LOG_MODE`, PROTOCOL.md §4.8).
pub(crate) const USER_MSG_LOG_MODE: u32 = 11;
/// Message type LOG_STATE, daemon → app, 9 bytes (`DLT_USER_MESSAGE_LOG_STATE`).
pub(crate) const USER_MSG_LOG_STATE: u32 = 12;

/// The longest description the daemon keeps; longer ones are cut here
/// rather than left for the daemon to skip by resync (`DLT_DAEMON_DESCSIZE`
/// = 256 in `dlt_daemon_common.h`; PROTOCOL.md §4.1).
pub(crate) const DESCRIPTION_MAX_LEN: usize = 256;

/// Fixed part of REGISTER_APPLICATION: user header, APID, pid, description
/// length (PROTOCOL.md §4.1).
const REGISTER_APP_FIXED_LEN: usize = USER_HEADER_LEN + 4 + 4 + 4;

/// Fixed part of REGISTER_CONTEXT: user header, APID, CTID,
/// log_level_pos, log_level, trace_status, pid, description length
/// (PROTOCOL.md §4.3).
const REGISTER_CONTEXT_FIXED_LEN: usize = USER_HEADER_LEN + 4 + 4 + 4 + 1 + 1 + 4 + 4;

// Every message written here fits into a frame, whatever the description.
const _: () = assert!(REGISTER_APP_FIXED_LEN + DESCRIPTION_MAX_LEN <= FRAME_CAP);
const _: () = assert!(REGISTER_CONTEXT_FIXED_LEN + DESCRIPTION_MAX_LEN <= FRAME_CAP);

/// The 8-byte user header for `msg_type`: pattern, then the type as a u32
/// in host byte order.
pub(super) fn user_header(msg_type: u32) -> [u8; USER_HEADER_LEN] {
    let t = msg_type.to_ne_bytes();
    let p = USER_PATTERN;
    [p[0], p[1], p[2], p[3], t[0], t[1], t[2], t[3]]
}

/// The name of the user message in `bytes` (for `Debug`), or `"unknown"`
/// when it does not start with a user header of a known type.
pub(super) fn message_type_name(bytes: &[u8]) -> &'static str {
    let (Some(pattern), Some(t)) = (bytes.get(..4), bytes.get(4..USER_HEADER_LEN)) else {
        return "unknown";
    };
    let Ok(t) = <[u8; 4]>::try_from(t) else {
        return "unknown";
    };
    if pattern != USER_PATTERN {
        return "unknown";
    }
    match u32::from_ne_bytes(t) {
        USER_MSG_LOG => "LOG",
        USER_MSG_REGISTER_APPLICATION => "REGISTER_APPLICATION",
        USER_MSG_UNREGISTER_APPLICATION => "UNREGISTER_APPLICATION",
        USER_MSG_REGISTER_CONTEXT => "REGISTER_CONTEXT",
        USER_MSG_UNREGISTER_CONTEXT => "UNREGISTER_CONTEXT",
        USER_MSG_LOG_LEVEL => "LOG_LEVEL",
        USER_MSG_INJECTION => "INJECTION",
        USER_MSG_OVERFLOW => "OVERFLOW",
        USER_MSG_APP_LL_TS => "APP_LL_TS",
        USER_MSG_LOG_SHM => "LOG_SHM",
        USER_MSG_LOG_MODE => "LOG_MODE",
        USER_MSG_LOG_STATE => "LOG_STATE",
        _ => "unknown",
    }
}

/// Replaces the frame's contents with `parts` concatenated. The const
/// assertions above make every caller's parts fit; should they not, the
/// frame is left empty rather than holding half a message.
fn fill(frame: &mut Frame, parts: &[&[u8]]) {
    frame.clear();
    for part in parts {
        if frame.push(part).is_err() {
            frame.clear();
            return;
        }
    }
}

/// `description` cut to at most [`DESCRIPTION_MAX_LEN`] bytes at a UTF-8
/// boundary, and its length as a host-order u32.
fn description(description: &str) -> Result<(&[u8], [u8; 4]), Full> {
    let d = &description.as_bytes()[..floor_char_boundary(description, DESCRIPTION_MAX_LEN)];
    let len = u32::try_from(d.len()).map_err(|_| Full)?;
    Ok((d, len.to_ne_bytes()))
}

/// Writes REGISTER_APPLICATION (type 2, 20 + n bytes; PROTOCOL.md §4.1):
/// APID, `pid` (the daemon opens `dltpipes/dlt<pid>` from it), and the
/// description without NUL after its u32 length, cut to 256 bytes at a
/// UTF-8 boundary. Host byte order.
pub(crate) fn register_app(frame: &mut Frame, app: AppId, pid: i32, desc: &str) {
    let Ok((d, d_len)) = description(desc) else {
        frame.clear();
        return;
    };
    fill(
        frame,
        &[
            &user_header(USER_MSG_REGISTER_APPLICATION),
            app.as_bytes(),
            &pid.to_ne_bytes(),
            &d_len,
            d,
        ],
    );
}

/// The trace status REGISTER_CONTEXT always carries: -2, "not set"
/// (`DLT_TRACE_STATUS_DEFAULT - 1`, as libdlt sends it unless the code set
/// one), so the daemon answers with its default. Network trace is not
/// supported, so there is nothing else to send.
const TRACE_STATUS_NOT_SET: i8 = -2;

/// Writes REGISTER_CONTEXT (type 4, 30 + n bytes; PROTOCOL.md §4.3):
/// APID, CTID, the app's own `log_level_pos` (echoed back in LOG_LEVEL),
/// `log_level` as its `i8` wire value ([`RegisterLevel::wire`]), the trace
/// status [`TRACE_STATUS_NOT_SET`], `pid`, and the description as in
/// [`register_app`]. Host byte order, packed (pid is unaligned).
pub(crate) fn register_context(
    frame: &mut Frame,
    app: AppId,
    ctx: CtxId,
    log_level_pos: i32,
    log_level: RegisterLevel,
    pid: i32,
    desc: &str,
) {
    let Ok((d, d_len)) = description(desc) else {
        frame.clear();
        return;
    };
    fill(
        frame,
        &[
            &user_header(USER_MSG_REGISTER_CONTEXT),
            app.as_bytes(),
            ctx.as_bytes(),
            &log_level_pos.to_ne_bytes(),
            &log_level.wire().to_ne_bytes(),
            &TRACE_STATUS_NOT_SET.to_ne_bytes(),
            &pid.to_ne_bytes(),
            &d_len,
            d,
        ],
    );
}

/// Writes UNREGISTER_CONTEXT (type 5, 20 bytes; PROTOCOL.md §4.4): APID,
/// CTID, pid. Host byte order.
pub(crate) fn unregister_context(frame: &mut Frame, app: AppId, ctx: CtxId, pid: i32) {
    fill(
        frame,
        &[
            &user_header(USER_MSG_UNREGISTER_CONTEXT),
            app.as_bytes(),
            ctx.as_bytes(),
            &pid.to_ne_bytes(),
        ],
    );
}

/// Writes UNREGISTER_APPLICATION (type 3, 16 bytes; PROTOCOL.md §4.2):
/// APID, pid. Host byte order.
pub(crate) fn unregister_app(frame: &mut Frame, app: AppId, pid: i32) {
    fill(
        frame,
        &[
            &user_header(USER_MSG_UNREGISTER_APPLICATION),
            app.as_bytes(),
            &pid.to_ne_bytes(),
        ],
    );
}

/// Writes OVERFLOW (type 8, 16 bytes; PROTOCOL.md §4.6): how many
/// messages were dropped since the last report, then the APID. Note the
/// order: the counter comes first. Host byte order.
pub(crate) fn overflow(frame: &mut Frame, count: u32, app: AppId) {
    fill(
        frame,
        &[
            &user_header(USER_MSG_OVERFLOW),
            &count.to_ne_bytes(),
            app.as_bytes(),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid application ID.
    fn app(s: &str) -> AppId {
        AppId::new(s).unwrap()
    }

    /// A valid context ID.
    fn ctx(s: &str) -> CtxId {
        CtxId::new(s).unwrap()
    }

    /// One message writer, as a table entry.
    type Write<'a> = &'a dyn Fn(&mut Frame);

    #[test]
    fn message_sizes_match_protocol_table() {
        let mut f = Frame::new();
        let cases: [(&str, usize, Write<'_>); 5] = [
            ("register_app, empty desc", 20, &|f| {
                register_app(f, app("A"), 1, "")
            }),
            ("register_context, empty desc", 30, &|f| {
                register_context(f, app("A"), ctx("C"), 0, RegisterLevel::NotSet, 1, "")
            }),
            ("unregister_app", 16, &|f| unregister_app(f, app("A"), 1)),
            ("unregister_context", 20, &|f| {
                unregister_context(f, app("A"), ctx("C"), 1)
            }),
            ("overflow", 16, &|f| overflow(f, 1, app("A"))),
        ];
        for (label, len, write) in cases {
            write(&mut f);
            assert_eq!(f.len(), len, "{label}");
            assert_eq!(f.as_bytes()[..4], USER_PATTERN, "{label}: pattern");
        }
    }

    #[test]
    fn descriptions_are_cut_to_256_bytes_at_a_char_boundary() {
        let mut f = Frame::new();
        let cases = [
            ("256 ASCII kept", "a".repeat(256), 256),
            ("257 ASCII cut", "a".repeat(257), 256),
            // 255 'a' then 'ä' (2 bytes) would end at 257: drop the whole char.
            (
                "2-byte char straddling",
                format!("{}ä", "a".repeat(255)),
                255,
            ),
            // 254 'a' then a 4-byte char would end at 258: drop it.
            (
                "4-byte char straddling",
                format!("{}😀x", "a".repeat(254)),
                254,
            ),
            (
                "4-byte char ending at 256",
                format!("{}😀x", "a".repeat(252)),
                256,
            ),
        ];
        for (label, desc, kept) in cases {
            register_app(&mut f, app("A"), 1, &desc);
            let b = f.as_bytes();
            let len = u32::from_ne_bytes(b[16..20].try_into().unwrap());
            assert_eq!(len as usize, kept, "{label}: length field");
            assert_eq!(&b[20..], &desc.as_bytes()[..kept], "{label}: bytes");
            assert!(std::str::from_utf8(&b[20..]).is_ok(), "{label}: UTF-8");

            register_context(
                &mut f,
                app("A"),
                ctx("C"),
                0,
                RegisterLevel::NotSet,
                1,
                &desc,
            );
            let b = f.as_bytes();
            let len = u32::from_ne_bytes(b[26..30].try_into().unwrap());
            assert_eq!(len as usize, kept, "{label}: context length field");
            assert_eq!(b.len(), 30 + kept, "{label}: context size");
        }
    }

    #[test]
    fn message_type_names_cover_every_type() {
        let names = [
            (USER_MSG_LOG, "LOG"),
            (USER_MSG_REGISTER_APPLICATION, "REGISTER_APPLICATION"),
            (USER_MSG_UNREGISTER_APPLICATION, "UNREGISTER_APPLICATION"),
            (USER_MSG_REGISTER_CONTEXT, "REGISTER_CONTEXT"),
            (USER_MSG_UNREGISTER_CONTEXT, "UNREGISTER_CONTEXT"),
            (USER_MSG_LOG_LEVEL, "LOG_LEVEL"),
            (USER_MSG_INJECTION, "INJECTION"),
            (USER_MSG_OVERFLOW, "OVERFLOW"),
            (USER_MSG_APP_LL_TS, "APP_LL_TS"),
            (USER_MSG_LOG_SHM, "LOG_SHM"),
            (USER_MSG_LOG_MODE, "LOG_MODE"),
            (USER_MSG_LOG_STATE, "LOG_STATE"),
            (13, "unknown"),
        ];
        for (t, name) in names {
            assert_eq!(message_type_name(&user_header(t)), name, "type {t}");
        }
        assert_eq!(message_type_name(b"DUH\x01\x01"), "unknown", "short");
        assert_eq!(
            message_type_name(b"DLT\x01\x01\0\0\0"),
            "unknown",
            "pattern"
        );
    }
}
