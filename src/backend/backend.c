/* backend.c — the one factory of backends: a name ("cpu", "cuda") to a table. */
#include "sbs/backend.h"

#include <string.h>

sbs_backend *sbs_cpu_backend_create(const sbs_backend_opts *o, sbs_err *e);
#ifdef SBS_HAVE_CUDA
sbs_backend *sbs_cuda_backend_create(const sbs_backend_opts *o, sbs_err *e);
#endif

const char *sbs_backend_names(void)
{
#ifdef SBS_HAVE_CUDA
    return "cpu, cuda";
#else
    return "cpu";
#endif
}

sbs_backend *sbs_backend_create(const char *name, const sbs_backend_opts *o, sbs_err *e)
{
    if (!name || !strcmp(name, "cpu")) return sbs_cpu_backend_create(o, e);
    if (!strcmp(name, "cuda")) {
#ifdef SBS_HAVE_CUDA
        return sbs_cuda_backend_create(o, e);
#else
        sbs_fail(e,
                 "--backend cuda: this build has no CUDA backend (built without nvcc or with "
                 "-Dcuda=disabled); backends in this build: %s",
                 sbs_backend_names());
        return NULL;
#endif
    }
    sbs_fail(e, "--backend: unknown backend '%s'; backends in this build: %s", name,
             sbs_backend_names());
    return NULL;
}
