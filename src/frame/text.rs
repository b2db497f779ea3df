//! A truncating [`fmt::Write`] over a [`Frame`]'s remaining room, so
//! `Debug`/`Display` values are formatted straight into the frame with no
//! `String` and no allocation.
//!
//! `arrayvec`'s own writers do not fit: `ArrayString` rejects a whole
//! `write_str` that does not fit, and `ArrayVec<u8, N>`'s `io::Write` cuts
//! at a byte boundary that may split a UTF-8 sequence. [`TextWriter`] keeps
//! every whole character that fits, never splits one, and remembers that
//! it cut. It knows nothing of DLT argument layout (that is `args`).

use std::fmt;

use super::Frame;

/// The largest `n <= max` such that `s[..n]` ends on a UTF-8 character
/// boundary (so `s[..n]` is valid UTF-8). `n = s.len()` when `max` is at
/// least the length. Never panics.
pub(super) fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    // A UTF-8 character is at most 4 bytes, so at most 3 steps back.
    let mut n = max;
    while n > 0 && !s.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// Appends text to a [`Frame`] until the frame reaches `end` bytes, then
/// cuts at a character boundary and ignores the rest.
///
/// Once it has cut, every further `write_str` returns [`fmt::Error`] so
/// that a long `Debug` implementation stops early instead of formatting
/// into the void. The error is the writer's way of saying "full"; the
/// caller reads [`TextWriter::cut`] rather than the `fmt::Result`.
pub(super) struct TextWriter<'a> {
    /// The frame being appended to.
    frame: &'a mut Frame,
    /// Absolute frame length the text may reach (clamped to the frame's
    /// capacity by the `Frame::push` check).
    end: usize,
    /// Whether some text was dropped.
    cut: bool,
}

// === impl TextWriter ===

impl<'a> TextWriter<'a> {
    /// A writer appending to `frame` up to a total frame length of `end`.
    /// If the frame is already at or past `end`, nothing is written and
    /// any non-empty text counts as cut.
    pub(super) fn new(frame: &'a mut Frame, end: usize) -> Self {
        Self {
            frame,
            end,
            cut: false,
        }
    }

    /// Whether any text was dropped because it did not fit.
    pub(super) fn cut(&self) -> bool {
        self.cut
    }
}

impl fmt::Write for TextWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Err(fmt::Error);
        }
        let room = self.end.saturating_sub(self.frame.len());
        let n = floor_char_boundary(s, room);
        let Some(head) = s.as_bytes().get(..n) else {
            self.cut = true;
            return Err(fmt::Error);
        };
        if self.frame.push(head).is_err() {
            // Only if `end` lies beyond the frame's capacity: cut there.
            self.cut = true;
            return Err(fmt::Error);
        }
        if n < s.len() {
            self.cut = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}

impl fmt::Debug for TextWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextWriter")
            .field("len", &self.frame.len())
            .field("end", &self.end)
            .field("cut", &self.cut)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;
    use crate::frame::FRAME_CAP;

    #[test]
    fn floor_char_boundary_never_splits_a_character() {
        let s = "aä€😀"; // 1 + 2 + 3 + 4 bytes
        let cases = [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 3),
            (4, 3),
            (5, 3),
            (6, 6),
            (7, 6),
            (8, 6),
            (9, 6),
            (10, 10),
            (11, 10),
            (usize::MAX, 10),
        ];
        for (max, want) in cases {
            assert_eq!(floor_char_boundary(s, max), want, "max {max}");
        }
        assert_eq!(floor_char_boundary("", 5), 0, "empty");
    }

    /// Writes `pieces` into a frame holding `prefix` bytes, with the text
    /// allowed up to `end`; returns the text written and whether it cut.
    fn write_pieces(prefix: usize, end: usize, pieces: &[&str]) -> (String, bool) {
        let mut f = Frame::new();
        f.push(&vec![b'.'; prefix]).unwrap();
        let mut w = TextWriter::new(&mut f, end);
        for p in pieces {
            let _ = w.write_str(p);
        }
        let cut = w.cut();
        let text = String::from_utf8(f.as_bytes()[prefix..].to_vec()).unwrap();
        (text, cut)
    }

    /// (label, prefix bytes, end, pieces written, text kept, cut)
    type Case<'a> = (&'a str, usize, usize, &'a [&'a str], &'a str, bool);

    #[test]
    fn writer_keeps_whole_characters_and_reports_the_cut() {
        let cases: [Case<'_>; 8] = [
            ("fits", 0, 10, &["abc", "def"], "abcdef", false),
            ("exactly fits", 2, 8, &["abc", "def"], "abcdef", false),
            ("ascii cut", 0, 4, &["abc", "def"], "abcd", true),
            (
                "4-byte char straddles",
                0,
                5,
                &["ab", "😀", "c"],
                "ab",
                true,
            ),
            ("4-byte char just fits", 0, 6, &["ab", "😀c"], "ab😀", true),
            ("nothing after a cut", 0, 3, &["abcd", "x"], "abc", true),
            ("end before frame", 5, 3, &["a"], "", true),
            ("empty text at end", 3, 3, &["", ""], "", false),
        ];
        for (label, prefix, end, pieces, want, want_cut) in cases {
            let (text, cut) = write_pieces(prefix, end, pieces);
            assert_eq!(text, want, "{label}: text");
            assert_eq!(cut, want_cut, "{label}: cut");
        }
    }

    #[test]
    fn writer_stops_at_frame_capacity_even_if_end_is_beyond() {
        let (text, cut) = write_pieces(FRAME_CAP - 2, FRAME_CAP + 10, &["ab", "c"]);
        assert_eq!((text.as_str(), cut), ("ab", true), "capacity bound");
    }

    #[test]
    fn formatting_stops_early_once_cut() {
        struct Counting<'c>(&'c std::cell::Cell<u32>);
        impl fmt::Debug for Counting<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for _ in 0..1000 {
                    self.0.set(self.0.get() + 1);
                    f.write_str("xxxxxxxxxx")?;
                }
                Ok(())
            }
        }
        let calls = std::cell::Cell::new(0);
        let mut f = Frame::new();
        let mut w = TextWriter::new(&mut f, 25);
        let r = write!(w, "{:?}", Counting(&calls));
        assert!(r.is_err() && w.cut(), "cut and reported");
        assert_eq!(calls.get(), 3, "formatting stopped at the cut");
        assert!(format!("{w:?}").contains("cut: true"), "debug");
        assert_eq!(f.len(), 25, "filled exactly to end");
    }
}
