/* common.h — error reporting, checked allocation and small helpers shared by every module.
 *
 * Errors travel as an sbs_err filled by the failing function (one line: file, key or offset,
 * what was expected, what was found); functions return 0 on success and -1 on failure.
 * Allocation failure is not recoverable: xmalloc/xcalloc print file:line and exit(3). */
#ifndef SBS_COMMON_H
#define SBS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* The version: meson.build passes project(version: ...) as -DSBS_VERSION (NEWS.md's top entry
 * names the same version; tests/tools/test_news.sh checks it). */
#ifndef SBS_VERSION
#error "SBS_VERSION is not defined: build with meson (meson.build sets it from project(version:))"
#endif

/* Exit codes of the command line tools (documented in README.md). */
enum {
    SBS_EXIT_OK = 0,
    SBS_EXIT_FAILURE = 1,      /* run failed while working (I/O error, NaN, ...) */
    SBS_EXIT_USAGE = 2,        /* bad command line, bad config, bad input file */
    SBS_EXIT_NOMEM = 3,        /* out of memory */
    SBS_EXIT_INTERRUPTED = 130 /* SIGINT/SIGTERM: state saved, run stopped */
};

typedef struct sbs_err {
    char msg[1024];
} sbs_err;

/* Format the message into e (if e != NULL) and return -1. */
int sbs_fail(sbs_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void *sbs_xmalloc_(size_t n, const char *file, int line);
void *sbs_xcalloc_(size_t n, size_t size, const char *file, int line);
void *sbs_xrealloc_(void *p, size_t n, const char *file, int line);
#define xmalloc(n) sbs_xmalloc_((n), __FILE__, __LINE__)
#define xcalloc(n, s) sbs_xcalloc_((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) sbs_xrealloc_((p), (n), __FILE__, __LINE__)
/* 64-byte aligned allocation (for SIMD); free with free(). */
void *sbs_xaligned_(size_t n, const char *file, int line);
#define xaligned(n) sbs_xaligned_((n), __FILE__, __LINE__)

/* Overflow-checked size arithmetic for sizes computed from a config or a file header:
 * *out = a * b (a + b), false (and *out untouched) if the result does not fit a size_t. */
static inline bool sbs_mul_size(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}
static inline bool sbs_add_size(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

/* Memory figures: a * b and a + b saturating at SBS_MEM_HUGE (more than any machine has), so
 * that a few such figures add without a wrap and a memory check refuses the sum. */
#define SBS_MEM_HUGE (SIZE_MAX / 8)
static inline size_t sbs_mul_huge(size_t a, size_t b)
{
    size_t r;
    return sbs_mul_size(a, b, &r) && r < SBS_MEM_HUGE ? r : SBS_MEM_HUGE;
}
static inline size_t sbs_add_huge(size_t a, size_t b)
{
    size_t r;
    return sbs_add_size(a, b, &r) && r < SBS_MEM_HUGE ? r : SBS_MEM_HUGE;
}

/* Open an existing file for reading, refusing anything but a regular file before a read can
 * block: the open is non-blocking (a FIFO without a writer does not hang it) and the mode is
 * checked with fstat. Returns the descriptor (blocking again), or -1 with e set to
 * "cannot open PATH: <strerror>" (missing, permission denied, a symlink loop, a folder: "Is a
 * directory") or "cannot open PATH: not a regular file (a FIFO)" (a device, a socket). */
int sbs_open_regular(const char *path, sbs_err *e);

/* Monotonic wall clock in seconds. */
double sbs_now(void);

/* Memory this process may still use: MemAvailable, capped by RLIMIT_AS (SIZE_MAX if
 * unknown). */
size_t sbs_mem_available(void);

/* Whether `bytes` more of address space can be mapped under this process's RLIMIT_AS
 * (ulimit -v; true when there is none): probed with one PROT_NONE mapping of that size,
 * which touches no memory and is unmapped at once. *left, when not NULL, gets what the limit
 * leaves (limit minus the address space mapped now), SIZE_MAX without a limit. */
bool sbs_address_space_fits(size_t bytes, size_t *left);

/* Number of CPU cores this process may run on: its affinity mask (taskset, an MPI launcher's
 * binding, a SLURM allocation), else the online cores (>= 1). */
int sbs_num_cores(void);

/* Create a folder and its missing parents (mkdir -p); an existing folder is fine. One line in
 * e names the folder that could not be made. */
int sbs_mkdir_p(const char *path, sbs_err *e);

#endif
