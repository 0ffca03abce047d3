/* harness.h — a tiny table-driven test harness for the data tests.
 *
 * A case is a function returning PASS, FAIL (after printing why with CHECK/FAILF) or SKIP
 * (after printing why). main runs every case, prints one line each and exits 1 if any failed,
 * 77 if every case was skipped, 0 otherwise. */
#ifndef SBS_TEST_HARNESS_H
#define SBS_TEST_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PASS = 0, FAIL = 1, SKIP = 77 };

typedef struct {
    const char *name;
    int (*fn)(void);
} test_case;

#define FAILF(...)                                 \
    do {                                           \
        printf("    %s:%d: ", __FILE__, __LINE__); \
        printf(__VA_ARGS__);                       \
        printf("\n");                              \
        return FAIL;                               \
    } while (0)

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            printf("    %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            printf(__VA_ARGS__);                                                \
            printf("\n");                                                       \
            return FAIL;                                                        \
        }                                                                       \
    } while (0)

#define SKIPF(...)               \
    do {                         \
        printf("    skipped: "); \
        printf(__VA_ARGS__);     \
        printf("\n");            \
        return SKIP;             \
    } while (0)

static inline int run_cases(const char *suite, const test_case *cases, size_t n)
{
    size_t pass = 0, fail = 0, skip = 0;
    for (size_t i = 0; i < n; i++) {
        fflush(stdout);
        int r = cases[i].fn();
        const char *tag = r == PASS ? "ok  " : r == SKIP ? "skip" : "FAIL";
        printf("%s %s\n", tag, cases[i].name);
        if (r == PASS)
            pass++;
        else if (r == SKIP)
            skip++;
        else
            fail++;
    }
    printf("%s: %zu passed, %zu failed, %zu skipped (%zu cases)\n", suite, pass, fail, skip, n);
    if (fail) return 1;
    if (skip == n) return 77;
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Remove a temporary folder and everything in it. */
static inline void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh temporary folder under $TMPDIR (or /tmp). */
static inline void make_tmpdir(char *buf, size_t size, const char *tag)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, size, "%s/sbs-%s-XXXXXX", t && *t ? t : "/tmp", tag);
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(1);
    }
}

static inline int write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* Entries of dir (without . and ..) whose name contains `contains` (all if NULL). */
static inline int count_entries(const char *dir, const char *contains)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            (!contains || strstr(e->d_name, contains)))
            n++;
    closedir(d);
    return n;
}

#endif
