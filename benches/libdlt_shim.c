/* The libdlt peer of benches/producer.rs, built only with the cargo
 * feature `libdlt-bench` (see build.rs). One application LDLT with one
 * context BNCH; the event is the bench's: an ERROR with a message and
 * id=42 (uint64), temp=-3 (int64), ok=true. */
#include <dlt/dlt.h>

DLT_DECLARE_CONTEXT(taktora_bench_ctx)

int taktora_bench_dlt_register(void)
{
    if (dlt_register_app("LDLT", "libdlt bench") < 0)
        return -1;
    if (dlt_register_context(&taktora_bench_ctx, "BNCH", "bench") < 0)
        return -2;
    return 0;
}

void taktora_bench_dlt_log(void)
{
    DLT_LOG(taktora_bench_ctx, DLT_LOG_ERROR, DLT_STRING("brake pressure low"),
            DLT_UINT64(42), DLT_INT64(-3), DLT_BOOL(1));
}

void taktora_bench_dlt_unregister(void)
{
    dlt_unregister_context(&taktora_bench_ctx);
    dlt_unregister_app();
}

/* The throughput bench's record: the same message and fields as the
 * layer's `error!(id = 42u64, temp = -3i64, ok = true, seq, "tp")`. */
void taktora_bench_dlt_log_seq(unsigned long long seq)
{
    DLT_LOG(taktora_bench_ctx, DLT_LOG_ERROR, DLT_STRING("tp"), DLT_UINT64(42),
            DLT_INT64(-3), DLT_BOOL(1), DLT_UINT64(seq));
}
