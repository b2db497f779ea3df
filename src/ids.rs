//! Validated DLT identifiers ([`AppId`], [`CtxId`], [`EcuId`]) and the DLT
//! [`LogLevel`].
//!
//! An identifier is 1 to 4 printable ASCII characters. On the wire it is
//! always 4 bytes: shorter IDs are padded with `\0`, as libdlt pads them
//! (`"LOG"` travels as `4c 4f 47 00`). This module only validates and
//! stores; it knows nothing of frames or transports.

use std::fmt;

use crate::error::{IdError, IdErrorReason};

/// Length of every DLT identifier on the wire (AUTOSAR PRS_Dlt_00091:
/// `DLT_ID_SIZE` = 4 in `dlt_common.h`).
///
/// # Examples
///
/// ```
/// assert_eq!(taktora_log::AppId::new("NAV")?.as_bytes(), b"NAV\0");
/// assert_eq!(taktora_log::ID_LEN, 4);
/// # Ok::<(), taktora_log::IdError>(())
/// ```
pub const ID_LEN: usize = 4;

/// Validates `s` as a DLT identifier and returns its 4 wire bytes.
const fn parse_id(s: &str) -> Result<[u8; ID_LEN], IdErrorReason> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(IdErrorReason::Empty);
    }
    if b.len() > ID_LEN {
        return Err(IdErrorReason::TooLong);
    }
    let mut out = [0u8; ID_LEN];
    let mut i = 0;
    while i < b.len() {
        // Printable ASCII only: a space or a control byte would be shown
        // ambiguously by DLT tools, and a NUL would end the ID early.
        if b[i] <= b' ' || b[i] > b'~' {
            return Err(IdErrorReason::NotPrintableAscii);
        }
        out[i] = b[i];
        i += 1;
    }
    Ok(out)
}

/// Shows the meaningful bytes of a padded ID.
fn fmt_id(bytes: &[u8; ID_LEN], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(ID_LEN);
    // Validated IDs are ASCII, so this cannot fail; fall back to nothing.
    f.write_str(std::str::from_utf8(&bytes[..len]).unwrap_or(""))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; ID_LEN]);

        impl $name {
            #[doc = concat!("Validates `s` as a DLT ", $what, ": 1 to 4 printable ASCII characters.")]
            ///
            /// In a `const` context a bad literal is a compile-time error.
            ///
            /// # Errors
            ///
            /// Returns an [`IdError`] saying why `s` was rejected: empty,
            /// longer than 4 bytes, or containing a byte outside `!`..=`~`.
            ///
            /// See [the type's examples](Self#examples).
            pub const fn new(s: &str) -> Result<Self, IdError> {
                match parse_id(s) {
                    Ok(b) => Ok(Self(b)),
                    Err(reason) => Err(IdError::new($what, reason)),
                }
            }

            /// The 4 wire bytes, padded with `\0`.
            /// See [the type's examples](Self#examples).
            pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_id(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(\""))?;
                fmt_id(&self.0, f)?;
                f.write_str("\")")
            }
        }
    };
}

/// A DLT identifier argument: a validated ID of type `T` ([`AppId`],
/// [`CtxId`], [`EcuId`]), or a string that the builder validates when it
/// builds.
///
/// The builder's ID setters take `impl IntoId<T>`, so both `"NAV"` and an
/// [`AppId`] made once with [`AppId::new`] work, while an ID of the wrong
/// kind (a context ID where an application ID belongs) does not compile.
/// Implemented for `T`, `&T`, `String` and any `&S` where `S: AsRef<str>`
/// (`&str`, `&&str`, `&String`, ...); sealed.
///
/// # Examples
///
/// ```no_run
/// use taktora_log::{AppId, CtxId, DltLayer};
///
/// const NAV: AppId = match AppId::new("NAV") {
///     Ok(id) => id,
///     Err(_) => panic!("a valid application ID"),
/// };
/// let route = CtxId::new("ROUT")?;
/// let (_layer, _guard) = DltLayer::builder(NAV)
///     .with_context("nav::route", route, "Route planning")
///     .with_context("nav::map", "MAP", "Maps")
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait IntoId<T>: sealed::Sealed<T> {}

mod sealed {
    /// The conversion behind [`IntoId`](super::IntoId), kept out of the
    /// public API so that new argument types can be added later.
    pub trait Sealed<T> {
        /// The identifier's text, for the builder to validate (an already
        /// validated ID passes again unchanged) and to quote in its error.
        fn into_id_text(self) -> String;
    }
}

macro_rules! into_id {
    ($($name:ident),*) => {$(
        impl sealed::Sealed<$name> for $name {
            fn into_id_text(self) -> String {
                self.to_string()
            }
        }
        impl IntoId<$name> for $name {}

        impl sealed::Sealed<$name> for &$name {
            fn into_id_text(self) -> String {
                self.to_string()
            }
        }
        impl IntoId<$name> for &$name {}

        impl<S: AsRef<str> + ?Sized> sealed::Sealed<$name> for &S {
            fn into_id_text(self) -> String {
                self.as_ref().into()
            }
        }
        impl<S: AsRef<str> + ?Sized> IntoId<$name> for &S {}

        impl sealed::Sealed<$name> for String {
            fn into_id_text(self) -> String {
                self
            }
        }
        impl IntoId<$name> for String {}
    )*};
}

into_id!(AppId, CtxId, EcuId);

/// The text of an identifier argument (see [`IntoId`]).
pub(crate) fn id_text<T>(id: impl IntoId<T>) -> String {
    sealed::Sealed::into_id_text(id)
}

id_type!(
    /// A DLT application ID (APID): who is logging.
    ///
    /// # Examples
    ///
    /// ```
    /// use taktora_log::AppId;
    ///
    /// let app = AppId::new("NAV").unwrap();
    /// assert_eq!(app.as_bytes(), b"NAV\0");
    /// assert!(AppId::new("TOOLONG").is_err());
    /// assert!(AppId::new("").is_err());
    /// ```
    AppId,
    "application ID"
);

id_type!(
    /// A DLT context ID (CTID): which part of the application is logging.
    ///
    /// # Examples
    ///
    /// ```
    /// use taktora_log::CtxId;
    ///
    /// let ctx = CtxId::new("CAN").unwrap();
    /// assert_eq!(ctx.to_string(), "CAN");
    /// assert!(CtxId::new("a b").is_err());
    /// ```
    CtxId,
    "context ID"
);

id_type!(
    /// A DLT ECU ID: which control unit the message comes from.
    ///
    /// The daemon replaces the literal `ECU1` (libdlt's default) with its
    /// own configured `ECUId`; any other value is forwarded unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use taktora_log::EcuId;
    ///
    /// assert_eq!(EcuId::new("ECU1").unwrap().as_bytes(), b"ECU1");
    /// ```
    EcuId,
    "ECU ID"
);

/// A DLT log level, with its wire value (`DltLogLevelType` in
/// `dlt_types.h`; the MTIN field of a LOG message, AUTOSAR PRS_Dlt_00619).
///
/// Lower values are more severe. A context at level `L` lets a message of
/// level `M` through when `M != Off && M <= L`.
///
/// # Examples
///
/// ```
/// use taktora_log::LogLevel;
///
/// assert_eq!(LogLevel::from_u8(3), Some(LogLevel::Warn));
/// assert_eq!(LogLevel::from_u8(7), None);
/// assert_eq!(LogLevel::from_tracing(&tracing::Level::TRACE), LogLevel::Verbose);
/// assert_eq!(LogLevel::Error.as_str(), "error");
/// assert!(LogLevel::Error < LogLevel::Info, "more severe is lower");
/// ```
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    /// Nothing is logged (`DLT_LOG_OFF`).
    Off = 0,
    /// Fatal system error (`DLT_LOG_FATAL`).
    Fatal = 1,
    /// Error with impact on correct functionality (`DLT_LOG_ERROR`).
    Error = 2,
    /// Warning: correct behaviour cannot be ensured (`DLT_LOG_WARN`).
    Warn = 3,
    /// Informational (`DLT_LOG_INFO`).
    Info = 4,
    /// Debug (`DLT_LOG_DEBUG`).
    Debug = 5,
    /// Highest grade of information (`DLT_LOG_VERBOSE`).
    Verbose = 6,
}

impl LogLevel {
    /// The level for a wire value `0..=6`, or `None`.
    /// See [the example](Self#examples).
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Off,
            1 => Self::Fatal,
            2 => Self::Error,
            3 => Self::Warn,
            4 => Self::Info,
            5 => Self::Debug,
            6 => Self::Verbose,
            _ => return None,
        })
    }

    /// The DLT level a `tracing` level maps to: ERROR→Error, WARN→Warn,
    /// INFO→Info, DEBUG→Debug, TRACE→Verbose. (Fatal is reached through
    /// [`fatal!`](crate::fatal).)
    /// See [the example](Self#examples).
    pub fn from_tracing(level: &tracing_core::Level) -> Self {
        match *level {
            tracing_core::Level::ERROR => Self::Error,
            tracing_core::Level::WARN => Self::Warn,
            tracing_core::Level::INFO => Self::Info,
            tracing_core::Level::DEBUG => Self::Debug,
            _ => Self::Verbose,
        }
    }

    /// The lowercase word `dlt-receive` prints for this level.
    /// See [the example](Self#examples).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Fatal => "fatal",
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Verbose => "verbose",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level a context registers with: REGISTER_CONTEXT's `log_level`,
/// an `i8` on the wire (PROTOCOL.md §4.3, `DltUserControlMsgRegisterContext`
/// in `dlt_user_shared.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RegisterLevel {
    /// "Not set", wire -2 (`DLT_LOG_DEFAULT - 1`, what libdlt sends when
    /// the code gave no level): the daemon answers with its default
    /// level.
    NotSet,
    /// "Default", wire -1 (`DLT_LOG_DEFAULT`, what `DLT_INITIAL_LOG_LEVEL`
    /// calls `-1` or `default`): the daemon's default level applies too.
    Default,
    /// An explicit level, wire 0..=6.
    Level(LogLevel),
}

impl RegisterLevel {
    /// The wire value: -2, -1, or the level's `0..=6`.
    pub(crate) const fn wire(self) -> i8 {
        match self {
            Self::NotSet => -2,
            Self::Default => -1,
            Self::Level(l) => l as i8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_nul_padded_and_validated() {
        assert_eq!(AppId::new("A").unwrap().as_bytes(), b"A\0\0\0", "1 char");
        assert_eq!(AppId::new("ABCD").unwrap().as_bytes(), b"ABCD", "4 chars");
        let e = AppId::new("ABCDE").unwrap_err();
        assert_eq!(e.reason(), IdErrorReason::TooLong, "5 chars");
        assert_eq!(
            CtxId::new("").unwrap_err().reason(),
            IdErrorReason::Empty,
            "empty"
        );
        for bad in ["a\0", "a b", "é", "\t", "ab\x7f"] {
            assert_eq!(
                CtxId::new(bad).unwrap_err().reason(),
                IdErrorReason::NotPrintableAscii,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn id_display_and_debug_hide_padding() {
        let c = CtxId::new("CAN").unwrap();
        assert_eq!(c.to_string(), "CAN");
        assert_eq!(format!("{c:?}"), "CtxId(\"CAN\")");
    }

    #[test]
    fn const_ids_are_checked_at_compile_time() {
        const APP: AppId = match AppId::new("NAV") {
            Ok(a) => a,
            Err(_) => panic!("bad app id"),
        };
        assert_eq!(APP.to_string(), "NAV");
    }

    #[test]
    fn register_levels_have_libdlt_wire_values() {
        assert_eq!(RegisterLevel::NotSet.wire(), -2, "DLT_LOG_DEFAULT - 1");
        assert_eq!(RegisterLevel::Default.wire(), -1, "DLT_LOG_DEFAULT");
        for v in 0..=6u8 {
            let l = LogLevel::from_u8(v).expect("0..=6");
            assert_eq!(RegisterLevel::Level(l).wire(), v as i8, "{l}");
        }
    }

    #[test]
    fn levels_round_trip_and_map_from_tracing() {
        for v in 0..=6u8 {
            assert_eq!(LogLevel::from_u8(v).map(|l| l as u8), Some(v));
        }
        assert_eq!(LogLevel::from_u8(7), None);
        assert_eq!(
            LogLevel::from_tracing(&tracing_core::Level::TRACE),
            LogLevel::Verbose
        );
        assert_eq!(
            LogLevel::from_tracing(&tracing_core::Level::ERROR),
            LogLevel::Error
        );
        assert!(LogLevel::Fatal < LogLevel::Error, "more severe is lower");
    }
}
