//! Issue 11, "Spans reach DLT": every event carries its span scope, root
//! first, as typed and named DLT verbose arguments (`span = "req"`,
//! `req.id = 7`), after the message and the event's own fields; a span
//! can choose the DLT context of the events inside it; close records are
//! opt in; levels raised at runtime find the spans created before.
//!
//! The `fake_daemon` tests read the exact bytes the layer writes into the
//! FIFO (no tools needed); the `real_daemon` tests read what a private
//! `dlt-daemon` forwards, as raw bytes stored by `dlt-receive -o`, and
//! decode them with the independent `dlt_parse` crate.

use std::time::Duration;

use dlt_parse::verbose::VerboseValue;
use dlt_parse::DltPacketSlice;
use layer_tests::{flush_all, init_log_tracer, with_layer};
use taktora_log::{DltLayer, DltLayerBuilder, SpanScope, Stats, TRUNCATION_MARKER};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Generous bound for anything to arrive on a loaded 2-core machine.
const ARRIVAL: Duration = Duration::from_secs(30);

/// A decoded argument value, typed.
#[derive(Clone, Debug, PartialEq)]
enum V {
    S(String),
    I(i64),
    U(u64),
    B(bool),
    F(f64),
}

/// A decoded argument: its name (`None` for the message) and value.
type Arg = (Option<String>, V);

/// The message argument.
fn msg(text: &str) -> Arg {
    (None, V::S(text.to_owned()))
}

/// A named argument.
fn named(name: &str, v: V) -> Arg {
    (Some(name.to_owned()), v)
}

/// A span's name argument.
fn span(name: &str) -> Arg {
    named(taktora_log::SPAN_NAME_ARG, V::S(name.to_owned()))
}

fn s(text: &str) -> V {
    V::S(text.to_owned())
}

/// One LOG message as `dlt_parse` decodes it.
#[derive(Debug)]
struct Log {
    app: String,
    ctx: String,
    noar: usize,
    args: Vec<Arg>,
}

fn id(b: &[u8; 4]) -> String {
    String::from_utf8_lossy(b).trim_end_matches('\0').to_owned()
}

/// Decodes a verbose LOG with `dlt_parse`, panicking on anything that is
/// not a well-formed message: every argument decodes, none is left over,
/// NOAR counts them.
fn decode(packet: &DltPacketSlice<'_>) -> Log {
    let ext = packet
        .header()
        .extended_header
        .clone()
        .expect("extended header");
    let mut iter = packet.verbose_value_iter().expect("verbose message");
    let mut args = Vec::new();
    for v in iter.by_ref() {
        let v = v.unwrap_or_else(|e| panic!("argument decodes: {e:?}"));
        let name = v.name().map(str::to_owned);
        let value = match v {
            VerboseValue::Str(x) => V::S(x.value.to_owned()),
            VerboseValue::I64(x) => V::I(x.value),
            VerboseValue::U64(x) => V::U(x.value),
            VerboseValue::Bool(x) => V::B(x.value),
            VerboseValue::F64(x) => V::F(x.value),
            other => panic!("unexpected argument {other:?}"),
        };
        args.push((name, value));
    }
    assert!(iter.raw().is_empty(), "no bytes after the last argument");
    let noar = usize::from(ext.number_of_arguments);
    assert_eq!(noar, args.len(), "NOAR counts every argument: {args:?}");
    Log {
        app: id(&ext.application_id),
        ctx: id(&ext.context_id),
        noar,
        args,
    }
}

/// `#[instrument]` with typed arguments and an extra field.
#[tracing::instrument(fields(extra = 3u64))]
fn handle(req_id: u64, path: &str) {
    tracing::error!(target: "spans::handler", "handled");
}

/// Makes every span's scope cache stale: records into a span that has a
/// child, so the next events walk their scope (the slow path) instead of
/// copying their span's pre-built scope.
fn make_caches_stale() {
    let p = tracing::info_span!(parent: None, "p", v = 0u64);
    let _c = tracing::info_span!(parent: &p, "c");
    p.record("v", 1u64);
}

/// Every workload, shared by the fake and the real daemon: what each
/// event must carry, in the order they are logged. With `stale`, every
/// event takes the slow path (see [`make_caches_stale`]).
fn workload(stale: bool) {
    let stale = || {
        if stale {
            make_caches_stale();
        }
    };
    // Two nested spans, typed fields, an event with its own field.
    let outer = tracing::info_span!("outer", a = 1u64, who = "me");
    let _o = outer.enter();
    let inner = tracing::info_span!("inner", b = -2i64, ok = true, r = 0.5f64);
    let _i = inner.enter();
    stale();
    tracing::error!(target: "spans", x = 5u64, "boom");
    drop(_i);
    drop(_o);
    drop(inner);
    drop(outer);
    // No span: no span arguments.
    stale();
    tracing::error!(target: "spans", "alone");
    // #[instrument].
    handle(7, "/v1");
    // A field recorded after the span was created, another replaced.
    let late = tracing::info_span!("late", first = 1u64, id = tracing::field::Empty);
    late.record("id", 42u64);
    late.record("first", 2u64);
    late.in_scope(|| {
        stale();
        tracing::error!(target: "spans", "recorded");
    });
    drop(late);
    // A `log` record inside a span.
    tracing::info_span!("bridge", n = 9u64).in_scope(|| {
        stale();
        log::error!(target: "spans", "from log {}", 1);
    });
    // A field recorded into a parent after its child was created, while
    // the child is entered, and after it is entered again.
    let parent = tracing::info_span!("parent", v = 1u64);
    let child = tracing::info_span!(parent: &parent, "child");
    let entered = child.enter();
    parent.record("v", 2u64);
    tracing::error!(target: "spans", "parent recorded");
    drop(entered);
    child.in_scope(|| tracing::error!(target: "spans", "entered again"));
    drop(child);
    drop(parent);
}

/// What [`workload`] must produce, one `Vec<Arg>` per record.
fn workload_expected() -> Vec<Vec<Arg>> {
    vec![
        vec![
            msg("boom"),
            named("x", V::U(5)),
            span("outer"),
            named("outer.a", V::U(1)),
            named("outer.who", s("me")),
            span("inner"),
            named("inner.b", V::I(-2)),
            named("inner.ok", V::B(true)),
            named("inner.r", V::F(0.5)),
        ],
        vec![msg("alone")],
        vec![
            msg("handled"),
            span("handle"),
            named("handle.req_id", V::U(7)),
            named("handle.path", s("/v1")),
            named("handle.extra", V::U(3)),
        ],
        vec![
            msg("recorded"),
            span("late"),
            named("late.first", V::U(2)),
            named("late.id", V::U(42)),
        ],
        vec![
            msg("from log 1"),
            span("bridge"),
            named("bridge.n", V::U(9)),
        ],
        vec![
            msg("parent recorded"),
            span("parent"),
            named("parent.v", V::U(2)),
            span("child"),
        ],
        vec![
            msg("entered again"),
            span("parent"),
            named("parent.v", V::U(2)),
            span("child"),
        ],
    ]
}

/// Tests against the in-process fake daemon: the exact FIFO bytes.
mod fake_daemon {
    use super::*;
    use layer_tests::fake_daemon::{FakeDaemon, LOG};

    /// Builds the layer `configure` returns for app `SPFK` against a fresh
    /// fake daemon, runs `f` under it, flushes, and returns every LOG
    /// decoded and the stats.
    fn run(
        configure: impl FnOnce(DltLayerBuilder) -> DltLayerBuilder,
        f: impl FnOnce(),
    ) -> (Vec<Log>, Stats) {
        let dir = tempfile::Builder::new()
            .prefix("taktora-spans-")
            .tempdir()
            .expect("temp dir");
        let mut daemon = FakeDaemon::start(dir.path(), None);
        let builder = DltLayer::builder("SPFK").with_pipe_dir(dir.path());
        let (layer, guard) = configure(builder).build().expect("build the layer");
        with_layer(layer, f);
        let ((), msgs) = daemon.serve(|| flush_all(&guard, "the span events", ARRIVAL));
        let logs = msgs
            .iter()
            .filter(|m| m.kind == LOG)
            .map(|m| decode(&m.packet()))
            .collect();
        (logs, guard.stats())
    }

    fn args(logs: &[Log]) -> Vec<Vec<Arg>> {
        logs.iter().map(|l| l.args.clone()).collect()
    }

    #[test]
    fn every_event_carries_its_scope_root_first_typed_and_named() {
        init_log_tracer();
        for stale in [false, true] {
            let (logs, stats) = run(|b| b, || workload(stale));
            assert_eq!(args(&logs), workload_expected(), "stale caches: {stale}");
            assert_eq!(stats.truncated, 0, "{stats:?}");
        }
    }

    #[test]
    fn two_dlt_layers_in_one_registry_both_carry_the_scope() {
        let dirs: Vec<tempfile::TempDir> = (0..2)
            .map(|_| {
                tempfile::Builder::new()
                    .prefix("taktora-spans-two-")
                    .tempdir()
                    .expect("temp dir")
            })
            .collect();
        let mut daemons: Vec<FakeDaemon> = dirs
            .iter()
            .map(|d| FakeDaemon::start(d.path(), None))
            .collect();
        let build = |app: &str, dir: &tempfile::TempDir| {
            DltLayer::builder(app)
                .with_pipe_dir(dir.path())
                .build()
                .expect("build a layer")
        };
        let (a, guard_a) = build("SPA1", &dirs[0]);
        let (b, guard_b) = build("SPA2", &dirs[1]);
        let (la, lb) = (a.levels(), b.levels());
        let subscriber = tracing_subscriber::registry()
            .with(a.with_filter(la))
            .with(b.with_filter(lb));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("req", id = 1u64).in_scope(|| tracing::error!("both"));
        });
        for (guard, daemon) in [&guard_a, &guard_b].into_iter().zip(daemons.iter_mut()) {
            let ((), msgs) = daemon.serve(|| flush_all(guard, "the event", ARRIVAL));
            let logs: Vec<Vec<Arg>> = msgs
                .iter()
                .filter(|m| m.kind == LOG)
                .map(|m| decode(&m.packet()).args)
                .collect();
            assert_eq!(
                logs,
                [vec![msg("both"), span("req"), named("req.id", V::U(1))]]
            );
        }
    }

    #[test]
    fn threads_logging_in_a_span_while_another_records_into_it_get_valid_frames() {
        const THREADS: u64 = 3;
        // 300 records of ~130 bytes: within the fake daemon's 64 KiB FIFO,
        // which it reads only after the flush.
        const EVENTS: u64 = 100;
        let (logs, stats) = run(
            |b| b.with_channel_capacity(4096),
            || {
                let parent = tracing::info_span!("parent", v = 0u64);
                let dispatch = tracing::dispatcher::get_default(Clone::clone);
                std::thread::scope(|s| {
                    for t in 0..THREADS {
                        let (parent, dispatch) = (&parent, dispatch.clone());
                        s.spawn(move || {
                            tracing::dispatcher::with_default(&dispatch, || {
                                let child = tracing::info_span!(parent: parent, "child", t);
                                let _e = child.enter();
                                for i in 0..EVENTS {
                                    tracing::error!(i, "e");
                                }
                            });
                        });
                    }
                    for v in 1..=200u64 {
                        parent.record("v", v);
                    }
                });
            },
        );
        assert_eq!(logs.len() as u64, THREADS * EVENTS, "{stats:?}");
        for l in &logs {
            assert_eq!(l.args.len(), 6, "{l:?}");
            assert_eq!(l.args[2], span("parent"), "{l:?}");
            assert!(
                matches!(&l.args[3], (Some(n), V::U(v)) if n == "parent.v" && *v <= 200),
                "{l:?}"
            );
            assert_eq!(l.args[4], span("child"), "{l:?}");
            assert!(
                matches!(&l.args[5], (Some(n), V::U(t)) if n == "child.t" && *t < THREADS),
                "{l:?}"
            );
        }
        // Per thread, in logging order, the parent's value never goes
        // back: no event shows a cache older than what one before it saw.
        for t in 0..THREADS {
            let seen: Vec<u64> = logs
                .iter()
                .filter(|l| l.args[5].1 == V::U(t))
                .map(|l| match l.args[3].1 {
                    V::U(v) => v,
                    _ => unreachable!("checked above"),
                })
                .collect();
            assert!(
                seen.windows(2).all(|w| w[0] <= w[1]),
                "thread {t}: {seen:?}"
            );
        }
        assert_eq!(stats.truncated, 0);
    }

    #[test]
    fn names_only_and_off() {
        let nested = || {
            let outer = tracing::info_span!("outer", a = 1u64);
            let inner = tracing::info_span!(parent: &outer, "inner", b = 2u64);
            inner.in_scope(|| tracing::error!("e"));
        };
        let (logs, _) = run(|b| b.with_span_scope(SpanScope::Names), nested);
        assert_eq!(
            args(&logs),
            [vec![msg("e"), span("outer"), span("inner")]],
            "names only"
        );
        let (logs, _) = run(|b| b.with_span_scope(SpanScope::Off), nested);
        assert_eq!(args(&logs), [vec![msg("e")]], "off");
    }

    /// Opens `depth` nested spans, each with a `u64` field `i`, and logs
    /// `event` inside the innermost.
    fn nested(depth: u64, event: impl FnOnce()) {
        fn go(i: u64, depth: u64, event: Box<dyn FnOnce() + '_>) {
            if i == depth {
                return event();
            }
            tracing::info_span!("s", i).in_scope(|| go(i + 1, depth, event));
        }
        go(0, depth, Box::new(event));
    }

    #[test]
    fn max_depth_keeps_the_innermost_spans_without_truncation() {
        let (logs, stats) = run(
            |b| b.with_span_scope(SpanScope::Names).with_span_max_depth(3),
            || nested(100, || tracing::error!("deep")),
        );
        assert_eq!(
            args(&logs),
            [vec![msg("deep"), span("s"), span("s"), span("s")]]
        );
        assert_eq!(stats.truncated, 0, "a configured depth is no truncation");
        // The default depth.
        let (logs, _) = run(|b| b, || nested(100, || tracing::error!("deep")));
        let want: Vec<Arg> = (100 - taktora_log::DEFAULT_SPAN_MAX_DEPTH as u64..100)
            .flat_map(|i| [span("s"), named("s.i", V::U(i))])
            .collect();
        assert_eq!(logs[0].args[1..], want[..], "innermost 8, root first");
    }

    #[test]
    fn a_scope_that_does_not_fit_drops_outermost_spans_and_stays_valid() {
        // 100 spans, the deepest 32 carried: 32 × (name + field) does not
        // fit next to a 900-byte message.
        let text = "m".repeat(900);
        for stale in [false, true] {
            let (logs, stats) = run(
                |b| b.with_span_max_depth(taktora_log::MAX_SPAN_DEPTH),
                || {
                    nested(100, || {
                        if stale {
                            make_caches_stale();
                        }
                        tracing::error!("{text}");
                    })
                },
            );
            check_innermost_kept(&logs[0], &text);
            assert_eq!(stats.truncated, 1, "counted as truncated: {stats:?}");
        }
    }

    /// The frame of the deep-nesting test: the message whole, then the
    /// innermost spans that fit, whole, root first, then the marker.
    fn check_innermost_kept(log: &Log, text: &str) {
        assert_eq!(log.args[0], msg(text), "the message comes whole");
        assert_eq!(
            log.args.last(),
            Some(&(None, s(TRUNCATION_MARKER))),
            "ends with the marker"
        );
        let carried: Vec<&Arg> = log.args[1..log.args.len() - 1].iter().collect();
        assert!(!carried.is_empty() && carried.len() < 64, "{carried:?}");
        // What is left is the innermost spans, whole, root first, ending
        // with the innermost (i = 99).
        let n = carried.len() / 2;
        let want: Vec<Arg> = (100 - n as u64..100)
            .flat_map(|i| [span("s"), named("s.i", V::U(i))])
            .collect();
        assert_eq!(carried.len(), 2 * n, "whole spans only");
        assert_eq!(carried.into_iter().cloned().collect::<Vec<_>>(), want);
    }

    #[test]
    fn a_huge_span_field_is_cut_and_the_rest_still_travels() {
        let huge = "h".repeat(100_000);
        let (logs, stats) = run(
            |b| b,
            || {
                let outer = tracing::info_span!("outer", big = huge.as_str());
                let inner = tracing::info_span!(parent: &outer, "inner", n = 1u64);
                inner.in_scope(|| tracing::error!(code = 3u64, "huge"));
            },
        );
        let a = &logs[0].args;
        assert_eq!(a[..3], [msg("huge"), named("code", V::U(3)), span("outer")]);
        let (name, value) = &a[3];
        assert_eq!(name.as_deref(), Some("outer.big"));
        let V::S(text) = value else {
            panic!("a string: {value:?}")
        };
        assert!(text.ends_with(TRUNCATION_MARKER), "cut and marked");
        assert!(
            text.len() < taktora_log::SPAN_FIELD_MAX_BYTES,
            "{}",
            text.len()
        );
        assert_eq!(a[4..], [span("inner"), named("inner.n", V::U(1))]);
        assert_eq!(stats.truncated, 1, "{stats:?}");
    }

    #[test]
    fn a_span_chooses_the_context_and_an_unknown_one_falls_back() {
        let (logs, stats) = run(
            |b| {
                b.with_context("spans::route", "ROUT", "routing")
                    .with_context("hyper", "HTTP", "http")
            },
            || {
                let req = tracing::info_span!("req", dlt.ctx = "ROUT");
                req.in_scope(|| {
                    tracing::error!(target: "app", "in ROUT");
                    tracing::error!(target: "hyper::client", "target wins");
                    tracing::info_span!("child").in_scope(|| {
                        tracing::error!(target: "app", "inherited");
                    });
                    tracing::info_span!("other", dlt.ctx = "HTTP").in_scope(|| {
                        tracing::error!(target: "app", "overridden");
                    });
                });
                tracing::info_span!(target: "spans::route", "by_target").in_scope(|| {
                    tracing::error!(target: "app", "span target");
                });
                tracing::info_span!("bad", dlt.ctx = "NOPE").in_scope(|| {
                    tracing::error!(target: "app", "unknown");
                });
                tracing::info_span!("reserved", dlt.ctx = "TLOG").in_scope(|| {
                    tracing::error!(target: "app", "reserved");
                });
            },
        );
        let got: Vec<(String, String)> = logs
            .iter()
            .map(|l| {
                let V::S(m) = &l.args[0].1 else {
                    panic!("message: {l:?}")
                };
                (m.clone(), l.ctx.clone())
            })
            .collect();
        let want = [
            ("in ROUT", "ROUT"),
            ("target wins", "HTTP"),
            ("inherited", "ROUT"),
            ("overridden", "HTTP"),
            ("span target", "ROUT"),
            ("unknown", "DFLT"),
            ("reserved", "DFLT"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(m, c)| ((*m).to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(stats.span_contexts_unknown, 2, "{stats:?}");
        assert!(
            logs.iter().all(|l| l
                .args
                .iter()
                .all(|(n, _)| n.as_deref().is_none_or(|n| !n.contains("dlt.ctx")))),
            "dlt.ctx is not sent"
        );
    }

    #[test]
    fn close_records_only_when_enabled() {
        let work = || {
            let span = tracing::info_span!("job", id = 4u64);
            span.in_scope(|| std::hint::black_box((0..1000u64).sum::<u64>()));
            drop(span);
            tracing::error!("after");
        };
        let (logs, _) = run(|b| b, work);
        assert_eq!(args(&logs), [vec![msg("after")]], "off by default");
        let (logs, _) = run(|b| b.with_span_close_records(true), work);
        assert_eq!(logs.len(), 2, "{logs:?}");
        let close = &logs[0].args;
        assert_eq!(
            close[..3],
            [msg("job closed"), span("job"), named("job.id", V::U(4))]
        );
        let names: Vec<Option<&str>> = close[3..].iter().map(|(n, _)| n.as_deref()).collect();
        assert_eq!(
            names,
            [
                Some(taktora_log::CLOSE_BUSY_FIELD),
                Some(taktora_log::CLOSE_IDLE_FIELD)
            ]
        );
        assert!(
            close[3..].iter().all(|(_, v)| matches!(v, V::U(_))),
            "{close:?}"
        );
        assert_eq!(logs[1].args, [msg("after")]);
    }
}

/// Tests against a private real `dlt-daemon`, read back as raw bytes.
mod real_daemon {
    use super::*;
    use layer_tests::{require_dlt_tools, Capture, PrivateDaemon};

    /// Storage header of a DLT file: `DLT\x01`, seconds, microseconds, ECU.
    const STORAGE_HEADER_LEN: usize = 16;

    /// Every LOG message from `app` in the DLT file `dlt-receive -o`
    /// wrote, decoded.
    fn stored_logs(capture: &Capture, app: &str) -> Vec<Log> {
        let bytes = std::fs::read(capture.file()).expect("read the capture");
        let mut at = 0;
        let mut out = Vec::new();
        while at + STORAGE_HEADER_LEN + 4 <= bytes.len() {
            assert_eq!(&bytes[at..at + 4], b"DLT\x01", "storage header at {at}");
            let msg = at + STORAGE_HEADER_LEN;
            let len = usize::from(u16::from_be_bytes([bytes[msg + 2], bytes[msg + 3]]));
            if msg + len > bytes.len() {
                break;
            }
            let packet = DltPacketSlice::from_slice(&bytes[msg..msg + len])
                .unwrap_or_else(|e| panic!("dlt_parse rejects the message at {msg}: {e:?}"));
            let is_log = matches!(
                packet.message_type(),
                Some(dlt_parse::DltMessageType::Log(_))
            );
            if is_log && packet.is_verbose() {
                let log = decode(&packet);
                if log.app == app {
                    out.push(log);
                }
            }
            at = msg + len;
        }
        out
    }

    /// A private daemon, a capture of what it forwards, and a layer for
    /// `app` on it, built from `configure(DltLayer::builder(app))`.
    fn on_real_daemon(
        app: &str,
        configure: impl FnOnce(taktora_log::DltLayerBuilder) -> taktora_log::DltLayerBuilder,
    ) -> (PrivateDaemon, Capture, DltLayer, taktora_log::FlushGuard) {
        let daemon = PrivateDaemon::start().expect("start dlt-daemon");
        let capture = Capture::start(daemon.port()).expect("start dlt-receive -o");
        let (layer, guard) = configure(DltLayer::builder(app))
            .with_pipe_dir(daemon.dir())
            .build()
            .expect("build the layer");
        (daemon, capture, layer, guard)
    }

    /// Waits until `n` LOG messages from `app` are stored; returns them.
    fn wait_logs(capture: &Capture, daemon: &PrivateDaemon, app: &str, n: usize) -> Vec<Log> {
        let mut logs = Vec::new();
        let found = layer_tests::try_wait_until(
            ARRIVAL,
            &format!("{n} log messages from {app}"),
            || {
                logs = stored_logs(capture, app);
                logs.len()
            },
            |&got| got >= n,
        );
        if let Err(e) = found {
            panic!("{e}\n{}", daemon.log_text());
        }
        logs
    }

    #[test]
    #[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
    fn spans_reach_a_real_daemon_typed_named_with_contexts_and_close_records() {
        if !require_dlt_tools() {
            return;
        }
        init_log_tracer();
        let (daemon, capture, layer, guard) = on_real_daemon("SPRD", |b| {
            b.with_context("spans::route", "ROUT", "routing")
                .with_span_close_records(true)
        });
        with_layer(layer, || {
            workload(false);
            tracing::info_span!("req", dlt.ctx = "ROUT", id = 1u64).in_scope(|| {
                tracing::error!(target: "app", "routed");
            });
            tracing::info_span!("bad", dlt.ctx = "NOPE").in_scope(|| {
                tracing::error!(target: "app", "fallback");
            });
        });
        flush_all(&guard, "the span events", ARRIVAL);
        let stats = guard.stats();
        assert_eq!(stats.span_contexts_unknown, 1, "{stats:?}");

        // Close records are on: each closed span adds one record, in
        // close order, so compare the non-close records first.
        let logs = wait_logs(&capture, &daemon, "SPRD", 18);
        let is_close = |l: &Log| matches!(&l.args[0].1, V::S(m) if m.ends_with(" closed"));
        let events: Vec<&Log> = logs.iter().filter(|l| !is_close(l)).collect();
        let mut want = workload_expected();
        want.push(vec![msg("routed"), span("req"), named("req.id", V::U(1))]);
        want.push(vec![msg("fallback"), span("bad")]);
        let got: Vec<Vec<Arg>> = events.iter().map(|l| l.args.clone()).collect();
        assert_eq!(got, want, "events, as the daemon forwarded them");
        let ctxs: Vec<&str> = events.iter().map(|l| l.ctx.as_str()).collect();
        assert_eq!(
            ctxs,
            ["DFLT", "DFLT", "DFLT", "DFLT", "DFLT", "DFLT", "DFLT", "ROUT", "DFLT"],
            "span context selection and its fallback"
        );
        assert!(events.iter().all(|l| l.noar == l.args.len()));

        let closes: Vec<&Log> = logs.iter().filter(|l| is_close(l)).collect();
        let closed: Vec<&V> = closes.iter().map(|l| &l.args[0].1).collect();
        assert_eq!(
            closed,
            [
                &s("inner closed"),
                &s("outer closed"),
                &s("handle closed"),
                &s("late closed"),
                &s("bridge closed"),
                &s("child closed"),
                &s("parent closed"),
                &s("req closed"),
                &s("bad closed"),
            ],
            "one close record per span, in close order"
        );
        for c in &closes {
            let n = c.args.len();
            assert!(
                matches!(&c.args[n - 2], (Some(b), V::U(_)) if b == taktora_log::CLOSE_BUSY_FIELD)
                    && matches!(&c.args[n - 1], (Some(i), V::U(_)) if i == taktora_log::CLOSE_IDLE_FIELD),
                "busy and idle time: {c:?}"
            );
        }
        assert_eq!(
            closes[7].ctx, "ROUT",
            "a close record goes to the span's context"
        );
    }

    #[test]
    #[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
    fn no_close_records_by_default_on_a_real_daemon() {
        if !require_dlt_tools() {
            return;
        }
        let (daemon, capture, layer, guard) = on_real_daemon("SPNC", |b| b);
        with_layer(layer, || {
            tracing::info_span!("job", id = 4u64).in_scope(|| tracing::error!("inside"));
            tracing::error!("marker");
        });
        flush_all(&guard, "two events", ARRIVAL);
        // The marker comes last on the one FIFO: once it is stored, a
        // close record sent before it would be too.
        let logs = wait_logs(&capture, &daemon, "SPNC", 2);
        let got: Vec<Vec<Arg>> = logs.iter().map(|l| l.args.clone()).collect();
        assert_eq!(
            got,
            [
                vec![msg("inside"), span("job"), named("job.id", V::U(4))],
                vec![msg("marker")]
            ]
        );
    }

    /// Runs `dlt-control -p <port> -a <app> -c <ctx> -l <level> ::1`.
    fn set_level(daemon: &PrivateDaemon, app: &str, ctx: &str, level: u8) {
        let out = std::process::Command::new("dlt-control")
            .arg("-p")
            .arg(daemon.port().to_string())
            .args(["-a", app, "-c", ctx, "-l", &level.to_string()])
            .arg("::1")
            .output()
            .expect("run dlt-control");
        assert!(
            out.status.success(),
            "dlt-control failed with {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            daemon.log_text()
        );
    }

    /// Waits until `layer`'s stats satisfy `cond`.
    fn wait_stats(
        what: &str,
        layer: &DltLayer,
        daemon: &PrivateDaemon,
        cond: impl FnMut(&Stats) -> bool,
    ) {
        layer_tests::try_wait_until(ARRIVAL, what, || layer.stats(), cond)
            .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
    }

    #[test]
    #[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
    fn a_level_raised_by_dlt_control_finds_the_spans_created_before() {
        if !require_dlt_tools() {
            return;
        }
        let (daemon, capture, layer, guard) = on_real_daemon("SPLV", |b| b);
        let handle = layer.clone();
        with_layer(layer, || {
            // Registration: the daemon answers DFLT and TLOG with INFO.
            wait_stats("the daemon's default levels", &handle, &daemon, |s| {
                s.levels_applied >= 2
            });
            // An INFO span and a DEBUG span (above the context's level),
            // both created while DFLT is at INFO.
            let conn = tracing::info_span!("conn", peer = 3u64);
            let _c = conn.enter();
            let poll = tracing::debug_span!("poll", n = 1u64);
            let _p = poll.enter();
            tracing::debug!("before");
            let before = handle.stats().levels_applied;
            set_level(&daemon, "SPLV", "DFLT", 5);
            wait_stats("DFLT at DEBUG", &handle, &daemon, |s| {
                s.levels_applied > before
            });
            tracing::debug!("after");
        });
        flush_all(&guard, "the DEBUG event", ARRIVAL);
        let logs = wait_logs(&capture, &daemon, "SPLV", 1);
        let got: Vec<Vec<Arg>> = logs.iter().map(|l| l.args.clone()).collect();
        assert_eq!(
            got,
            [vec![
                msg("after"),
                span("conn"),
                named("conn.peer", V::U(3)),
                span("poll"),
                named("poll.n", V::U(1)),
            ]],
            "only the event after the change, with both spans"
        );
    }

    #[test]
    #[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
    fn the_level_of_the_context_a_span_chose_applies_to_its_events() {
        if !require_dlt_tools() {
            return;
        }
        let (daemon, capture, layer, guard) = on_real_daemon("SPCL", |b| {
            b.with_context("spans::route", "ROUT", "routing")
        });
        let handle = layer.clone();
        with_layer(layer, || {
            wait_stats("the daemon's default levels", &handle, &daemon, |s| {
                s.levels_applied >= 3
            });
            let before = handle.stats().levels_applied;
            set_level(&daemon, "SPCL", "ROUT", 3);
            wait_stats("ROUT at WARN", &handle, &daemon, |s| {
                s.levels_applied > before
            });
            tracing::info_span!("req", dlt.ctx = "ROUT").in_scope(|| {
                tracing::info!(target: "app", "hidden");
                tracing::warn!(target: "app", "shown");
            });
            tracing::info!(target: "app", "outside");
        });
        flush_all(&guard, "the events", ARRIVAL);
        let logs = wait_logs(&capture, &daemon, "SPCL", 2);
        let got: Vec<(String, Vec<Arg>)> = logs
            .iter()
            .map(|l| (l.ctx.clone(), l.args.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("ROUT".to_owned(), vec![msg("shown"), span("req")]),
                ("DFLT".to_owned(), vec![msg("outside")]),
            ],
            "ROUT at WARN filters the INFO event inside its span only"
        );
    }
}
