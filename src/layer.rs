//! [`DltLayer`]: turns each `tracing` event into one DLT verbose LOG frame,
//! encoded on the stack, with the span scope `span.rs` keeps pre-encoded,
//! and pushes it into the bounded channel. Nothing here waits, locks
//! (beyond flume's internal lock and the registry's per-span extension
//! locks, held only to copy bytes), does I/O or, for ERROR and FATAL,
//! allocates. Creating, recording into and entering spans may allocate.
//!
//! [`DltLevels`] is the matching per-layer filter: it applies the DLT
//! context levels (which the daemon may change at runtime) as `tracing`
//! interest, so a callsite that DLT switched off costs what any disabled
//! `tracing` callsite costs, without disabling it for other layers.

use std::fmt;
use std::sync::Arc;

use tracing_core::field::Field;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, LevelFilter, Metadata, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::channel::{self, Producer};
use crate::contexts::{ContextTable, DEFAULT_INDEX};
use crate::fields::{Sink, Value, Values};
use crate::frame::{Frame, LogHeader, LogWriter};
use crate::ids::{AppId, EcuId, LogLevel};
use crate::span::{self, SpanConfig, SpanData, SpanEpoch, SpanScope, Timings};
use crate::stats::Counters;
use crate::sys;

/// The field [`fatal!`](crate::fatal) adds to an ERROR event to make it a
/// DLT FATAL message. It is not sent as an argument.
///
/// A plain identifier on purpose: `tracing`'s macros reject a dotted field
/// name (`taktora_log.fatal`) after `target:`, `parent:` or `name:` with
/// "local ambiguity when calling macro", which broke every such form of
/// `fatal!`.
///
/// # Examples
///
/// ```
/// // What `taktora_log::fatal!(code = 7, "reset")` expands to.
/// tracing::error!(taktora_log_fatal = true, code = 7, "reset");
/// assert_eq!(taktora_log::FATAL_FIELD, "taktora_log_fatal");
/// ```
pub const FATAL_FIELD: &str = "taktora_log_fatal";

/// The name of the field `tracing` gives an event's message.
const MESSAGE_FIELD: &str = "message";

/// Prefix of the fields `tracing-log` adds to bridged `log` records
/// (`log.target`, `log.module_path`, `log.file`, `log.line`): they are
/// metadata, not arguments.
const LOG_FIELD_PREFIX: &str = "log.";

/// A `tracing_subscriber::Layer` that sends events to the DLT daemon.
///
/// Create it with [`DltLayer::builder`]; it comes with the
/// [`FlushGuard`](crate::FlushGuard) that owns the background flusher.
/// Cloning is cheap (an `Arc`), and clones feed the same flusher.
///
/// Every event carries its span scope after its own fields (see
/// [`with_span_scope`](crate::DltLayerBuilder::with_span_scope)), and a
/// span can choose the DLT context of the events inside it
/// ([`SPAN_CONTEXT_FIELD`](crate::SPAN_CONTEXT_FIELD)).
///
/// The layer applies the DLT context levels to every event itself. Add
/// [`DltLayer::levels`] to make the callsites DLT disables free. When DLT
/// is the registry's only output, add it as a global filter, as
/// [`init`](crate::Init) does: enabled callsites are then cached as
/// `always` and skip `tracing`'s `enabled` check entirely:
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
///
/// # fn main() -> Result<(), taktora_log::InitError> {
/// let (layer, _guard) = taktora_log::DltLayer::builder("NAV").build()?;
/// let levels = layer.levels();
/// tracing_subscriber::registry().with(levels).with(layer).init();
/// tracing::info!(speed = 42u64, "route computed");
/// # Ok(())
/// # }
/// ```
///
/// Beside other layers, make it the DLT layer's per-layer filter instead,
/// so that the others still see what DLT drops (each enabled event then
/// pays one `enabled` check, see [`DltLevels`]):
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
///
/// # fn main() -> Result<(), taktora_log::InitError> {
/// let (layer, _guard) = taktora_log::DltLayer::builder("NAV").build()?;
/// let levels = layer.levels();
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer())
///     .with(layer.with_filter(levels))
///     .init();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DltLayer {
    inner: Arc<Inner>,
}

struct Inner {
    producer: Producer,
    contexts: Arc<ContextTable>,
    counters: Arc<Counters>,
    app: AppId,
    ecu: EcuId,
    max_frame: usize,
    pid: u32,
    spans: SpanConfig,
    span_epoch: SpanEpoch,
}

impl Inner {
    /// The header of the next record on context `ctx` at `level`: takes
    /// the context's next message counter and reads the clock.
    #[inline]
    fn header(&self, ctx: &crate::contexts::Context, level: LogLevel) -> LogHeader {
        LogHeader {
            ecu: self.ecu,
            app: self.app,
            ctx: ctx.id,
            level,
            counter: ctx.next_counter(),
            session_id: self.pid,
            timestamp: sys::monotonic_timestamp(),
        }
    }

    /// Counts `frame` (and its truncation) and hands it to the channel.
    #[inline]
    fn emit(&self, frame: &Frame, truncated: bool) {
        if truncated {
            Counters::bump(&self.counters.truncated);
        }
        Counters::bump(&self.counters.emitted);
        self.producer.push(frame);
    }
}

impl fmt::Debug for DltLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DltLayer")
            .field("app", &self.inner.app)
            .field("ecu", &self.inner.ecu)
            .field("max_frame", &self.inner.max_frame)
            .finish_non_exhaustive()
    }
}

impl DltLayer {
    pub(crate) fn new(
        producer: Producer,
        contexts: Arc<ContextTable>,
        counters: Arc<Counters>,
        app: AppId,
        ecu: EcuId,
        max_frame: usize,
        spans: SpanConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                producer,
                contexts,
                counters,
                app,
                ecu,
                max_frame,
                pid: std::process::id(),
                spans,
                span_epoch: SpanEpoch::default(),
            }),
        }
    }

    /// The filter that applies the DLT context levels as `tracing`
    /// interest: a global filter (a `Layer`) when DLT is the registry's
    /// only output, or the layer's per-layer filter (a `Filter`) beside
    /// other layers (see the type's docs).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tracing_subscriber::prelude::*;
    ///
    /// let (layer, _guard) = taktora_log::DltLayer::builder("NAV").build()?;
    /// let levels = layer.levels();
    /// tracing_subscriber::registry().with(levels).with(layer).init();
    /// # Ok::<(), taktora_log::InitError>(())
    /// ```
    pub fn levels(&self) -> DltLevels {
        DltLevels {
            contexts: self.inner.contexts.clone(),
        }
    }

    /// A snapshot of the pipeline's counters.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let (layer, _guard) = taktora_log::DltLayer::builder("NAV").build()?;
    /// let s = layer.stats();
    /// println!("emitted {} written {} queued {}", s.emitted, s.written, s.queued);
    /// # Ok::<(), taktora_log::InitError>(())
    /// ```
    pub fn stats(&self) -> crate::Stats {
        self.inner.producer.stats()
    }
}

// === impl Layer ===

impl<S> Layer<S> for DltLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, cx: Context<'_, S>) {
        let Some(_in_logger) = channel::enter_logger() else {
            Counters::bump(&self.inner.counters.reentrant);
            return;
        };
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let level = dlt_level(meta);
        let inner = &*self.inner;
        let leaf = cx.event_span(event);
        let ctx = inner.contexts.at(event_context(&inner.contexts, meta, || {
            span::span_context(leaf.as_ref())
        }));
        if !ctx.passes(level) {
            return;
        }
        let header = inner.header(ctx, level);
        let mut frame = Frame::new();
        let mut leaf = leaf;
        let mut scope = |w: &mut LogWriter<'_>| {
            span::write_scope(w, leaf.take(), &inner.spans, &inner.span_epoch)
        };
        let truncated = encode(&mut frame, inner.max_frame, &header, event, &mut scope);
        inner.emit(&frame, truncated);
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        // Without `DltLevels` as its filter the layer still resolves each
        // callsite's context once (see `ContextTable::remember`). Always:
        // what the default `register_callsite` returns for a layer whose
        // `enabled` is always true; the levels apply in `on_event`.
        self.inner.contexts.remember(meta);
        Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, cx: Context<'_, S>) {
        let Some(span) = cx.span(id) else {
            return;
        };
        let inner = &*self.inner;
        // The parent learns it has a child before the epoch is read, so
        // that a record into it from now on makes this span's cache stale.
        let parent = span.parent().and_then(|p| {
            let mut ext = p.extensions_mut();
            let data = ext.get_mut::<SpanData>()?;
            data.set_has_children();
            data.context()
        });
        let epoch = inner.span_epoch.now();
        let meta = span.metadata();
        let (mut data, unknown) = SpanData::new(
            meta.name(),
            meta.target(),
            |v| attrs.record(v),
            inner.spans.scope,
            &inner.contexts,
            parent,
        );
        if unknown {
            Counters::bump(&inner.counters.span_contexts_unknown);
        }
        if inner.spans.scope != SpanScope::Off {
            data.rebuild_scope(span.parent(), &inner.spans, epoch);
        }
        // `replace`, not `insert`, which panics when the type is already
        // there: a second `DltLayer` in the same registry got there first.
        let mut ext = span.extensions_mut();
        drop(ext.replace(data));
        if inner.spans.close_records {
            let _ = ext.replace(Timings::new());
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, cx: Context<'_, S>) {
        let Some(span) = cx.span(id) else {
            return;
        };
        // Encoded before the lock is taken: a value's `Debug` may log.
        let chunks = SpanData::encode_record(span.name(), self.inner.spans.scope, |v| {
            values.record(v);
        });
        if chunks.is_empty() {
            return;
        }
        let inner = &*self.inner;
        let mut ext = span.extensions_mut();
        if let Some(data) = ext.get_mut::<SpanData>() {
            data.merge(chunks);
            if data.has_children() {
                inner.span_epoch.advance();
            }
            if inner.spans.scope != SpanScope::Off {
                let epoch = inner.span_epoch.now();
                data.rebuild_scope(span.parent(), &inner.spans, epoch);
            }
        }
    }

    fn on_enter(&self, id: &Id, cx: Context<'_, S>) {
        self.refresh_scope(id, &cx);
        if self.inner.spans.close_records {
            if let Some(span) = cx.span(id) {
                if let Some(t) = span.extensions_mut().get_mut::<Timings>() {
                    t.enter();
                }
            }
        }
    }

    fn on_exit(&self, id: &Id, cx: Context<'_, S>) {
        if self.inner.spans.close_records {
            if let Some(span) = cx.span(id) {
                if let Some(t) = span.extensions_mut().get_mut::<Timings>() {
                    t.exit();
                }
            }
        }
    }

    fn on_close(&self, id: Id, cx: Context<'_, S>) {
        if !self.inner.spans.close_records {
            return;
        }
        let Some(_in_logger) = channel::enter_logger() else {
            Counters::bump(&self.inner.counters.reentrant);
            return;
        };
        if let Some(span) = cx.span(&id) {
            self.close_record(&span);
        }
    }
}

impl DltLayer {
    /// Rebuilds the scope cache of the span `id` if a record into one of
    /// its ancestors made it stale (entering is not the emission path, so
    /// it may allocate; the events inside then take the fast path again).
    fn refresh_scope<S>(&self, id: &Id, cx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let inner = &*self.inner;
        if inner.spans.scope == SpanScope::Off {
            return;
        }
        let Some(span) = cx.span(id) else {
            return;
        };
        let epoch = inner.span_epoch.now();
        let stale = span
            .extensions()
            .get::<SpanData>()
            .is_some_and(|d| !d.scope_is_current(epoch));
        if stale {
            if let Some(data) = span.extensions_mut().get_mut::<SpanData>() {
                data.rebuild_scope(span.parent(), &inner.spans, epoch);
            }
        }
    }

    /// Sends the close record of `span`: "NAME closed", the span's name
    /// and fields, `time.busy_us` and `time.idle_us`, at the span's level
    /// on the span's context.
    fn close_record<'a, R: LookupSpan<'a>>(
        &self,
        span: &tracing_subscriber::registry::SpanRef<'a, R>,
    ) {
        let inner = &*self.inner;
        let meta = span.metadata();
        let level = LogLevel::from_tracing(meta.level());
        let ext = span.extensions();
        let data = ext.get::<SpanData>();
        let index = data
            .and_then(SpanData::context)
            .unwrap_or_else(|| inner.contexts.index_of(meta));
        let ctx = inner.contexts.at(index);
        if !ctx.passes(level) {
            return;
        }
        let header = inner.header(ctx, level);
        let (busy, idle) = ext.get::<Timings>().map_or((0, 0), Timings::at_close);
        let mut frame = Frame::new();
        let mut w = LogWriter::begin(&mut frame, inner.max_frame, &header);
        let name = meta.name();
        w.display(None, &format_args!("{name} closed"));
        if let Some(data) = data {
            let (bytes, count) = data.all_args();
            if !w.encoded(bytes, count) {
                w.mark_truncated();
            }
        }
        w.u64(Some(CLOSE_BUSY_FIELD), busy);
        w.u64(Some(CLOSE_IDLE_FIELD), idle);
        let truncated = w.finish().truncated;
        inner.emit(&frame, truncated);
    }
}

/// The argument of a span's close record that carries its busy time, in
/// microseconds. Sent only with
/// [`with_span_close_records(true)`](crate::DltLayerBuilder::with_span_close_records),
/// which has an example.
pub const CLOSE_BUSY_FIELD: &str = "time.busy_us";
/// The argument of a span's close record that carries its idle time, in
/// microseconds. Sent only with
/// [`with_span_close_records(true)`](crate::DltLayerBuilder::with_span_close_records),
/// which has an example.
pub const CLOSE_IDLE_FIELD: &str = "time.idle_us";

/// The position of the context an event with metadata `meta` goes to:
/// its target's mapped context when the target is mapped (a
/// `with_context` prefix matches; found in the callsite cache);
/// otherwise the context its span chose, if any (`span`, called only
/// then, and only when there is another context to choose); otherwise
/// the default context.
#[inline]
fn event_context(
    contexts: &ContextTable,
    meta: &Metadata<'_>,
    span: impl FnOnce() -> Option<usize>,
) -> usize {
    let by_target = contexts.index_of(meta);
    if by_target != DEFAULT_INDEX || !contexts.has_mapped() {
        return by_target;
    }
    span().unwrap_or(DEFAULT_INDEX)
}

/// Writes `header` and the event's arguments into `frame` and finishes
/// it: the message first (or "" when there is none), then every other
/// field, named and typed, then what `tail` appends (the span scope;
/// it returns whether it cut or left something out). Returns whether the
/// record was truncated.
///
/// One pass over the fields when the message comes first, as `tracing`'s
/// macros, `fatal!` and the `log` bridge put it; otherwise (a field before
/// the message, or no message) the frame is restarted and written in two
/// passes, message then fields. The bytes are the same either way.
#[inline]
fn encode(
    frame: &mut Frame,
    limit: usize,
    header: &LogHeader,
    event: &Event<'_>,
    tail: &mut dyn FnMut(&mut LogWriter<'_>) -> bool,
) -> bool {
    {
        let mut w = LogWriter::begin(frame, limit, header);
        let mut one = OnePassVisitor {
            w: &mut w,
            message_done: false,
            out_of_order: false,
        };
        one.record(event);
        let (message_done, out_of_order) = (one.message_done, one.out_of_order);
        if !out_of_order {
            if !message_done {
                w.str(None, "");
            }
            let tail_truncated = tail(&mut w);
            return w.finish().truncated || tail_truncated;
        }
    }
    encode_two_pass(frame, limit, header, event, tail)
}

/// The general encoding: the message in one pass, the fields in another.
/// Returns whether the record was truncated.
fn encode_two_pass(
    frame: &mut Frame,
    limit: usize,
    header: &LogHeader,
    event: &Event<'_>,
    tail: &mut dyn FnMut(&mut LogWriter<'_>) -> bool,
) -> bool {
    let mut w = LogWriter::begin(frame, limit, header);
    // The message is always the first argument, wherever `tracing` put it
    // among the fields; an event without one gets "".
    let mut found = false;
    event.record(&mut Values(|field: &Field, v: Value<'_>| {
        if !found && is_text(&v) && field.name() == MESSAGE_FIELD {
            found = true;
            v.write(&mut w, None);
        }
    }));
    if !found {
        w.str(None, "");
    }
    event.record(&mut Values(|field: &Field, v: Value<'_>| {
        if wanted(field) {
            v.write(&mut w, Some(field.name()));
        }
    }));
    let tail_truncated = tail(&mut w);
    w.finish().truncated || tail_truncated
}

/// The DLT level of an event: [`LogLevel::Fatal`] for [`fatal!`](crate::fatal)
/// events, otherwise the mapping of its `tracing` level.
fn dlt_level(meta: &Metadata<'_>) -> LogLevel {
    let level = LogLevel::from_tracing(meta.level());
    if level == LogLevel::Error && meta.fields().field(FATAL_FIELD).is_some() {
        LogLevel::Fatal
    } else {
        level
    }
}

/// Whether `meta` is one of the fixed callsites `tracing-log` dispatches
/// all `log` records through; their real target is only known per record.
fn is_log_bridge_callsite(meta: &Metadata<'_>) -> bool {
    meta.fields().field("log.target").is_some()
}

// === visitors ===

/// Whether `field` travels as an argument: not the message (written
/// first, unnamed), not the `fatal!` marker, not `tracing-log`'s metadata.
#[inline]
fn wanted(field: &Field) -> bool {
    let n = field.name();
    n != MESSAGE_FIELD && n != FATAL_FIELD && !n.starts_with(LOG_FIELD_PREFIX)
}

/// Whether `v` can be the message: `format_args!` messages arrive as
/// `Debug`, `log` records' and `message = "..."` ones as `str`.
#[inline]
fn is_text(v: &Value<'_>) -> bool {
    matches!(v, Value::Str(_) | Value::Debug(_))
}

/// The message and the fields in one pass, as long as the message comes
/// first; flags `out_of_order` (and stops writing) when a field that
/// travels comes before it.
struct OnePassVisitor<'w, 'f> {
    w: &'w mut LogWriter<'f>,
    message_done: bool,
    out_of_order: bool,
}

impl OnePassVisitor<'_, '_> {
    /// Visits every field of `event`.
    #[inline]
    fn record(&mut self, event: &Event<'_>) {
        event.record(&mut Values(self));
    }
}

impl Sink for &mut OnePassVisitor<'_, '_> {
    /// Inlined into each `record_*` of the adapter, so that the match on
    /// the value's kind folds away: the hot path's code per field type.
    #[inline(always)]
    fn visit(&mut self, field: &Field, v: Value<'_>) {
        if is_text(&v) && field.name() == MESSAGE_FIELD && !self.message_done && !self.out_of_order
        {
            self.message_done = true;
            v.write(self.w, None);
        } else if self.out_of_order || !wanted(field) {
            // Not an argument, or the fast path is already abandoned.
        } else if self.message_done {
            v.write(self.w, Some(field.name()));
        } else {
            self.out_of_order = true;
        }
    }
}

// === impl DltLevels ===

/// The filter applying the DLT context levels: a message of level `L` for
/// a target whose context is at level `C` passes when `L != Off && L <= C`.
/// The daemon can change `C` at runtime; the flusher then rebuilds
/// `tracing`'s interest cache. Every span passes.
///
/// Two ways to use it, with the same verdicts:
///
/// - As a **global filter** (`registry().with(levels).with(layer)`, what
///   [`init`](crate::Init) installs), when DLT is the registry's only
///   output: events DLT disables are disabled for the whole subscriber,
///   and enabled callsites are cached as `always`, so an enabled event
///   costs no `enabled` call.
/// - As the DLT layer's **per-layer filter**
///   (`layer.with_filter(levels)`) beside other layers. Enabled callsites
///   are then `sometimes`, and every enabled event pays one `enabled`
///   call: tracing-subscriber carries a per-layer filter's verdict to the
///   event in a thread-local, which an `always` callsite would read stale
///   (tokio-rs/tracing#2519).
///
/// # Examples
///
/// See [`DltLayer::levels`].
#[derive(Clone)]
pub struct DltLevels {
    contexts: Arc<ContextTable>,
}

impl fmt::Debug for DltLevels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DltLevels").finish_non_exhaustive()
    }
}

impl DltLevels {
    fn passes(&self, meta: &Metadata<'_>) -> bool {
        let index = self.contexts.index_of(meta);
        self.contexts.at(index).passes(dlt_level(meta))
    }

    /// Whether an event at `meta` could pass on some context a span may
    /// choose: its target is not mapped (so a span decides) and some
    /// context lets its level through.
    fn may_pass_in_a_span(&self, meta: &Metadata<'_>) -> bool {
        let level = dlt_level(meta);
        self.contexts.index_of(meta) == DEFAULT_INDEX
            && level != LogLevel::Off
            && level <= self.contexts.max_level()
    }

    /// Whether `meta` may pass: every span reaches the layer, whatever the
    /// levels, since an event that passes a level raised later must still
    /// find its scope. The event's span may choose its context (when its
    /// target is not mapped); the layer decides on the exact context in
    /// `on_event`, so here "may pass there" is enough, and the span is
    /// not looked up twice.
    fn may_pass(&self, meta: &Metadata<'_>) -> bool {
        meta.is_span() || self.passes(meta) || self.may_pass_in_a_span(meta)
    }

    /// The interest in a callsite: `enabled` for one that may pass,
    /// `sometimes` for the `log` bridge's (its target, and so its
    /// context, is per record), `never` otherwise. The callsite's context
    /// is resolved here once, so that its lookup per event costs the same
    /// however many contexts are mapped.
    fn interest(&self, meta: &'static Metadata<'static>, enabled: Interest) -> Interest {
        self.contexts.remember(meta);
        if is_log_bridge_callsite(meta) {
            Interest::sometimes()
        } else if self.may_pass(meta) {
            enabled
        } else {
            Interest::never()
        }
    }
}

impl<S> Filter<S> for DltLevels {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        self.may_pass(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        // Enabled callsites get `sometimes`, not `always`: per-layer
        // filters pass their verdict from `enabled` to the event in a
        // thread-local, and an `always` callsite skips `enabled`, so it
        // would read whatever the last `enabled` call on the thread left
        // there. After an `enabled` that this filter answered "no" (a
        // `log` record through `LogTracer`, `tracing::enabled!`, ...) the
        // next event would be dropped (tokio-rs/tracing#2519). The price
        // is one `enabled` per enabled event; as a global filter (the
        // `Layer` impl below) there is no thread-local and no such price.
        self.interest(meta, Interest::sometimes())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // Spans of every level must reach the layer (see `enabled`), and
        // `tracing` does not even create a span above this hint. Events
        // above the DLT levels are still disabled per callsite, by
        // `callsite_enabled`.
        Some(LevelFilter::TRACE)
    }
}

/// `DltLevels` as a global filter, for a registry whose only output is
/// DLT (what [`init`](crate::Init) installs): events the DLT levels
/// disable are disabled for the whole subscriber, and enabled callsites
/// are cached as `always`, so an enabled event skips `enabled` entirely.
/// With other layers in the registry use it as the DLT layer's per-layer
/// filter instead ([`DltLayer::levels`]), so that they still see what DLT
/// drops.
impl<S: Subscriber> Layer<S> for DltLevels {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.interest(meta, Interest::always())
    }

    fn enabled(&self, meta: &Metadata<'_>, _cx: Context<'_, S>) -> bool {
        self.may_pass(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // As for the per-layer filter: spans of every level.
        Some(LevelFilter::TRACE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tracing_subscriber::prelude::*;

    /// Per event: whether the one-pass path was taken, the bytes of
    /// `encode` and those of `encode_two_pass`.
    type Seen = (bool, Vec<u8>, Vec<u8>);

    /// Encodes every event both ways and records a [`Seen`] per event.
    #[derive(Default)]
    struct Compare {
        seen: Mutex<Vec<Seen>>,
    }

    struct CompareLayer(Arc<Compare>);

    impl<S: Subscriber> Layer<S> for CompareLayer {
        fn on_event(&self, event: &Event<'_>, _cx: Context<'_, S>) {
            let header = LogHeader {
                ecu: EcuId::new("ECU1").unwrap(),
                app: AppId::new("APP").unwrap(),
                ctx: crate::ids::CtxId::new("CTX").unwrap(),
                level: LogLevel::Error,
                counter: 7,
                session_id: 42,
                timestamp: 1234,
            };
            let mut fast = Frame::new();
            encode(&mut fast, 200, &header, event, &mut |_| false);
            let mut general = Frame::new();
            encode_two_pass(&mut general, 200, &header, event, &mut |_| false);
            let mut probe = Frame::new();
            let mut w = LogWriter::begin(&mut probe, 200, &header);
            let mut one = OnePassVisitor {
                w: &mut w,
                message_done: false,
                out_of_order: false,
            };
            one.record(event);
            let took_one_pass = !one.out_of_order;
            self.0.seen.lock().unwrap().push((
                took_one_pass,
                fast.as_bytes().to_vec(),
                general.as_bytes().to_vec(),
            ));
        }
    }

    /// `tracing` registers each callsite with the layer (directly, or
    /// through `DltLevels`), and the layer resolves its context then, so
    /// that events do not walk the prefixes.
    #[test]
    fn registered_callsites_fill_the_context_cache() {
        let dir = std::env::temp_dir().join(format!("taktora-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for filtered in [true, false] {
            let (layer, _guard) = crate::DltLayer::builder("CCHE")
                .with_pipe_dir(&dir)
                .with_context("app::net", "NET", "net")
                .build()
                .expect("build");
            let contexts = layer.inner.contexts.clone();
            let levels = layer.levels();
            let before = contexts.cached_callsites();
            let dispatch = if filtered {
                tracing::Dispatch::new(
                    tracing_subscriber::registry().with(layer.with_filter(levels)),
                )
            } else {
                tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
            };
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::error!(target: "app::net::rx", "cached");
                tracing::error!(target: "elsewhere", "cached too");
            });
            assert!(
                contexts.cached_callsites() >= before + 2,
                "filtered {filtered}: both callsites resolved at registration"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn one_pass_encoding_equals_the_two_pass_encoding() {
        let cmp = Arc::new(Compare::default());
        let subscriber = tracing_subscriber::registry().with(CompareLayer(cmp.clone()));
        tracing::subscriber::with_default(subscriber, || {
            // Message first: one pass.
            tracing::error!(
                id = 42u64,
                temp = -3i64,
                ok = true,
                name = "x",
                "brake {}",
                1
            );
            crate::fatal!(id = 42u64, "lost");
            tracing::info!("only a message");
            tracing::warn!(e = %"shown", d = ?[1, 2], f = 1.5f64, "m");
            // No message, or a field before it: two passes.
            tracing::error!(id = 42u64, temp = -3i64);
            tracing::error!(id = 1u64, message = "late message");
            tracing::error!(a = 1u64, message = "late", b = true);
            // `log` records through the bridge: message first.
            // (One statement: `format_args!`'s temporaries live to its end.)
            tracing_log::format_trace(
                &log::Record::builder()
                    .level(log::Level::Error)
                    .target("bridge")
                    .args(format_args!("from log {}", 7))
                    .build(),
            )
            .unwrap();
            // Truncation inside the first pass.
            tracing::error!(long = "y".repeat(300).as_str(), "t");
        });
        let seen = cmp.seen.lock().unwrap();
        assert_eq!(seen.len(), 9, "every event seen");
        for (i, (_, fast, general)) in seen.iter().enumerate() {
            assert_eq!(fast, general, "event {i}: same bytes both ways");
        }
        let one_pass: Vec<bool> = seen.iter().map(|s| s.0).collect();
        assert_eq!(
            one_pass,
            [true, true, true, true, false, false, false, true, true],
            "which events took the one-pass path"
        );
    }
}
