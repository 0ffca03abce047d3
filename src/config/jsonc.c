/* jsonc.c — JSON with // comments and provenance, the generic half of the config loader (see
 * jsonc.h): reading a config file, blanking comments so that jansson's line:column stay those
 * of the file, syntax errors reported where the offending token starts, key-wise merging with
 * the file of every key recorded, and the pieces of one-line messages. */
#include "jsonc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* Pieces of messages                                                                          */

const char *jsonc_shown(char *buf, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        if (c == '\n')
            snprintf(tmp, sizeof tmp, "\\n");
        else if (c == '\r')
            snprintf(tmp, sizeof tmp, "\\r");
        else if (c == '\t')
            snprintf(tmp, sizeof tmp, "\\t");
        else if (c < 0x20 || c == 0x7f)
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
        else
            tmp[0] = (char)c, tmp[1] = 0;
        size_t tl = strlen(tmp);
        if (o + tl + 4 > size) {
            snprintf(buf + o, size - o, "...");
            return buf;
        }
        memcpy(buf + o, tmp, tl);
        o += tl;
    }
    buf[o] = 0;
    return buf;
}

const char *jsonc_join(char *buf, size_t n, const char *prefix, const char *key)
{
    if (prefix && *prefix)
        snprintf(buf, n, "%s.%s", prefix, key);
    else
        snprintf(buf, n, "%s", key);
    return buf;
}

const char *jsonc_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

void jsonc_describe(char *buf, size_t n, const json_t *v)
{
    if (json_is_real(v))
        snprintf(buf, n, "%g", json_real_value(v));
    else if (json_is_integer(v))
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        snprintf(buf, n, "%s", jsonc_kind(v));
}

int jsonc_int_of(const json_t *v, int *out, bool *range_err)
{
    *range_err = false;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < INT_MIN || x > INT_MAX) {
            *range_err = true;
            return -1;
        }
        *out = (int)x;
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (x != floor(x)) return -1;
        if (x < (double)INT_MIN || x > (double)INT_MAX) {
            *range_err = true;
            return -1;
        }
        *out = (int)x;
        return 0;
    }
    return -1;
}

/* Case-insensitive Levenshtein distance (names are short: the caller bounds the key). */
static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = xmalloc((lb + 1) * sizeof *row);
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t v = diag + cost;
            if (row[j] + 1 < v) v = row[j] + 1;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

int jsonc_fail_unknown_key(sbs_err *e, const char *src, const char *const *names, size_t n,
                           const char *prefix, const char *key)
{
    char path[512], kshown[256];
    jsonc_join(path, sizeof path, prefix, JSONC_SHOWN(kshown, key));
    size_t len = strlen(key), limit = len / 2 > 3 ? len / 2 : 3, longest = 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) > longest) longest = strlen(names[i]);
    /* The distance is at least len - longest; past 2 * longest + 3 that exceeds the limit, so
     * a longer key (a 10 MB one, say) is near no name and costs nothing to compare. */
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n && len <= 2 * longest + 3; i++) {
        size_t d = levenshtein(key, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    if (best && best_d <= limit) {
        char sug[512];
        jsonc_join(sug, sizeof sug, prefix, best);
        return sbs_fail(e, "%s: unknown key '%s' (did you mean '%s'?)", src, path, sug);
    }
    char list[700];
    size_t off = 0;
    list[0] = 0;
    for (size_t i = 0; i < n && off < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", names[i]);
    return sbs_fail(e, "%s: unknown key '%s' (known keys here: %s)", src, path, list);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading, comment blanking, parsing                                                          */

#define MAX_CONFIG_BYTES (16u << 20)

static int read_file(const char *path, char **buf, size_t *len, sbs_err *e)
{
    int fd = sbs_open_regular(path, e);
    if (fd < 0) return -1;
    size_t cap = 4096, n = 0;
    char *b = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_CONFIG_BYTES) {
                free(b);
                close(fd);
                return sbs_fail(e, "%s: file too large for a config file (over %u bytes)", path,
                                MAX_CONFIG_BYTES);
            }
            cap *= 2;
            b = xrealloc(b, cap);
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            free(b);
            close(fd);
            return sbs_fail(e, "cannot read %s: %s", path, strerror(err));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = n;
    return 0;
}

/* Replace every character of each // comment (outside string literals) by a space; newlines
 * stay, so line and column numbers in the parser's messages are those of the file. */
static void blank_comments(char *s, size_t n)
{
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') {
                if (i + 1 < n && s[i + 1] != '\n') i++;
            } else if (c == '"' || c == '\n') {
                in_str = false; /* an unterminated string ends at the line; jansson complains */
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '/' && i + 1 < n && s[i + 1] == '/') {
            while (i < n && s[i] != '\n') s[i++] = ' ';
            i--; /* the loop's i++ moves onto the newline (or past the end) */
        }
    }
}

/* jansson's column is that of the last character of the offending token; report where the
 * token starts instead, when the message quotes it ("... near 'oops'") and the bytes before
 * the error position are that token. */
static int token_start_column(const json_error_t *je, const char *buf, size_t len)
{
    int col = je->column > 0 ? je->column : 1;
    const char *near = strstr(je->text, "near '");
    if (!near) return col;
    const char *tok = near + 6;
    size_t tl = strlen(tok);
    if (tl < 2 || tok[tl - 1] != '\'') return col;
    tl--; /* the closing quote */
    size_t pos = (size_t)je->position;
    if (pos > len || tl > pos || memcmp(buf + pos - tl, tok, tl) != 0) return col;
    int chars = 0; /* jansson counts UTF-8 characters, not bytes */
    for (size_t i = 0; i < tl; i++) {
        unsigned char ch = (unsigned char)tok[i];
        if (ch == '\n') return col;
        if ((ch & 0xC0) != 0x80) chars++;
    }
    return col - chars + 1 > 0 ? col - chars + 1 : 1;
}

/* True if the error is at a closing bracket that follows a comma (not valid JSON). */
static bool trailing_comma(const json_error_t *je, const char *buf, size_t len)
{
    size_t pos = (size_t)je->position;
    if (pos == 0 || pos > len || (buf[pos - 1] != '}' && buf[pos - 1] != ']')) return false;
    if (!strstr(je->text, "near '}'") && !strstr(je->text, "near ']'")) return false;
    size_t i = pos - 1;
    while (i > 0 && isspace((unsigned char)buf[i - 1])) i--;
    return i > 0 && buf[i - 1] == ',';
}

/* Parse text from `name` (comments are blanked in place). */
static json_t *parse_text(char *text, size_t len, const char *name, sbs_err *e)
{
    size_t off = 0;
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        off = 3; /* UTF-8 byte order mark */
    const char *nul = memchr(text + off, 0, len - off);
    if (nul) {
        sbs_fail(e, "%s: offset %zu: expected JSON text, found a NUL byte (a binary file?)", name,
                 (size_t)(nul - text));
        return NULL;
    }
    blank_comments(text + off, len - off);
    json_error_t je;
    json_t *root = json_loadb(text + off, len - off, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        char jt[256];
        sbs_fail(e, "%s:%d:%d: JSON syntax error: %s%s", name, je.line > 0 ? je.line : 1,
                 token_start_column(&je, text + off, len - off), JSONC_SHOWN(jt, je.text),
                 trailing_comma(&je, text + off, len - off) ? " (a trailing comma?)" : "");
        return NULL;
    }
    return root;
}

json_t *jsonc_load_file(const char *path, sbs_err *e)
{
    char *text = NULL;
    size_t len = 0;
    if (read_file(path, &text, &len, e)) return NULL;
    json_t *root = parse_text(text, len, path, e);
    free(text);
    return root;
}

json_t *jsonc_parse_value(const char *text, size_t len, bool bare_ok, char *syntax,
                          size_t syntax_size)
{
    json_error_t je;
    json_t *val = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (bare_ok && val && !json_is_string(val)) {
        json_decref(val);
        val = NULL; /* e.g. weight_path=123: the text as written */
    }
    if (val) return val;
    /* Text that opens a list, an object, a string or a number was meant as JSON. */
    if (!bare_ok && len > 0 && text[0] && strchr("[{\"-0123456789", text[0])) {
        jsonc_shown(syntax, syntax_size, je.text, strlen(je.text));
        return NULL;
    }
    if (syntax_size) syntax[0] = 0;
    return json_stringn(text, len); /* NULL if not valid UTF-8 */
}

/* ------------------------------------------------------------------------------------------ */
/* Merging with provenance                                                                     */

struct jsonc_origin {
    char *path;
    const char *src;
};

static void origin_set(jsonc_origins *t, const char *path, const char *src)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->o[i].path, path) == 0) {
            t->o[i].src = src;
            return;
        }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 32;
        t->o = xrealloc(t->o, t->cap * sizeof *t->o);
    }
    size_t l = strlen(path) + 1;
    t->o[t->n].path = xmalloc(l);
    memcpy(t->o[t->n].path, path, l);
    t->o[t->n].src = src;
    t->n++;
}

const char *jsonc_origin_of(const jsonc_origins *t, const char *path, const char *fallback)
{
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t l = strlen(t->o[i].path);
        if (strncmp(t->o[i].path, path, l) == 0 &&
            (path[l] == 0 || path[l] == '.' || path[l] == '[') && l >= best_len) {
            best = t->o[i].src;
            best_len = l;
        }
    }
    return best ? best : fallback;
}

void jsonc_origins_free(jsonc_origins *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->o[i].path);
    free(t->o);
    memset(t, 0, sizeof *t);
}

void jsonc_merge(json_t *dst, json_t *src, const char *prefix, const char *name, jsonc_origins *t)
{
    const char *key;
    json_t *val;
    json_object_foreach (src, key, val) {
        char path[512];
        jsonc_join(path, sizeof path, prefix, key);
        json_t *old = json_object_get(dst, key);
        if (old && json_is_object(old) && json_is_object(val)) {
            jsonc_merge(old, val, path, name, t);
        } else {
            json_object_set_new(dst, key, json_deep_copy(val));
            origin_set(t, path, name);
        }
    }
}
