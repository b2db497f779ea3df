//! The application's DLT contexts: which context a `tracing` target maps to
//! (longest prefix wins), each context's current log level and message
//! counter. Shared read-mostly by the layer and the flusher through an
//! `Arc`; levels and counters are atomics, so neither side locks.
//!
//! The longest-prefix match walks every mapped prefix, so its cost grows
//! with the number of contexts. An event's target is fixed per callsite
//! (its `'static` [`Metadata`]), so the table resolves each callsite once,
//! when `tracing` registers it, into a [`CallsiteCache`]; an event then
//! finds its context with a hash of its callsite's address and one or a
//! few probes, however many contexts there are. Records from the `log`
//! bridge (whose target is per record) and callsites past the cache's
//! capacity take the walk.

use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering, Ordering::Relaxed};

use tracing_core::Metadata;

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
    /// Each registered callsite's context index (empty when no context is
    /// mapped: every target then goes to the default context anyway).
    callsites: CallsiteCache,
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
        let callsites = if by_prefix.is_empty() {
            CallsiteCache::with_capacity(0)
        } else {
            CallsiteCache::with_capacity(CALLSITE_CACHE_SLOTS)
        };
        Self {
            entries,
            by_prefix,
            callsites,
        }
    }

    /// Resolves the callsite `meta` once, so that [`index_of`](Self::index_of)
    /// finds its context without walking the prefixes. Idempotent; called
    /// from `register_callsite`, which `tracing` repeats when it rebuilds
    /// its interest cache.
    pub(crate) fn remember(&self, meta: &'static Metadata<'static>) {
        if self.by_prefix.is_empty() {
            return;
        }
        let index = self.index_of_target(meta.target());
        self.callsites.insert(callsite_key(meta), index);
    }

    /// How many callsites the cache holds.
    #[cfg(test)]
    pub(crate) fn cached_callsites(&self) -> usize {
        self.callsites
            .keys
            .iter()
            .filter(|k| k.load(Relaxed) != 0)
            .count()
    }

    /// The position of the context for an event or span with metadata
    /// `meta`: what [`index_of_target`](Self::index_of_target) returns for
    /// its target, from the callsite cache when the callsite was
    /// [remembered](Self::remember).
    #[inline]
    pub(crate) fn index_of(&self, meta: &Metadata<'_>) -> usize {
        if self.by_prefix.is_empty() {
            return DEFAULT_INDEX;
        }
        match self.callsites.get(callsite_key(meta)) {
            Some(i) => i,
            None => self.index_of_target(meta.target()),
        }
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

/// Slots of a table's [`CallsiteCache`] when it has mapped contexts: 12
/// bytes each (24 KiB), allocated once at build. Enabled callsites past
/// about this many find their context by walking the prefixes.
const CALLSITE_CACHE_SLOTS: usize = 2048;

/// How many slots a lookup or an insertion probes before giving up.
const CALLSITE_PROBES: usize = 8;

/// The key of a callsite: the address of its `'static` metadata, which
/// `tracing` hands out once per callsite. Never 0.
#[inline]
fn callsite_key(meta: &Metadata<'_>) -> usize {
    std::ptr::from_ref(meta) as usize
}

/// A fixed-size, insert-only, lock-free hash table from callsite key to
/// context index (open addressing, linear probing). A slot is taken by a
/// compare-and-swap of its key from 0, and then gets its index; a reader
/// that finds the key before the index treats the slot as a miss. The
/// index for a key never changes (the prefixes are fixed at build), so a
/// race between two insertions of one key stores the same value.
#[derive(Debug)]
struct CallsiteCache {
    keys: Box<[AtomicUsize]>,
    /// The context index, or [`CallsiteCache::PENDING`].
    values: Box<[AtomicU32]>,
}

impl CallsiteCache {
    /// A slot whose key is written but whose index is not yet.
    const PENDING: u32 = u32::MAX;

    /// `n` slots (a power of two, or 0 for a cache that holds nothing).
    fn with_capacity(n: usize) -> Self {
        let n = if n == 0 { 0 } else { n.next_power_of_two() };
        Self {
            keys: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            values: (0..n).map(|_| AtomicU32::new(Self::PENDING)).collect(),
        }
    }

    /// The slots `key` may be in, in probe order.
    #[inline]
    fn probes(&self, key: usize) -> impl Iterator<Item = usize> {
        let mask = self.keys.len().wrapping_sub(1);
        // Fibonacci hashing of the address (metadata is 8-aligned, and
        // callsites sit close together, so the low bits alone collide).
        let h = ((key as u64) >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        let n = CALLSITE_PROBES.min(self.keys.len());
        (0..n).map(move |i| (h as usize).wrapping_add(i) & mask)
    }

    /// The index stored for `key`, if any.
    #[inline]
    fn get(&self, key: usize) -> Option<usize> {
        for slot in self.probes(key) {
            match self.keys[slot].load(Ordering::Acquire) {
                0 => return None,
                k if k == key => {
                    let v = self.values[slot].load(Ordering::Acquire);
                    return (v != Self::PENDING).then_some(v as usize);
                }
                _ => {}
            }
        }
        None
    }

    /// Stores `index` for `key` (0 and indices past `u32` are not
    /// stored); does nothing when the key's probe slots are all taken by
    /// other keys.
    fn insert(&self, key: usize, index: usize) {
        let Ok(value) = u32::try_from(index) else {
            return;
        };
        if key == 0 || value == Self::PENDING {
            return;
        }
        for slot in self.probes(key) {
            let taken =
                match self.keys[slot].compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => true,
                    Err(k) => k == key,
                };
            if taken {
                self.values[slot].store(value, Ordering::Release);
                return;
            }
        }
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

#[cfg(test)]
mod callsite_cache_tests {
    use super::*;
    use tracing_core::callsite::{Callsite, Identifier};
    use tracing_core::field::FieldSet;
    use tracing_core::metadata::Kind;
    use tracing_core::subscriber::Interest;
    use tracing_core::Level;

    /// The callsite the test metadata names; `tracing` never asks it.
    struct TestCallsite;

    impl Callsite for TestCallsite {
        fn set_interest(&self, _: Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!("test metadata is never registered with tracing")
        }
    }

    static CALLSITE: TestCallsite = TestCallsite;

    /// A `'static` event metadata for `target` (leaked: tests only).
    fn meta(target: String) -> &'static Metadata<'static> {
        let target: &'static str = Box::leak(target.into_boxed_str());
        Box::leak(Box::new(Metadata::new(
            "event",
            target,
            Level::ERROR,
            None,
            None,
            None,
            FieldSet::new(&[], Identifier(&CALLSITE)),
            Kind::EVENT,
        )))
    }

    fn ctx(prefix: String, id: &str) -> Context {
        Context::new(
            prefix,
            CtxId::new(id).unwrap(),
            String::new(),
            LogLevel::Info,
            RegisterLevel::NotSet,
        )
    }

    /// The default and diagnostic contexts and `n` mapped ones, `m0`..,
    /// each for the prefix `app::m{i}`.
    fn table(n: usize) -> ContextTable {
        let mapped = (0..n)
            .map(|i| ctx(format!("app::m{i}"), &format!("M{i}")))
            .collect();
        ContextTable::new(
            ctx(String::new(), "DFLT"),
            ctx(String::new(), "TLOG"),
            mapped,
        )
    }

    #[test]
    fn remembered_callsites_resolve_from_the_cache_as_the_walk_does() {
        let t = table(1000);
        // 256 callsites: mapped (several per context, deeper modules),
        // and unmapped ones that go to the default context.
        let metas: Vec<_> = (0..256)
            .map(|i| match i % 4 {
                0 => meta(format!("app::m{}", i * 3)),
                1 => meta(format!("app::m{}::rx", i * 3)),
                2 => meta(format!("app::m{}x", i)),
                _ => meta(format!("other{i}")),
            })
            .collect();
        for m in &metas {
            t.remember(m);
        }
        for m in &metas {
            let walk = t.index_of_target(m.target());
            assert_eq!(
                t.callsites.get(callsite_key(m)),
                Some(walk),
                "{}: cached, and the same context as the walk",
                m.target()
            );
            assert_eq!(t.index_of(m), walk, "{}", m.target());
        }
        assert_eq!(t.at(t.index_of(metas[0])).id.to_string(), "M0");
        assert_eq!(t.at(t.index_of(metas[1])).id.to_string(), "M3");
        assert_eq!(t.index_of(metas[2]), DEFAULT_INDEX, "app::m2x is no module");
    }

    #[test]
    fn remembering_twice_keeps_one_entry() {
        let t = table(10);
        let m = meta("app::m7::can".into());
        t.remember(m);
        t.remember(m);
        let used = t
            .callsites
            .keys
            .iter()
            .filter(|k| k.load(Relaxed) != 0)
            .count();
        assert_eq!(used, 1);
        assert_eq!(t.at(t.index_of(m)).id.to_string(), "M7");
    }

    #[test]
    fn callsites_not_remembered_take_the_walk() {
        let t = table(10);
        let m = meta("app::m4".into());
        assert_eq!(t.callsites.get(callsite_key(m)), None);
        assert_eq!(
            t.at(t.index_of(m)).id.to_string(),
            "M4",
            "found by the walk"
        );
        // A metadata built per record (the `log` bridge) is never cached.
        let per_record = Metadata::new(
            "log event",
            "app::m5::x",
            Level::ERROR,
            None,
            None,
            None,
            FieldSet::new(&[], Identifier(&CALLSITE)),
            Kind::EVENT,
        );
        assert_eq!(t.at(t.index_of(&per_record)).id.to_string(), "M5");
    }

    #[test]
    fn without_mapped_contexts_nothing_is_cached() {
        let t = table(0);
        let m = meta("app::m1".into());
        t.remember(m);
        assert!(t.callsites.keys.is_empty(), "no storage without mappings");
        assert_eq!(t.index_of(m), DEFAULT_INDEX);
    }

    #[test]
    fn a_full_cache_stores_nothing_more_and_answers_none() {
        let cache = CallsiteCache::with_capacity(4);
        for key in 1..=4 {
            cache.insert(key * 8, key);
        }
        cache.insert(5 * 8, 5);
        for key in 1..=4 {
            assert_eq!(cache.get(key * 8), Some(key));
        }
        assert_eq!(cache.get(5 * 8), None, "no room: a miss, not a wrong index");
    }

    #[test]
    fn concurrent_remembering_gives_every_callsite_its_context() {
        let t = std::sync::Arc::new(table(100));
        let metas: Vec<_> = (0..200)
            .map(|i| meta(format!("app::m{}::t", i % 100)))
            .collect();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for m in &metas {
                        t.remember(m);
                    }
                });
            }
        });
        for (i, m) in metas.iter().enumerate() {
            assert_eq!(t.callsites.get(callsite_key(m)), Some(i % 100 + 2));
        }
    }
}
