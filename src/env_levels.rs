//! `DLT_INITIAL_LOG_LEVEL`: initial context levels from the environment,
//! with libdlt's syntax and matching rules (`src/lib/dlt_env_ll.c` in
//! dlt-daemon):
//!
//! ```text
//! set  ::= item | set ';' item
//! item ::= APID ':' CTID ':' LEVEL
//! ```
//!
//! APID and CTID are 0 to 4 characters; an empty one matches every
//! application or context. LEVEL is `-1`..`6` or, case-insensitively,
//! `default`, `off`, `fatal`, `error`, `warning`, `info`, `debug`,
//! `verbose`. For a context, the most specific matching item wins: APID and
//! CTID (4) over APID only (3) over CTID only (2) over neither (1); among
//! equally specific items, the first.
//!
//! One difference from libdlt, on purpose: libdlt stops at the first
//! malformed item (keeping the ones before it, and a half-parsed one);
//! here each malformed item is skipped and counted, and the others apply.
//! Nothing here panics or fails, whatever the input.

use crate::ids::{AppId, CtxId, LogLevel, RegisterLevel, ID_LEN};

/// The environment variable libdlt reads.
pub(crate) const ENV_VAR: &str = "DLT_INITIAL_LOG_LEVEL";

/// The "default" level (-1): register with the daemon's default.
pub(crate) const DEFAULT_LEVEL: i8 = -1;

/// One `APID:CTID:LEVEL` item; an all-zero ID is the wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    app: [u8; ID_LEN],
    ctx: [u8; ID_LEN],
    /// -1 (default) to 6 (verbose).
    level: i8,
}

/// A parsed `DLT_INITIAL_LOG_LEVEL` value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct InitialLevels {
    items: Vec<Item>,
    /// Malformed items skipped.
    ignored: usize,
}

impl InitialLevels {
    /// Parses `spec`; malformed items are skipped (see the module docs).
    pub(crate) fn parse(spec: &str) -> Self {
        let mut out = Self::default();
        for part in spec.split(';') {
            if part.is_empty() {
                // libdlt accepts a trailing ';'; an empty item is no item.
                continue;
            }
            match parse_item(part) {
                Some(item) => out.items.push(item),
                None => out.ignored += 1,
            }
        }
        out
    }

    /// Reads and parses [`ENV_VAR`]; empty when it is unset or not UTF-8.
    pub(crate) fn from_env() -> Self {
        std::env::var(ENV_VAR)
            .map(|s| Self::parse(&s))
            .unwrap_or_default()
    }

    /// How many malformed items were skipped.
    pub(crate) fn ignored(&self) -> usize {
        self.ignored
    }

    /// The level (-1..=6) the most specific matching item gives context
    /// `ctx` of application `app`, or `None` if no item matches.
    pub(crate) fn level_for(&self, app: AppId, ctx: CtxId) -> Option<i8> {
        let (app, ctx) = (app.as_bytes(), ctx.as_bytes());
        let mut best: Option<(u8, i8)> = None;
        for item in &self.items {
            let any_app = item.app == [0; ID_LEN];
            let any_ctx = item.ctx == [0; ID_LEN];
            let prio = match (any_app, any_ctx) {
                (true, true) => 1,
                (true, false) if item.ctx == *ctx => 2,
                (false, true) if item.app == *app => 3,
                (false, false) if item.app == *app && item.ctx == *ctx => 4,
                _ => continue,
            };
            if best.is_none_or(|(p, _)| prio > p) {
                best = Some((prio, item.level));
            }
        }
        best.map(|(_, level)| level)
    }
}

impl InitialLevels {
    /// The starting level and the level to register for context `ctx`
    /// of `app`, given what the builder chose (`level` and `register`).
    /// A matching item overrides the builder, as the variable overrides
    /// the code's levels in libdlt: `default` (-1) registers as
    /// [`RegisterLevel::Default`] so the daemon answers with its level,
    /// and the context starts at `level` until then; 0..=6 is both the
    /// starting and the registered level.
    pub(crate) fn apply(
        &self,
        app: AppId,
        ctx: CtxId,
        level: LogLevel,
        register: RegisterLevel,
    ) -> (LogLevel, RegisterLevel) {
        match self.level_for(app, ctx) {
            None => (level, register),
            Some(l) => match u8::try_from(l).ok().and_then(LogLevel::from_u8) {
                Some(explicit) => (explicit, RegisterLevel::Level(explicit)),
                // parse_level gives -1..=6, so this is DEFAULT_LEVEL.
                None => (level, RegisterLevel::Default),
            },
        }
    }
}

/// Parses one `APID:CTID:LEVEL` item.
fn parse_item(s: &str) -> Option<Item> {
    let mut parts = s.splitn(3, ':');
    let app = parse_id(parts.next()?)?;
    let ctx = parse_id(parts.next()?)?;
    let level = parse_level(parts.next()?)?;
    Some(Item { app, ctx, level })
}

/// 0 to 4 bytes, NUL-padded as IDs are on the wire; a NUL inside would
/// make it match differently from what it says, so it is refused.
fn parse_id(s: &str) -> Option<[u8; ID_LEN]> {
    let b = s.as_bytes();
    if b.len() > ID_LEN || b.contains(&0) {
        return None;
    }
    let mut id = [0; ID_LEN];
    id[..b.len()].copy_from_slice(b);
    Some(id)
}

/// `-1`..`6` or a level name, case-insensitive, nothing around it.
fn parse_level(s: &str) -> Option<i8> {
    Some(match s.to_ascii_lowercase().as_str() {
        "-1" | "default" => DEFAULT_LEVEL,
        "0" | "off" => 0,
        "1" | "fatal" => 1,
        "2" | "error" => 2,
        "3" | "warning" => 3,
        "4" | "info" => 4,
        "5" | "debug" => 5,
        "6" | "verbose" => 6,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn app(s: &str) -> AppId {
        AppId::new(s).unwrap()
    }

    fn ctx(s: &str) -> CtxId {
        CtxId::new(s).unwrap()
    }

    #[test]
    fn single_items_and_wildcards() {
        let l = InitialLevels::parse("::6");
        assert_eq!(l.level_for(app("NAV"), ctx("ROUT")), Some(6));
        assert_eq!(l.ignored(), 0);
        let l = InitialLevels::parse("NAV:ROUT:2");
        assert_eq!(l.level_for(app("NAV"), ctx("ROUT")), Some(2));
        assert_eq!(l.level_for(app("NAV"), ctx("MAP")), None);
        assert_eq!(l.level_for(app("NAVI"), ctx("ROUT")), None, "NAV ≠ NAVI");
        let l = InitialLevels::parse(":ROUT:off");
        assert_eq!(l.level_for(app("ANY"), ctx("ROUT")), Some(0));
        let l = InitialLevels::parse("NAV::-1");
        assert_eq!(l.level_for(app("NAV"), ctx("X")), Some(DEFAULT_LEVEL));
    }

    #[test]
    fn most_specific_item_wins_then_the_first() {
        let l = InitialLevels::parse("::1;:ROUT:2;NAV::3;NAV:ROUT:4;NAV:ROUT:5;::6");
        assert_eq!(l.level_for(app("NAV"), ctx("ROUT")), Some(4));
        assert_eq!(l.level_for(app("NAV"), ctx("MAP")), Some(3));
        assert_eq!(l.level_for(app("HMI"), ctx("ROUT")), Some(2));
        assert_eq!(
            l.level_for(app("HMI"), ctx("MAP")),
            Some(1),
            "first wildcard"
        );
        // Order of the items does not matter for priority.
        let l = InitialLevels::parse("NAV:ROUT:4;NAV::3;:ROUT:2;::1");
        assert_eq!(l.level_for(app("NAV"), ctx("ROUT")), Some(4));
        assert_eq!(l.level_for(app("HMI"), ctx("MAP")), Some(1));
    }

    #[test]
    fn level_names_are_case_insensitive() {
        let names = [
            ("DEFAULT", -1),
            ("Off", 0),
            ("fatal", 1),
            ("ERROR", 2),
            ("warning", 3),
            ("Info", 4),
            ("debug", 5),
            ("VERBOSE", 6),
        ];
        for (name, want) in names {
            let l = InitialLevels::parse(&format!("::{name}"));
            assert_eq!(l.level_for(app("A"), ctx("C")), Some(want), "{name}");
        }
    }

    #[test]
    fn garbage_items_are_ignored_and_the_rest_applies() {
        let cases = [
            ("", 0),
            (";;;", 0),
            ("::4;", 0),
            ("garbage", 1),
            ("::7", 1),
            ("::10", 1),
            (":: 4", 1),
            ("::-2", 1),
            ("::-", 1),
            ("::warn", 1),
            ("TOOLONG::4", 1),
            (":TOOLONG:4", 1),
            ("A:B:4:5", 1),
            ("A:B", 1),
            ("A\0:B:4", 1),
            ("::", 1),
            ("::4;x;y:z;::5", 2),
        ];
        for (spec, ignored) in cases {
            let l = InitialLevels::parse(spec);
            assert_eq!(l.ignored(), ignored, "{spec:?}");
        }
        let l = InitialLevels::parse("nonsense;NAV:ROUT:5;also:bad");
        assert_eq!(l.level_for(app("NAV"), ctx("ROUT")), Some(5));
        assert_eq!(l.ignored(), 2);
        assert_eq!(
            InitialLevels::parse("::9").level_for(app("A"), ctx("C")),
            None
        );
    }

    #[test]
    fn apply_overrides_the_builder_only_where_an_item_matches() {
        let l = InitialLevels::parse("NAV:ROUT:5;NAV:MAP:default");
        let info = LogLevel::Info;
        let not_set = RegisterLevel::NotSet;
        let error = RegisterLevel::Level(LogLevel::Error);
        assert_eq!(
            l.apply(app("NAV"), ctx("ROUT"), info, not_set),
            (LogLevel::Debug, RegisterLevel::Level(LogLevel::Debug))
        );
        assert_eq!(
            l.apply(
                app("NAV"),
                ctx("MAP"),
                LogLevel::Warn,
                RegisterLevel::Level(LogLevel::Warn)
            ),
            (LogLevel::Warn, RegisterLevel::Default),
            "default: the daemon decides; start where the builder says"
        );
        assert_eq!(l.apply(app("NAV"), ctx("HMI"), info, error), (info, error));
        assert_eq!(
            l.apply(app("HMI"), ctx("ROUT"), info, not_set),
            (info, not_set)
        );
    }

    proptest! {
        #[test]
        fn prop_any_input_parses_without_panic(spec in ".{0,64}") {
            let l = InitialLevels::parse(&spec);
            let level = l.level_for(app("NAV"), ctx("ROUT"));
            prop_assert!(level.is_none_or(|v| (-1..=6).contains(&v)));
            prop_assert!(l.items.len() + l.ignored() <= spec.split(';').count());
        }

        #[test]
        fn prop_valid_items_survive_garbage_neighbours(
            junk in "[^;]{0,12}",
            level in 0..=6i8,
        ) {
            let spec = format!("{junk};NAV:ROUT:{level};{junk}");
            let l = InitialLevels::parse(&spec);
            // The junk may itself be a valid, less or equally specific
            // item only if it names NAV/ROUT; otherwise ours decides.
            let want = if parse_item(&junk).is_some_and(|i| i.app == *app("NAV").as_bytes()
                && i.ctx == *ctx("ROUT").as_bytes())
            {
                parse_item(&junk).map(|i| i.level)
            } else {
                Some(level)
            };
            prop_assert_eq!(l.level_for(app("NAV"), ctx("ROUT")), want);
        }
    }
}
