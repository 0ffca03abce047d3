/* jsonc.h — the generic half of the config loader (internal to src/config): JSON text with //
 * line comments, read from regular files only, parsed with duplicate keys refused and syntax
 * errors reported as file:line:column; merging of several files key-wise with the provenance
 * of every key (which file set it last); and the pieces of one-line error messages (a value's
 * kind, a user's text with control characters escaped, the nearest known key of a misspelt
 * one). Nothing here knows the SbS schema (config.c). */
#ifndef SBS_CONFIG_JSONC_H
#define SBS_CONFIG_JSONC_H

#include "sbs/common.h"

#include <jansson.h>

/* Read and parse a config file: at most 16 MiB, regular files only (a FIFO or device is
 * refused before it can block), UTF-8 byte order mark skipped, NUL bytes refused, comments
 * blanked. Returns a new reference, or NULL with e naming the file (and line:column). */
json_t *jsonc_load_file(const char *path, sbs_err *e);

/* Parse a --set value: JSON if it parses; otherwise, when bare_ok or the text cannot be the
 * start of a JSON value (a letter, ...), the text itself as a string; otherwise NULL with
 * *syntax set to jansson's message (e.g. "[50": a list never closed). */
json_t *jsonc_parse_value(const char *text, size_t len, bool bare_ok, char *syntax,
                          size_t syntax_size);

/* ---- pieces of messages ------------------------------------------------------------------ */

/* Copy s (len bytes) for a message: control characters escaped (\n, \xNN), cut with "..." so
 * it fits buf. JSONC_SHOWN(buf, s) for a NUL-terminated s. */
const char *jsonc_shown(char *buf, size_t size, const char *s, size_t len);
#define JSONC_SHOWN(buf, s) jsonc_shown((buf), sizeof(buf), (s), strlen(s))

/* "prefix.key", or "key" when prefix is empty. */
const char *jsonc_join(char *buf, size_t n, const char *prefix, const char *key);

/* "an object", "a list", "a string", "an integer", "a real number", "a boolean", "null". */
const char *jsonc_kind(const json_t *v);

/* A number as written ("1.5", "12"), else its kind. */
void jsonc_describe(char *buf, size_t n, const json_t *v);

/* The int value of v (an integer, or an integral-valued real) if it fits an int; -1 if not,
 * with *range_err telling an integer too large from something that is no integer. */
int jsonc_int_of(const json_t *v, int *out, bool *range_err);

/* "SRC: unknown key 'PREFIX.KEY' (did you mean 'PREFIX.NEAR'?)" with the nearest of names[]
 * (edit distance, case-insensitive, at most half the key's length), else "(known keys here:
 * a, b, ...)". Returns -1. Keys too long to be near any name are not compared. */
int jsonc_fail_unknown_key(sbs_err *e, const char *src, const char *const *names, size_t n,
                           const char *prefix, const char *key);

/* ---- merging with provenance --------------------------------------------------------------- */

typedef struct {
    struct jsonc_origin *o;
    size_t n, cap;
} jsonc_origins;

/* Merge src into dst: objects key by key (recursively), anything else replaced; every value
 * replaced is recorded as set by `name` under its path ("a.b"). */
void jsonc_merge(json_t *dst, json_t *src, const char *prefix, const char *name, jsonc_origins *t);

/* The source that last set `path`, or the object holding it; fallback when none did. */
const char *jsonc_origin_of(const jsonc_origins *t, const char *path, const char *fallback);

void jsonc_origins_free(jsonc_origins *t);

#endif
