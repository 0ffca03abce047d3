/* paths.c — the shipped configs' folder of an installed sbs-train and the lookup of a relative
 * config path there (include/sbs/paths.h). The install directories come from meson
 * (sbs_install_dirs.h, written by configure_file in meson.build). */
#include "sbs/paths.h"

#include "sbs_install_dirs.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* <prefix> of the running program: its folder with the trailing /<bindir> removed; false when
 * the program does not sit in a <bindir> folder (a build tree, say). */
static bool exe_prefix(char *buf, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return false;
    *slash = 0; /* the program's folder */
    size_t dl = strlen(exe), bl = strlen(SBS_BINDIR);
    if (SBS_BINDIR[0] == '/' || bl == 0 || bl >= dl || exe[dl - bl - 1] != '/' ||
        strcmp(exe + dl - bl, SBS_BINDIR) != 0)
        return false;
    exe[dl - bl - 1] = 0;
    return (size_t)snprintf(buf, size, "%s", exe) < size;
}

const char *sbs_configs_dir(char *buf, size_t size)
{
    char prefix[PATH_MAX];
    if (SBS_DATADIR[0] != '/' && exe_prefix(prefix, sizeof prefix) &&
        (size_t)snprintf(buf, size, "%s/%s/sbs-train/configs", prefix, SBS_DATADIR) < size &&
        is_dir(buf))
        return buf;
    if (SBS_DATADIR[0] == '/')
        snprintf(buf, size, "%s/sbs-train/configs", SBS_DATADIR);
    else
        snprintf(buf, size, "%s/%s/sbs-train/configs", SBS_PREFIX, SBS_DATADIR);
    return is_dir(buf) ? buf : NULL;
}

const char *sbs_resolve_config_arg(const char *arg, char *buf, size_t size)
{
    if (!arg || !*arg || arg[0] == '/' || exists(arg)) return arg;
    char dir[PATH_MAX];
    if (!sbs_configs_dir(dir, sizeof dir)) return arg;
    const char *rel = arg;
    while (rel[0] == '.' && rel[1] == '/') rel += 2;
    if (strncmp(rel, "configs/", 8) == 0) rel += 8;
    if ((size_t)snprintf(buf, size, "%s/%s", dir, rel) >= size || !exists(buf)) return arg;
    return buf;
}
