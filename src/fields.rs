//! A `tracing` field's value as one enum, a `Visit` adapter that hands
//! every field to one closure, and the DLT argument each value becomes:
//! the one mapping from `tracing`'s types to [`LogWriter`] calls that the
//! event visitors and the span recorder share.

use std::fmt;

use tracing_core::field::{Field, Visit};

use crate::frame::LogWriter;

/// A field's value, as `tracing` hands it to a visitor.
#[derive(Clone, Copy)]
pub(crate) enum Value<'a> {
    F64(f64),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    Bool(bool),
    Str(&'a str),
    Error(&'a (dyn std::error::Error + 'static)),
    /// Also `format_args!` messages, whose `Debug` is their `Display`.
    Debug(&'a dyn fmt::Debug),
}

impl Value<'_> {
    /// Appends the value as one argument named `name` (`None`: the
    /// message): numbers and booleans typed, the rest as strings.
    #[inline(always)]
    pub(crate) fn write(self, w: &mut LogWriter<'_>, name: Option<&str>) {
        match self {
            Self::F64(v) => w.f64(name, v),
            Self::I64(v) => w.i64(name, v),
            Self::U64(v) => w.u64(name, v),
            Self::I128(v) => w.i128(name, v),
            Self::U128(v) => w.u128(name, v),
            Self::Bool(v) => w.bool(name, v),
            Self::Str(v) => w.str(name, v),
            Self::Error(v) => w.display(name, v),
            Self::Debug(v) => w.fmt(name, v),
        }
    }
}

/// What takes each field from [`Values`]: a closure, or a visitor of its
/// own whose `visit` is inlined (the event's hot path), so that the match
/// on the value's kind folds away in each `record_*`.
pub(crate) trait Sink {
    fn visit(&mut self, field: &Field, v: Value<'_>);
}

impl<F: FnMut(&Field, Value<'_>)> Sink for F {
    #[inline]
    fn visit(&mut self, field: &Field, v: Value<'_>) {
        self(field, v);
    }
}

/// A `Visit` that hands every field and its value to `S`.
pub(crate) struct Values<S>(pub(crate) S);

impl<S: Sink> Visit for Values<S> {
    #[inline]
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.visit(field, Value::F64(value));
    }

    #[inline]
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.visit(field, Value::I64(value));
    }

    #[inline]
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.visit(field, Value::U64(value));
    }

    #[inline]
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.0.visit(field, Value::I128(value));
    }

    #[inline]
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.0.visit(field, Value::U128(value));
    }

    #[inline]
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.visit(field, Value::Bool(value));
    }

    #[inline]
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.visit(field, Value::Str(value));
    }

    #[inline]
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.visit(field, Value::Error(value));
    }

    #[inline]
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.visit(field, Value::Debug(value));
    }
}
