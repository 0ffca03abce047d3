/* npz.h — NumPy .npz archives (what numpy.savez_compressed writes): a zip (libzip) of one
 * deflated NAME.npy member per array, the members in the format sbs_npy_encode writes.
 *
 * Written atomically (built in memory, then a temporary file, fsync, rename), with a fixed
 * member time stamp, so the same arrays give the same bytes. */
#ifndef SBS_NPZ_H
#define SBS_NPZ_H

#include "sbs/common.h"

typedef struct {
    const char *name;  /* member NAME.npy; the key numpy.load gives it */
    const char *descr; /* dtype as in sbs_npy_encode ("<i8", "<f4", ...) */
    const void *data;  /* prod(shape) elements in host byte order */
    int ndim;
    const long *shape;
} sbs_npz_array;

/* Write the n arrays to path. One line in e on failure (path and what went wrong). */
int sbs_npz_write(const char *path, const sbs_npz_array *arrays, int n, sbs_err *e);

#endif
