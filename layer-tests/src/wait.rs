//! The one bounded wait for a condition that no barrier signals, such as
//! "the flusher took every record off the channel": poll, never sleep a
//! guessed time.

use std::error::Error;
use std::fmt::{self, Debug};
use std::time::{Duration, Instant};

/// How long [`wait_until`] sleeps between two looks at the condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// What [`try_wait_until`] reports when the condition did not hold in
/// time: what was awaited, for how long, and the last value seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitTimeout {
    what: String,
    timeout: Duration,
    polls: u64,
    last: String,
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {} ({} polls); last seen: {}",
            self.timeout, self.what, self.polls, self.last
        )
    }
}

impl Error for WaitTimeout {}

/// Polls `probe` every [`POLL_INTERVAL`] until `done` accepts its value,
/// and returns that value.
///
/// `probe` reads the state (for example `|| guard.stats()`) and `done`
/// judges it, so that a timeout can show the last state seen. The
/// condition is checked at least once, and once more at the deadline.
///
/// # Errors
///
/// A [`WaitTimeout`] naming `what`, the timeout and the last value
/// (`{:#?}`) when `done` still said no after `timeout`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let waited = layer_tests::try_wait_until(
///     Duration::from_secs(5),
///     "10 ms to pass",
///     || start.elapsed(),
///     |e| *e >= Duration::from_millis(10),
/// );
/// assert!(waited.is_ok());
/// let never = layer_tests::try_wait_until(Duration::ZERO, "never", || 1, |n| *n == 2);
/// assert!(never.unwrap_err().to_string().starts_with("timed out after 0ns waiting for never"));
/// ```
pub fn try_wait_until<T: Debug>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> T,
    mut done: impl FnMut(&T) -> bool,
) -> Result<T, WaitTimeout> {
    let deadline = Instant::now() + timeout;
    let mut polls = 0;
    loop {
        let past_deadline = Instant::now() >= deadline;
        let value = probe();
        polls += 1;
        if done(&value) {
            return Ok(value);
        }
        if past_deadline {
            return Err(WaitTimeout {
                what: what.to_owned(),
                timeout,
                polls,
                last: format!("{value:#?}"),
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        std::thread::sleep(POLL_INTERVAL.min(left));
    }
}

/// As [`try_wait_until`], for a test: returns the accepted value.
///
/// # Panics
///
/// With the [`WaitTimeout`] message when `done` still said no after
/// `timeout`.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
///
/// let flag = AtomicBool::new(false);
/// std::thread::scope(|s| {
///     s.spawn(|| flag.store(true, Ordering::Relaxed));
///     layer_tests::wait_until(
///         Duration::from_secs(20),
///         "the other thread to set the flag",
///         || flag.load(Ordering::Relaxed),
///         |set| *set,
///     );
/// });
/// ```
#[track_caller]
pub fn wait_until<T: Debug>(
    timeout: Duration,
    what: &str,
    probe: impl FnMut() -> T,
    done: impl FnMut(&T) -> bool,
) -> T {
    try_wait_until(timeout, what, probe, done).unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn returns_the_first_accepted_value() {
        let n = Cell::new(0);
        let got = wait_until(
            Duration::from_secs(20),
            "the third poll",
            || {
                n.set(n.get() + 1);
                n.get()
            },
            |v| *v == 3,
        );
        assert_eq!(got, 3);
    }

    #[test]
    fn a_timeout_names_what_was_awaited_and_the_last_value() {
        let start = Instant::now();
        let e = try_wait_until(Duration::from_millis(20), "a miracle", || 41, |v| *v == 42)
            .expect_err("never 42");
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "waited the full timeout"
        );
        let text = e.to_string();
        assert!(
            text.starts_with("timed out after 20ms waiting for a miracle (")
                && text.ends_with("polls); last seen: 41"),
            "{text}"
        );
        assert!(e.polls >= 2, "polled more than once: {e:?}");
    }
}
