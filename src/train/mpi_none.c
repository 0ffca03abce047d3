/* mpi_none.c — the MPI session of a build without MPI (mpi.h): always one process, and a clear
 * refusal when a launcher started several, which would otherwise train independently into the
 * same folder. */
#include "sbs/mpi.h"

#include <stdio.h>

int sbs_mpi_begin(int *argc, char ***argv, sbs_reducer **red, sbs_err *e)
{
    (void)argc;
    (void)argv;
    *red = NULL;
    const char *var;
    int n = sbs_launcher_size(&var);
    if (n > 1)
        return sbs_fail(e,
                        "started by a launcher as one of %d processes (%s=%d), but this build "
                        "has no MPI: they would train independently into the same folder; "
                        "install libopenmpi-dev openmpi-bin and rebuild (meson setup "
                        "--reconfigure build -Dmpi=enabled), or run one process",
                        n, var, n),
               SBS_EXIT_USAGE;
    return 0;
}

int sbs_mpi_default_threads(sbs_reducer *red)
{
    (void)red;
    return 0;
}

int sbs_mpi_end(sbs_reducer *red, int status, const sbs_err *e, const char *prog, bool quiet)
{
    (void)red;
    (void)quiet;
    if (status != SBS_EXIT_OK && status != SBS_EXIT_INTERRUPTED)
        fprintf(stderr, "%s: %s\n", prog, e->msg);
    return status;
}
