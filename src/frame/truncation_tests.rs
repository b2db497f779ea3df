//! Truncation edges of [`LogWriter`](super::LogWriter), table by table:
//! the frame never exceeds the limit, every string argument stays valid
//! UTF-8, the marker ends every truncated message and NOAR counts exactly
//! what was written.

use std::fmt;

use super::header::LOG_PREFIX_LEN;
use super::test_support::{check_log_invariants, encode, Value, WriteArgs};
use super::{FRAME_CAP, MIN_FRAME_LIMIT, TRUNCATION_MARKER};

/// The text of the `i`-th decoded argument, which must be a string.
fn text(args: &[Value], i: usize) -> &str {
    match &args[i] {
        Value::Str(_, s) => s,
        other => panic!("argument {i} is not a string: {other:?}"),
    }
}

/// `kept` followed by the marker, as a cut string decodes.
fn marked(kept: &str) -> String {
    format!("{kept}{TRUNCATION_MARKER}")
}

#[test]
fn strings_that_do_not_fit_are_cut_and_marked_within_the_limit() {
    let x1999 = "x".repeat(1999);
    let straddle = format!("{}😀b", "a".repeat(22));
    // (label, limit, text, kept text, frame length)
    let cases: [(&str, usize, &str, String, usize); 6] = [
        // libdlt: 1348 'x' + marker + NUL fills 1390 payload bytes.
        (
            "at FRAME_CAP",
            FRAME_CAP,
            &x1999,
            "x".repeat(1348),
            FRAME_CAP,
        ),
        // 83 - 34 headers - 6 (type, len) - 35 marker - 1 NUL = 7 'x'.
        (
            "at MIN_FRAME_LIMIT",
            MIN_FRAME_LIMIT,
            &x1999,
            "x".repeat(7),
            83,
        ),
        ("limit 0 is MIN_FRAME_LIMIT", 0, &x1999, "x".repeat(7), 83),
        (
            "limit above cap is FRAME_CAP",
            usize::MAX,
            &x1999,
            "x".repeat(1348),
            FRAME_CAP,
        ),
        // Room for 24 text bytes: 22 'a' + a 4-byte char would need 26.
        (
            "4-byte char straddling the cut",
            100,
            &straddle,
            "a".repeat(22),
            98,
        ),
        // 20 bytes fit, but not with the marker argument's room behind
        // them: the text stays whole and the marker follows inside it.
        (
            "whole text in the reserve",
            100,
            &"a".repeat(20),
            "a".repeat(20),
            96,
        ),
    ];
    for (label, limit, value, kept, len) in cases {
        let (frame, enc) = encode(limit, |w| {
            w.str(None, value);
            w.i64(None, 1);
            w.str(None, "ignored");
        });
        assert!(enc.truncated, "{label}: truncated");
        assert_eq!(frame.len(), len, "{label}: frame length");
        let d = check_log_invariants(&frame, limit.clamp(MIN_FRAME_LIMIT, FRAME_CAP), true);
        assert_eq!(d.noar, 1, "{label}: later arguments ignored");
        assert_eq!(text(&d.args, 0), marked(&kept), "{label}: text");
    }
}

#[test]
fn scalars_that_do_not_fit_are_replaced_by_a_marker_argument() {
    // (label, limit, filler text before the scalar, expected NOAR)
    let marker_only = Value::Str(None, TRUNCATION_MARKER.to_owned());
    let cases: [(&str, usize, usize, u8); 3] = [
        ("no room after headers", MIN_FRAME_LIMIT, 0, 2),
        // 34 + 6 + 106 + 1 (string) + 12 (i64) + 42 (reserve) = 201
        ("one byte short of room", 200, 106, 2),
        ("five bytes short of room", 200, 110, 2),
    ];
    for (label, limit, filler, noar) in cases {
        let filler = "f".repeat(filler);
        let (frame, enc) = encode(limit, |w| {
            w.str(None, &filler);
            w.i64(None, 1); // 12 bytes
            w.bool(None, true);
        });
        assert!(enc.truncated, "{label}: truncated");
        let d = check_log_invariants(&frame, limit, true);
        assert_eq!(d.noar, noar, "{label}: NOAR");
        assert_eq!(
            d.args[0],
            Value::Str(None, filler.clone()),
            "{label}: filler whole"
        );
        assert_eq!(d.args[1], marker_only, "{label}: marker argument");
    }
    // One byte less filler and the scalar fits, the reserve left free.
    let filler = "f".repeat(105);
    let (frame, enc) = encode(200, |w| {
        w.str(None, &filler);
        w.i64(None, 1);
    });
    assert!(!enc.truncated, "scalar fits exactly");
    assert_eq!(frame.len(), 200 - 42, "reserve left free");
}

#[test]
fn formatted_values_that_overflow_are_cut_at_a_char_boundary() {
    struct Repeat(&'static str, usize);
    impl fmt::Display for Repeat {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            (0..self.1).try_for_each(|_| f.write_str(self.0))
        }
    }
    let limit = 200;
    let room = limit - 34 - 6 - 35 - 1; // text bytes before the marker
    let cases: [(&str, Repeat, usize); 3] = [
        ("ascii", Repeat("ab", 1000), room),
        ("2-byte chars", Repeat("é", 1000), room / 2 * 2),
        ("4-byte chars", Repeat("😀", 1000), room / 4 * 4),
    ];
    for (label, value, kept) in cases {
        let (frame, enc) = encode(limit, |w| w.display(None, &value));
        assert!(enc.truncated, "{label}: truncated");
        let d = check_log_invariants(&frame, limit, true);
        let t = text(&d.args, 0);
        let body = t.strip_suffix(TRUNCATION_MARKER).expect("marker");
        assert_eq!(body.len(), kept, "{label}: kept bytes");
        assert!(
            value.to_string().starts_with(body),
            "{label}: a prefix of the text"
        );
    }
    let (frame, enc) = encode(limit, |w| w.fmt(Some("v"), &vec![0u32; 1000]));
    assert!(enc.truncated, "Debug of a long Vec");
    let d = check_log_invariants(&frame, limit, true);
    assert!(text(&d.args, 0).starts_with("[0, 0, "), "Debug text");
}

#[test]
fn names_too_long_for_the_frame_drop_the_argument() {
    let long = "n".repeat(2000);
    let marker_only = Value::Str(None, TRUNCATION_MARKER.to_owned());
    let cases: [(&str, WriteArgs<'_>); 3] = [
        ("string", Box::new(|w| w.str(Some(&long), "v"))),
        ("display", Box::new(|w| w.display(Some(&long), &1))),
        ("number", Box::new(|w| w.u64(Some(&long), 1))),
    ];
    for (label, write) in cases {
        let (frame, enc) = encode(FRAME_CAP, |w| write(w));
        assert!(enc.truncated, "{label}: truncated");
        let d = check_log_invariants(&frame, FRAME_CAP, true);
        assert_eq!(
            d.args,
            std::slice::from_ref(&marker_only),
            "{label}: marker only"
        );
    }
}

#[test]
fn noar_is_capped_at_255_with_the_marker_last() {
    let (frame, enc) = encode(FRAME_CAP, |w| {
        for _ in 0..300 {
            w.bool(None, true);
        }
    });
    assert!(enc.truncated, "truncated");
    let d = check_log_invariants(&frame, FRAME_CAP, true);
    assert_eq!(d.noar, 255, "NOAR");
    assert!(d.args[..254].iter().all(|a| *a == Value::Bool(None, true)));
    assert_eq!(d.args[254], Value::Str(None, TRUNCATION_MARKER.to_owned()));

    let (_, enc) = encode(FRAME_CAP, |w| {
        for _ in 0..254 {
            w.bool(None, true);
        }
    });
    assert!(!enc.truncated, "254 arguments fit untruncated");
    let (frame, _) = encode(FRAME_CAP, |w| {
        for _ in 0..254 {
            w.bool(None, true);
        }
        w.str(None, "s");
    });
    let d = check_log_invariants(&frame, FRAME_CAP, true);
    assert_eq!(d.noar, 255, "a 255th string becomes the marker");
}

#[test]
fn empty_message_fits_untruncated_at_min_frame_limit() {
    let (frame, enc) = encode(MIN_FRAME_LIMIT, |w| w.str(None, ""));
    assert!(!enc.truncated, "not truncated");
    assert_eq!(
        frame.len(),
        LOG_PREFIX_LEN + 4 + 2 + 1,
        "41 bytes: type info, length, NUL"
    );
    let d = check_log_invariants(&frame, MIN_FRAME_LIMIT, false);
    assert_eq!(d.args, [Value::Str(None, String::new())], "empty string");
    let (frame, enc) = encode(MIN_FRAME_LIMIT, |_| {});
    assert_eq!((frame.len(), enc.truncated), (34, false), "no arguments");
}
