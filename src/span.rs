//! Spans in DLT. A span's name and fields are encoded once, as DLT
//! verbose arguments, when the span is created or recorded into
//! ([`SpanData`], kept in the span's extensions; this may allocate). At
//! event time [`write_scope`] walks the scope from the event's span up to
//! the root without allocating and copies those bytes into the frame,
//! root first. A span also carries the DLT context its events go to
//! ([`SpanData::context`]) and, when close records are on, its busy and
//! idle time ([`Timings`]).

use std::fmt::{self, Write as _};
use std::time::Instant;

use arrayvec::{ArrayString, ArrayVec};
use tracing_core::field::{Field, Visit};
use tracing_subscriber::registry::{Extensions, LookupSpan, SpanRef};

use crate::contexts::{ContextTable, DEFAULT_INDEX};
use crate::fields::{Value, Values};
use crate::frame::{EncodedArgs, LogWriter};

/// The span field that chooses the DLT context of the events inside the
/// span (and its children): `tracing::info_span!("req", dlt.ctx = "ROUT")`.
/// It must name a context registered at build time; it is not sent as an
/// argument.
pub const SPAN_CONTEXT_FIELD: &str = "dlt.ctx";

/// The name of the argument that carries a span's name: an event inside
/// `info_span!("req")` carries the string argument `span = "req"`.
pub const SPAN_NAME_ARG: &str = "span";

/// The default [`with_span_max_depth`](crate::DltLayerBuilder::with_span_max_depth):
/// the innermost 8 spans of an event's scope travel with it.
pub const DEFAULT_SPAN_MAX_DEPTH: usize = 8;

/// The largest span depth an event carries; a larger
/// [`with_span_max_depth`](crate::DltLayerBuilder::with_span_max_depth) is
/// an [`InvalidConfig`](crate::InitErrorKind::InvalidConfig) error. The scope
/// is walked on the stack, one slot per span.
pub const MAX_SPAN_DEPTH: usize = 32;

/// The most bytes one span field (or the span's name) takes in a frame,
/// as encoded (type info, name and value): a longer value is cut at a
/// UTF-8 boundary and ends in [`TRUNCATION_MARKER`](crate::TRUNCATION_MARKER),
/// so that one huge span field cannot crowd out the rest of the scope.
pub const SPAN_FIELD_MAX_BYTES: usize = 256;

/// Which part of its span scope an event carries.
///
/// # Examples
///
/// ```no_run
/// use taktora_log::{DltLayer, SpanScope};
///
/// let (layer, guard) = DltLayer::builder("NAV")
///     .with_span_scope(SpanScope::Names)
///     .build()?;
/// # drop((layer, guard));
/// # Ok::<(), taktora_log::InitError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpanScope {
    /// No span arguments.
    Off,
    /// Each span's name only (`span = "req"`).
    Names,
    /// Each span's name and its fields (`span = "req"`, `req.id = 7`):
    /// the default.
    #[default]
    NamesAndFields,
}

/// How the layer treats spans, as the builder configured it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpanConfig {
    /// What an event carries of its scope.
    pub(crate) scope: SpanScope,
    /// The innermost spans carried, `1..=MAX_SPAN_DEPTH`.
    pub(crate) max_depth: usize,
    /// Whether closing a span sends a record with its busy/idle time.
    pub(crate) close_records: bool,
}

impl SpanConfig {
    /// The builder's defaults.
    pub(crate) const DEFAULT: Self = Self {
        scope: SpanScope::NamesAndFields,
        max_depth: DEFAULT_SPAN_MAX_DEPTH,
        close_records: false,
    };
}

/// One field's pre-encoded argument(s).
#[derive(Debug)]
pub(crate) struct Chunk {
    /// The field's index in its callsite's field set: chunks are kept in
    /// declaration order, whenever they were recorded.
    index: usize,
    bytes: Vec<u8>,
    count: u8,
    truncated: bool,
}

impl Chunk {
    fn new(index: usize, args: &EncodedArgs) -> Self {
        Self {
            index,
            bytes: args.bytes().to_vec(),
            count: args.count(),
            truncated: args.truncated(),
        }
    }
}

/// What the layer keeps in a span's extensions.
#[derive(Debug)]
pub(crate) struct SpanData {
    /// The name argument, then every field's chunk: what an event copies.
    args: Vec<u8>,
    /// Arguments in `args`.
    count: u8,
    /// Bytes of the name argument at the start of `args`.
    name_len: usize,
    /// Whether a field value was cut or a field left out (NOAR full).
    truncated: bool,
    /// The fields, for re-encoding when one is recorded.
    fields: Vec<Chunk>,
    /// The span's name argument.
    name: Chunk,
    /// The context chosen for the events inside, by position in the
    /// context table; `None`: the event's target decides.
    context: Option<usize>,
    /// Whether a child span was created: recording into this span then
    /// makes the children's [`ScopeCache`]s stale.
    has_children: bool,
    /// The whole scope an event inside this span carries, pre-built.
    scope: ScopeCache,
}

/// A span's scope (the span and its ancestors up to the maximum depth)
/// as an event copies it, root first, built when the span is created,
/// recorded into or entered (allocation is allowed there), so that an
/// event reads one span, not every ancestor. Valid while the layer's
/// [`SpanEpoch`] still has the value it had when the cache was built:
/// recording into a span that has children moves the epoch on, and events
/// then walk the scope ([`write_scope`]'s slow path) until the span is
/// entered again.
#[derive(Debug, Default)]
pub(crate) struct ScopeCache {
    /// The epoch it was built at; `None`: never built.
    epoch: Option<u64>,
    /// Every span's arguments, root first, back to back.
    bytes: Vec<u8>,
    /// Per span, root first: where its arguments start in `bytes`, how
    /// many there are and whether one was cut.
    spans: Vec<(usize, u8, bool)>,
}

/// The layer's record epoch (see [`ScopeCache`]).
#[derive(Debug, Default)]
pub(crate) struct SpanEpoch(std::sync::atomic::AtomicU64);

impl SpanEpoch {
    /// The current epoch. Load it *before* reading the spans a cache is
    /// built from.
    pub(crate) fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Makes every cache built so far stale: call it after changing a
    /// span that has children.
    pub(crate) fn advance(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl SpanData {
    /// The data of a new span named `name` with the fields `record`
    /// visits. `parent` is the parent span's chosen context; `target` the
    /// span's target. The second value is whether the span named an
    /// unknown context in [`SPAN_CONTEXT_FIELD`].
    pub(crate) fn new(
        name: &'static str,
        target: &str,
        record: impl FnOnce(&mut dyn Visit),
        scope: SpanScope,
        contexts: &ContextTable,
        parent: Option<usize>,
    ) -> (Self, bool) {
        let mut rec = Recorder::new(name, scope);
        rec.record(record);
        let (context, unknown) = choose_context(rec.context.as_deref(), target, contexts, parent);
        let name_args = EncodedArgs::encode(SPAN_FIELD_MAX_BYTES, |w| {
            w.str(Some(SPAN_NAME_ARG), name);
        });
        let mut data = Self {
            args: Vec::new(),
            count: 0,
            name_len: 0,
            truncated: false,
            fields: Vec::new(),
            name: Chunk::new(usize::MAX, &name_args),
            context,
            has_children: false,
            scope: ScopeCache::default(),
        };
        data.merge(rec.chunks);
        (data, unknown)
    }

    /// Encodes the values `record` visits into chunks for the span
    /// `name`, outside any lock; [`merge`](Self::merge) them in after.
    pub(crate) fn encode_record(
        name: &'static str,
        scope: SpanScope,
        record: impl FnOnce(&mut dyn Visit),
    ) -> Vec<Chunk> {
        let mut rec = Recorder::new(name, scope);
        rec.record(record);
        rec.chunks
    }

    /// Adds (or replaces) field chunks and rebuilds the argument bytes:
    /// name first, then the fields in declaration order. Fields that
    /// would take NOAR past what a frame can count are left out and the
    /// span is marked truncated.
    pub(crate) fn merge(&mut self, chunks: Vec<Chunk>) {
        for c in chunks {
            match self.fields.binary_search_by_key(&c.index, |f| f.index) {
                Ok(i) => self.fields[i] = c,
                Err(i) => self.fields.insert(i, c),
            }
        }
        self.args.clear();
        self.args.extend_from_slice(&self.name.bytes);
        self.name_len = self.name.bytes.len();
        self.count = self.name.count;
        self.truncated = self.name.truncated;
        for f in &self.fields {
            match self.count.checked_add(f.count) {
                Some(n) if n < u8::MAX => {
                    self.args.extend_from_slice(&f.bytes);
                    self.count = n;
                    self.truncated |= f.truncated;
                }
                _ => self.truncated = true,
            }
        }
    }

    /// The context chosen for the events inside this span, if any.
    pub(crate) fn context(&self) -> Option<usize> {
        self.context
    }

    /// Notes that a child span was created.
    pub(crate) fn set_has_children(&mut self) {
        self.has_children = true;
    }

    /// Whether a child span was ever created.
    pub(crate) fn has_children(&self) -> bool {
        self.has_children
    }

    /// Whether the scope cache was built at `epoch`.
    pub(crate) fn scope_is_current(&self, epoch: u64) -> bool {
        self.scope.epoch == Some(epoch)
    }

    /// Rebuilds the scope cache from this span's own arguments and those
    /// of its ancestors from `parent` up, innermost `cfg.max_depth` in
    /// all. `epoch` must have been read before this call.
    pub(crate) fn rebuild_scope<'a, R: LookupSpan<'a>>(
        &mut self,
        parent: Option<SpanRef<'a, R>>,
        cfg: &SpanConfig,
        epoch: u64,
    ) {
        let mut inner_first: Vec<(Vec<u8>, u8, bool)> = Vec::new();
        let (own, n, t) = self.wire(cfg.scope);
        inner_first.push((own.to_vec(), n, t));
        let mut next = parent;
        while let Some(span) = next {
            if inner_first.len() >= cfg.max_depth {
                break;
            }
            if let Some(d) = span.extensions().get::<SpanData>() {
                let (b, n, t) = d.wire(cfg.scope);
                inner_first.push((b.to_vec(), n, t));
            }
            next = span.parent();
        }
        let scope = &mut self.scope;
        scope.bytes.clear();
        scope.spans.clear();
        for (b, n, t) in inner_first.iter().rev() {
            scope.spans.push((scope.bytes.len(), *n, *t));
            scope.bytes.extend_from_slice(b);
        }
        scope.epoch = Some(epoch);
    }

    /// The bytes, argument count and truncation an event copies.
    fn wire(&self, scope: SpanScope) -> (&[u8], u8, bool) {
        match scope {
            SpanScope::Off => (&[], 0, false),
            SpanScope::Names => (
                self.args.get(..self.name_len).unwrap_or(&[]),
                self.name.count,
                self.name.truncated,
            ),
            SpanScope::NamesAndFields => (&self.args, self.count, self.truncated),
        }
    }

    /// Every argument of the span (name and fields), for its close record.
    pub(crate) fn all_args(&self) -> (&[u8], u8) {
        (&self.args, self.count)
    }
}

/// The context for a span: the registered context its
/// [`SPAN_CONTEXT_FIELD`] names; else its target's, when the target is
/// mapped; else its parent's choice. The flag says the field named an
/// unknown context (which is then ignored).
fn choose_context(
    field: Option<&str>,
    target: &str,
    contexts: &ContextTable,
    parent: Option<usize>,
) -> (Option<usize>, bool) {
    let mut unknown = false;
    if let Some(id) = field {
        match contexts.index_of_id(id) {
            Some(i) => return (Some(i), false),
            None => unknown = true,
        }
    }
    let by_target = contexts.index_of_target(target);
    if by_target != DEFAULT_INDEX {
        return (Some(by_target), unknown);
    }
    (parent, unknown)
}

/// Visits a span's fields: encodes each (unless only names are wanted)
/// and picks up [`SPAN_CONTEXT_FIELD`].
struct Recorder {
    span: &'static str,
    with_fields: bool,
    chunks: Vec<Chunk>,
    context: Option<ArrayString<16>>,
}

impl Recorder {
    fn new(span: &'static str, scope: SpanScope) -> Self {
        Self {
            span,
            with_fields: scope == SpanScope::NamesAndFields,
            chunks: Vec::new(),
            context: None,
        }
    }

    /// Encodes one field under the name `span.field`.
    fn push(&mut self, field: &Field, write: impl FnOnce(&mut LogWriter<'_>, &str)) {
        if !self.with_fields || field.name() == SPAN_CONTEXT_FIELD {
            return;
        }
        let name = format!("{}.{}", self.span, field.name());
        let args = EncodedArgs::encode(SPAN_FIELD_MAX_BYTES, |w| write(w, &name));
        self.chunks.push(Chunk::new(field.index(), &args));
    }

    /// Keeps the text of [`SPAN_CONTEXT_FIELD`]; one too long for any ID
    /// is kept as an ID that cannot match.
    fn context_text(&mut self, value: &dyn fmt::Display) {
        let mut s = ArrayString::<16>::new();
        if write!(s, "{value}").is_err() {
            s.clear();
            s.push_str("<too long>");
        }
        self.context = Some(s);
    }
}

impl Recorder {
    /// Records one field: [`SPAN_CONTEXT_FIELD`]'s text as the context to
    /// choose, every other field as an argument.
    fn visit(&mut self, field: &Field, v: Value<'_>) {
        if field.name() == SPAN_CONTEXT_FIELD {
            match v {
                Value::Str(s) => self.context_text(&s),
                Value::Debug(d) => self.context_text(&format_args!("{d:?}")),
                _ => {}
            }
        }
        self.push(field, |w, n| v.write(w, Some(n)));
    }

    /// Visits what `record` records.
    fn record(&mut self, record: impl FnOnce(&mut dyn Visit)) {
        record(&mut Values(|field: &Field, v: Value<'_>| {
            self.visit(field, v)
        }));
    }
}

/// A span's busy and idle time, kept only when close records are on
/// (as `fmt`'s `FmtSpan::CLOSE` does: busy while entered, idle between).
#[derive(Debug)]
pub(crate) struct Timings {
    busy_ns: u64,
    idle_ns: u64,
    last: Instant,
}

impl Timings {
    /// Starts the clock at the span's creation.
    pub(crate) fn new() -> Self {
        Self {
            busy_ns: 0,
            idle_ns: 0,
            last: Instant::now(),
        }
    }

    /// The span was entered: the time since the last change was idle.
    pub(crate) fn enter(&mut self) {
        let now = Instant::now();
        self.idle_ns = self.idle_ns.saturating_add(nanos(now - self.last));
        self.last = now;
    }

    /// The span was exited: the time since it was entered was busy.
    pub(crate) fn exit(&mut self) {
        let now = Instant::now();
        self.busy_ns = self.busy_ns.saturating_add(nanos(now - self.last));
        self.last = now;
    }

    /// Busy and idle time in microseconds, at close (the time since the
    /// last exit counts as idle).
    pub(crate) fn at_close(&self) -> (u64, u64) {
        let idle = self.idle_ns.saturating_add(nanos(self.last.elapsed()));
        (self.busy_ns / 1000, idle / 1000)
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The context the span `leaf` chose for the events inside it.
pub(crate) fn span_context<'a, R: LookupSpan<'a>>(leaf: Option<&SpanRef<'a, R>>) -> Option<usize> {
    leaf?.extensions().get::<SpanData>()?.context()
}

/// Appends a cached scope: the innermost spans that fit, root first, in
/// one copy; the outer ones that do not fit are dropped and the marker
/// follows. Returns whether span arguments were dropped or cut.
fn write_cached(w: &mut LogWriter<'_>, c: &ScopeCache) -> bool {
    let mut first = c.spans.len();
    let mut count = 0usize;
    for (i, &(start, n, _)) in c.spans.iter().enumerate().rev() {
        let len = c.bytes.len().saturating_sub(start);
        if !w.has_room_for_encoded(len, count + usize::from(n)) {
            break;
        }
        count += usize::from(n);
        first = i;
    }
    let mut dropped = first > 0;
    let mut cut = false;
    if let Some(&(start, _, _)) = c.spans.get(first) {
        let bytes = c.bytes.get(start..).unwrap_or(&[]);
        let count = u8::try_from(count).unwrap_or(u8::MAX);
        if w.encoded(bytes, count) {
            cut = c.spans[first..].iter().any(|&(_, _, t)| t);
        } else {
            dropped = true;
        }
    }
    if dropped {
        w.mark_truncated();
    }
    dropped || cut
}

/// Appends the scope of `leaf` (the event's span) to `w`, root first: for
/// each of the innermost `cfg.max_depth` spans its name, then (with
/// [`SpanScope::NamesAndFields`]) its fields. Whatever does not fit is
/// dropped from the outermost span inwards, and the frame then ends with
/// the marker argument. Returns whether the record lost or cut span
/// arguments (it then counts as truncated). Never allocates: the walk
/// uses the stack ([`MAX_SPAN_DEPTH`] slots).
pub(crate) fn write_scope<'a, R: LookupSpan<'a>>(
    w: &mut LogWriter<'_>,
    leaf: Option<SpanRef<'a, R>>,
    cfg: &SpanConfig,
    epoch: &SpanEpoch,
) -> bool {
    let Some(leaf) = leaf else {
        return false;
    };
    if cfg.scope == SpanScope::Off || w.is_truncated() {
        return false;
    }
    // The fast path: the leaf's cache, built after every change it shows.
    let now = epoch.now();
    if let Some(d) = leaf.extensions().get::<SpanData>() {
        if d.scope_is_current(now) {
            return write_cached(w, &d.scope);
        }
    }
    write_walked(w, leaf, cfg)
}

/// The slow path of [`write_scope`], for a stale cache: walks the
/// innermost `cfg.max_depth` spans from `leaf` on the stack and appends
/// what fits of their arguments.
fn write_walked<'a, R: LookupSpan<'a>>(
    w: &mut LogWriter<'_>,
    leaf: SpanRef<'a, R>,
    cfg: &SpanConfig,
) -> bool {
    let mut spans: ArrayVec<SpanRef<'a, R>, MAX_SPAN_DEPTH> = ArrayVec::new();
    let mut next = Some(leaf);
    while let Some(span) = next {
        if spans.len() >= cfg.max_depth {
            break;
        }
        next = span.parent();
        if spans.try_push(span).is_err() {
            break;
        }
    }
    let mut exts: ArrayVec<Extensions<'_>, MAX_SPAN_DEPTH> = ArrayVec::new();
    for span in &spans {
        if exts.try_push(span.extensions()).is_err() {
            break;
        }
    }
    append_fitting(w, &exts, cfg.scope)
}

/// Appends, root first, the arguments of the innermost spans of `exts`
/// (innermost first) that fit after what the frame holds; the outer ones
/// are dropped and the marker follows. Returns whether span arguments
/// were dropped or cut.
fn append_fitting(w: &mut LogWriter<'_>, exts: &[Extensions<'_>], scope: SpanScope) -> bool {
    let mut wires: ArrayVec<(&[u8], u8, bool), MAX_SPAN_DEPTH> = ArrayVec::new();
    let (mut len, mut count) = (0usize, 0usize);
    for ext in exts {
        let wire = ext
            .get::<SpanData>()
            .map_or((&[][..], 0, false), |d| d.wire(scope));
        if !w.has_room_for_encoded(len + wire.0.len(), count + usize::from(wire.1)) {
            break;
        }
        len += wire.0.len();
        count += usize::from(wire.1);
        if wires.try_push(wire).is_err() {
            break;
        }
    }
    let mut dropped = wires.len() < exts.len();
    let mut cut = false;
    for &(bytes, n, truncated) in wires.iter().rev() {
        if !w.encoded(bytes, n) {
            dropped = true;
            break;
        }
        cut |= truncated;
    }
    if dropped {
        w.mark_truncated();
    }
    dropped || cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::Context;
    use crate::ids::{CtxId, LogLevel, RegisterLevel};

    fn table() -> ContextTable {
        let ctx = |prefix: &str, id: &str| {
            Context::new(
                prefix.into(),
                CtxId::new(id).unwrap(),
                String::new(),
                LogLevel::Info,
                RegisterLevel::NotSet,
            )
        };
        ContextTable::new(
            ctx("", "DFLT"),
            ctx("", "TLOG"),
            vec![ctx("app::route", "ROUT"), ctx("hyper", "HTTP")],
        )
    }

    /// A chunk of one `u64` argument named `n` = `v`.
    fn chunk(index: usize, v: u64) -> Chunk {
        Chunk::new(index, &EncodedArgs::encode(64, |w| w.u64(Some("n"), v)))
    }

    fn data(chunks: Vec<Chunk>) -> SpanData {
        let (mut d, _) = SpanData::new("s", "t", |_| {}, SpanScope::NamesAndFields, &table(), None);
        d.merge(chunks);
        d
    }

    #[test]
    fn fields_keep_declaration_order_and_a_recorded_value_replaces_the_old() {
        let mut d = data(vec![chunk(2, 20), chunk(0, 0)]);
        d.merge(vec![chunk(1, 10), chunk(0, 1)]);
        let values: Vec<u64> = d
            .fields
            .iter()
            .map(|c| u64::from_ne_bytes(c.bytes[c.bytes.len() - 8..].try_into().unwrap()))
            .collect();
        assert_eq!(values, [1, 10, 20], "declaration order, 0 replaced");
        assert_eq!(d.count, 4, "name + 3 fields");
        let field_bytes: usize = d.fields.iter().map(|c| c.bytes.len()).sum();
        assert_eq!(d.args.len(), d.name_len + field_bytes);
        assert_eq!(d.wire(SpanScope::Names).1, 1, "names only: one argument");
        assert_eq!(d.wire(SpanScope::Off).1, 0);
        assert!(!d.truncated);
    }

    #[test]
    fn a_span_never_counts_more_arguments_than_a_frame_can() {
        let d = data((0..300).map(|i| chunk(i, i as u64)).collect());
        assert_eq!(d.count, 254, "name + 253 fields: room for the marker");
        assert!(d.truncated, "the rest is counted as left out");
    }

    #[test]
    fn context_choice_field_then_target_then_parent() {
        let t = table();
        let rout = t.index_of_id("ROUT");
        let http = t.index_of_id("HTTP");
        assert!(rout.is_some() && http.is_some());
        let cases = [
            (Some("ROUT"), "other", None, (rout, false), "the field"),
            (
                Some("ROUT"),
                "hyper",
                None,
                (rout, false),
                "the field over the target",
            ),
            (
                None,
                "hyper::x",
                rout,
                (http, false),
                "the target over the parent",
            ),
            (None, "other", rout, (rout, false), "inherited"),
            (None, "other", None, (None, false), "nothing chosen"),
            (
                Some("NOPE"),
                "other",
                http,
                (http, true),
                "unknown: counted, inherited",
            ),
            (
                Some("NOPE"),
                "hyper",
                None,
                (http, true),
                "unknown: the target",
            ),
            (Some("TLOG"), "other", None, (None, true), "reserved"),
            (Some("toolong"), "other", None, (None, true), "not an ID"),
        ];
        for (field, target, parent, want, why) in cases {
            assert_eq!(choose_context(field, target, &t, parent), want, "{why}");
        }
    }
}
