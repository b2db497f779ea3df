//! Framing and decoding of the daemon → application byte stream that
//! dlt-daemon writes into our app FIFO (PROTOCOL.md §7): LOG_LEVEL,
//! LOG_STATE and INJECTION records, each behind the 8-byte user header.
//!
//! [`ControlParser`]'s one job is bytes in, [`ControlMsg`] values out,
//! with counters for everything it had to skip. [`LevelControl`] applies
//! the decoded messages to the context table and the counters. Neither
//! does I/O, reads a clock or allocates: the flusher reads the FIFO, feeds
//! the bytes to [`LevelControl`] and rebuilds `tracing`'s interest cache
//! when a level changed.
//!
//! The stream may deliver several records in one read, split a record
//! across reads, or contain garbage (e.g. after a partial write). Like the
//! daemon's own reader, the parser resyncs by scanning byte by byte for the
//! `DUH\x01` pattern and then frames each record by its type's size.
//!
//! Limits, shared with the daemon's reader: once a header is recognised the
//! record is framed by size alone, so a record cut short by a partial write
//! swallows the start of whatever follows it; and a corrupted INJECTION
//! length makes the parser skip up to that many bytes (at most 4 GiB) before
//! it looks for the next pattern. The daemon writes each record atomically
//! (well below `PIPE_BUF`), so neither occurs in normal operation.

use std::sync::atomic::Ordering::{Relaxed, Release};

use crate::contexts::ContextTable;
use crate::frame::user::{
    USER_HEADER_LEN, USER_MSG_INJECTION, USER_MSG_LOG_LEVEL, USER_MSG_LOG_STATE, USER_PATTERN,
};
use crate::ids::LogLevel;
use crate::stats::Counters;

/// Total length of a LOG_LEVEL record: header + level (u8) + trace
/// status (u8) + `log_level_pos` (i32).
const LOG_LEVEL_LEN: usize = USER_HEADER_LEN + 1 + 1 + 4;

/// Total length of a LOG_STATE record: header + state (i8).
const LOG_STATE_LEN: usize = USER_HEADER_LEN + 1;

/// Length of an INJECTION record before its data: header +
/// `log_level_pos` (i32) + `service_id` (u32) + data length (u32).
const INJECTION_HEAD_LEN: usize = USER_HEADER_LEN + 4 + 4 + 4;

/// Message type TRACE_LOAD, daemon → app (`DLT_USER_MESSAGE_TRACE_LOAD`,
/// daemons built with `WITH_DLT_TRACE_LOAD_CTRL`): u32 count, then count ×
/// `{ctid[4], soft limit u32, hard limit u32}`, limits in bytes per second.
pub(crate) const USER_MSG_TRACE_LOAD: u32 = 14;

/// Length of a TRACE_LOAD record before its entries: header + count (u32).
const TRACE_LOAD_HEAD_LEN: usize = USER_HEADER_LEN + 4;

/// Length of one TRACE_LOAD entry: ctid + soft + hard.
const TRACE_LOAD_ENTRY_LEN: usize = 4 + 4 + 4;

/// The longest fixed part of any record; the parser's whole buffer.
const MAX_FIXED_LEN: usize = INJECTION_HEAD_LEN;

/// Highest valid DLT log level (`DLT_LOG_VERBOSE`).
const MAX_LOG_LEVEL: u8 = 6;

/// One decoded daemon → app message. All integers are in host byte order
/// on the wire, as `dlt_user_shared.h`'s packed structs are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ControlMsg {
    /// LOG_LEVEL (6): the daemon sets the level of one of our contexts.
    LogLevel {
        /// The new level, `0..=6` (validated; see
        /// [`LogLevel::from_u8`](crate::LogLevel::from_u8)).
        level: u8,
        /// Trace status as the daemon sent it (0 = off, 1 = on);
        /// not validated, as libdlt does not validate it either.
        trace_status: u8,
        /// The `log_level_pos` we gave in REGISTER_CONTEXT; the receiver
        /// must bounds-check it against its own context table.
        log_level_pos: i32,
    },
    /// LOG_STATE (12): 0 = no client connected to the daemon, 1 = at
    /// least one (libdlt's -1 = unknown is accepted too).
    LogState(i8),
    /// INJECTION (7): a client injected data for one of our contexts. The
    /// data is skipped, not stored; only its length is reported.
    Injection {
        /// The `log_level_pos` of the target context.
        log_level_pos: i32,
        /// The injection's service id (≥ 0xFFF for real injections).
        service_id: u32,
        /// Length of the skipped data, in bytes.
        data_len: u32,
    },
    /// TRACE_LOAD (14) begins: `count` entries follow, each delivered as a
    /// [`ControlMsg::TraceLoadEntry`]; together they replace every limit.
    TraceLoad {
        /// Entries that follow.
        count: u32,
    },
    /// One entry of a TRACE_LOAD record.
    TraceLoadEntry {
        /// Its position, from 0; the record is complete at `count - 1`.
        index: u32,
        /// The context it is for; all zero for the application-wide limit.
        ctid: [u8; 4],
        /// Warning threshold, bytes per second.
        soft: u32,
        /// Drop threshold, bytes per second (0: drop everything that
        /// counts, as libdlt does).
        hard: u32,
    },
}

/// What the parser has seen so far; all counts only go up (saturating).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ControlCounters {
    /// Records decoded and handed to the callback.
    pub(crate) messages: u64,
    /// Bytes skipped while searching for the `DUH\x01` pattern.
    pub(crate) garbage_bytes: u64,
    /// Headers with a message type this parser does not know; each one's
    /// 8 header bytes are dropped, then scanning resumes (as the daemon
    /// does).
    pub(crate) unknown_types: u64,
    /// Records of a known type with invalid content (a level above 6, a
    /// log state outside -1..=1); each whole record is consumed and dropped.
    pub(crate) malformed: u64,
    /// Headers with the DLT protocol v2 pattern `DUH\x02`: a daemon
    /// started with `-x 2` (3.0.0), which misreads our v1 messages. Their
    /// bytes count as garbage too.
    pub(crate) v2_headers: u64,
}

/// Where the parser is in the stream between two [`ControlParser::feed`]
/// calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Collecting a pattern, a header or a fixed-size body into `buf`.
    Fixed,
    /// Skipping injection data; the injection is delivered once all of
    /// its data has gone by.
    SkipInjection {
        /// Data bytes still to skip (at least 1).
        remaining: u64,
        /// The injection to deliver afterwards.
        msg: ControlMsg,
    },
    /// Collecting the entries of a TRACE_LOAD record into `buf`.
    TraceLoadEntries {
        /// Entries still to come (at least 1).
        remaining: u32,
        /// Index of the next one.
        index: u32,
    },
}

/// Incremental parser for the daemon → app stream, with a fixed 20-byte
/// buffer: it never allocates and never panics, whatever it is fed.
#[derive(Clone, Debug)]
pub(crate) struct ControlParser {
    /// The start of the current record: `buf[..filled]` is a prefix of
    /// `DUH\x01` while `filled < 4`, then header and fixed body.
    buf: [u8; MAX_FIXED_LEN],
    /// Bytes of the current record in `buf`.
    filled: usize,
    /// Size of the current record's fixed part: [`USER_HEADER_LEN`] until the
    /// header is complete, then its type's size (always a known type).
    need: usize,
    /// Collecting fixed parts, or skipping injection data.
    state: State,
    /// Everything counted since construction.
    counters: ControlCounters,
}

/// Size of the fixed part of a record of message type `ty`, or `None` if
/// this parser does not know the type.
const fn fixed_len(ty: u32) -> Option<usize> {
    match ty {
        USER_MSG_LOG_LEVEL => Some(LOG_LEVEL_LEN),
        USER_MSG_LOG_STATE => Some(LOG_STATE_LEN),
        USER_MSG_INJECTION => Some(INJECTION_HEAD_LEN),
        USER_MSG_TRACE_LOAD => Some(TRACE_LOAD_HEAD_LEN),
        _ => None,
    }
}

/// What the complete fixed part of a record holds.
enum Body {
    /// A valid message.
    Msg(ControlMsg),
    /// A known type with invalid content.
    Malformed,
    /// A type this parser does not know.
    Unknown,
}

/// Decodes the fixed part `b` of a record of type `ty` (host byte order);
/// `b` holds at least `fixed_len(ty)` bytes of it.
fn decode_body(ty: u32, b: &[u8; MAX_FIXED_LEN]) -> Body {
    let i32_at = |o: usize| i32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    match ty {
        USER_MSG_LOG_LEVEL if b[8] > MAX_LOG_LEVEL => Body::Malformed,
        USER_MSG_LOG_LEVEL => Body::Msg(ControlMsg::LogLevel {
            level: b[8],
            trace_status: b[9],
            log_level_pos: i32_at(10),
        }),
        USER_MSG_LOG_STATE => {
            let state = i8::from_ne_bytes([b[8]]);
            if (-1..=1).contains(&state) {
                Body::Msg(ControlMsg::LogState(state))
            } else {
                Body::Malformed
            }
        }
        USER_MSG_INJECTION => Body::Msg(ControlMsg::Injection {
            log_level_pos: i32_at(8),
            service_id: u32_at(12),
            data_len: u32_at(16),
        }),
        USER_MSG_TRACE_LOAD => Body::Msg(ControlMsg::TraceLoad { count: u32_at(8) }),
        _ => Body::Unknown,
    }
}

// === impl ControlParser ===

impl ControlParser {
    /// A parser at the start of a stream, with zero counters.
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0; MAX_FIXED_LEN],
            filled: 0,
            need: USER_HEADER_LEN,
            state: State::Fixed,
            counters: ControlCounters {
                messages: 0,
                garbage_bytes: 0,
                unknown_types: 0,
                malformed: 0,
                v2_headers: 0,
            },
        }
    }

    /// The counters accumulated since [`new`](Self::new).
    pub(crate) fn counters(&self) -> ControlCounters {
        self.counters
    }

    /// Consumes all of `bytes`, calling `on_msg` for each record completed
    /// by them, in stream order. A record may begin in an earlier call and
    /// end in a later one; an injection is reported only after all of its
    /// data has been skipped.
    pub(crate) fn feed(&mut self, bytes: &[u8], mut on_msg: impl FnMut(ControlMsg)) {
        let mut input = bytes;
        while !input.is_empty() {
            if let State::SkipInjection { remaining, msg } = self.state {
                let n = input
                    .len()
                    .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                input = &input[n..];
                // `n <= remaining`, and a usize always fits in a u64.
                let remaining = remaining - n as u64;
                if remaining == 0 {
                    self.state = State::Fixed;
                    self.deliver(msg, &mut on_msg);
                } else {
                    self.state = State::SkipInjection { remaining, msg };
                }
            } else if let State::TraceLoadEntries { remaining, index } = self.state {
                input = self.collect_trace_load_entry(input, remaining, index, &mut on_msg);
            } else if self.filled < USER_PATTERN.len() {
                input = self.scan_pattern(input);
            } else {
                let take = (self.need - self.filled).min(input.len());
                self.buf[self.filled..self.filled + take].copy_from_slice(&input[..take]);
                self.filled += take;
                input = &input[take..];
                if self.filled == self.need {
                    self.complete(&mut on_msg);
                }
            }
        }
    }

    /// Extends the pattern prefix in `buf` from `input`, skipping garbage
    /// byte by byte, and returns the rest of `input`. Called only while
    /// `filled < 4`. `DUH\x01` has no proper prefix that is also a suffix,
    /// so on a mismatch the collected bytes are all garbage and the
    /// mismatching byte may start a new pattern.
    fn scan_pattern<'a>(&mut self, mut input: &'a [u8]) -> &'a [u8] {
        while self.filled < USER_PATTERN.len() {
            if self.filled == 0 {
                // Fast path: jump to the next possible pattern start.
                match input.iter().position(|&b| b == USER_PATTERN[0]) {
                    Some(at) => {
                        self.add_garbage(at);
                        input = &input[at..];
                    }
                    None => {
                        self.add_garbage(input.len());
                        return &[];
                    }
                }
            }
            let Some((&b, rest)) = input.split_first() else {
                return input;
            };
            if b == USER_PATTERN[self.filled] {
                self.buf[self.filled] = b;
                self.filled += 1;
                input = rest;
            } else {
                if self.filled == USER_PATTERN.len() - 1 && b == 2 {
                    self.counters.v2_headers = self.counters.v2_headers.saturating_add(1);
                }
                // Keep `b`: it is looked at again as a possible start.
                self.add_garbage(self.filled);
                self.filled = 0;
            }
        }
        input
    }

    /// Handles a complete fixed part (`filled == need`): a finished header
    /// fixes the record's size (or is dropped for an unknown type); a
    /// finished record is decoded and delivered (or counted malformed).
    fn complete(&mut self, on_msg: &mut impl FnMut(ControlMsg)) {
        let b = self.buf;
        let ty = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
        if self.filled == USER_HEADER_LEN {
            match fixed_len(ty) {
                Some(len) => self.need = len,
                None => {
                    // As the daemon does: drop the 8-byte header, resync.
                    self.counters.unknown_types = self.counters.unknown_types.saturating_add(1);
                    self.restart();
                }
            }
            return;
        }
        self.restart();
        match decode_body(ty, &b) {
            Body::Msg(msg @ ControlMsg::Injection { data_len, .. }) if data_len > 0 => {
                self.state = State::SkipInjection {
                    remaining: u64::from(data_len),
                    msg,
                };
            }
            Body::Msg(msg @ ControlMsg::TraceLoad { count }) => {
                self.deliver(msg, on_msg);
                if count > 0 {
                    self.state = State::TraceLoadEntries {
                        remaining: count,
                        index: 0,
                    };
                }
            }
            Body::Msg(msg) => self.deliver(msg, on_msg),
            Body::Malformed => self.add_malformed(),
            // Unreachable: `need` grows past the header only for the three
            // known types. Counting it keeps the function total.
            Body::Unknown => {
                self.counters.unknown_types = self.counters.unknown_types.saturating_add(1);
            }
        }
    }

    /// Collects one TRACE_LOAD entry from `input` into `buf`, delivers it
    /// once complete, and returns the rest of `input`.
    fn collect_trace_load_entry<'a>(
        &mut self,
        input: &'a [u8],
        remaining: u32,
        index: u32,
        on_msg: &mut impl FnMut(ControlMsg),
    ) -> &'a [u8] {
        let take = (TRACE_LOAD_ENTRY_LEN - self.filled).min(input.len());
        self.buf[self.filled..self.filled + take].copy_from_slice(&input[..take]);
        self.filled += take;
        if self.filled < TRACE_LOAD_ENTRY_LEN {
            return &input[take..];
        }
        let b = self.buf;
        let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let entry = ControlMsg::TraceLoadEntry {
            index,
            ctid: [b[0], b[1], b[2], b[3]],
            soft: u32_at(4),
            hard: u32_at(8),
        };
        self.filled = 0;
        self.state = if remaining > 1 {
            State::TraceLoadEntries {
                remaining: remaining - 1,
                index: index + 1,
            }
        } else {
            State::Fixed
        };
        self.deliver(entry, on_msg);
        &input[take..]
    }

    /// Forgets a record begun but not finished: the bytes that follow come
    /// from a new stream (a new connection). The counters stay.
    pub(crate) fn resync(&mut self) {
        self.restart();
        self.state = State::Fixed;
    }

    /// Starts collecting the next record from scratch.
    fn restart(&mut self) {
        self.filled = 0;
        self.need = USER_HEADER_LEN;
    }

    /// Counts `msg` and hands it to the caller.
    fn deliver(&mut self, msg: ControlMsg, on_msg: &mut impl FnMut(ControlMsg)) {
        self.counters.messages = self.counters.messages.saturating_add(1);
        on_msg(msg);
    }

    /// Counts `n` bytes skipped while looking for a pattern.
    fn add_garbage(&mut self, n: usize) {
        self.counters.garbage_bytes = self.counters.garbage_bytes.saturating_add(n as u64);
    }

    /// Counts one record of a known type with invalid content.
    fn add_malformed(&mut self) {
        self.counters.malformed = self.counters.malformed.saturating_add(1);
    }
}

impl Default for ControlParser {
    fn default() -> Self {
        Self::new()
    }
}

// === LevelControl ===

/// What the flusher does with the daemon's messages: it feeds the app-FIFO
/// bytes through a [`ControlParser`], applies LOG_LEVEL to the context
/// table, records LOG_STATE, ignores (and counts) INJECTION, and publishes
/// its counters in [`Counters`]. After a daemon restart nothing special is
/// needed: we register every context with trace status "not set", so the
/// new daemon answers each registration with a LOG_LEVEL (its default, or
/// the explicit level we registered), which lands here like any other.
///
/// No I/O, no allocation; the caller rebuilds `tracing`'s interest cache
/// when a method reports a changed level.
#[derive(Debug, Default)]
pub(crate) struct LevelControl {
    parser: ControlParser,
    levels_applied: u64,
    injections: u64,
    unknown_positions: u64,
}

impl LevelControl {
    /// A fresh state: nothing parsed, no connection seen.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Parses `bytes` read from the app FIFO and applies every complete
    /// message; TRACE_LOAD messages are skipped. Returns whether a
    /// context's level changed.
    #[cfg(test)]
    pub(crate) fn feed(
        &mut self,
        bytes: &[u8],
        contexts: &ContextTable,
        counters: &Counters,
    ) -> bool {
        self.feed_with(bytes, contexts, counters, |_| {})
    }

    /// Parses and applies as `feed` does, handing TRACE_LOAD messages
    /// ([`ControlMsg::TraceLoad`], [`ControlMsg::TraceLoadEntry`]) to
    /// `on_trace_load`, in stream order.
    pub(crate) fn feed_with(
        &mut self,
        bytes: &[u8],
        contexts: &ContextTable,
        counters: &Counters,
        mut on_trace_load: impl FnMut(ControlMsg),
    ) -> bool {
        let mut changed = false;
        let (applied, injections, unknown) = (
            &mut self.levels_applied,
            &mut self.injections,
            &mut self.unknown_positions,
        );
        self.parser.feed(bytes, |msg| match msg {
            ControlMsg::LogLevel {
                level,
                log_level_pos,
                ..
            } => {
                // The parser only delivers levels 0..=6.
                let set = LogLevel::from_u8(level)
                    .and_then(|level| contexts.set_level_at(log_level_pos, level));
                match set {
                    Some(c) => {
                        changed |= c;
                        *applied = applied.saturating_add(1);
                    }
                    None => *unknown = unknown.saturating_add(1),
                }
            }
            ControlMsg::LogState(s) => counters.log_state.store(s, Relaxed),
            ControlMsg::Injection { .. } => *injections = injections.saturating_add(1),
            m @ (ControlMsg::TraceLoad { .. } | ControlMsg::TraceLoadEntry { .. }) => {
                on_trace_load(m)
            }
        });
        changed
    }

    /// A new connection's stream begins (UNIX-socket daemons): a record
    /// cut short by the old connection must not swallow its first bytes.
    pub(crate) fn new_stream(&mut self) {
        self.parser.resync();
    }

    /// Everything the daemon sent that shows it read our registration:
    /// decoded messages and protocol-v2 headers, since construction.
    pub(crate) fn replies(&self) -> u64 {
        let c = self.parser.counters();
        c.messages.saturating_add(c.v2_headers)
    }

    /// Protocol-v2 headers seen since construction.
    pub(crate) fn v2_headers(&self) -> u64 {
        self.parser.counters().v2_headers
    }

    /// Copies the counters into `counters`. Call after the interest cache
    /// was rebuilt, so that a reader who sees `levels_applied` move also
    /// finds the new level in effect.
    pub(crate) fn publish(&self, counters: &Counters) {
        let c = self.parser.counters();
        counters.injections_ignored.store(self.injections, Relaxed);
        counters.control_malformed.store(
            c.malformed
                .saturating_add(c.unknown_types)
                .saturating_add(self.unknown_positions),
            Relaxed,
        );
        counters
            .control_garbage_bytes
            .store(c.garbage_bytes, Relaxed);
        counters.levels_applied.store(self.levels_applied, Release);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Feeds `stream` in chunks whose sizes cycle through `sizes` (each at
    /// least 1) and returns the messages and the final counters.
    fn parse_chunked(stream: &[u8], sizes: &[usize]) -> (Vec<ControlMsg>, ControlCounters) {
        let mut parser = ControlParser::new();
        let mut out = Vec::new();
        let mut rest = stream;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes
                .get(i % sizes.len().max(1))
                .copied()
                .unwrap_or(usize::MAX);
            let (chunk, tail) = rest.split_at(n.clamp(1, rest.len()));
            parser.feed(chunk, |m| out.push(m));
            rest = tail;
            i += 1;
        }
        (out, parser.counters())
    }

    fn parse(stream: &[u8]) -> (Vec<ControlMsg>, ControlCounters) {
        parse_chunked(stream, &[usize::MAX])
    }

    /// Parses `stream` whole and one byte at a time, asserts both agree,
    /// and returns the result.
    fn parse_both_ways(stream: &[u8]) -> (Vec<ControlMsg>, ControlCounters) {
        let whole = parse(stream);
        assert_eq!(parse_chunked(stream, &[1]), whole, "byte-at-a-time differs");
        whole
    }

    fn level(level: u8, trace_status: u8, log_level_pos: i32) -> ControlMsg {
        ControlMsg::LogLevel {
            level,
            trace_status,
            log_level_pos,
        }
    }

    fn counters(
        messages: u64,
        garbage_bytes: u64,
        unknown_types: u64,
        malformed: u64,
    ) -> ControlCounters {
        ControlCounters {
            messages,
            garbage_bytes,
            unknown_types,
            malformed,
            v2_headers: 0,
        }
    }

    /// Encodes a record the way the daemon does (host byte order).
    fn encode(msg: &ControlMsg, data: &[u8]) -> Vec<u8> {
        let mut v = USER_PATTERN.to_vec();
        match *msg {
            ControlMsg::LogLevel {
                level,
                trace_status,
                log_level_pos,
            } => {
                v.extend(USER_MSG_LOG_LEVEL.to_ne_bytes());
                v.extend([level, trace_status]);
                v.extend(log_level_pos.to_ne_bytes());
            }
            ControlMsg::LogState(s) => {
                v.extend(USER_MSG_LOG_STATE.to_ne_bytes());
                v.extend(s.to_ne_bytes());
            }
            ControlMsg::Injection {
                log_level_pos,
                service_id,
                data_len,
            } => {
                v.extend(USER_MSG_INJECTION.to_ne_bytes());
                v.extend(log_level_pos.to_ne_bytes());
                v.extend(service_id.to_ne_bytes());
                v.extend(data_len.to_ne_bytes());
                v.extend(data);
            }
            // The header and count; the entries follow as their own values.
            ControlMsg::TraceLoad { count } => {
                v.extend(USER_MSG_TRACE_LOAD.to_ne_bytes());
                v.extend(count.to_ne_bytes());
            }
            ControlMsg::TraceLoadEntry {
                ctid, soft, hard, ..
            } => {
                v.clear();
                v.extend(ctid);
                v.extend(soft.to_ne_bytes());
                v.extend(hard.to_ne_bytes());
            }
        }
        v
    }

    #[test]
    fn resync_drops_a_record_cut_short_by_the_old_stream() {
        let level = encode(&level(5, 0, 1), &[]);
        let state = encode(&ControlMsg::LogState(1), &[]);
        let mut p = ControlParser::new();
        let mut got = Vec::new();
        p.feed(&level[..10], |m| got.push(m));
        p.resync();
        p.feed(&state, |m| got.push(m));
        assert_eq!(
            got,
            [ControlMsg::LogState(1)],
            "the new stream's record is whole"
        );
    }

    #[test]
    fn trace_load_entries_are_delivered_in_order_then_the_stream_goes_on() {
        let entry = |index, ctid: &[u8; 4], soft, hard| ControlMsg::TraceLoadEntry {
            index,
            ctid: *ctid,
            soft,
            hard,
        };
        let head = ControlMsg::TraceLoad { count: 2 };
        let a = entry(0, b"\0\0\0\0", 150, 200);
        let b = entry(1, b"CTXA", 42, 100);
        let mut stream = encode(&head, &[]);
        stream.extend(encode(&a, &[]));
        stream.extend(encode(&b, &[]));
        stream.extend(encode(&ControlMsg::LogState(1), &[]));
        let (msgs, c) = parse_both_ways(&stream);
        assert_eq!(msgs, [head, a, b, ControlMsg::LogState(1)]);
        assert_eq!(c, counters(4, 0, 0, 0), "nothing malformed or skipped");
        // A protocol-v2 LOG_STATE (a daemon started with -x 2) is
        // recognised, and skipped as garbage.
        let mut v2 = b"DUH\x02".to_vec();
        v2.extend(USER_MSG_LOG_STATE.to_ne_bytes());
        v2.push(1);
        let (msgs, c) = parse_both_ways(&v2);
        assert!(msgs.is_empty());
        assert_eq!((c.v2_headers, c.garbage_bytes), (1, 9), "{c:?}");
        // An empty list is one message.
        let (msgs, _) = parse_both_ways(&encode(&ControlMsg::TraceLoad { count: 0 }, &[]));
        assert_eq!(msgs, [ControlMsg::TraceLoad { count: 0 }]);
    }

    // The vectors were captured on a little-endian host (x86_64), and the
    // user protocol is in host byte order.

    #[cfg(target_endian = "little")]
    #[test]
    fn vector_example_log_state_and_three_levels() {
        let (msgs, c) = parse_both_ways(vector!("d2u_example_log_state_and_levels.bin"));
        assert_eq!(
            msgs,
            [
                ControlMsg::LogState(1),
                level(4, 0, 0),
                level(4, 0, 1),
                level(4, 0, 2)
            ]
        );
        assert_eq!(c, counters(4, 0, 0, 0));
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn vector_vgen_log_state_and_two_levels() {
        let (msgs, c) = parse_both_ways(vector!("d2u_vgen_log_state_and_levels.bin"));
        assert_eq!(
            msgs,
            [ControlMsg::LogState(1), level(4, 0, 0), level(6, 1, 0)]
        );
        assert_eq!(c, counters(3, 0, 0, 0));
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn vector_injection_4096_text() {
        let (msgs, c) = parse_both_ways(vector!("d2u_injection_4096_text.bin"));
        let expect = ControlMsg::Injection {
            log_level_pos: 0,
            service_id: 0x1000,
            data_len: 9,
        };
        assert_eq!(msgs, [expect]);
        assert_eq!(c, counters(1, 0, 0, 0));
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn vector_injection_4097_hex() {
        let (msgs, c) = parse_both_ways(vector!("d2u_injection_4097_hex.bin"));
        let expect = ControlMsg::Injection {
            log_level_pos: 0,
            service_id: 0x1001,
            data_len: 4,
        };
        assert_eq!(msgs, [expect]);
        assert_eq!(c, counters(1, 0, 0, 0));
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn all_vectors_concatenated_with_garbage_between() {
        let mut stream = b"xxD".to_vec(); // 3 garbage bytes, one a false start
        stream.extend(vector!("d2u_injection_4097_hex.bin"));
        stream.extend(b"DUgarbage\x01"); // 10 garbage bytes
        stream.extend(vector!("d2u_example_log_state_and_levels.bin"));
        stream.extend(vector!("d2u_injection_4096_text.bin"));
        stream.extend(b"DUH"); // a pattern prefix that never completes...
        stream.extend(vector!("d2u_vgen_log_state_and_levels.bin")); // ...before this
        let (msgs, c) = parse_both_ways(&stream);
        assert_eq!(msgs.len(), 1 + 4 + 1 + 3, "{msgs:?}");
        assert_eq!(
            msgs[5],
            ControlMsg::Injection {
                log_level_pos: 0,
                service_id: 0x1000,
                data_len: 9,
            }
        );
        assert_eq!(msgs[8], level(6, 1, 0));
        assert_eq!(c, counters(9, 3 + 10 + 3, 0, 0));
    }

    #[test]
    fn garbage_before_between_and_after_records_is_counted() {
        let a = encode(&ControlMsg::LogState(0), &[]);
        let b = encode(&level(3, 0, 7), &[]);
        let mut stream = b"\0\0\0\0\0".to_vec();
        stream.extend(&a);
        stream.extend(b"DDDUU\x01H");
        stream.extend(&b);
        stream.extend(b"tail");
        let (msgs, c) = parse_both_ways(&stream);
        assert_eq!(msgs, [ControlMsg::LogState(0), level(3, 0, 7)]);
        assert_eq!(c, counters(2, 5 + 7 + 4, 0, 0));
    }

    #[test]
    fn unknown_type_drops_only_the_header_then_resyncs() {
        let mut stream = USER_PATTERN.to_vec();
        stream.extend(99u32.to_ne_bytes());
        stream.extend(encode(&level(2, 1, 3), &[]));
        // An app→daemon type (LOG = 1) is unknown in this direction too.
        stream.extend(USER_PATTERN);
        stream.extend(1u32.to_ne_bytes());
        stream.extend(b"body");
        let (msgs, c) = parse_both_ways(&stream);
        assert_eq!(msgs, [level(2, 1, 3)]);
        assert_eq!(c, counters(1, 4, 2, 0));
    }

    #[test]
    fn malformed_records_are_consumed_and_counted() {
        let mut stream = encode(&level(7, 0, 0), &[]); // level > 6
        stream.extend(encode(&ControlMsg::LogState(2), &[]));
        stream.extend(encode(&ControlMsg::LogState(-1), &[])); // valid: unknown
        stream.extend(encode(&level(0, 0, -5), &[])); // valid: OFF, pos unchecked
        let (msgs, c) = parse_both_ways(&stream);
        assert_eq!(msgs, [ControlMsg::LogState(-1), level(0, 0, -5)]);
        assert_eq!(c, counters(2, 0, 0, 2));
    }

    #[test]
    fn injection_data_is_skipped_across_feeds_and_may_look_like_records() {
        // Data that contains a complete LOG_LEVEL record must not be parsed.
        let mut data = encode(&level(1, 0, 0), &[]);
        data.resize(10_000, b'D');
        let inj = ControlMsg::Injection {
            log_level_pos: 4,
            service_id: 0xFFF,
            data_len: 10_000,
        };
        let mut stream = encode(&inj, &data);
        stream.extend(encode(&ControlMsg::LogState(1), &[]));
        for sizes in [&[usize::MAX][..], &[1], &[7, 4096, 3], &[20, 9_999, 1]] {
            let (msgs, c) = parse_chunked(&stream, sizes);
            assert_eq!(msgs, [inj, ControlMsg::LogState(1)], "sizes {sizes:?}");
            assert_eq!(c, counters(2, 0, 0, 0), "sizes {sizes:?}");
        }
    }

    #[test]
    fn injection_is_reported_only_once_its_data_arrived() {
        let inj = ControlMsg::Injection {
            log_level_pos: 0,
            service_id: 0x1000,
            data_len: u32::MAX,
        };
        let stream = encode(&inj, &[]);
        let mut parser = ControlParser::new();
        let mut out = Vec::new();
        parser.feed(&stream, |m| out.push(m));
        parser.feed(&[0u8; 4096], |m| out.push(m));
        assert!(out.is_empty(), "4 GiB of data still to come");
        let empty = ControlMsg::Injection {
            log_level_pos: 1,
            service_id: 2,
            data_len: 0,
        };
        let (msgs, _) = parse_both_ways(&encode(&empty, &[]));
        assert_eq!(msgs, [empty], "zero-length injection completes at once");
    }

    #[test]
    fn empty_feed_does_nothing() {
        let mut parser = ControlParser::new();
        parser.feed(&[], |_| panic!("no message expected"));
        assert_eq!(parser.counters(), ControlCounters::default());
    }

    // === LevelControl ===

    fn table() -> crate::contexts::ContextTable {
        use crate::contexts::Context;
        use crate::ids::{CtxId, RegisterLevel};
        let ctx = |id: &str, reg: RegisterLevel| {
            Context::new(
                id.into(),
                CtxId::new(id).unwrap(),
                String::new(),
                LogLevel::Info,
                reg,
            )
        };
        crate::contexts::ContextTable::new(
            ctx("DFLT", RegisterLevel::NotSet),
            ctx("TLOG", RegisterLevel::NotSet),
            vec![ctx("A", RegisterLevel::Level(LogLevel::Debug))],
        )
    }

    #[test]
    fn level_control_applies_levels_and_counts_the_rest() {
        let t = table();
        let counters = Counters::new();
        let mut lc = LevelControl::new();
        let mut stream = b"junk".to_vec();
        stream.extend(encode(&ControlMsg::LogState(1), &[]));
        stream.extend(encode(&level(5, 0, 0), &[])); // DFLT to DEBUG
        stream.extend(encode(&level(4, 0, 2), &[])); // A: already INFO
        stream.extend(encode(&level(6, 0, 3), &[])); // no context 3
        stream.extend(encode(&level(9, 0, 0), &[])); // invalid level
        let inj = ControlMsg::Injection {
            log_level_pos: 0,
            service_id: 0x1000,
            data_len: 3,
        };
        stream.extend(encode(&inj, b"abc"));
        assert!(lc.feed(&stream, &t, &counters), "DFLT changed");
        lc.publish(&counters);
        assert_eq!(t.get(0).unwrap().level(), LogLevel::Debug);
        assert_eq!(t.get(2).unwrap().level(), LogLevel::Info);
        let s = counters.snapshot(0);
        assert_eq!(s.log_state, 1);
        assert_eq!(s.levels_applied, 2, "the two LOG_LEVELs for our contexts");
        assert_eq!(s.injections_ignored, 1);
        assert_eq!(s.control_malformed, 2, "unknown position + level 9");
        assert_eq!(s.control_garbage_bytes, 4);
        // Same levels again: applied, but nothing changed.
        let again = [encode(&level(5, 0, 0), &[]), encode(&level(4, 0, 2), &[])].concat();
        assert!(!lc.feed(&again, &t, &counters));
        lc.publish(&counters);
        assert_eq!(counters.snapshot(0).levels_applied, 4);
    }

    // === property tests ===

    fn any_msg() -> impl Strategy<Value = ControlMsg> {
        prop_oneof![
            (0..=6u8, any::<u8>(), any::<i32>()).prop_map(|(l, t, p)| level(l, t, p)),
            (-1..=1i8).prop_map(ControlMsg::LogState),
            (any::<i32>(), any::<u32>(), 0..300u32).prop_map(|(p, s, n)| {
                ControlMsg::Injection {
                    log_level_pos: p,
                    service_id: s,
                    data_len: n,
                }
            }),
        ]
    }

    /// `len` bytes, about 40% of them pattern bytes (`D`, `U`, `H`, 0x01),
    /// which are likely to confuse a pattern scanner. (Mapping plain bytes
    /// is much faster to generate than a union strategy per byte.)
    fn tricky_bytes(len: impl Into<prop::collection::SizeRange>) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), len).prop_map(|v| {
            v.into_iter()
                .map(|b| match b {
                    0..=24 => b'D',
                    25..=49 => b'U',
                    50..=74 => b'H',
                    75..=99 => 1,
                    _ => b,
                })
                .collect()
        })
    }

    /// Garbage without the substring `DUH` (it may still end in `D` or `DU`).
    fn garbage() -> impl Strategy<Value = Vec<u8>> {
        tricky_bytes(0..24).prop_map(|mut g| {
            for i in 2..g.len() {
                if &g[i - 2..=i] == b"DUH" {
                    g[i] = b'h';
                }
            }
            g
        })
    }

    /// One element of a generated stream.
    #[derive(Clone, Debug)]
    enum Piece {
        /// A well-formed record (with its injection data, if any).
        Good(ControlMsg, Vec<u8>),
        /// A header with an unknown type.
        Unknown(u32),
        /// A LOG_LEVEL record with a level above 6.
        BadLevel(u8),
    }

    fn piece() -> impl Strategy<Value = Piece> {
        prop_oneof![
            8 => any_msg().prop_flat_map(|m| {
                let n = match m {
                    ControlMsg::Injection { data_len, .. } => data_len as usize,
                    _ => 0,
                };
                // Injection data is arbitrary, patterns included.
                tricky_bytes(n).prop_map(move |d| Piece::Good(m, d))
            }),
            1 => any::<u32>()
                .prop_filter("unknown type", |t| fixed_len(*t).is_none())
                .prop_map(Piece::Unknown),
            1 => (7..=255u8).prop_map(Piece::BadLevel),
        ]
    }

    fn piece_bytes(p: &Piece) -> Vec<u8> {
        match p {
            Piece::Good(m, d) => encode(m, d),
            Piece::Unknown(t) => {
                let mut v = USER_PATTERN.to_vec();
                v.extend(t.to_ne_bytes());
                v
            }
            Piece::BadLevel(l) => encode(&level(*l, 0, 0), &[]),
        }
    }

    /// A stream of `(garbage, piece)` pairs plus trailing garbage; returns
    /// the bytes, the end offset of each good record with its message, the
    /// expected counters (garbage counted in full, including the tail).
    fn build(
        pieces: &[(Vec<u8>, Piece)],
        tail: &[u8],
    ) -> (Vec<u8>, Vec<(usize, ControlMsg)>, ControlCounters) {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        let mut c = ControlCounters::default();
        for (g, p) in pieces {
            bytes.extend(g);
            c.garbage_bytes += g.len() as u64;
            bytes.extend(piece_bytes(p));
            match p {
                Piece::Good(m, _) => {
                    ends.push((bytes.len(), *m));
                    c.messages += 1;
                }
                Piece::Unknown(_) => c.unknown_types += 1,
                Piece::BadLevel(_) => c.malformed += 1,
            }
        }
        bytes.extend(tail);
        c.garbage_bytes += tail.len() as u64;
        (bytes, ends, c)
    }

    fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
        prop::collection::vec(prop_oneof![1..4usize, 1..64usize, 1..4096usize], 1..16)
    }

    proptest! {
        #[test]
        fn prop_random_bytes_and_splits_never_panic(
            bytes in tricky_bytes(0..2048),
            sizes in chunk_sizes(),
        ) {
            let (msgs, c) = parse_chunked(&bytes, &sizes);
            prop_assert_eq!(c.messages, msgs.len() as u64);
            prop_assert!(c.garbage_bytes <= bytes.len() as u64);
        }

        #[test]
        fn prop_random_record_soup_never_panics(
            parts in prop::collection::vec(
                prop_oneof![
                    piece().prop_map(|p| piece_bytes(&p)),
                    // Truncated records and stray headers.
                    (piece(), 0..24usize).prop_map(|(p, n)| {
                        let mut b = piece_bytes(&p);
                        b.truncate(n);
                        b
                    }),
                    garbage(),
                ],
                0..32,
            ),
            sizes in chunk_sizes(),
        ) {
            let bytes = parts.concat();
            let (msgs, c) = parse_chunked(&bytes, &sizes);
            prop_assert_eq!(c.messages, msgs.len() as u64);
        }

        #[test]
        fn prop_every_good_record_is_found_in_order_however_split(
            pieces in prop::collection::vec((garbage(), piece()), 0..24),
            tail in garbage(),
            sizes in chunk_sizes(),
        ) {
            let (bytes, ends, mut expect) = build(&pieces, &tail);
            let want: Vec<ControlMsg> = ends.iter().map(|&(_, m)| m).collect();
            let (msgs, c) = parse_chunked(&bytes, &sizes);
            prop_assert_eq!(&msgs, &want);
            // A tail ending in `D` or `DU` is still a possible pattern
            // start, so it is not counted as garbage yet.
            let pending = expect.garbage_bytes - c.garbage_bytes;
            prop_assert!(pending <= 2 && tail.ends_with(&b"DU"[..pending as usize]));
            expect.garbage_bytes = c.garbage_bytes;
            prop_assert_eq!(c, expect);
        }

        #[test]
        fn prop_truncated_stream_yields_exactly_the_whole_records(
            pieces in prop::collection::vec((garbage(), piece()), 0..16),
            cut_frac in 0.0..=1.0f64,
            sizes in chunk_sizes(),
        ) {
            let (bytes, ends, _) = build(&pieces, &[]);
            let cut = ((bytes.len() as f64) * cut_frac) as usize;
            let cut = cut.min(bytes.len());
            let want: Vec<ControlMsg> =
                ends.iter().filter(|&&(end, _)| end <= cut).map(|&(_, m)| m).collect();
            let (msgs, _) = parse_chunked(&bytes[..cut], &sizes);
            prop_assert_eq!(msgs, want);
        }
    }
}
