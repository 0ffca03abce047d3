/* common.c — error formatting, checked allocation, opening regular files only, clock,
 * folders. */
#include "sbs/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

static const char *file_kind(mode_t m)
{
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a file";
}

int sbs_open_regular(const char *path, sbs_err *e)
{
    int fd;
    do fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        /* a socket cannot be opened at all (ENXIO): say what it is */
        struct stat st;
        int err = errno;
        if (err == ENXIO && stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
            return sbs_fail(e, "cannot open %s: not a regular file (%s)", path,
                            file_kind(st.st_mode));
        return sbs_fail(e, "cannot open %s: %s", path, strerror(err));
    }
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) != 0)
        r = sbs_fail(e, "cannot open %s: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        r = sbs_fail(e, "cannot open %s: %s", path, strerror(EISDIR));
    else if (!S_ISREG(st.st_mode))
        r = sbs_fail(e, "cannot open %s: not a regular file (%s)", path, file_kind(st.st_mode));
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        r = sbs_fail(e, "cannot open %s: %s", path, strerror(errno));
    if (r) {
        close(fd);
        return -1;
    }
    return fd;
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

bool sbs_address_space_fits(size_t bytes, size_t *left)
{
    struct rlimit rl;
    if (left) *left = SIZE_MAX;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return true;
    if (left) {
        size_t mapped = 0;
        unsigned long long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (f) {
            if (fscanf(f, "%llu", &pages) == 1)
                mapped = (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
            fclose(f);
        }
        *left = mapped < rl.rlim_cur ? (size_t)rl.rlim_cur - mapped : 0;
    }
    if (bytes == 0) return true;
    void *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    munmap(p, bytes);
    return true;
}

int sbs_mkdir_p(const char *path, sbs_err *e)
{
    char buf[PATH_MAX];
    if ((size_t)snprintf(buf, sizeof buf, "%s", path) >= sizeof buf)
        return sbs_fail(e, "folder name too long (%zu characters, at most %d): %.60s...",
                        strlen(path), PATH_MAX - 1, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return sbs_fail(e, "cannot create folder %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return sbs_fail(e, "cannot create folder %s: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return sbs_fail(e, "%s exists and is not a folder", buf);
    return 0;
}
