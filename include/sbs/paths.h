/* paths.h — where an installed sbs-train keeps its shipped configs, and the lookup of the
 * config path given on the command line (`sbs-train FASHION_MNIST/SbS_Mixed_Loss` finds the
 * installed copy when there is no such folder in the current directory). */
#ifndef SBS_PATHS_H
#define SBS_PATHS_H

#include <stddef.h>

/* The folder of the shipped configs, <prefix>/<datadir>/sbs-train/configs: first relative
 * to the running program (<prefix>/<bindir>/sbs-train, so a relocated or DESTDIR install
 * finds its own copy), then the prefix compiled in at `meson setup`. Writes it into buf and
 * returns buf, or returns NULL when neither folder exists. */
const char *sbs_configs_dir(char *buf, size_t size);

/* The config path to use for the command line's ARG (a def.json or a folder): ARG itself when
 * it exists or is absolute; else the same relative path under sbs_configs_dir() (with a
 * leading "configs/" dropped, so the README's `configs/FASHION_MNIST/...` works too) when
 * that exists; else ARG unchanged, so the error names what was typed. NULL stays NULL. */
const char *sbs_resolve_config_arg(const char *arg, char *buf, size_t size);

#endif
