//! The console fallback backend (REQ_0816): readable one-line records on
//! stderr, filtered by `RUST_LOG` exactly as `tracing-subscriber`'s
//! `EnvFilter` reads it. Used when no DLT layer was configured, so that a
//! developer running the program without a daemon still sees its logs.
//! Independent of frames, channels and the daemon.
//!
//! The line format is our own rather than `fmt`'s default: without
//! `tracing-subscriber`'s `tracing-log` feature (which this crate does not
//! enable, because it would make `SubscriberInitExt::init` install the
//! `log` bridge behind the caller's back) `fmt` prints a bridged `log`
//! record with the target `log` and its `log.target`, `log.file`, ...
//! bookkeeping fields. This format shows the record's real target and
//! drops those fields, whatever features the final build unifies.

use std::fmt;

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, LevelFilter, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{
    self as tfmt, FmtContext, FormatEvent, FormatFields, FormattedFields,
};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The level the console shows when `RUST_LOG` is unset.
///
/// Example: without a DLT layer, `Init::new().init()` installs this
/// console: see [`Init::try_init`](crate::Init::try_init)'s example.
pub const CONSOLE_DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;

/// The console layer: `time LEVEL spans: target: message field=value ...`
/// on stderr, filtered by `RUST_LOG` (default [`CONSOLE_DEFAULT_LEVEL`]).
/// Directives in `RUST_LOG` that do not parse are skipped, never fatal.
pub(crate) fn layer<S>() -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let filter = EnvFilter::builder()
        .with_default_directive(CONSOLE_DEFAULT_LEVEL.into())
        .from_env_lossy();
    tfmt::layer()
        .with_writer(std::io::stderr)
        // Span fields are formatted by `fmt`'s own field formatter; keep
        // it plain too, even if the final build enables the `ansi` feature.
        .with_ansi(false)
        .event_format(ConsoleFormat)
        .with_filter(filter)
}

/// One line per event:
/// `2026-11-23T10:49:26.123456Z  INFO span{a=1}: target: message k=v`.
///
/// No ANSI colours, so the output reads the same in a terminal, a pipe
/// and a log file.
#[derive(Debug, Clone, Copy)]
struct ConsoleFormat;

impl<S, N> FormatEvent<S, N> for ConsoleFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        if SystemTime.format_time(&mut w).is_err() {
            w.write_str("<unknown time>")?;
        }
        write!(w, " {:>5} ", meta.level())?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                w.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(w, "{{{fields}}}")?;
                    }
                }
                w.write_char(':')?;
            }
            w.write_char(' ')?;
        }
        write!(w, "{}: ", meta.target())?;
        let mut fields = LineFields {
            w: &mut w,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writeln!(w)
    }
}

/// Writes the message first, then ` name=value` for every other field;
/// the bridge's `log.*` bookkeeping fields are skipped (their content is
/// in the normalized metadata).
struct LineFields<'a, 'w> {
    w: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl LineFields<'_, '_> {
    fn sep(&mut self) -> fmt::Result {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.w.write_char(' ')
        }
    }
}

impl Visit for LineFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        self.result = self.sep().and_then(|()| {
            if name == "message" {
                write!(self.w, "{value:?}")
            } else {
                write!(
                    self.w,
                    "{}={value:?}",
                    name.strip_prefix("r#").unwrap_or(name)
                )
            }
        });
    }
}
