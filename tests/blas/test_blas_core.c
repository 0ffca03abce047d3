/* test_blas_core.c — OpenBLAS kernel choice at start-up (blas_core.h): the level table and the
 * pick (a library that chose Prescott on an AVX-512 CPU gets SkylakeX, on an AVX2 CPU
 * Haswell; a good enough choice is left alone), then the restart end to end: this program
 * runs itself (--probe) with environments set up for each case and reads which core the
 * library ended up with. --probe: sbs_blas_core_init, then print "core=NAME". */
#include "sbs/blas_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *openblas_get_corename(void);

static int failed;
#define CHECK(cond, ...)                                           \
    do {                                                           \
        if (!(cond)) {                                             \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            printf(__VA_ARGS__);                                   \
            printf("\n");                                          \
            failed = 1;                                            \
        }                                                          \
    } while (0)

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static void test_pick(void)
{
    CHECK(sbs_blas_core_level("Prescott") == 1, "Prescott");
    CHECK(sbs_blas_core_level("SANDYBRIDGE") == 1, "Sandybridge");
    CHECK(sbs_blas_core_level("Haswell") == 2 && sbs_blas_core_level("ZEN") == 2, "Haswell, Zen");
    CHECK(sbs_blas_core_level("SkylakeX") == 3 && sbs_blas_core_level("Cooperlake") == 3 &&
              sbs_blas_core_level("SapphireRapids") == 3,
          "AVX-512 cores");
    CHECK(sbs_blas_core_level(NULL) == 1, "no name");
    static const struct {
        const char *core;
        int cpu;
        const char *want;
    } t[] = {
        {"Prescott", 3, "SkylakeX"}, {"Haswell", 3, "SkylakeX"}, {"Cooperlake", 3, NULL},
        {"SkylakeX", 3, NULL},       {"Prescott", 2, "Haswell"}, {"Zen", 2, NULL},
        {"SkylakeX", 2, NULL},       {"Prescott", 1, NULL},      {NULL, 3, "SkylakeX"},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        const char *got = sbs_blas_core_pick(t[i].core, t[i].cpu);
        CHECK(same(got, t[i].want), "pick(%s, %d) = %s, expected %s",
              t[i].core ? t[i].core : "NULL", t[i].cpu, got ? got : "NULL",
              t[i].want ? t[i].want : "NULL");
    }
}

/* run this program with --probe in env (NAME=VALUE strings; NAME= alone unsets): its first
 * output line into out, exit status returned */
static int probe(const char *self, const char *const *env, char *out, size_t cap)
{
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv("SBS_BLAS_CORETYPE");
        for (const char *const *e = env; *e; e++) {
            char name[64];
            const char *eq = strchr(*e, '=');
            snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
            if (eq[1])
                setenv(name, eq + 1, 1);
            else
                unsetenv(name);
        }
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        execl(self, self, "--probe", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
    out[n] = 0;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_restart(const char *self)
{
    char out[1024], detected[1024];
    /* what the library picks on its own here */
    const char *keep[] = {"SBS_BLAS_CORETYPE=keep", NULL};
    int rc = probe(self, keep, out, sizeof out);
    CHECK(rc == 0 && !strncmp(out, "core=", 5), "keep: rc %d, output %s", rc, out);
    snprintf(detected, sizeof detected, "%s", out + 5);
    detected[strcspn(detected, "\n")] = 0;
    printf("    this CPU: level %d, OpenBLAS detects %s\n", sbs_blas_cpu_level(), detected);

    /* automatic: at least the CPU's level (or the library's own choice when that is enough) */
    const char *none[] = {NULL};
    rc = probe(self, none, out, sizeof out);
    out[strcspn(out, "\n")] = 0;
    int lv = sbs_blas_core_level(out + 5);
    const char *pick = sbs_blas_core_pick(detected, sbs_blas_cpu_level());
    CHECK(rc == 0 && !strcmp(out + 5, pick ? pick : detected), "auto: %s (level %d), expected %s",
          out, lv, pick ? pick : detected);

    /* a core asked for by name is loaded through the restart */
    const char *want = strcasecmp(detected, "Haswell") ? "Haswell" : "Sandybridge";
    char setw[64];
    snprintf(setw, sizeof setw, "SBS_BLAS_CORETYPE=%s", want);
    const char *named[] = {setw, NULL};
    rc = probe(self, named, out, sizeof out);
    out[strcspn(out, "\n")] = 0;
    CHECK(rc == 0 && !strcasecmp(out + 5, want), "SBS_BLAS_CORETYPE=%s: %s", want, out);

    /* OPENBLAS_CORETYPE set by the user wins over everything */
    const char *user[] = {"OPENBLAS_CORETYPE=Sandybridge", "SBS_BLAS_CORETYPE=Haswell", NULL};
    rc = probe(self, user, out, sizeof out);
    out[strcspn(out, "\n")] = 0;
    CHECK(rc == 0 && !strcasecmp(out + 5, "Sandybridge"), "OPENBLAS_CORETYPE set: %s", out);

    /* a bad value: one line naming the variable, exit 2 */
    const char *bad[] = {"SBS_BLAS_CORETYPE=sky lake", NULL};
    rc = probe(self, bad, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "SBS_BLAS_CORETYPE") && strstr(out, "sky lake"),
          "bad value: rc %d, %s", rc, out);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--probe")) {
        sbs_blas_core_init(argv);
        printf("core=%s\n", openblas_get_corename());
        return 0;
    }
    test_pick();
    printf("%s level table and pick\n", failed ? "FAIL" : "ok  ");
    int before = failed;
    failed = 0;
    test_restart("/proc/self/exe");
    printf("%s restart with OPENBLAS_CORETYPE\n", failed ? "FAIL" : "ok  ");
    return failed || before ? 1 : 0;
}
