/* blas_core.h — OpenBLAS kernels that match the CPU, without the user setting anything.
 *
 * A DYNAMIC_ARCH OpenBLAS picks its kernels once, when it is loaded, from its own CPU table
 * or from OPENBLAS_CORETYPE. Debian 12's 0.3.21 takes some newer CPUs (e.g. Sapphire and
 * Emerald Rapids Xeons) for "Prescott" and runs its matrix products several times slower
 * than the CPU allows. sbs_blas_core_init, called first thing in main, compares the core
 * the library chose with what the CPU supports; when the library chose a weaker core and
 * OPENBLAS_CORETYPE is not set, it sets OPENBLAS_CORETYPE (SkylakeX on an AVX-512 CPU,
 * Haswell on an AVX2+FMA one) and starts the program again (/proc/self/exe, same arguments),
 * so that the library loads with the right kernels.
 *
 * SBS_BLAS_CORETYPE controls it: unset or "auto" as above; "keep" leaves the library's choice
 * alone; an OpenBLAS core name (e.g. "Haswell") is used instead of the automatic choice
 * whenever it differs from the library's. OPENBLAS_CORETYPE, when set, always wins. */
#ifndef SBS_BLAS_CORE_H
#define SBS_BLAS_CORE_H

/* Kernel levels: 1 older than AVX2, 2 AVX2 + FMA, 3 AVX-512 (F, VL, BW, DQ). */

/* The level of an OpenBLAS core name (openblas_get_corename), case-insensitive: 3 for
 * SkylakeX, Cooperlake, SapphireRapids; 2 for Haswell, Zen; 1 for anything else. */
int sbs_blas_core_level(const char *core);
/* The level this CPU (and its OS) supports. */
int sbs_blas_cpu_level(void);
/* The core to set for a library that chose `core` on a CPU of level cpu_level, or NULL when
 * its choice is as good as the CPU allows: "SkylakeX" (level 3) or "Haswell" (level 2). */
const char *sbs_blas_core_pick(const char *core, int cpu_level);

/* The check above; argv is main's. Returns when nothing is to be done (or the restart failed,
 * which it reports on stderr); on a bad SBS_BLAS_CORETYPE it prints one line and exits 2. */
void sbs_blas_core_init(char **argv);

#endif
