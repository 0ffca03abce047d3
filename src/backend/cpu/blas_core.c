/* blas_core.c — start again with OPENBLAS_CORETYPE set when the loaded OpenBLAS chose weaker
 * kernels than the CPU supports (blas_core.h says why and how to opt out). */
#include "sbs/blas_core.h"
#include "sbs/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

/* OpenBLAS's (cblas.h declares it; the build always links OpenBLAS) */
char *openblas_get_corename(void);

/* set in the environment of the restarted program: no second restart */
#define SBS_BLAS_MARK "SBS_BLAS_RESTARTED"

int sbs_blas_core_level(const char *core)
{
    static const char *const l3[] = {"skylakex", "cooperlake", "sapphirerapids"};
    static const char *const l2[] = {"haswell", "zen"};
    if (!core) return 1;
    for (size_t i = 0; i < sizeof l3 / sizeof *l3; i++)
        if (!strcasecmp(core, l3[i])) return 3;
    for (size_t i = 0; i < sizeof l2 / sizeof *l2; i++)
        if (!strcasecmp(core, l2[i])) return 2;
    return 1;
}

int sbs_blas_cpu_level(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return 3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
#endif
    return 1;
}

const char *sbs_blas_core_pick(const char *core, int cpu_level)
{
    if (sbs_blas_core_level(core) >= cpu_level) return NULL;
    return cpu_level >= 3 ? "SkylakeX" : cpu_level == 2 ? "Haswell" : NULL;
}

void sbs_blas_core_init(char **argv)
{
    if (getenv(SBS_BLAS_MARK)) { /* this is the restarted program */
        unsetenv(SBS_BLAS_MARK);
        return;
    }
    const char *want = getenv("SBS_BLAS_CORETYPE");
    if (want && !*want) want = NULL;
    const bool keep = want && !strcasecmp(want, "keep");
    if (keep) want = NULL;
    if (want && !strcasecmp(want, "auto")) want = NULL;
    bool name = want != NULL;
    for (const char *c = want; c && *c; c++) name = name && isalnum((unsigned char)*c);
    if (want && !name) {
        fprintf(stderr,
                "SBS_BLAS_CORETYPE: expected keep, auto or an OpenBLAS core name "
                "(e.g. SkylakeX, Haswell), found '%s'\n",
                want);
        exit(SBS_EXIT_USAGE);
    }
    const char *set = getenv("OPENBLAS_CORETYPE");
    const char *core = openblas_get_corename();
    const char *pick = keep || (set && *set) ? NULL
                       : want                ? (core && !strcasecmp(core, want) ? NULL : want)
                                             : sbs_blas_core_pick(core, sbs_blas_cpu_level());
    /* Under an address-space limit (ulimit -v), the library's own threads are a hazard: each
     * maps a buffer of about 128 MiB when it starts, retries forever when it cannot, and the
     * exit then waits for it. The programs never use them (one BLAS thread per call, from
     * their own pool), and the library starts them only when OPENBLAS_NUM_THREADS, read as
     * it loads, asks for more than one: so start again with it set to 1. */
    const char *nt = getenv("OPENBLAS_NUM_THREADS");
    struct rlimit rl;
    bool one_thread =
        (!nt || strcmp(nt, "1")) && getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
    if (!pick && !one_thread) return;
    /* under valgrind the restart would run the program outside it */
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "vgpreload")) return;
    if (pick) setenv("OPENBLAS_CORETYPE", pick, 1);
    if (one_thread) setenv("OPENBLAS_NUM_THREADS", "1", 1);
    setenv(SBS_BLAS_MARK, core ? core : "?", 1);
    fflush(NULL);
    execv("/proc/self/exe", argv);
    /* still here: carry on with the library's kernels */
    if (pick)
        fprintf(stderr,
                "%s: OpenBLAS chose the %s kernels; restarting with OPENBLAS_CORETYPE=%s "
                "failed, continuing with them\n",
                argv[0], core ? core : "?", pick);
    else
        fprintf(stderr,
                "%s: restarting with OPENBLAS_NUM_THREADS=1 (under an address-space limit) "
                "failed, continuing\n",
                argv[0]);
    if (pick) unsetenv("OPENBLAS_CORETYPE");
    if (one_thread) unsetenv("OPENBLAS_NUM_THREADS");
    unsetenv(SBS_BLAS_MARK);
}
