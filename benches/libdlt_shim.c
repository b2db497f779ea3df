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

/* Registers only the context `BNCH`, under an application that another
 * libdlt user in this process (tracing-dlt, in the peer-bench build)
 * registered already: libdlt holds one application per process. */
int taktora_bench_dlt_register_context(void)
{
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

/* Counting libdlt's heap allocations for the producer bench's "allocs"
 * column. These definitions in the bench executable take precedence over
 * glibc's for every caller in the process, libdlt.so included (glibc
 * supports replacing malloc this way); each forwards to glibc's own
 * allocator and, while the calling thread has armed it, counts. */
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);

static __thread unsigned long long taktora_c_allocs;
static __thread int taktora_c_armed;

void *malloc(size_t size)
{
    if (taktora_c_armed)
        taktora_c_allocs++;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    if (taktora_c_armed)
        taktora_c_allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size)
{
    if (taktora_c_armed)
        taktora_c_allocs++;
    return __libc_realloc(ptr, size);
}

void free(void *ptr)
{
    __libc_free(ptr);
}

/* Arms (1) or disarms (0) counting on the calling thread. */
void taktora_bench_c_allocs_arm(int on)
{
    taktora_c_armed = on;
}

/* Allocations counted on the calling thread so far. */
unsigned long long taktora_bench_c_allocs(void)
{
    return taktora_c_allocs;
}

/* One malloc + free from C, to prove the counter sees C callers. */
void taktora_bench_c_malloc_probe(void)
{
    /* volatile: the compiler may otherwise remove a malloc/free pair. */
    void *volatile p = malloc(16);
    free(p);
}
