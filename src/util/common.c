/* common.c — error formatting, checked allocation, clock. */
#include "sbs/common.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int sbs_fail(sbs_err *e, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void oom(size_t n, const char *file, int line)
{
    fprintf(stderr, "error: out of memory allocating %zu bytes (%s:%d)\n", n, file, line);
    exit(SBS_EXIT_NOMEM);
}

void *sbs_xmalloc_(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n, file, line);
    return p;
}

void *sbs_xcalloc_(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size, file, line);
    return p;
}

void *sbs_xrealloc_(void *q, size_t n, const char *file, int line)
{
    void *p = realloc(q, n ? n : 1);
    if (!p) oom(n, file, line);
    return p;
}

void *sbs_xaligned_(size_t n, const char *file, int line)
{
    void *p = NULL;
    size_t m = (n + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, m ? m : 64) != 0) oom(n, file, line);
    return p;
}

double sbs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int sbs_num_cores(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

size_t sbs_mem_available(void)
{
    size_t avail = SIZE_MAX;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                avail = (size_t)kb * 1024;
                break;
            }
        fclose(f);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < avail)
        avail = (size_t)rl.rlim_cur;
    return avail;
}
