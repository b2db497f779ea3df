//! Local print: every record that goes to the daemon also printed on
//! stderr, as libdlt's `DLT_LOCAL_PRINT_MODE` does (there on stdout).
//!
//! [`LocalPrinter`] is a `tracing` layer of its own, composed next to the
//! [`DltLayer`](crate::DltLayer) by [`Init`](crate::Init) or by
//! [`DltLayerBuilder::build_with_local_print`](crate::DltLayerBuilder::build_with_local_print);
//! it shares the layer's context table, so it prints exactly the events
//! whose DLT context level passes, under the same application and context
//! IDs, in the words `dlt-receive -a` uses:
//!
//! ```text
//! ECU1 NAV ROUT log warn V 2 [link flapping 3]
//! ```
//!
//! Each line is formatted into a fixed stack buffer (at most
//! [`FRAME_CAP`] bytes, cut where it is full) and written to stderr with
//! one `write`: no heap, but the calling thread does that write itself,
//! so a blocked stderr blocks it, as with libdlt. It is a debugging aid,
//! off by default.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use arrayvec::ArrayString;
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::Layer;

use crate::contexts::ContextTable;
use crate::frame::FRAME_CAP;
use crate::ids::{AppId, EcuId, LogLevel};
use crate::layer::FATAL_FIELD;
use crate::stats::Counters;

/// The environment variable libdlt reads for its local print mode.
pub(crate) const ENV_VAR: &str = "DLT_LOCAL_PRINT_MODE";

/// Whether records are also printed on stderr (libdlt's
/// `DLT_LOCAL_PRINT_MODE`).
///
/// # Examples
///
/// ```no_run
/// use taktora_log::{DltLayer, Init, LocalPrint};
///
/// // Every record to the daemon, and on stderr too.
/// let _logging = Init::new()
///     .with_dlt(DltLayer::builder("NAV").with_local_print(LocalPrint::On))
///     .init();
/// tracing::warn!(retries = 3u32, "link flapping");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalPrint {
    /// Nothing printed (libdlt `FORCE_OFF`, and its default when the
    /// variable is unset).
    #[default]
    Off,
    /// Every record that passes its context's level is printed (libdlt
    /// `FORCE_ON`).
    On,
    /// Records are printed only while the flusher is not connected to the
    /// daemon (libdlt `AUTOMATIC`, which prints when a write to the
    /// daemon fails). Such records also wait in the offline ring, so they
    /// may reach the daemon later as well.
    Automatic,
}

impl LocalPrint {
    /// The mode named by a `DLT_LOCAL_PRINT_MODE` value, with libdlt's
    /// exact, case-sensitive words: `FORCE_ON`, `FORCE_OFF`,
    /// `AUTOMATIC`. Any other value is `None` (libdlt ignores it too).
    ///
    /// # Examples
    ///
    /// ```
    /// use taktora_log::LocalPrint;
    ///
    /// assert_eq!(LocalPrint::parse("FORCE_ON"), Some(LocalPrint::On));
    /// assert_eq!(LocalPrint::parse("AUTOMATIC"), Some(LocalPrint::Automatic));
    /// assert_eq!(LocalPrint::parse("force_on"), None);
    /// ```
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "FORCE_ON" => Some(Self::On),
            "FORCE_OFF" => Some(Self::Off),
            "AUTOMATIC" => Some(Self::Automatic),
            _ => None,
        }
    }

    /// The mode `$DLT_LOCAL_PRINT_MODE` names; [`Off`](Self::Off) when it
    /// is unset, not UTF-8 or not one of libdlt's words.
    pub(crate) fn from_env() -> Self {
        std::env::var(ENV_VAR)
            .ok()
            .and_then(|v| Self::parse(&v))
            .unwrap_or_default()
    }
}

/// The layer that prints records on stderr (see [`LocalPrint`]); built by
/// [`DltLayerBuilder::build_with_local_print`](crate::DltLayerBuilder::build_with_local_print)
/// and composed automatically by [`Init`](crate::Init).
///
/// # Examples
///
/// ```no_run
/// use taktora_log::{DltLayer, LocalPrint};
/// use tracing_subscriber::prelude::*;
///
/// let (dlt, printer, _guard) = DltLayer::builder("NAV")
///     .with_local_print(LocalPrint::On)
///     .build_with_local_print()?;
/// let levels = dlt.levels();
/// tracing_subscriber::registry()
///     .with(levels)
///     .with(dlt)
///     .with(printer) // an Option: None when local print is off
///     .init();
/// # Ok::<(), taktora_log::InitError>(())
/// ```
pub struct LocalPrinter {
    mode: LocalPrint,
    contexts: Arc<ContextTable>,
    app: AppId,
    ecu: EcuId,
    counters: Arc<Counters>,
}

impl fmt::Debug for LocalPrinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalPrinter")
            .field("mode", &self.mode)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl LocalPrinter {
    /// A printer for `mode`, or `None` when it is [`LocalPrint::Off`].
    pub(crate) fn new(
        mode: LocalPrint,
        contexts: Arc<ContextTable>,
        app: AppId,
        ecu: EcuId,
        counters: Arc<Counters>,
    ) -> Option<Self> {
        (mode != LocalPrint::Off).then_some(Self {
            mode,
            contexts,
            app,
            ecu,
            counters,
        })
    }

    /// Whether the flusher is connected to the daemon now (it has
    /// connected more often than it lost the connection).
    fn connected(&self) -> bool {
        let lost = self.counters.disconnects.load(Relaxed);
        self.counters.connects.load(Relaxed) > lost
    }
}

impl LocalPrinter {
    /// The line to print for `event`, or `None` when it is not printed:
    /// its context's level filters it out, or the mode is
    /// [`LocalPrint::Automatic`] and the daemon is connected.
    fn line(&self, event: &Event<'_>) -> Option<Line> {
        if self.mode == LocalPrint::Automatic && self.connected() {
            return None;
        }
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut level = LogLevel::from_tracing(meta.level());
        if level == LogLevel::Error && meta.fields().field(FATAL_FIELD).is_some() {
            level = LogLevel::Fatal;
        }
        let ctx = self.contexts.lookup(meta.target());
        if !ctx.passes(level) {
            return None;
        }
        let mut line = Line::default();
        line.format(self.ecu, self.app, ctx.id, level, event);
        Some(line)
    }
}

impl<S: Subscriber> Layer<S> for LocalPrinter {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        if let Some(line) = self.line(event) {
            // One write of the whole line; a failing stderr is not ours
            // to report.
            let _ = std::io::stderr().lock().write_all(line.text.as_bytes());
        }
    }
}

/// Appends as much of `s` as fits into `buf`, cut at a character
/// boundary; never fails.
fn push_cut(buf: &mut ArrayString<FRAME_CAP>, s: &str) {
    let mut end = s.len().min(buf.remaining_capacity());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    buf.push_str(&s[..end]);
}

/// A `fmt::Write` into a stack buffer that keeps what fits and drops the
/// rest (so a long value is cut, not lost whole).
struct Cut<'a>(&'a mut ArrayString<FRAME_CAP>);

impl fmt::Write for Cut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_cut(self.0, s);
        Ok(())
    }
}

/// One printed line, in a fixed stack buffer; what does not fit is cut.
#[derive(Default)]
struct Line {
    text: ArrayString<FRAME_CAP>,
}

impl Line {
    /// `ECU APID CTID log LEVEL V NOAR [ARGS]` and a newline, as
    /// `dlt-receive -a` prints the same record (without its time columns).
    fn format(
        &mut self,
        ecu: EcuId,
        app: AppId,
        ctx: crate::ids::CtxId,
        level: LogLevel,
        event: &Event<'_>,
    ) {
        let mut args = Args::default();
        event.record(&mut args);
        let _ = write!(
            Cut(&mut self.text),
            "{ecu} {app} {ctx} log {} V {} [{}",
            level.as_str(),
            args.count,
            args.text
        );
        // The closing bracket and newline always fit: cut the text.
        while self.text.remaining_capacity() < 2 {
            self.text.pop();
        }
        self.text.push_str("]\n");
    }
}

/// The event's arguments as `dlt-receive` prints them: the message
/// first, then each field's value, separated by single spaces.
#[derive(Default)]
struct Args {
    text: ArrayString<FRAME_CAP>,
    count: usize,
    /// The message, kept apart so that it comes first whatever the
    /// field order.
    seen_message: bool,
}

impl Args {
    fn skip(field: &Field) -> bool {
        field.name() == FATAL_FIELD || field.name().starts_with("log.")
    }

    fn push(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if Self::skip(field) {
            return;
        }
        let message = field.name() == "message";
        if message && !self.seen_message {
            // Put the message in front of any field already written.
            let rest: ArrayString<FRAME_CAP> = self.text;
            self.text.clear();
            let _ = Cut(&mut self.text).write_fmt(value);
            if !rest.is_empty() {
                push_cut(&mut self.text, " ");
                push_cut(&mut self.text, &rest);
            }
            self.seen_message = true;
        } else {
            if !self.text.is_empty() {
                push_cut(&mut self.text, " ");
            }
            let _ = Cut(&mut self.text).write_fmt(value);
        }
        self.count += 1;
    }
}

impl Visit for Args {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::Context;
    use crate::ids::{CtxId, RegisterLevel};
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn libdlt_words_and_nothing_else() {
        assert_eq!(LocalPrint::parse("FORCE_ON"), Some(LocalPrint::On));
        assert_eq!(LocalPrint::parse("FORCE_OFF"), Some(LocalPrint::Off));
        assert_eq!(LocalPrint::parse("AUTOMATIC"), Some(LocalPrint::Automatic));
        for bad in ["", "force_on", "ON", "1", " FORCE_ON", "FORCE_ON "] {
            assert_eq!(LocalPrint::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn off_builds_no_printer() {
        let p = LocalPrinter::new(
            LocalPrint::Off,
            Arc::new(table()),
            AppId::new("APP").expect("valid"),
            EcuId::new("ECU1").expect("valid"),
            Arc::new(Counters::new()),
        );
        assert!(p.is_none());
    }

    fn table() -> ContextTable {
        let ctx = |prefix: &str, id: &str, level| {
            Context::new(
                prefix.into(),
                CtxId::new(id).expect("valid"),
                String::new(),
                level,
                RegisterLevel::NotSet,
            )
        };
        ContextTable::new(
            ctx("", "DFLT", LogLevel::Info),
            ctx("", "TLOG", LogLevel::Warn),
            vec![ctx("app::net", "NET", LogLevel::Debug)],
        )
    }

    fn printer(mode: LocalPrint, counters: Arc<Counters>) -> LocalPrinter {
        LocalPrinter::new(
            mode,
            Arc::new(table()),
            AppId::new("APP").expect("valid"),
            EcuId::new("ECU1").expect("valid"),
            counters,
        )
        .expect("a printer for a mode other than Off")
    }

    /// The lines `printer` prints for the events `f` emits.
    fn lines_of(printer: LocalPrinter, f: impl FnOnce()) -> Vec<String> {
        use std::sync::Mutex;
        struct Collect {
            printer: LocalPrinter,
            out: Arc<Mutex<Vec<String>>>,
        }
        impl<S: Subscriber> Layer<S> for Collect {
            fn on_event(&self, event: &Event<'_>, _: LayerContext<'_, S>) {
                if let Some(line) = self.printer.line(event) {
                    self.out.lock().expect("lock").push(line.text.to_string());
                }
            }
        }
        let out = Arc::new(Mutex::new(Vec::new()));
        let collect = Collect {
            printer,
            out: out.clone(),
        };
        tracing::subscriber::with_default(tracing_subscriber::registry().with(collect), f);
        let v = out.lock().expect("lock").clone();
        v
    }

    fn lines(f: impl FnOnce()) -> Vec<String> {
        lines_of(printer(LocalPrint::On, Arc::new(Counters::new())), f)
    }

    #[test]
    fn automatic_prints_only_while_the_daemon_is_not_connected() {
        let counters = Arc::new(Counters::new());
        let log = || tracing::warn!("w");
        let p = || printer(LocalPrint::Automatic, counters.clone());
        assert_eq!(lines_of(p(), log).len(), 1, "never connected");
        Counters::bump(&counters.connects);
        assert_eq!(lines_of(p(), log).len(), 0, "connected");
        Counters::bump(&counters.disconnects);
        assert_eq!(lines_of(p(), log).len(), 1, "connection lost");
        Counters::bump(&counters.connects);
        assert_eq!(lines_of(p(), log).len(), 0, "reconnected");
        assert_eq!(
            lines_of(printer(LocalPrint::On, counters.clone()), log).len(),
            1,
            "On prints while connected too"
        );
    }

    #[test]
    fn lines_read_like_dlt_receive_and_follow_the_context_levels() {
        let got = lines(|| {
            tracing::warn!(target: "app::net::tcp", retries = 3u32, peer = "10.0.0.2", "link flapping");
            tracing::debug!(target: "app::net", n = -1i64, "net debug passes DEBUG");
            tracing::debug!(target: "elsewhere", "DFLT is at INFO: not printed");
            tracing::info!(ok = true, ratio = 0.5, "done");
            crate::fatal!(code = 7u32, "fatal");
            tracing::error!("");
        });
        assert_eq!(
            got,
            [
                "ECU1 APP NET log warn V 3 [link flapping 3 10.0.0.2]\n",
                "ECU1 APP NET log debug V 2 [net debug passes DEBUG -1]\n",
                "ECU1 APP DFLT log info V 3 [done true 0.5]\n",
                "ECU1 APP DFLT log fatal V 2 [fatal 7]\n",
                "ECU1 APP DFLT log error V 1 []\n",
            ]
        );
    }

    #[test]
    fn a_line_too_long_is_cut_and_still_closed() {
        let long = "x".repeat(3 * FRAME_CAP);
        let got = lines(|| tracing::info!(big = long.as_str(), "m"));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), FRAME_CAP);
        assert!(
            got[0].ends_with("xxx]\n"),
            "{:?}",
            &got[0][FRAME_CAP - 10..]
        );
    }
}
