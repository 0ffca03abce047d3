/* fuzz_util.h — helpers shared by the fuzz targets: a private temporary folder (removed at
 * exit), writing a buffer to a file in it, splitting an input at a separator line. */
#ifndef SBS_FUZZ_UTIL_H
#define SBS_FUZZ_UTIL_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_tmp_dir[256];

__attribute__((unused)) static void fuzz_tmp_cleanup(void)
{
    if (!fuzz_tmp_dir[0]) return;
    DIR *d = opendir(fuzz_tmp_dir);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..")) continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", fuzz_tmp_dir, ent->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(fuzz_tmp_dir);
    fuzz_tmp_dir[0] = 0;
}

/* The folder, created on first use (in /dev/shm when it exists: fewer disk writes). */
__attribute__((unused)) static const char *fuzz_tmp(void)
{
    if (fuzz_tmp_dir[0]) return fuzz_tmp_dir;
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_tmp_dir, sizeof fuzz_tmp_dir, "%s/sbs-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_tmp_dir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(fuzz_tmp_cleanup);
    return fuzz_tmp_dir;
}

/* Write n bytes to <tmp>/name; path gets the full name. */
__attribute__((unused)) static void fuzz_write(const char *name, const void *data, size_t n,
                                               char *path, size_t size)
{
    snprintf(path, size, "%s/%s", fuzz_tmp(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* With FUZZ_VERBOSE set (replaying by hand), print each outcome. */
__attribute__((unused)) static void fuzz_note(const char *what, int r, const char *msg)
{
    static int v = -1;
    if (v < 0) v = getenv("FUZZ_VERBOSE") != NULL;
    if (v) fprintf(stderr, "  %s: %s\n", what, r == 0 ? "ok" : msg);
}

/* An error message must be one non-empty line. */
__attribute__((unused)) static void fuzz_check_msg(const char *msg)
{
    if (!msg[0] || strpbrk(msg, "\n\r")) {
        fprintf(stderr, "bad error message (empty or more than one line): '%s'\n", msg);
        abort();
    }
}

/* Split data at each occurrence of sep; up to max parts (the last takes the rest). */
typedef struct {
    const uint8_t *p;
    size_t n;
} fuzz_part;

__attribute__((unused)) static int fuzz_split(const uint8_t *data, size_t size, const char *sep,
                                              fuzz_part *parts, int max)
{
    size_t sl = strlen(sep), start = 0;
    int n = 0;
    for (size_t i = 0; n < max - 1 && i + sl <= size;) {
        if (memcmp(data + i, sep, sl) == 0) {
            parts[n].p = data + start;
            parts[n].n = i - start;
            n++;
            i += sl;
            start = i;
        } else {
            i++;
        }
    }
    parts[n].p = data + start;
    parts[n].n = size - start;
    return n + 1;
}

#endif
