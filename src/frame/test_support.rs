//! Test-only decoding of our LOG frames with the independent `dlt_parse`
//! crate, into owned values that tests compare against their inputs.

use dlt_parse::verbose::VerboseValue;
use dlt_parse::DltPacketSlice;

use super::header::{LogHeader, LOG_PREFIX_LEN};
use super::user::{USER_HEADER_LEN, USER_MSG_LOG, USER_PATTERN};
use super::{Encoded, Frame, LogWriter, TRUNCATION_MARKER};
use crate::ids::{AppId, CtxId, EcuId, LogLevel};

/// One argument call, as a table entry.
pub(super) type WriteArgs<'n> = Box<dyn Fn(&mut LogWriter<'_>) + 'n>;

/// A fixed INFO header (APP/CTX on ECU1).
pub(super) fn info_header() -> LogHeader {
    LogHeader {
        ecu: EcuId::new("ECU1").unwrap(),
        app: AppId::new("APP").unwrap(),
        ctx: CtxId::new("CTX").unwrap(),
        level: LogLevel::Info,
        counter: 7,
        session_id: 42,
        timestamp: 1234,
    }
}

/// Encodes one message under [`info_header`] at `limit` with the
/// arguments `args` writes; checks that `Encoded::len` is the frame length.
pub(super) fn encode(limit: usize, args: impl FnOnce(&mut LogWriter<'_>)) -> (Frame, Encoded) {
    let mut frame = Frame::new();
    let mut w = LogWriter::begin(&mut frame, limit, &info_header());
    args(&mut w);
    let enc = w.finish();
    assert_eq!(enc.len, frame.len(), "Encoded::len");
    (frame, enc)
}

/// One decoded argument: its name (`None` without VARI) and value.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    /// A string (STRG).
    Str(Option<String>, String),
    /// SINT TYLE 4.
    I64(Option<String>, i64),
    /// UINT TYLE 4.
    U64(Option<String>, u64),
    /// SINT TYLE 5.
    I128(Option<String>, i128),
    /// UINT TYLE 5.
    U128(Option<String>, u128),
    /// BOOL.
    Bool(Option<String>, bool),
    /// FLOA TYLE 4, as bits so that NaN compares equal to itself.
    F64(Option<String>, u64),
}

/// What `dlt_parse` sees in a LOG frame.
#[derive(Debug)]
pub(super) struct DecodedLog {
    /// ECU ID.
    pub ecu: [u8; 4],
    /// APID.
    pub app: [u8; 4],
    /// CTID.
    pub ctx: [u8; 4],
    /// The raw MSIN byte.
    pub msin: u8,
    /// The level per `dlt_parse` (`None` for MTIN 0 = Off).
    pub level: Option<dlt_parse::DltLogLevel>,
    /// MCNT.
    pub counter: u8,
    /// SEID.
    pub session_id: u32,
    /// TMSP.
    pub timestamp: u32,
    /// NOAR.
    pub noar: u8,
    /// LEN.
    pub len: u16,
    /// Every argument NOAR announces, decoded.
    pub args: Vec<Value>,
}

/// Decodes `frame` as a verbose LOG with `dlt_parse`, panicking with a
/// message on anything unexpected (user header, HTYP, unknown types,
/// trailing bytes).
pub(super) fn decode_log(frame: &Frame) -> DecodedLog {
    let b = frame.as_bytes();
    assert!(b.len() >= LOG_PREFIX_LEN, "frame shorter than a LOG prefix");
    assert_eq!(b[..4], USER_PATTERN, "user header pattern");
    assert_eq!(b[4..8], USER_MSG_LOG.to_ne_bytes(), "user message type LOG");
    let packet = DltPacketSlice::from_slice(&b[USER_HEADER_LEN..]).expect("dlt_parse header");
    let header = packet.header();
    let ext = header.extended_header.clone().expect("extended header");
    assert_eq!(
        packet.is_big_endian(),
        cfg!(target_endian = "big"),
        "MSBF matches the host"
    );
    assert!(packet.is_verbose(), "verbose");
    let level = match packet.message_type() {
        Some(dlt_parse::DltMessageType::Log(l)) => Some(l),
        _ => None,
    };
    let mut args = Vec::new();
    let mut iter = packet.verbose_value_iter().expect("verbose iterator");
    for v in iter.by_ref() {
        args.push(owned(v.expect("argument decodes")));
    }
    assert!(iter.raw().is_empty(), "no bytes after the last argument");
    DecodedLog {
        ecu: header.ecu_id.expect("WEID"),
        app: ext.application_id,
        ctx: ext.context_id,
        msin: ext.message_info.0,
        level,
        counter: header.message_counter,
        session_id: header.session_id.expect("WSID"),
        timestamp: header.timestamp.expect("WTMS"),
        noar: ext.number_of_arguments,
        len: header.length,
        args,
    }
}

/// The owned form of a decoded value; numbers must carry an empty unit.
fn owned(v: VerboseValue<'_>) -> Value {
    let name = v.name().map(str::to_owned);
    if let Some(unit) = v.unit() {
        assert_eq!(unit, "", "numbers are sent with an empty unit");
    }
    match v {
        VerboseValue::Str(s) => Value::Str(name, s.value.to_owned()),
        VerboseValue::I64(x) => Value::I64(name, x.value),
        VerboseValue::U64(x) => Value::U64(name, x.value),
        VerboseValue::I128(x) => Value::I128(name, x.value),
        VerboseValue::U128(x) => Value::U128(name, x.value),
        VerboseValue::Bool(x) => Value::Bool(name, x.value),
        VerboseValue::F64(x) => Value::F64(name, x.value.to_bits()),
        other => panic!("unexpected argument type {other:?}"),
    }
}

/// Checks what must hold for every LOG frame we produce: within `limit`,
/// `8 + LEN == len`, NOAR counts exactly the decoded arguments, and a
/// truncated frame ends with the marker (inside its last string).
/// Returns the decoded frame for further checks.
pub(super) fn check_log_invariants(frame: &Frame, limit: usize, truncated: bool) -> DecodedLog {
    let d = decode_log(frame);
    assert!(
        frame.len() <= limit,
        "{} bytes > limit {limit}",
        frame.len()
    );
    assert_eq!(USER_HEADER_LEN + usize::from(d.len), frame.len(), "8 + LEN");
    assert_eq!(usize::from(d.noar), d.args.len(), "NOAR");
    let ends_with_marker =
        matches!(d.args.last(), Some(Value::Str(_, s)) if s.ends_with(TRUNCATION_MARKER));
    if truncated {
        assert!(ends_with_marker, "truncated frame ends with the marker");
    }
    d
}
