//! What the benches share: waiting for a layer to connect, and the libdlt
//! FFI shim (`benches/libdlt_shim.c`, built with the `libdlt-bench`
//! feature). Each bench includes this with `mod support;` and uses what it
//! needs.

#![allow(dead_code)] // each bench uses a different part

use std::time::{Duration, Instant};

use taktora_log::FlushGuard;

/// Waits until the layer behind `guard` has connected to its daemon and
/// the daemon answered the registration (its LOG_STATE arrived): only
/// then does the layer write records to it.
///
/// # Panics
///
/// After 20 s without a connection.
pub(crate) fn wait_connected(guard: &FlushGuard) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while guard.stats().connects == 0 || guard.stats().log_state < 0 {
        assert!(Instant::now() < deadline, "layer did not connect");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(feature = "libdlt-bench")]
pub(crate) mod libdlt {
    //! The shim's app `LDLT` / context `BNCH`, and its counter of C
    //! allocations.

    extern "C" {
        fn taktora_bench_dlt_register() -> i32;
        fn taktora_bench_dlt_register_context() -> i32;
        fn taktora_bench_dlt_log();
        fn taktora_bench_dlt_log_seq(seq: u64);
        fn taktora_bench_dlt_unregister();
        fn taktora_bench_c_allocs_arm(on: i32);
        fn taktora_bench_c_allocs() -> u64;
        fn taktora_bench_c_malloc_probe();
    }

    /// Registers `LDLT` / `BNCH` with the daemon in `$DLT_PIPE_DIR`.
    pub(crate) fn register() -> i32 {
        // SAFETY: a C function without arguments; libdlt is thread-safe.
        unsafe { taktora_bench_dlt_register() }
    }

    /// Registers only the context `BNCH`, under the application another
    /// libdlt user in this process registered (libdlt keeps one per
    /// process).
    pub(crate) fn register_context() -> i32 {
        // SAFETY: a C function without arguments; libdlt is thread-safe.
        unsafe { taktora_bench_dlt_register_context() }
    }

    /// `DLT_LOG(ctx, DLT_LOG_ERROR, DLT_STRING(msg), DLT_UINT64(42),
    /// DLT_INT64(-3), DLT_BOOL(1))`: the producer bench's event.
    #[inline(never)]
    pub(crate) fn log() {
        // SAFETY: a C function without arguments; called only after
        // `register`.
        unsafe { taktora_bench_dlt_log() }
    }

    /// `DLT_LOG(ctx, DLT_LOG_ERROR, DLT_STRING("tp"), DLT_UINT64(42),
    /// DLT_INT64(-3), DLT_BOOL(1), DLT_UINT64(seq))`: the throughput
    /// bench's event.
    #[inline(never)]
    pub(crate) fn log_seq(seq: u64) {
        // SAFETY: a C function taking a plain integer; called only after
        // `register`.
        unsafe { taktora_bench_dlt_log_seq(seq) }
    }

    pub(crate) fn unregister() {
        // SAFETY: a C function without arguments.
        unsafe { taktora_bench_dlt_unregister() }
    }

    /// Runs `f` with the C allocation counter armed on this thread.
    pub(crate) fn armed(f: impl FnOnce()) {
        // SAFETY: C functions taking an int; they only write the calling
        // thread's own counter state.
        unsafe { taktora_bench_c_allocs_arm(1) };
        f();
        // SAFETY: as above.
        unsafe { taktora_bench_c_allocs_arm(0) };
    }

    /// C allocations counted on this thread so far.
    pub(crate) fn c_allocs() -> u64 {
        // SAFETY: reads the calling thread's counter.
        unsafe { taktora_bench_c_allocs() }
    }

    /// One `malloc` + `free` from C (arm the counter around it): proves
    /// the counter sees C code.
    pub(crate) fn c_malloc_probe() {
        // SAFETY: the probe frees what it allocates.
        unsafe { taktora_bench_c_malloc_probe() }
    }
}
