//! taktora-log: `tracing` into the AUTOSAR DLT daemon, without libdlt.
//!
//! (Crate documentation is completed as the modules land.)

#![deny(unsafe_code)]
#![cfg_attr(docsrs, deny(rustdoc::broken_intra_doc_links))]
#![doc(test(attr(deny(warnings))))]

mod control;
mod error;
mod frame;
mod ids;
pub mod ring;

pub use error::{IdError, IdErrorReason, InitError, InitErrorKind};
pub use frame::{FRAME_CAP, MIN_FRAME_LIMIT, TRUNCATION_MARKER};
pub use ids::{AppId, CtxId, EcuId, LogLevel, ID_LEN};

/// Placeholder so intra-doc links resolve until the macro lands.
#[macro_export]
macro_rules! fatal {
    ($($arg:tt)*) => {};
}
