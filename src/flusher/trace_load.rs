//! Trace-load limits (TRACE_LOAD, user message type 14), applied in the
//! application the way libdlt 2.18.11 applies them, on the flusher as
//! records leave the channel (never on the producer's path).
//!
//! A daemon built with `WITH_DLT_TRACE_LOAD_CTRL` sends, after
//! registration, a list of limits for the application: per context, or
//! for the whole application (an entry with an empty context ID), each a
//! soft and a hard limit in bytes per second. As libdlt does:
//!
//! - every record of level INFO or above counts its whole size (user
//!   header included) against the limit of its context's entry, or the
//!   application's entry when its context has none; contexts without their
//!   own entry share the application's budget;
//! - the load is the sum over a window of 60 one-second slots, divided by
//!   60 (bytes per second averaged over a minute);
//! - a record that takes the load above the hard limit (or any record when
//!   the hard limit is 0) is dropped and its size taken back out;
//! - DEBUG and VERBOSE records never count and are never dropped;
//! - a context with no entry and no application entry drops every record
//!   that counts (libdlt: "tl_settings is NULL").
//!
//! Until the daemon sends the message nothing is limited (libdlt starts
//! from compiled-in defaults instead). Exceeding the soft limit drops
//! nothing. The summary record is never limited: it reports what was
//! dropped.

use arrayvec::ArrayVec;

use crate::contexts::ContextTable;
use crate::control::ControlMsg;

/// Slots in the window (`DLT_TRACE_LOAD_WINDOW_SIZE`).
const WINDOW_SLOTS: usize = 60;
/// Timestamp ticks (0.1 ms) per slot: one second
/// (`DLT_TRACE_LOAD_WINDOW_RESOLUTION`).
const SLOT_TICKS: u32 = 10_000;
/// Most entries kept from one TRACE_LOAD message; more are ignored.
const MAX_ENTRIES: usize = 64;

/// The user header's length; the DLT standard header follows it.
const USER_HEADER_LEN: usize = 8;
/// HTYP bits: extended header, ECU ID, session ID, timestamp.
const HTYP_UEH: u8 = 0x01;
const HTYP_WEID: u8 = 0x04;
const HTYP_WSID: u8 = 0x08;
const HTYP_WTMS: u8 = 0x10;
/// DLT log levels that never count (`DLT_LOG_DEBUG`, `DLT_LOG_VERBOSE`).
const DEBUG: u8 = 5;
const VERBOSE: u8 = 6;

/// One limit and its window.
#[derive(Debug, Clone)]
struct Budget {
    ctid: [u8; 4],
    hard: u32,
    slots: [u64; WINDOW_SLOTS],
    total: u64,
    last_abs_slot: u32,
}

impl Budget {
    fn new(ctid: [u8; 4], hard: u32) -> Self {
        Self {
            ctid,
            hard,
            slots: [0; WINDOW_SLOTS],
            total: 0,
            // Far from any real slot: the first record clears the window.
            last_abs_slot: u32::MAX - WINDOW_SLOTS as u32,
        }
    }

    /// Counts `size` bytes at time `ticks` and says whether the record
    /// may be sent (libdlt's `dlt_check_trace_load`).
    fn admit(&mut self, ticks: u32, size: u64) -> bool {
        let abs = ticks / SLOT_TICKS;
        let slot = abs as usize % WINDOW_SLOTS;
        let elapsed = abs.wrapping_sub(self.last_abs_slot);
        if elapsed as usize >= WINDOW_SLOTS {
            self.slots = [0; WINDOW_SLOTS];
            self.total = 0;
        } else if elapsed > 0 {
            let mut s = self.last_abs_slot as usize % WINDOW_SLOTS;
            while s != slot {
                s = (s + 1) % WINDOW_SLOTS;
                self.total -= self.slots[s];
                self.slots[s] = 0;
            }
        }
        self.last_abs_slot = abs;
        self.slots[slot] += size;
        self.total += size;
        let average = self.total / WINDOW_SLOTS as u64;
        if self.hard == 0 || average > u64::from(self.hard) {
            self.slots[slot] -= size;
            self.total -= size;
            return false;
        }
        true
    }
}

/// The limits the daemon sent and the load measured against them.
#[derive(Debug)]
pub(super) struct TraceLoad {
    /// Whether a complete TRACE_LOAD message arrived.
    active: bool,
    budgets: ArrayVec<Budget, MAX_ENTRIES>,
    /// The budget of each context, by `log_level_pos`; `None`: no entry.
    by_context: Vec<Option<usize>>,
    /// The message being received: entries still expected.
    expected: u32,
    incoming: ArrayVec<Budget, MAX_ENTRIES>,
}

impl TraceLoad {
    /// No limits yet, for `contexts` contexts.
    pub(super) fn new(contexts: usize) -> Self {
        Self {
            active: false,
            budgets: ArrayVec::new(),
            by_context: vec![None; contexts],
            expected: 0,
            incoming: ArrayVec::new(),
        }
    }

    /// Whether the daemon sent limits.
    pub(super) fn is_active(&self) -> bool {
        self.active
    }

    /// Takes one TRACE_LOAD message part; the new limits replace the old
    /// ones once the last entry arrived.
    pub(super) fn on_msg(&mut self, msg: ControlMsg, contexts: &ContextTable) {
        match msg {
            ControlMsg::TraceLoad { count } => {
                self.incoming.clear();
                self.expected = count;
                if count == 0 {
                    self.install(contexts);
                }
            }
            ControlMsg::TraceLoadEntry {
                index, ctid, hard, ..
            } => {
                let _ = self.incoming.try_push(Budget::new(ctid, hard));
                if index.saturating_add(1) >= self.expected {
                    self.install(contexts);
                }
            }
            _ => {}
        }
    }

    /// Makes the received entries the limits: each context gets its own
    /// entry, else the application's (empty context ID).
    fn install(&mut self, contexts: &ContextTable) {
        self.budgets = std::mem::take(&mut self.incoming);
        let app = self.budgets.iter().position(|b| b.ctid[0] == 0);
        for (pos, slot) in self.by_context.iter_mut().enumerate() {
            let own = contexts.get(pos).and_then(|c| {
                let id = c.id.as_bytes();
                self.budgets.iter().position(|b| &b.ctid == id)
            });
            *slot = own.or(app);
        }
        self.active = true;
    }

    /// Whether `record` (a LOG message, user header first) may be sent at
    /// time `ticks` (0.1 ms); `false` means the hard limit drops it.
    pub(super) fn admit(&mut self, record: &[u8], ticks: u32, contexts: &ContextTable) -> bool {
        if !self.active {
            return true;
        }
        let Some((level, ctid)) = level_and_context(record) else {
            return true;
        };
        if level == DEBUG || level == VERBOSE {
            return true;
        }
        let pos = contexts.iter().position(|c| c.id.as_bytes() == &ctid);
        let budget = pos.and_then(|p| self.by_context.get(p).copied().flatten());
        match budget.and_then(|b| self.budgets.get_mut(b)) {
            Some(b) => b.admit(ticks, record.len() as u64),
            None => false,
        }
    }
}

/// The log level and context ID of a verbose or non-verbose LOG message
/// with an extended header; `None` for anything else.
fn level_and_context(record: &[u8]) -> Option<(u8, [u8; 4])> {
    let htyp = *record.get(USER_HEADER_LEN)?;
    if htyp & HTYP_UEH == 0 {
        return None;
    }
    let extras = [HTYP_WEID, HTYP_WSID, HTYP_WTMS]
        .iter()
        .filter(|&&bit| htyp & bit != 0)
        .count();
    let ext = USER_HEADER_LEN + 4 + 4 * extras;
    let msin = *record.get(ext)?;
    // MSTP (bits 1..3) 0 is a LOG message; MTIN (bits 4..7) its level.
    if (msin >> 1) & 0x7 != 0 {
        return None;
    }
    let ctid = record.get(ext + 6..ext + 10)?;
    Some((msin >> 4, [ctid[0], ctid[1], ctid[2], ctid[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A LOG record as the layer encodes it (HTYP 0x3D) of `len` bytes.
    fn record(level: u8, ctid: &[u8; 4], len: usize) -> Vec<u8> {
        let mut r = vec![0u8; len.max(34)];
        r[..4].copy_from_slice(b"DUH\x01");
        r[8] = 0x3D;
        r[24] = 0x01 | (level << 4);
        r[30..34].copy_from_slice(ctid);
        r
    }

    #[test]
    fn reads_level_and_context_behind_the_extra_fields() {
        assert_eq!(
            level_and_context(&record(4, b"CTXA", 40)),
            Some((4, *b"CTXA"))
        );
        assert_eq!(level_and_context(&[0u8; 4]), None, "too short");
    }

    #[test]
    fn hard_limit_drops_above_the_minute_average_and_takes_the_size_back() {
        // 100 B/s over 60 slots: 6000 bytes fit in the window.
        let mut b = Budget::new(*b"CTXA", 100);
        let t = 1_000_000u32;
        let admitted = (0..100).filter(|_| b.admit(t, 100)).count();
        assert_eq!(admitted, 60, "6000 bytes of 100-byte records");
        assert_eq!(b.total, 6000, "dropped records do not count");
        // A minute later the window is empty again.
        assert!(b.admit(t + 61 * SLOT_TICKS, 100));
        assert_eq!(b.total, 100);
        // A hard limit of 0 drops everything.
        assert!(!Budget::new(*b"CTXA", 0).admit(t, 1));
    }
}
