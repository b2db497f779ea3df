//! Parsing one line of `dlt-receive -a` output into its fields.
//!
//! The format (PROTOCOL.md §6.4) is
//! `<date> <time> <tmsp> <mcnt> <ecu> <apid> <ctid> <kind> <level> V|N <noar> [<args>]`.
//! This module only parses text; it never runs the tool.

/// One message as printed by `dlt-receive -a`.
///
/// Example line (from PROTOCOL.md §11):
///
/// ```text
/// 2026/11/23 08:47:34.469793    6251333 001 ECU1 PYAP PYCT log warn V 5 [mixed -42 42 1 3.14159]
/// ```
///
/// IDs shorter than four characters are printed padded with `-`
/// (`DA1-`); [`apid`](Self::apid), [`ctid`](Self::ctid) and
/// [`ecu`](Self::ecu) have that padding stripped, the `*_raw` fields keep
/// it. An ID that really ends in `-` cannot be told apart from padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DltLine {
    /// The receiver's wall-clock date, `YYYY/MM/DD`.
    pub date: String,
    /// The receiver's wall-clock time, `hh:mm:ss.uuuuuu`.
    pub time: String,
    /// The message's TMSP header field, in 0.1 ms units.
    pub tmsp: u32,
    /// The message counter (MCNT), per context.
    pub mcnt: u8,
    /// ECU ID, `-` padding stripped.
    pub ecu: String,
    /// ECU ID as printed.
    pub ecu_raw: String,
    /// Application ID, `-` padding stripped (`DA1-` → `DA1`).
    pub apid: String,
    /// Application ID as printed.
    pub apid_raw: String,
    /// Context ID, `-` padding stripped.
    pub ctid: String,
    /// Context ID as printed.
    pub ctid_raw: String,
    /// The message type word: `log` or `control` (also `app_trace`,
    /// `nw_trace` for trace messages).
    pub kind: String,
    /// The subtype word: for `log` the level (`fatal`, `error`, `warn`,
    /// `info`, `debug`, `verbose`); for `control` `request` or `response`.
    pub level: String,
    /// `true` for a verbose message (`V`), `false` for non-verbose (`N`).
    pub verbose: bool,
    /// The number of arguments (NOAR).
    pub noar: u8,
    /// Everything between the first `[` after NOAR and the line's last `]`.
    pub args: String,
    /// The whole line as printed (trailing newline removed).
    pub raw: String,
}

impl DltLine {
    /// The arguments split on single spaces, as `dlt-receive` joins them.
    ///
    /// A string argument that itself contains spaces is split too: the
    /// printed form cannot be split unambiguously, so tests should log
    /// space-free values when they compare single arguments, or compare
    /// the whole [`args`](Self::args) string. An empty `[]` gives an empty
    /// vector.
    ///
    /// # Examples
    ///
    /// ```
    /// let line = layer_tests::parse_line(
    ///     "2026/11/23 08:47:34.469793    6251333 001 ECU1 PYAP PYCT log warn V 5 [mixed -42 42 1 3.14159]",
    /// )
    /// .expect("a dlt-receive line");
    /// assert_eq!(line.args_vec(), ["mixed", "-42", "42", "1", "3.14159"]);
    /// ```
    pub fn args_vec(&self) -> Vec<&str> {
        if self.args.is_empty() {
            Vec::new()
        } else {
            self.args.split(' ').collect()
        }
    }

    /// The line without the receiver clock, TMSP, MCNT and ECU:
    /// `PYAP PYCT log info V 1 [Hello from speak.py]` (IDs as printed).
    ///
    /// Handy for comparing against an expected message in one assert.
    pub fn tail(&self) -> String {
        format!(
            "{} {} {} {} {} {} [{}]",
            self.apid_raw,
            self.ctid_raw,
            self.kind,
            self.level,
            if self.verbose { 'V' } else { 'N' },
            self.noar,
            self.args
        )
    }

    /// True for a `log` message from application `apid` and context `ctid`
    /// (compared without padding).
    pub fn is_log_from(&self, apid: &str, ctid: &str) -> bool {
        self.kind == "log" && self.apid == apid && self.ctid == ctid
    }
}

/// Parses one line of `dlt-receive -a` output.
///
/// Returns `None` for anything else the tool prints (and for messages it
/// prints without an extended header, which have no APID/CTID columns).
///
/// # Examples
///
/// ```
/// let line = layer_tests::parse_line(
///     "2026/11/23 08:47:34.469741    6251332 000 ECU1 PYAP PYCT log info V 1 [Hello from speak.py]",
/// )
/// .expect("a dlt-receive line");
/// assert_eq!((line.apid.as_str(), line.level.as_str(), line.noar), ("PYAP", "info", 1));
/// assert_eq!(line.args, "Hello from speak.py");
/// assert_eq!(layer_tests::parse_line("Connected"), None);
/// ```
pub fn parse_line(line: &str) -> Option<DltLine> {
    let raw = line.trim_end_matches(['\n', '\r']);
    let mut rest = raw;
    let mut next = || {
        let (token, after) = next_token(rest)?;
        rest = after;
        Some(token)
    };
    let date = next().filter(|t| looks_like(t, 10, &[4, 7], '/'))?;
    let time = next().filter(|t| {
        t.get(..8)
            .is_some_and(|hms| looks_like(hms, 8, &[2, 5], ':'))
    })?;
    let tmsp = next()?.parse().ok()?;
    let mcnt = next()?.parse().ok()?;
    let ecu_raw = next()?;
    let apid_raw = next()?;
    let ctid_raw = next()?;
    let kind = next()?;
    let level = next()?;
    let verbose = match next()? {
        "V" => true,
        "N" => false,
        _ => return None,
    };
    let noar = next()?.parse().ok()?;
    let args = rest
        .trim_start_matches(' ')
        .trim_end()
        .strip_prefix('[')?
        .strip_suffix(']')?;
    Some(DltLine {
        date: date.to_owned(),
        time: time.to_owned(),
        tmsp,
        mcnt,
        ecu: strip_padding(ecu_raw),
        ecu_raw: ecu_raw.to_owned(),
        apid: strip_padding(apid_raw),
        apid_raw: apid_raw.to_owned(),
        ctid: strip_padding(ctid_raw),
        ctid_raw: ctid_raw.to_owned(),
        kind: kind.to_owned(),
        level: level.to_owned(),
        verbose,
        noar,
        args: args.to_owned(),
        raw: raw.to_owned(),
    })
}

/// Splits off the next space-delimited token (skipping runs of spaces, as
/// `dlt-receive` right-aligns TMSP); `None` at the end of the text.
fn next_token(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start_matches(' ');
    if text.is_empty() {
        return None;
    }
    let end = text.find(' ').unwrap_or(text.len());
    Some(text.split_at(end))
}

/// True when `token` is `len` bytes of ASCII digits with `sep` exactly at
/// the positions in `seps` (`2026/11/23`, `08:47:34`).
fn looks_like(token: &str, len: usize, seps: &[usize], sep: char) -> bool {
    token.len() == len
        && token.char_indices().all(|(i, c)| {
            if seps.contains(&i) {
                c == sep
            } else {
                c.is_ascii_digit()
            }
        })
}

/// Removes the trailing `-` that `dlt-receive` prints for NUL padding.
fn strip_padding(id: &str) -> String {
    id.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact `dlt-receive -a` output of PROTOCOL.md §11.
    const TRANSCRIPT: &str = "\
2026/11/23 08:47:32.728758    6233925 000 ECU1 DA1- DC1- control response N 1 [service(3842), ok, 02 00 00 00 00]
2026/11/23 08:47:32.729024    6223836 000 ECU1 DLTD INTM log info V 1 [Daemon launched. Starting to output traces...]
2026/11/23 08:47:32.729049    6233928 001 ECU1 DLTD INTM log info V 1 [New client connection #9 established, Total Clients : 1]
2026/11/23 08:47:33.968547    6246322 002 ECU1 DLTD INTM log info V 1 [ApplicationID 'PYAP' registered for PID 14249, Description=Python user-protocol demo]
2026/11/23 08:47:33.968590    6246323 000 ECU1 DA1- DC1- control response N 1 [get_log_info, 07, 01 00 50 59 41 50 01 00 50 59 43 54 ff ff 13 00 50 79 74 68 6f 6e 20 64 65 6d 6f 20 63 6f 6e 74 65 78 74 19 00 50 79 74 68 6f 6e 20 75 73 65 72 2d 70 72 6f 74 6f 63 6f 6c 20 64 65 6d 6f 72 65 6d 6f]
2026/11/23 08:47:34.469741    6251332 000 ECU1 PYAP PYCT log info V 1 [Hello from speak.py]
2026/11/23 08:47:34.469793    6251333 001 ECU1 PYAP PYCT log warn V 5 [mixed -42 42 1 3.14159]
2026/11/23 08:47:34.469819    6251334 002 ECU1 PYAP PYCT log fatal V 1 [fatal from speak.py]
2026/11/23 08:47:34.770481    6254341 000 ECU1 DA1- DC1- control response N 1 [service(3841), ok, 50 59 41 50 50 59 43 54 72 65 6d 6f]
2026/11/23 08:47:34.770544    6254343 003 ECU1 DLTD INTM log info V 1 [Unregistered ApID 'PYAP']
";

    fn transcript() -> Vec<DltLine> {
        TRANSCRIPT
            .lines()
            .map(|l| parse_line(l).unwrap_or_else(|| panic!("unparsed: {l}")))
            .collect()
    }

    #[test]
    fn every_transcript_line_parses() {
        assert_eq!(transcript().len(), 10);
    }

    #[test]
    fn log_line_fields() {
        let lines = transcript();
        let hello = &lines[5];
        assert_eq!(hello.date, "2026/11/23", "date");
        assert_eq!(hello.time, "08:47:34.469741", "time");
        assert_eq!(hello.tmsp, 6_251_332, "tmsp");
        assert_eq!(hello.mcnt, 0, "mcnt");
        assert_eq!(
            (hello.ecu.as_str(), hello.ecu_raw.as_str()),
            ("ECU1", "ECU1"),
            "ecu"
        );
        assert_eq!(hello.apid, "PYAP", "apid");
        assert_eq!(hello.ctid, "PYCT", "ctid");
        assert_eq!(hello.kind, "log", "kind");
        assert_eq!(hello.level, "info", "level");
        assert!(hello.verbose, "verbose");
        assert_eq!(hello.noar, 1, "noar");
        assert_eq!(hello.args, "Hello from speak.py", "args");
        assert_eq!(
            hello.tail(),
            "PYAP PYCT log info V 1 [Hello from speak.py]",
            "tail"
        );
        assert!(hello.is_log_from("PYAP", "PYCT"), "is_log_from");
        assert_eq!(
            hello.raw,
            TRANSCRIPT.lines().nth(5).unwrap_or_default(),
            "raw"
        );
    }

    #[test]
    fn multi_argument_line_splits_into_args() {
        let lines = transcript();
        let warn = &lines[6];
        assert_eq!((warn.level.as_str(), warn.noar, warn.mcnt), ("warn", 5, 1));
        assert_eq!(warn.args_vec(), ["mixed", "-42", "42", "1", "3.14159"]);
        let fatal = &lines[7];
        assert_eq!(
            fatal.tail(),
            "PYAP PYCT log fatal V 1 [fatal from speak.py]"
        );
    }

    #[test]
    fn control_line_strips_dash_padding() {
        let lines = transcript();
        let control = &lines[0];
        assert_eq!(
            (control.apid.as_str(), control.apid_raw.as_str()),
            ("DA1", "DA1-"),
            "apid"
        );
        assert_eq!(
            (control.ctid.as_str(), control.ctid_raw.as_str()),
            ("DC1", "DC1-"),
            "ctid"
        );
        assert_eq!(
            (control.kind.as_str(), control.level.as_str()),
            ("control", "response")
        );
        assert!(!control.verbose, "N means non-verbose");
        assert_eq!(control.args, "service(3842), ok, 02 00 00 00 00");
        assert!(!control.is_log_from("DA1", "DC1"), "control is not log");
    }

    #[test]
    fn daemon_lines_with_brackets_and_quotes() {
        let lines = transcript();
        assert_eq!(
            lines[2].args,
            "New client connection #9 established, Total Clients : 1"
        );
        assert_eq!(lines[9].args, "Unregistered ApID 'PYAP'");
        assert_eq!(lines[9].mcnt, 3);
    }

    #[test]
    fn args_keep_inner_brackets_and_empty_args_give_no_vec() {
        let line =
            parse_line("2026/11/23 08:47:34.469819 1 002 ECU1 AP-- CT-- log error V 2 [a[0] ]]")
                .expect("parses");
        assert_eq!(line.args, "a[0] ]", "up to the last bracket");
        assert_eq!(line.apid, "AP");
        let empty = parse_line("2026/11/23 08:47:34.469819 1 002 ECU1 AP CT log info V 0 []")
            .expect("parses");
        assert!(empty.args_vec().is_empty());
    }

    #[test]
    fn rejects_what_is_not_a_message_line() {
        let bad = [
            "",
            "Connected",
            "2026/11/23 08:47:34.469741",
            // missing brackets
            "2026/11/23 08:47:34.469741 6251332 000 ECU1 PYAP PYCT log info V 1 Hello",
            // verbose flag not V/N
            "2026/11/23 08:47:34.469741 6251332 000 ECU1 PYAP PYCT log info X 1 [Hello]",
            // MCNT out of u8 range
            "2026/11/23 08:47:34.469741 6251332 256 ECU1 PYAP PYCT log info V 1 [Hello]",
            // not a date
            "2026-11-23 08:47:34.469741 6251332 000 ECU1 PYAP PYCT log info V 1 [Hello]",
        ];
        for line in bad {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn trailing_newline_is_not_part_of_raw() {
        let line = parse_line(&format!(
            "{}\r\n",
            TRANSCRIPT.lines().nth(5).unwrap_or_default()
        ))
        .expect("parses");
        assert!(line.raw.ends_with(']'));
    }
}
