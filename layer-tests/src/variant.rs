//! Running a daemon test against every dlt-daemon variant of the matrix
//! ([`VARIANTS`](crate::VARIANTS)): [`require_variant`] decides run, skip
//! or fail for one variant, and [`daemon_matrix!`](crate::daemon_matrix)
//! turns one test body into one `#[test]` per variant, named after it.

use crate::tool_path::is_ci;
use crate::variant_table::DaemonVariant;

/// Checks that the DLT tools (see
/// [`require_dlt_tools`](crate::require_dlt_tools)) and `variant` are
/// there, and prints which variant runs.
///
/// On a developer machine without the variant it prints
/// `SKIPPED <test>: dlt-daemon variant <name> is not built; build it with:
/// scripts/build-daemons.sh <name>` to stderr and returns `false`.
///
/// # Panics
///
/// When the tools or the variant are missing and `CI` is `true` (or `1`).
pub fn require_variant(variant: &DaemonVariant) -> bool {
    if !crate::require_dlt_tools() {
        return false;
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    if variant.is_built() {
        eprintln!("{test}: against dlt-daemon {}", variant.name);
        return true;
    }
    let hint = format!(
        "dlt-daemon variant {} is not built (looked for {}); build it with: \
         scripts/build-daemons.sh {}",
        variant.name,
        variant.daemon_binary().map_or_else(
            || "no cache dir: set HOME".to_owned(),
            |p| p.display().to_string()
        ),
        variant.name
    );
    if is_ci(std::env::var("CI").ok().as_deref()) {
        panic!("CI=true but {hint}; daemon variant tests must not be skipped in CI");
    }
    eprintln!("SKIPPED {test}: {hint}");
    false
}

/// One `#[test]` per daemon variant for the function `name(v: &'static
/// DaemonVariant)` in scope: `daemon_matrix!(name);` adds a module `name`
/// with the tests `debian_2_18_8`, `v2_18_10_fifo`, `v2_18_11_fifo`,
/// `v2_18_11_fifo_traceload`, `v3_0_0_fifo` and `v3_0_0_socket`, each
/// calling `name` with its [`DaemonVariant`] after [`require_variant`],
/// so the test's name says which daemon ran. A variant that is not built
/// is reported as ignored (`cfg(no_daemon_...)` from `build.rs`), except
/// in CI, where it fails.
///
/// ```text
/// fn hello(v: &'static layer_tests::DaemonVariant) {
///     let daemon = layer_tests::PrivateDaemon::start_variant(v, &[], &[]).unwrap();
///     // ... point the layer at daemon.pipe_dir() ...
/// }
/// layer_tests::daemon_matrix!(hello);
/// ```
#[macro_export]
macro_rules! daemon_matrix {
    ($name:ident) => {
        mod $name {
            fn run(v: &'static $crate::DaemonVariant) {
                if $crate::require_variant(v) {
                    super::$name(v);
                }
            }

            #[test]
            #[cfg_attr(no_dlt_tools, ignore = "no dlt-daemon: run scripts/install-deps.sh")]
            fn debian_2_18_8() {
                run(&$crate::DEBIAN)
            }

            #[test]
            #[cfg_attr(
                any(no_dlt_tools, no_daemon_2_18_10_fifo),
                ignore = "dlt-daemon 2.18.10-fifo not built: run scripts/build-daemons.sh"
            )]
            fn v2_18_10_fifo() {
                run(&$crate::V2_18_10_FIFO)
            }

            #[test]
            #[cfg_attr(
                any(no_dlt_tools, no_daemon_2_18_11_fifo),
                ignore = "dlt-daemon 2.18.11-fifo not built: run scripts/build-daemons.sh"
            )]
            fn v2_18_11_fifo() {
                run(&$crate::V2_18_11_FIFO)
            }

            #[test]
            #[cfg_attr(
                any(no_dlt_tools, no_daemon_2_18_11_fifo_traceload),
                ignore = "dlt-daemon 2.18.11-fifo-traceload not built: run scripts/build-daemons.sh"
            )]
            fn v2_18_11_fifo_traceload() {
                run(&$crate::V2_18_11_TRACELOAD)
            }

            #[test]
            #[cfg_attr(
                any(no_dlt_tools, no_daemon_3_0_0_fifo),
                ignore = "dlt-daemon 3.0.0-fifo not built: run scripts/build-daemons.sh"
            )]
            fn v3_0_0_fifo() {
                run(&$crate::V3_0_0_FIFO)
            }

            #[test]
            #[cfg_attr(
                any(no_dlt_tools, no_daemon_3_0_0_socket),
                ignore = "dlt-daemon 3.0.0-socket not built: run scripts/build-daemons.sh"
            )]
            fn v3_0_0_socket() {
                run(&$crate::V3_0_0_SOCKET)
            }
        }
    };
}
