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

#define SBS_VERSION "0.1.0"

/* Exit codes of the command line tools (documented in README.md). */
enum {
    SBS_EXIT_OK = 0,
    SBS_EXIT_FAILURE = 1,     /* run failed while working (I/O error, NaN, ...) */
    SBS_EXIT_USAGE = 2,       /* bad command line, bad config, bad input file */
    SBS_EXIT_NOMEM = 3,       /* out of memory */
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

/* Monotonic wall clock in seconds. */
double sbs_now(void);

/* Memory this process may still use: MemAvailable, capped by RLIMIT_AS (SIZE_MAX if
 * unknown). */
size_t sbs_mem_available(void);

/* Number of CPU cores this process may run on: its affinity mask (taskset, an MPI launcher's
 * binding, a SLURM allocation), else the online cores (>= 1). */
int sbs_num_cores(void);

#endif
