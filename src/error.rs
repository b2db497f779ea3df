//! The crate's error types: [`IdError`] for a rejected identifier and
//! [`InitError`] for a builder or init that could not complete. Nothing
//! else lives here.

use std::error::Error;
use std::fmt;
use std::io;

/// Why an identifier was rejected.
///
/// See [`IdError`'s example](IdError#examples).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdErrorReason {
    /// The string was empty.
    Empty,
    /// The string was longer than 4 bytes.
    TooLong,
    /// The string held a byte outside printable ASCII (`!`..=`~`).
    NotPrintableAscii,
}

/// An application, context or ECU ID that is not 1–4 printable ASCII
/// characters.
///
/// # Examples
///
/// ```
/// use taktora_log::{AppId, IdErrorReason};
///
/// let err = AppId::new("TOOLONG").unwrap_err();
/// assert_eq!(err.reason(), IdErrorReason::TooLong);
/// assert_eq!(
///     err.to_string(),
///     "invalid DLT application ID: it is longer than 4 bytes"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdError {
    what: &'static str,
    reason: IdErrorReason,
}

impl IdError {
    pub(crate) const fn new(what: &'static str, reason: IdErrorReason) -> Self {
        Self { what, reason }
    }

    /// Why the ID was rejected.
    /// See [the example](Self#examples).
    pub fn reason(&self) -> IdErrorReason {
        self.reason
    }
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.reason {
            IdErrorReason::Empty => "it is empty",
            IdErrorReason::TooLong => "it is longer than 4 bytes",
            IdErrorReason::NotPrintableAscii => {
                "it contains a character outside printable ASCII ('!' to '~')"
            }
        };
        write!(f, "invalid DLT {}: {why}", self.what)
    }
}

impl Error for IdError {}

/// What kind of failure an [`InitError`] is.
///
/// # Examples
///
/// ```
/// use taktora_log::{DltLayer, InitErrorKind};
///
/// let Err(err) = DltLayer::builder("NAV").with_channel_capacity(0).build() else {
///     panic!("a capacity of 0 is refused");
/// };
/// assert_eq!(err.kind(), InitErrorKind::InvalidConfig);
/// assert!(err.to_string().contains("channel capacity"), "{err}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitErrorKind {
    /// An application, context or ECU ID was invalid.
    InvalidId,
    /// A builder value was out of its documented range (a capacity, a
    /// frame size, a description, a duplicate context prefix or ID).
    InvalidConfig,
    /// `init` already ran in this process; nothing was replaced.
    AlreadyInitialized,
    /// An operating-system call failed while setting up (creating the
    /// application FIFO, spawning the flusher thread).
    Io,
}

/// A builder or init call that could not complete.
///
/// `Display` says what was being done; [`source`] gives why, the
/// underlying [`io::Error`] or [`IdError`], where there is one (so a
/// report that walks the `source()` chain shows each cause once); and
/// [`kind`] tells the failure apart programmatically.
///
/// # Examples
///
/// ```
/// use std::error::Error;
///
/// let e = taktora_log::DltLayer::builder("TOOLONG").build().unwrap_err();
/// assert_eq!(e.kind(), taktora_log::InitErrorKind::InvalidId);
/// assert_eq!(e.to_string(), "application ID \"TOOLONG\"");
/// let why = e.source().map(|s| s.to_string());
/// assert_eq!(why.as_deref(), Some("invalid DLT application ID: it is longer than 4 bytes"));
/// ```
///
/// [`kind`]: InitError::kind
/// [`source`]: std::error::Error::source
#[derive(Debug)]
pub struct InitError {
    kind: InitErrorKind,
    context: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl InitError {
    pub(crate) fn new(kind: InitErrorKind, context: impl Into<String>) -> Self {
        Self {
            kind,
            context: context.into(),
            source: None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, err: io::Error) -> Self {
        Self {
            kind: InitErrorKind::Io,
            context: context.into(),
            source: Some(Box::new(err)),
        }
    }

    pub(crate) fn id(context: impl Into<String>, err: IdError) -> Self {
        Self {
            kind: InitErrorKind::InvalidId,
            context: context.into(),
            source: Some(Box::new(err)),
        }
    }

    /// What kind of failure this is.
    /// See [`InitErrorKind`'s example](InitErrorKind#examples).
    pub fn kind(&self) -> InitErrorKind {
        self.kind
    }
}

impl fmt::Display for InitError {
    /// What was being done. The cause, if any, is not repeated here: it
    /// is [`source`](Error::source), so that printing the chain (as
    /// `anyhow`, `eyre` or a `source()` loop do) shows it once.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl Error for InitError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<IdError> for InitError {
    fn from(e: IdError) -> Self {
        Self::id("invalid DLT identifier", e)
    }
}

/// An error and its `source()` chain, each separated by `": "`, for a
/// panic message that says why and not only what.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut src = self.0.source();
        while let Some(s) = src {
            write!(f, ": {s}")?;
            src = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_says_what_and_why() {
        let e = IdError::new("application ID", IdErrorReason::TooLong);
        assert_eq!(
            e.to_string(),
            "invalid DLT application ID: it is longer than 4 bytes"
        );
        let ie = InitError::id("application ID \"TOOLONG\"", e);
        assert_eq!(ie.kind(), InitErrorKind::InvalidId);
        assert_eq!(ie.to_string(), "application ID \"TOOLONG\"", "what");
        assert_eq!(
            ie.source().map(|s| s.to_string()),
            Some(e.to_string()),
            "why, as the source"
        );
    }

    #[test]
    fn a_printed_error_chain_shows_the_os_message_once() {
        let os = io::Error::from_raw_os_error(libc::ENOENT);
        let os_text = os.to_string();
        let e = InitError::io("creating the application FIFO in /x/dltpipes", os);
        let report = ErrorChain(&e).to_string();
        assert_eq!(
            report.matches(os_text.as_str()).count(),
            1,
            "OS message once in {report:?}"
        );
        assert_eq!(
            report,
            format!("creating the application FIFO in /x/dltpipes: {os_text}")
        );
    }
}
