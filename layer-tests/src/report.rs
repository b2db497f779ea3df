//! Shortening long outputs for failure messages.
//!
//! A failing test should show what it saw without flooding the terminal:
//! the last lines, each cut to a readable width.

/// Lines kept by [`tail`].
pub(crate) const TAIL_LINES: usize = 40;

/// Characters kept of each line by [`tail`].
const LINE_WIDTH: usize = 300;

/// The last `max_lines` of `lines`, each cut to [`LINE_WIDTH`] characters,
/// one per output line and indented, with a note of how many were left out.
pub(crate) fn tail<S: AsRef<str>>(lines: &[S], max_lines: usize) -> String {
    let skipped = lines.len().saturating_sub(max_lines);
    let mut out = String::new();
    if skipped > 0 {
        out.push_str(&format!("    ... {skipped} earlier lines not shown\n"));
    }
    for line in &lines[skipped..] {
        let line = line.as_ref();
        out.push_str("    ");
        match line.char_indices().nth(LINE_WIDTH) {
            Some((cut, _)) => {
                out.push_str(&line[..cut]);
                out.push_str(" ...");
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    if lines.is_empty() {
        out.push_str("    (none)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_and_says_how_many_were_dropped() {
        let lines: Vec<String> = (0..5).map(|i| format!("line {i}")).collect();
        assert_eq!(
            tail(&lines, 2),
            "    ... 3 earlier lines not shown\n    line 3\n    line 4\n"
        );
        assert_eq!(tail::<&str>(&[], 2), "    (none)\n");
    }

    #[test]
    fn cuts_long_lines_on_a_char_boundary() {
        let long = "ä".repeat(LINE_WIDTH + 5);
        let out = tail(&[long], 1);
        assert_eq!(out.chars().filter(|&c| c == 'ä').count(), LINE_WIDTH);
        assert!(out.ends_with(" ...\n"));
    }
}
