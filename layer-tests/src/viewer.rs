//! COVESA DLT Viewer, headless: decodes a DLT file (as `dlt-receive -o`
//! writes it) into the rows of its message table, the way a user sees it.
//!
//! Runs `dlt-viewer -s -csv -c FILE OUT` with `QT_QPA_PLATFORM=offscreen`,
//! in a temp dir that is also its `HOME` and working directory: the viewer
//! writes its settings, index caches and plugin state there, never into
//! the user's home, and two runs cannot share a cache.

use std::fs;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::daemon::wait_exit;
use crate::sys;

/// How long [`viewer_rows`] waits for `dlt-viewer` to convert a file.
pub const VIEWER_TIMEOUT: Duration = Duration::from_secs(60);

/// The columns of DLT Viewer's CSV export, in its order.
const COLUMNS: [&str; 13] = [
    "Index",
    "Time",
    "Timestamp",
    "Count",
    "Ecuid",
    "Apid",
    "Ctid",
    "SessionId",
    "Type",
    "Subtype",
    "Mode",
    "#Args",
    "Payload",
];

/// One row of DLT Viewer's message table (its CSV export), as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerRow {
    /// Position in the file, from 0.
    pub index: String,
    /// The ECU ID column.
    pub ecu: String,
    /// The application ID column.
    pub apid: String,
    /// The context ID column.
    pub ctid: String,
    /// The session ID column (libdlt and taktora-log send the pid).
    pub session_id: String,
    /// `log`, `control`, ...
    pub kind: String,
    /// For a log message its level: `fatal`, `error`, `warn`, `info`,
    /// `debug`, `verbose`.
    pub subtype: String,
    /// `verbose` or `non-verbose`.
    pub mode: String,
    /// The number of arguments the viewer decoded.
    pub args: String,
    /// The arguments as the viewer prints them, separated by one space.
    pub payload: String,
}

impl ViewerRow {
    /// Parses one CSV line: 13 quoted fields separated by `,`. The first
    /// 12 never contain `","`; whatever follows them is the payload.
    fn parse(line: &str) -> Option<Self> {
        let inner = line.strip_prefix('"')?.strip_suffix('"')?;
        let f: Vec<&str> = inner.splitn(COLUMNS.len(), "\",\"").collect();
        if f.len() != COLUMNS.len() {
            return None;
        }
        Some(Self {
            index: f[0].into(),
            ecu: f[4].into(),
            apid: f[5].into(),
            ctid: f[6].into(),
            session_id: f[7].into(),
            kind: f[8].into(),
            subtype: f[9].into(),
            mode: f[10].into(),
            args: f[11].into(),
            payload: f[12].into(),
        })
    }
}

/// Decodes `dlt_file` with `dlt-viewer` and returns every row of its
/// message table.
///
/// # Errors
///
/// The viewer cannot be started, exits unsuccessfully, takes longer than
/// [`VIEWER_TIMEOUT`] (it is then killed), or writes a file that is not
/// its CSV format. The message includes the viewer's own output.
pub fn viewer_rows(dlt_file: &Path) -> io::Result<Vec<ViewerRow>> {
    let dir = tempfile::Builder::new()
        .prefix("taktora-viewer-")
        .tempdir()?;
    // The viewer wants a `.dlt` name; a copy also freezes the file while
    // dlt-receive may still be appending to it.
    let input = dir.path().join("capture.dlt");
    fs::copy(dlt_file, &input)?;
    let output = dir.path().join("capture.csv");
    let log = dir.path().join("dlt-viewer.log");
    let mut cmd = Command::new("dlt-viewer");
    cmd.args(["-s", "-csv", "-c"])
        .arg(&input)
        .arg(&output)
        .current_dir(dir.path())
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("HOME", dir.path())
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("XDG_CACHE_HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log)?)
        .stderr(fs::File::create(dir.path().join("dlt-viewer.err"))?);
    sys::die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot spawn dlt-viewer: {e}")))?;
    let viewer_output = || {
        let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        format!(
            "--- dlt-viewer stdout ---\n{}\n--- dlt-viewer stderr ---\n{}",
            read("dlt-viewer.log"),
            read("dlt-viewer.err")
        )
    };
    let Some(status) = wait_exit(&mut child, VIEWER_TIMEOUT)? else {
        let _ = child.kill();
        let _ = wait_exit(&mut child, VIEWER_TIMEOUT);
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "dlt-viewer did not finish within {VIEWER_TIMEOUT:?}\n{}",
                viewer_output()
            ),
        ));
    };
    if !status.success() {
        return Err(io::Error::other(format!(
            "dlt-viewer exited with {status}\n{}",
            viewer_output()
        )));
    }
    let text = fs::read_to_string(&output).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "dlt-viewer wrote no {}: {e}\n{}",
                output.display(),
                viewer_output()
            ),
        )
    })?;
    parse_csv(&text)
}

/// The rows of a DLT Viewer CSV export, after checking its header line.
///
/// # Errors
///
/// `InvalidData` naming the first line that is not in the format.
fn parse_csv(text: &str) -> io::Result<Vec<ViewerRow>> {
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header = lines.next().unwrap_or_default();
    let want: Vec<String> = COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
    if header != want.join(",") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not DLT Viewer's CSV header: {header:?}"),
        ));
    }
    lines
        .map(|l| {
            ViewerRow::parse(l).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not a DLT Viewer CSV row: {l:?}"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "\"Index\",\"Time\",\"Timestamp\",\"Count\",\"Ecuid\",\"Apid\",\"Ctid\",\
                          \"SessionId\",\"Type\",\"Subtype\",\"Mode\",\"#Args\",\"Payload\"";

    #[test]
    fn parses_the_viewers_csv_rows() {
        let text = format!(
            "{HEADER}\n\"8\",\"2026/12/01 22:25:02.014317\",\"3365.7048\",\"0\",\"ECU1\",\
             \"QSTA\",\"NET\",\"5290\",\"log\",\"warn\",\"verbose\",\"3\",\
             \"link flapping \"quoted\",\" 3\""
        );
        let rows = parse_csv(&text).expect("valid");
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (r.index.as_str(), r.apid.as_str(), r.ctid.as_str()),
            ("8", "QSTA", "NET")
        );
        assert_eq!(
            (r.session_id.as_str(), r.subtype.as_str()),
            ("5290", "warn")
        );
        assert_eq!((r.mode.as_str(), r.args.as_str()), ("verbose", "3"));
        assert_eq!(r.payload, "link flapping \"quoted\",\" 3");
    }

    #[test]
    fn anything_else_is_an_error_naming_the_line() {
        let e = parse_csv("Index;Time").expect_err("wrong header");
        assert!(e.to_string().contains("Index;Time"), "{e}");
        let e = parse_csv(&format!("{HEADER}\n\"1\",\"2\"")).expect_err("short row");
        assert!(e.to_string().contains("\\\"1\\\""), "{e}");
    }
}
