/* npy.h — NumPy .npy files (format versions 1.0, 2.0 and 3.0 read; 1.0 written), the format
 * of the reference's weight files and of its converted data sets (SPEC §4).
 *
 * Reading validates the magic, version, header dictionary, dtype, byte order, Fortran order,
 * shape and file length, and reports file, what was expected and what was found.
 * Writing is atomic: a temporary file in the same folder, fsync, rename, fsync of the folder. */
#ifndef SBS_NPY_H
#define SBS_NPY_H

#include "sbs/common.h"

#define SBS_NPY_MAX_DIMS 8

typedef struct {
    int ndim;
    long shape[SBS_NPY_MAX_DIMS];
    size_t count;  /* product of shape */
    float *data;   /* count floats (converted from the file's dtype); free() it */
    char dtype[8]; /* as found in the file, e.g. "<f4", "|u1", "<i8" */
} sbs_npy;

/* Read any numeric .npy (bool, u1..u8, i1..i8, f4, f8; either byte order) into floats.
 * With strict_f4, anything but little-endian float32 in C order is an error
 * (used for weight files). */
int sbs_npy_read(const char *path, sbs_npy *out, bool strict_f4, sbs_err *e);

/* Parse a .npy from memory (used by sbs_npy_read and by the fuzz target). */
int sbs_npy_parse(const unsigned char *buf, size_t len, const char *name, sbs_npy *out,
                  bool strict_f4, sbs_err *e);

/* Write little-endian float32, C order, format 1.0, atomically. */
int sbs_npy_write(const char *path, const float *data, int ndim, const long *shape, sbs_err *e);

/* The bytes numpy.save writes (format 1.0, C order) for count = prod(shape) elements of dtype
 * descr ("<f4", "<i8", "|u1", ...; 1, 2, 4 or 8 bytes each) at data, in host byte order
 * (swapped to descr's). *out (malloc'd, *out_len bytes) gets header and data; name is for
 * messages only. */
int sbs_npy_encode(const char *name, const char *descr, const void *data, int ndim,
                   const long *shape, unsigned char **out, size_t *out_len, sbs_err *e);

void sbs_npy_free(sbs_npy *a);

/* Find the one file "<prefix>_L<layer>_S*.npy" in dir (e.g. prefix "Weight").
 * Returns 1 and fills path when exactly one matches, 0 when none (or dir does not exist),
 * -1 with an error naming the matches when more than one does. */
int sbs_find_layer_file(const char *dir, const char *prefix, int layer, char *path,
                        size_t path_size, sbs_err *e);
/* The same for one epoch: "<prefix>_L<layer>_S<epoch>.npy" (any epoch when epoch < 0). */
int sbs_find_layer_file_epoch(const char *dir, const char *prefix, int layer, long epoch,
                              char *path, size_t path_size, sbs_err *e);
/* The epochs S of the files "<prefix>_L<layer>_S<S>.npy" in dir, ascending, in a malloc'd
 * array (*epochs, *n; NULL and 0 when there are none). -1 when dir cannot be read. */
int sbs_list_layer_epochs(const char *dir, const char *prefix, int layer, long **epochs, size_t *n,
                          sbs_err *e);

/* Atomic write helper shared with checkpoints: writes n bytes to path via tmp+fsync+rename. */
int sbs_write_file_atomic(const char *path, const void *data, size_t n, sbs_err *e);

/* Read a whole file into memory (malloc'd); *len gets its size. A name ending in ".gz"
 * is inflated. Only regular files are read (sbs_open_regular): a FIFO, device or socket is
 * refused before it can block. */
int sbs_read_file(const char *path, unsigned char **buf, size_t *len, sbs_err *e);

/* The same, but reading (or inflating) at most max bytes of content; *more is set when the
 * file goes on past them. Used where a header tells the size: a small .gz cannot make the
 * reader inflate more than that. */
int sbs_read_file_max(const char *path, size_t max, unsigned char **buf, size_t *len, bool *more,
                      sbs_err *e);

#endif
