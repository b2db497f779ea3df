//! The drop summary record (REQ_0815): one WARN LOG message on the
//! reserved diagnostic context whose only argument is
//! `taktora.log.dropped count=N first_dropped_at=<RFC 3339 UTC> unconfirmed=M`,
//! followed by ` trace_load=K` when the daemon's trace-load limit dropped
//! K of the N.

use std::fmt;

use super::{Encoded, Frame, LogHeader, LogWriter, FRAME_CAP};
use crate::ids::{AppId, CtxId, EcuId, LogLevel};

/// The fixed start of every summary record's text.
pub(crate) const SUMMARY_PREFIX: &str = "taktora.log.dropped";

/// What one summary record reports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Summary {
    pub(crate) ecu: EcuId,
    pub(crate) app: AppId,
    pub(crate) ctx: CtxId,
    pub(crate) counter: u8,
    pub(crate) session_id: u32,
    pub(crate) timestamp: u32,
    /// Records dropped since the last summary.
    pub(crate) count: u64,
    /// When the first of them (or the first unconfirmed loss) happened,
    /// in nanoseconds since the Unix epoch.
    pub(crate) first_dropped_at_unix_nanos: u64,
    /// Upper bound on records that died unread in a dead daemon's FIFO.
    pub(crate) unconfirmed: u64,
    /// Of `count`, the records the daemon's trace-load limit dropped;
    /// shown as ` trace_load=K` only when not 0.
    pub(crate) trace_load: u64,
}

/// Encodes `s` into `frame` as a WARN verbose LOG message.
pub(crate) fn encode(frame: &mut Frame, s: &Summary) -> Encoded {
    let header = LogHeader {
        ecu: s.ecu,
        app: s.app,
        ctx: s.ctx,
        level: LogLevel::Warn,
        counter: s.counter,
        session_id: s.session_id,
        timestamp: s.timestamp,
    };
    let mut w = LogWriter::begin(frame, FRAME_CAP, &header);
    w.display(
        None,
        &format_args!(
            "{SUMMARY_PREFIX} count={} first_dropped_at={} unconfirmed={}{}",
            s.count,
            Rfc3339(s.first_dropped_at_unix_nanos),
            s.unconfirmed,
            TraceLoadField(s.trace_load)
        ),
    );
    w.finish()
}

/// ` trace_load=K` when `K > 0`, else nothing.
struct TraceLoadField(u64);

impl fmt::Display for TraceLoadField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            k => write!(f, " trace_load={k}"),
        }
    }
}

/// Formats nanoseconds since the Unix epoch as RFC 3339 UTC with
/// microseconds, e.g. `2026-11-23T09:35:52.123456Z`. No allocation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rfc3339(pub(crate) u64);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1_000_000_000;
        let micros = (self.0 % 1_000_000_000) / 1_000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

/// The proleptic Gregorian date of day `z` since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, public-domain algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        let cases = [
            (0u64, "1970-01-01T00:00:00.000000Z"),
            (951_782_400_000_000_000, "2000-02-29T00:00:00.000000Z"),
            (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456Z"),
            (1_795_426_552_000_001_000, "2026-11-23T09:35:52.000001Z"),
            (4_102_444_799_999_999_999, "2099-12-31T23:59:59.999999Z"),
        ];
        for (nanos, want) in cases {
            assert_eq!(Rfc3339(nanos).to_string(), want, "{nanos}");
        }
    }
}
