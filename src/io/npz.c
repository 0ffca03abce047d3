/* npz.c — .npz writing through libzip: the archive is built in a memory source, then handed
 * to the atomic file writer of npy.c (temporary file, fsync, rename). */
#include "sbs/npz.h"
#include "sbs/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

/* 1980-01-01 12:00 (the first DOS date): members get a fixed time stamp so that the same
 * arrays give the same bytes */
#define NPZ_MTIME ((time_t)315576000)

static int zfail(sbs_err *e, const char *path, const char *what, zip_error_t *ze)
{
    return sbs_fail(e, "cannot write %s: %s: %s", path, what, zip_error_strerror(ze));
}

/* Read the whole of a (closed) memory source. */
static int source_bytes(zip_source_t *src, const char *path, unsigned char **out, size_t *len,
                        sbs_err *e)
{
    if (zip_source_open(src) < 0)
        return zfail(e, path, "reopening the archive", zip_source_error(src));
    int r = -1;
    zip_int64_t n = -1;
    if (zip_source_seek(src, 0, SEEK_END) == 0) n = zip_source_tell(src);
    if (n < 0 || zip_source_seek(src, 0, SEEK_SET) != 0) {
        zfail(e, path, "sizing the archive", zip_source_error(src));
        goto out;
    }
    *out = xmalloc(n > 0 ? (size_t)n : 1);
    *len = (size_t)n;
    if (n > 0 && zip_source_read(src, *out, (zip_uint64_t)n) != n) {
        free(*out);
        zfail(e, path, "reading the archive back", zip_source_error(src));
        goto out;
    }
    r = 0;
out:
    zip_source_close(src);
    return r;
}

int sbs_npz_write(const char *path, const sbs_npz_array *arrays, int n, sbs_err *e)
{
    zip_error_t ze;
    zip_error_init(&ze);
    unsigned char **npy = xcalloc((size_t)(n > 0 ? n : 1), sizeof *npy);
    int r = -1;
    zip_t *za = NULL;
    zip_source_t *mem = zip_source_buffer_create(NULL, 0, 0, &ze);
    if (!mem) {
        zfail(e, path, "creating the archive", &ze);
        goto out;
    }
    za = zip_open_from_source(mem, ZIP_TRUNCATE, &ze);
    if (!za) {
        zfail(e, path, "opening the archive", &ze);
        goto out;
    }
    zip_source_keep(mem); /* survive zip_close: the bytes are read from it afterwards */
    for (int i = 0; i < n; i++) {
        const sbs_npz_array *a = &arrays[i];
        char member[256];
        snprintf(member, sizeof member, "%s.npy", a->name);
        size_t len;
        if (sbs_npy_encode(member, a->descr, a->data, a->ndim, a->shape, &npy[i], &len, e) != 0)
            goto out;
        zip_source_t *s = zip_source_buffer(za, npy[i], len, 0);
        zip_int64_t idx = s ? zip_file_add(za, member, s, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            if (s) zip_source_free(s);
            zfail(e, path, member, zip_get_error(za));
            goto out;
        }
        if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 1) != 0 ||
            zip_file_set_mtime(za, (zip_uint64_t)idx, NPZ_MTIME, 0) != 0) {
            zfail(e, path, member, zip_get_error(za));
            goto out;
        }
    }
    if (zip_close(za) != 0) {
        zfail(e, path, "compressing", zip_get_error(za));
        goto out;
    }
    za = NULL;
    unsigned char *bytes = NULL;
    size_t nbytes = 0;
    if (source_bytes(mem, path, &bytes, &nbytes, e) != 0) goto out;
    r = sbs_write_file_atomic(path, bytes, nbytes, e);
    free(bytes);
out:
    if (za) zip_discard(za);
    if (mem) zip_source_free(mem);
    for (int i = 0; i < n; i++) free(npy[i]);
    free(npy);
    zip_error_fini(&ze);
    return r;
}
