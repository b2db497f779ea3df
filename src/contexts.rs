//! The application's DLT contexts: which context a `tracing` target maps to
//! (longest prefix wins), each context's current log level and message
//! counter. Shared read-mostly by the layer and the flusher through an
//! `Arc`; levels and counters are atomics, so neither side locks.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use crate::ids::{CtxId, LogLevel, RegisterLevel};

/// The reserved diagnostic context the logger reports its own drops on.
///
/// # Examples
///
/// ```
/// assert_eq!(taktora_log::DIAGNOSTIC_CONTEXT.to_string(), "TLOG");
/// // Reserved: mapping a target to it is refused.
/// let refused = taktora_log::DltLayer::builder("NAV")
///     .with_context("nav", "TLOG", "mine")
///     .build();
/// assert!(refused.is_err());
/// ```
pub const DIAGNOSTIC_CONTEXT: CtxId = match CtxId::new("TLOG") {
    Ok(c) => c,
    Err(_) => panic!("TLOG is a valid context ID"),
};

/// Description sent when registering [`DIAGNOSTIC_CONTEXT`].
pub(crate) const DIAGNOSTIC_DESCRIPTION: &str = "taktora-log diagnostics (dropped records)";

/// One registered context.
#[derive(Debug)]
pub(crate) struct Context {
    /// Target prefix that selects this context; empty for the default.
    pub(crate) prefix: String,
    pub(crate) id: CtxId,
    pub(crate) description: String,
    /// Level sent in REGISTER_CONTEXT: [`RegisterLevel::NotSet`] (the
    /// daemon answers with its default) unless an initial level was
    /// configured.
    pub(crate) register_level: RegisterLevel,
    /// Current DLT level (`LogLevel as u8`); messages above it are not sent.
    level: AtomicU8,
    /// Per-context message counter (MCNT), wrapping at 256, incremented
    /// for every message encoded, including ones later dropped, so that
    /// gaps reveal loss as with libdlt.
    counter: AtomicU8,
}

impl Context {
    pub(crate) fn new(
        prefix: String,
        id: CtxId,
        description: String,
        level: LogLevel,
        register_level: RegisterLevel,
    ) -> Self {
        Self {
            prefix,
            id,
            description,
            register_level,
            level: AtomicU8::new(level as u8),
            counter: AtomicU8::new(0),
        }
    }

    /// The context's current level.
    pub(crate) fn level(&self) -> LogLevel {
        LogLevel::from_u8(self.level.load(Relaxed)).unwrap_or(LogLevel::Info)
    }

    /// Sets the level; returns whether it changed.
    pub(crate) fn set_level(&self, level: LogLevel) -> bool {
        self.level.swap(level as u8, Relaxed) != level as u8
    }

    /// Whether a message at `level` passes this context's level: DLT's
    /// rule `level != Off && level <= context level`.
    #[inline]
    pub(crate) fn passes(&self, level: LogLevel) -> bool {
        level != LogLevel::Off && (level as u8) <= self.level.load(Relaxed)
    }

    /// The next message counter value.
    #[inline]
    pub(crate) fn next_counter(&self) -> u8 {
        self.counter.fetch_add(1, Relaxed)
    }
}

/// All contexts. Index 0 is the default context, index 1 the diagnostic
/// context [`DIAGNOSTIC_CONTEXT`], then the target-mapped contexts. A
/// context's index is its `log_level_pos` in REGISTER_CONTEXT, which the
/// daemon echoes back in LOG_LEVEL.
#[derive(Debug)]
pub(crate) struct ContextTable {
    entries: Vec<Context>,
    /// Indices of mapped contexts, longest prefix first.
    by_prefix: Vec<usize>,
}

/// Index of the default context.
pub(crate) const DEFAULT_INDEX: usize = 0;
/// Index of the diagnostic context.
pub(crate) const DIAGNOSTIC_INDEX: usize = 1;

impl ContextTable {
    /// Builds the table from the default context and the mapped ones.
    /// The caller has validated uniqueness.
    pub(crate) fn new(default: Context, diagnostic: Context, mapped: Vec<Context>) -> Self {
        let mut entries = Vec::with_capacity(mapped.len() + 2);
        entries.push(default);
        entries.push(diagnostic);
        entries.extend(mapped);
        let mut by_prefix: Vec<usize> = (2..entries.len()).collect();
        by_prefix.sort_by(|&a, &b| entries[b].prefix.len().cmp(&entries[a].prefix.len()));
        Self { entries, by_prefix }
    }

    /// The context for `target`: the mapped context with the longest
    /// prefix that is all of `target`, or is followed in `target` by `::`
    /// or `.`, or itself ends in `::` or `.`; otherwise the default
    /// context.
    pub(crate) fn lookup(&self, target: &str) -> &Context {
        self.at(self.index_of_target(target))
    }

    /// The context at position `i`, or the default context if there is
    /// none (positions come from this table, so that does not happen).
    pub(crate) fn at(&self, i: usize) -> &Context {
        match self.entries.get(i) {
            Some(c) => c,
            None => &self.entries[DEFAULT_INDEX],
        }
    }

    /// The position of [`lookup`](Self::lookup)'s context for `target`
    /// ([`DEFAULT_INDEX`] when no mapping matches).
    pub(crate) fn index_of_target(&self, target: &str) -> usize {
        for &i in &self.by_prefix {
            let p = self.entries[i].prefix.as_str();
            if let Some(rest) = target.strip_prefix(p) {
                if rest.is_empty()
                    || rest.starts_with("::")
                    || rest.starts_with('.')
                    || p.ends_with("::")
                    || p.ends_with('.')
                {
                    return i;
                }
            }
        }
        DEFAULT_INDEX
    }

    /// Whether any context besides the default (and the diagnostic one)
    /// is registered: otherwise a span cannot choose another context.
    pub(crate) fn has_mapped(&self) -> bool {
        !self.by_prefix.is_empty()
    }

    /// The position of the context registered as `id`, if an event may be
    /// sent on it: the default or a mapped context, never the reserved
    /// diagnostic context.
    pub(crate) fn index_of_id(&self, id: &str) -> Option<usize> {
        let id = CtxId::new(id).ok()?;
        self.entries
            .iter()
            .enumerate()
            .find(|&(i, c)| i != DIAGNOSTIC_INDEX && c.id == id)
            .map(|(i, _)| i)
    }

    /// The context at `log_level_pos`, if any.
    pub(crate) fn get(&self, pos: usize) -> Option<&Context> {
        self.entries.get(pos)
    }

    /// All contexts in registration order (`log_level_pos` order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Context> {
        self.entries.iter()
    }

    /// The most verbose level any context that events can map to
    /// currently lets through. The diagnostic context is left out: no
    /// target maps to it (the flusher writes its records directly), so its
    /// level must not keep `tracing`'s global maximum level up when every
    /// other context was switched off.
    pub(crate) fn max_level(&self) -> LogLevel {
        self.entries
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != DIAGNOSTIC_INDEX)
            .map(|(_, c)| c.level())
            .max()
            .unwrap_or(LogLevel::Off)
    }

    /// Applies a LOG_LEVEL from the daemon to the context at
    /// `log_level_pos`: `None` when we have no such context (the position
    /// is the daemon's echo of ours, so this means a corrupted record),
    /// otherwise whether the level changed.
    pub(crate) fn set_level_at(&self, log_level_pos: i32, level: LogLevel) -> Option<bool> {
        let ctx = usize::try_from(log_level_pos)
            .ok()
            .and_then(|p| self.get(p))?;
        Some(ctx.set_level(level))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(prefix: &str, id: &str) -> Context {
        Context::new(
            prefix.into(),
            CtxId::new(id).unwrap(),
            format!("{id} context"),
            LogLevel::Info,
            RegisterLevel::NotSet,
        )
    }

    fn table() -> ContextTable {
        ContextTable::new(
            ctx("", "DFLT"),
            ctx("", "TLOG"),
            vec![
                ctx("app", "APP"),
                ctx("app::net", "NET"),
                ctx("app::net::can", "CAN"),
                ctx("hyper", "HYP"),
            ],
        )
    }

    #[test]
    fn longest_prefix_wins_at_module_boundaries() {
        let t = table();
        let cases = [
            ("app", "APP"),
            ("app::ui", "APP"),
            ("app::net", "NET"),
            ("app::net::udp", "NET"),
            ("app::net::can", "CAN"),
            ("app::net::can::rx", "CAN"),
            ("app::network", "APP"),
            ("application", "DFLT"),
            ("hyper::client", "HYP"),
            ("other", "DFLT"),
            ("", "DFLT"),
        ];
        for (target, want) in cases {
            assert_eq!(t.lookup(target).id.to_string(), want, "target {target:?}");
        }
    }

    #[test]
    fn prefixes_match_at_double_colon_and_at_dot() {
        let t = ContextTable::new(
            ctx("", "DFLT"),
            ctx("", "TLOG"),
            vec![
                ctx("app::net", "NET"),
                ctx("svc.", "SVC"),
                ctx("db::", "DB"),
            ],
        );
        let cases = [
            ("app::net", "NET", "the whole target"),
            ("app::net::can", "NET", "continued with ::"),
            ("app::net.rx", "NET", "continued with ."),
            ("app::network", "DFLT", "no separator"),
            ("app::net:x", "DFLT", "a single colon is no separator"),
            ("svc.http", "SVC", "prefix ending in ."),
            ("svc.", "SVC", "prefix ending in ., whole"),
            ("svc", "DFLT", "shorter than a prefix ending in ."),
            ("db::pool", "DB", "prefix ending in ::"),
            ("db", "DFLT", "shorter than a prefix ending in ::"),
        ];
        for (target, want, why) in cases {
            assert_eq!(t.lookup(target).id.to_string(), want, "{target:?}: {why}");
        }
    }

    #[test]
    fn positions_are_default_diagnostic_then_mapped() {
        let t = table();
        let ids: Vec<String> = t.iter().map(|c| c.id.to_string()).collect();
        assert_eq!(ids, ["DFLT", "TLOG", "APP", "NET", "CAN", "HYP"]);
        assert_eq!(t.get(DIAGNOSTIC_INDEX).unwrap().id, DIAGNOSTIC_CONTEXT);
        assert!(t.get(6).is_none());
    }

    #[test]
    fn level_rule_matches_dlt() {
        let c = ctx("", "X");
        assert!(c.passes(LogLevel::Info) && c.passes(LogLevel::Fatal));
        assert!(!c.passes(LogLevel::Debug), "debug above info");
        assert!(!c.passes(LogLevel::Off), "off is never sent");
        assert!(c.set_level(LogLevel::Off), "changed");
        assert!(!c.set_level(LogLevel::Off), "unchanged");
        assert!(!c.passes(LogLevel::Fatal), "nothing passes OFF");
    }

    #[test]
    fn max_level_ignores_the_diagnostic_context() {
        let t = table();
        for c in t.iter() {
            c.set_level(LogLevel::Off);
        }
        t.get(DIAGNOSTIC_INDEX)
            .unwrap()
            .set_level(LogLevel::Verbose);
        assert_eq!(t.max_level(), LogLevel::Off, "TLOG alone keeps nothing on");
        t.get(3).unwrap().set_level(LogLevel::Debug);
        assert_eq!(t.max_level(), LogLevel::Debug);
    }

    #[test]
    fn set_level_at_checks_the_position() {
        let t = table();
        assert_eq!(t.set_level_at(2, LogLevel::Debug), Some(true));
        assert_eq!(
            t.set_level_at(2, LogLevel::Debug),
            Some(false),
            "same level"
        );
        assert_eq!(t.get(2).unwrap().level(), LogLevel::Debug);
        assert_eq!(t.set_level_at(6, LogLevel::Debug), None, "past the end");
        assert_eq!(t.set_level_at(-1, LogLevel::Debug), None, "negative");
    }

    #[test]
    fn counter_wraps_at_256() {
        let c = ctx("", "X");
        for i in 0..=255u8 {
            assert_eq!(c.next_counter(), i);
        }
        assert_eq!(c.next_counter(), 0, "wraps");
    }
}
