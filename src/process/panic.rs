//! The panic hook: the panic as one FATAL record, then a bounded flush.
//!
//! A panic's message normally reaches only stderr; on an ECU, engineers
//! look in DLT. The hook writes one FATAL record, on the context the
//! target [`PANIC_TARGET`] maps to (the default context unless mapped),
//! whose arguments are `panicked: <message>`, `location` (`file:line:col`)
//! and `thread` (its name, or `<unnamed>`), into every pipeline of this
//! process that asked for it. It then waits until those pipelines have
//! written (or dropped) every record emitted so far, at most each one's
//! shutdown timeout, and calls the hook that was installed before it.
//!
//! It runs before the panic unwinds or, with `panic = "abort"`, before the
//! process aborts, so the record and everything logged before it reach the
//! daemon either way.

use std::any::Any;
use std::panic::PanicHookInfo;
use std::sync::Once;
use std::time::Instant;

use super::exit::poll_until;
use super::live::{self, Live};
use crate::channel::{self, Control};
use crate::frame::{Frame, LogHeader, LogWriter};
use crate::ids::LogLevel;
use crate::stats::Counters;
use crate::sys;

/// The target the panic record is mapped by: `with_context("panic", ...)`
/// gives it its own context.
pub const PANIC_TARGET: &str = "panic";

/// Installs the hook, once per process; it chains the hook that was there.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    if std::thread::panicking() {
        return; // set_hook would panic
    }
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            report(info);
            previous(info);
        }));
    });
}

/// Writes the record into every pipeline that wants it, then waits for
/// them to flush. A panic raised inside the logger itself (a value's
/// `Debug` while a record is encoded, or the flusher thread) is not
/// written: the logger may be mid-way through the very push it would
/// need. The previous hook still reports it.
fn report(info: &PanicHookInfo<'_>) {
    if channel::in_logger() {
        return;
    }
    let mut flushing = Vec::new();
    live::each_of_this_process(false, |entry| {
        if entry.recipe.panic_hook {
            write_record(&entry, info);
            flushing.push(request_flush(&entry));
        }
    });
    for (done, deadline) in flushing.into_iter().flatten() {
        poll_until(deadline, || !done.is_empty() || done.is_disconnected());
    }
}

fn write_record(entry: &Live, info: &PanicHookInfo<'_>) {
    let cfg = &entry.recipe.cfg;
    let ctx = cfg.contexts.lookup(PANIC_TARGET);
    if !ctx.passes(LogLevel::Fatal) {
        return;
    }
    let header = LogHeader {
        ecu: cfg.ecu,
        app: cfg.app,
        ctx: ctx.id,
        level: LogLevel::Fatal,
        counter: ctx.next_counter(),
        session_id: entry.pid,
        timestamp: sys::monotonic_timestamp(),
    };
    let thread = std::thread::current();
    let mut frame = Frame::new();
    let mut w = LogWriter::begin(&mut frame, entry.recipe.max_frame, &header);
    w.display(None, &format_args!("panicked: {}", message(info.payload())));
    match info.location() {
        Some(l) => w.display(Some("location"), l),
        None => w.str(Some("location"), "<unknown>"),
    }
    w.str(Some("thread"), thread.name().unwrap_or("<unnamed>"));
    if w.finish().truncated {
        Counters::bump(&entry.counters.truncated);
    }
    Counters::bump(&entry.counters.emitted);
    entry.producer.push(&frame);
}

/// The panic's message: the `&str` or `String` it was given.
fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

/// Asks `entry`'s flusher to acknowledge once every record emitted so far
/// is resolved; returns where and until when to wait.
fn request_flush(entry: &Live) -> Option<(flume::Receiver<()>, Instant)> {
    let deadline = Instant::now() + entry.shutdown_timeout();
    let target = entry.counters.snapshot(0).emitted;
    let (ack, done) = flume::bounded(1);
    entry
        .ctl
        .try_send(Control::Flush {
            target,
            deadline,
            ack,
        })
        .then_some((done, deadline))
}
