//! Property tests: random headers, argument lists and limits, encoded
//! with [`LogWriter`] and decoded with the independent `dlt_parse` crate,
//! must give back exactly what went in, up to the truncation rule.
//!
//! The truncation rule, as checked here: the frame never exceeds the
//! (clamped) limit; a message is truncated only if its arguments do not
//! all fit with the marker argument's room free behind them (or there are
//! more than 254); then every argument before the last decoded one is
//! exact, and the last one is either the marker alone (the argument there
//! was dropped) or that string argument cut at a character boundary with
//! the marker appended.

use proptest::prelude::*;

use super::args::{EncodedArgs, LogWriter};
use super::header::{LogHeader, LOG_PREFIX_LEN};
use super::test_support::{check_log_invariants, DecodedLog, Value};
use super::{Frame, FRAME_CAP, MIN_FRAME_LIMIT, TRUNCATION_MARKER};
use crate::ids::{AppId, CtxId, EcuId, LogLevel};

/// Bytes of the marker argument: type info, length, marker, NUL.
const MARKER_ARG: usize = 4 + 2 + TRUNCATION_MARKER.len() + 1;

/// One argument call and its input.
#[derive(Clone, Debug)]
enum Arg {
    /// `str(name, text)`.
    Str(Option<String>, String),
    /// `fmt(name, &text)`: the Debug form of the text.
    Debug(Option<String>, String),
    /// `display(name, &text)`.
    Display(Option<String>, String),
    /// `i64(name, v)`.
    I64(Option<String>, i64),
    /// `u64(name, v)`.
    U64(Option<String>, u64),
    /// `i128(name, v)`.
    I128(Option<String>, i128),
    /// `u128(name, v)`.
    U128(Option<String>, u128),
    /// `bool(name, v)`.
    Bool(Option<String>, bool),
    /// `f64(name, v)`.
    F64(Option<String>, f64),
}

// === impl Arg ===

impl Arg {
    /// Makes the call on `w`.
    fn apply(&self, w: &mut LogWriter<'_>) {
        match self {
            Arg::Str(n, s) => w.str(n.as_deref(), s),
            Arg::Debug(n, s) => w.fmt(n.as_deref(), s),
            Arg::Display(n, s) => w.display(n.as_deref(), s),
            Arg::I64(n, v) => w.i64(n.as_deref(), *v),
            Arg::U64(n, v) => w.u64(n.as_deref(), *v),
            Arg::I128(n, v) => w.i128(n.as_deref(), *v),
            Arg::U128(n, v) => w.u128(n.as_deref(), *v),
            Arg::Bool(n, v) => w.bool(n.as_deref(), *v),
            Arg::F64(n, v) => w.f64(n.as_deref(), *v),
        }
    }

    /// The name, if any.
    fn name(&self) -> Option<&str> {
        match self {
            Arg::Str(n, _)
            | Arg::Debug(n, _)
            | Arg::Display(n, _)
            | Arg::I64(n, _)
            | Arg::U64(n, _)
            | Arg::I128(n, _)
            | Arg::U128(n, _)
            | Arg::Bool(n, _)
            | Arg::F64(n, _) => n.as_deref(),
        }
    }

    /// The text a string-like argument should carry, or `None` for scalars.
    fn text(&self) -> Option<String> {
        match self {
            Arg::Str(_, s) | Arg::Display(_, s) => Some(s.clone()),
            Arg::Debug(_, s) => Some(format!("{s:?}")),
            _ => None,
        }
    }

    /// What `dlt_parse` should decode when the argument is kept whole.
    fn expected(&self) -> Value {
        let n = self.name().map(str::to_owned);
        match self {
            Arg::Str(..) | Arg::Debug(..) | Arg::Display(..) => {
                Value::Str(n, self.text().unwrap_or_default())
            }
            Arg::I64(_, v) => Value::I64(n, *v),
            Arg::U64(_, v) => Value::U64(n, *v),
            Arg::I128(_, v) => Value::I128(n, *v),
            Arg::U128(_, v) => Value::U128(n, *v),
            Arg::Bool(_, v) => Value::Bool(n, *v),
            Arg::F64(_, v) => Value::F64(n, v.to_bits()),
        }
    }

    /// Encoded size when kept whole (PROTOCOL.md §6.2 layouts).
    fn whole_size(&self) -> usize {
        let name = self.name().map(str::len);
        let with_unit = |value: usize| 4 + name.map_or(0, |n| 2 + 2 + n + 1) + value;
        match self {
            Arg::Str(..) | Arg::Debug(..) | Arg::Display(..) => {
                4 + 2 + name.map_or(0, |n| 2 + n + 1) + self.text().map_or(0, |t| t.len()) + 1
            }
            Arg::I64(..) | Arg::U64(..) | Arg::F64(..) => with_unit(8),
            Arg::I128(..) | Arg::U128(..) => with_unit(16),
            Arg::Bool(..) => 4 + name.map_or(0, |n| 2 + n + 1) + 1,
        }
    }

    /// Encoded size of the shortest cut form of a string-like argument:
    /// no text, only the marker and NUL.
    fn cut_size(&self) -> usize {
        4 + 2 + self.name().map_or(0, |n| 2 + n.len() + 1) + TRUNCATION_MARKER.len() + 1
    }
}

/// No name, a short unicode name, or one too long for most limits.
fn name() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        6 => "\\PC{0,12}".prop_map(Some),
        1 => "[a-z]{100,1500}".prop_map(Some),
    ]
}

/// Short or long unicode text, sometimes with control characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "\\PC{0,40}",
        2 => any::<String>(),
        1 => "\\PC{0,2000}",
    ]
}

/// Any argument kind with a random name.
fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        (name(), text()).prop_map(|(n, s)| Arg::Str(n, s)),
        (name(), text()).prop_map(|(n, s)| Arg::Debug(n, s)),
        (name(), text()).prop_map(|(n, s)| Arg::Display(n, s)),
        (name(), any::<i64>()).prop_map(|(n, v)| Arg::I64(n, v)),
        (name(), any::<u64>()).prop_map(|(n, v)| Arg::U64(n, v)),
        (name(), any::<i128>()).prop_map(|(n, v)| Arg::I128(n, v)),
        (name(), any::<u128>()).prop_map(|(n, v)| Arg::U128(n, v)),
        (name(), any::<bool>()).prop_map(|(n, v)| Arg::Bool(n, v)),
        (name(), any::<f64>()).prop_map(|(n, v)| Arg::F64(n, v)),
    ]
}

/// Small arguments, many of them, to reach the 255-argument NOAR cap.
fn small_arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        any::<bool>().prop_map(|v| Arg::Bool(None, v)),
        any::<i64>().prop_map(|v| Arg::I64(None, v)),
        "[a-z]{0,2}".prop_map(|s| Arg::Str(None, s)),
    ]
}

/// Random IDs, level, counter, session ID and timestamp.
fn header() -> impl Strategy<Value = LogHeader> {
    let id = "[!-~]{1,4}";
    (id, id, id, 0u8..=6, any::<u8>(), any::<u32>(), any::<u32>()).prop_map(
        |(e, a, c, level, counter, session_id, timestamp)| LogHeader {
            ecu: EcuId::new(&e).unwrap(),
            app: AppId::new(&a).unwrap(),
            ctx: CtxId::new(&c).unwrap(),
            level: LogLevel::from_u8(level).unwrap(),
            counter,
            session_id,
            timestamp,
        },
    )
}

/// Limits below, inside and above the accepted range, and both ends.
fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..FRAME_CAP + 200,
        1 => Just(MIN_FRAME_LIMIT),
        1 => Just(FRAME_CAP),
    ]
}

/// `dlt_parse`'s view of our level (it has no Off).
fn dlt_level(level: LogLevel) -> Option<dlt_parse::DltLogLevel> {
    use dlt_parse::DltLogLevel as D;
    Some(match level {
        LogLevel::Off => return None,
        LogLevel::Fatal => D::Fatal,
        LogLevel::Error => D::Error,
        LogLevel::Warn => D::Warn,
        LogLevel::Info => D::Info,
        LogLevel::Debug => D::Debug,
        LogLevel::Verbose => D::Verbose,
    })
}

/// Encodes, decodes and checks everything the module doc promises.
fn check_round_trip(hdr: &LogHeader, limit: usize, args: &[Arg]) -> Result<(), TestCaseError> {
    let mut frame = Frame::new();
    let mut w = LogWriter::begin(&mut frame, limit, hdr);
    for a in args {
        a.apply(&mut w);
    }
    let enc = w.finish();
    let limit = limit.clamp(MIN_FRAME_LIMIT, FRAME_CAP);
    prop_assert_eq!(enc.len, frame.len(), "Encoded::len");
    let d: DecodedLog = check_log_invariants(&frame, limit, enc.truncated);

    // Header fields.
    prop_assert_eq!(&d.ecu, hdr.ecu.as_bytes(), "ECU");
    prop_assert_eq!(&d.app, hdr.app.as_bytes(), "APID");
    prop_assert_eq!(&d.ctx, hdr.ctx.as_bytes(), "CTID");
    prop_assert_eq!(d.msin, 0x01 | ((hdr.level as u8) << 4), "MSIN");
    prop_assert_eq!(d.level, dlt_level(hdr.level), "level");
    prop_assert_eq!(d.counter, hdr.counter, "MCNT");
    prop_assert_eq!(d.session_id, hdr.session_id, "SEID");
    prop_assert_eq!(d.timestamp, hdr.timestamp, "TMSP");

    // Truncated only when the arguments cannot all fit with the reserve.
    let total: usize = args.iter().map(Arg::whole_size).sum();
    let all_fit = LOG_PREFIX_LEN + total + MARKER_ARG <= limit;
    if all_fit && args.len() <= 254 {
        prop_assert!(!enc.truncated, "truncated although everything fits");
    }

    if !enc.truncated {
        prop_assert_eq!(d.args.len(), args.len(), "argument count");
        for (i, (got, a)) in d.args.iter().zip(args).enumerate() {
            prop_assert_eq!(got, &a.expected(), "argument {}", i);
        }
        return Ok(());
    }

    let last = d.args.len() - 1;
    prop_assert!(last < args.len(), "marker stands in for an input argument");
    for (i, (got, a)) in d.args[..last].iter().zip(args).enumerate() {
        prop_assert_eq!(got, &a.expected(), "argument {} before the cut", i);
    }
    let Value::Str(got_name, got_text) = &d.args[last] else {
        return Err(TestCaseError::fail("last argument is not a string"));
    };
    let kept = got_text
        .strip_suffix(TRUNCATION_MARKER)
        .ok_or_else(|| TestCaseError::fail("no marker at the end"))?;
    let a = &args[last];
    let marker_alone = got_name.is_none() && kept.is_empty();
    let cut_string = match a.text() {
        Some(t) => got_name.as_deref() == a.name() && t.starts_with(kept),
        None => false,
    };
    prop_assert!(
        marker_alone || cut_string,
        "last argument {:?} is neither the marker nor a cut of {:?}",
        &d.args[last],
        a
    );
    if cut_string {
        let t = a.text().unwrap_or_default();
        // Cut as late as possible: less than one character (4 bytes) of
        // room is left unless the whole text was kept.
        prop_assert!(
            kept.len() == t.len() || frame.len() + 4 > limit,
            "cut too early: kept {} of {} bytes, frame {} of {}",
            kept.len(),
            t.len(),
            frame.len(),
            limit
        );
    } else {
        // The argument was dropped: NOAR was full, or not even its
        // smallest form fit in front of the marker argument's room.
        let before = frame.len() - MARKER_ARG;
        let smallest = if a.text().is_some() {
            a.cut_size()
        } else {
            a.whole_size() + MARKER_ARG
        };
        prop_assert!(
            last == 254 || before + smallest > limit,
            "argument {} dropped although it fit",
            last
        );
    }
    Ok(())
}

/// The arguments `group` encodes on its own ([`EncodedArgs`] at
/// `max_len`), decoded from a frame holding only them.
fn decoded_group(hdr: &LogHeader, max_len: usize, group: &[Arg]) -> (EncodedArgs, Vec<Value>) {
    let enc = EncodedArgs::encode(max_len, |w| group.iter().for_each(|a| a.apply(w)));
    let mut frame = Frame::new();
    let mut w = LogWriter::begin(&mut frame, FRAME_CAP, hdr);
    assert!(
        w.encoded(enc.bytes(), enc.count()),
        "a group fits an empty frame"
    );
    w.finish();
    let d = check_log_invariants(&frame, FRAME_CAP, false);
    (enc, d.args)
}

/// Pre-encoded groups (span scopes) appended after directly written
/// arguments, as the layer does: each group whole or, from the first that
/// does not fit, none and the marker. The frame must decode to the direct
/// arguments followed by the appended groups' own arguments, exactly.
fn check_groups(
    hdr: &LogHeader,
    limit: usize,
    max_len: usize,
    direct: &[Arg],
    groups: &[Vec<Arg>],
) -> Result<(), TestCaseError> {
    let mut frame = Frame::new();
    let mut w = LogWriter::begin(&mut frame, limit, hdr);
    for a in direct {
        a.apply(&mut w);
    }
    let direct_truncated = w.is_truncated();
    let mut want_tail = Vec::new();
    let mut dropped = false;
    for g in groups {
        let (enc, args) = decoded_group(hdr, max_len, g);
        if w.encoded(enc.bytes(), enc.count()) {
            want_tail.extend(args);
        } else {
            dropped = true;
            w.mark_truncated();
            break;
        }
    }
    let enc = w.finish();
    let d = check_log_invariants(
        &frame,
        limit.clamp(MIN_FRAME_LIMIT, FRAME_CAP),
        enc.truncated,
    );
    prop_assert_eq!(enc.truncated, direct_truncated || dropped);
    if !direct_truncated {
        let n_direct = d.args.len() - want_tail.len() - usize::from(dropped);
        let tail = &d.args[n_direct..n_direct + want_tail.len()];
        prop_assert_eq!(tail, &want_tail[..], "appended groups decode as themselves");
        if dropped {
            prop_assert_eq!(
                d.args.last(),
                Some(&Value::Str(None, TRUNCATION_MARKER.to_owned())),
                "a dropped group leaves the marker"
            );
        }
    } else {
        prop_assert!(want_tail.is_empty(), "nothing follows a truncated message");
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_logs_decode_to_their_inputs_with_dlt_parse(
        hdr in header(),
        limit in limit(),
        args in prop::collection::vec(arg(), 0..40),
    ) {
        check_round_trip(&hdr, limit, &args)?;
    }

    #[test]
    fn many_small_arguments_stop_at_255_with_the_marker(
        hdr in header(),
        args in prop::collection::vec(small_arg(), 200..320),
    ) {
        check_round_trip(&hdr, FRAME_CAP, &args)?;
    }

    #[test]
    fn pre_encoded_groups_append_whole_or_not_at_all(
        hdr in header(),
        limit in limit(),
        max_len in 0usize..400,
        direct in prop::collection::vec(arg(), 0..6),
        groups in prop::collection::vec(prop::collection::vec(arg(), 0..5), 0..12),
    ) {
        check_groups(&hdr, limit, max_len, &direct, &groups)?;
    }
}
