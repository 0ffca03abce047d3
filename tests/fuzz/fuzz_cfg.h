/* fuzz_cfg.h — the config input shared by fuzz_config and fuzz_run: up to four parts
 * separated by a line "%%":
 *   one part: def.json alone; two: network.json, def.json; three: network.json,
 *   dataset.json, def.json; four: the three files and --set overrides, one per line
 * (at most FUZZ_MAX_OVERRIDES; the rest are dropped). */
#ifndef SBS_FUZZ_CFG_H
#define SBS_FUZZ_CFG_H

#include "fuzz_util.h"
#include "sbs/config.h"

#define FUZZ_SEP "\n%%\n"
#define FUZZ_MAX_OVERRIDES 32

/* Write the parts to files and load them: sbs_config_load's result (0, or -1 with e set). */
__attribute__((unused)) static int fuzz_cfg_load(const uint8_t *data, size_t size, sbs_config *cfg,
                                                 sbs_err *e)
{
    fuzz_part parts[4];
    int np = fuzz_split(data, size, FUZZ_SEP, parts, 4);
    char paths[3][512];
    const char *files[3] = {NULL, NULL, NULL};
    static const char *const names[3] = {"network.json", "dataset.json", "def.json"};
    static const int slot[4][3] = {{2}, {0, 2}, {0, 1, 2}, {0, 1, 2}};
    int nfiles = np < 3 ? np : 3;
    for (int i = 0; i < nfiles; i++) {
        int s = slot[np - 1][i];
        fuzz_write(names[s], parts[i].p, parts[i].n, paths[s], sizeof paths[s]);
        files[s] = paths[s];
    }
    char *ovbuf = NULL;
    const char *ov[FUZZ_MAX_OVERRIDES];
    int nov = 0;
    if (np == 4) {
        ovbuf = malloc(parts[3].n + 1);
        memcpy(ovbuf, parts[3].p, parts[3].n);
        ovbuf[parts[3].n] = 0;
        char *save = NULL;
        for (char *l = strtok_r(ovbuf, "\n", &save); l && nov < FUZZ_MAX_OVERRIDES;
             l = strtok_r(NULL, "\n", &save))
            ov[nov++] = l;
    }
    int r = sbs_config_load(cfg, files[0], files[1], files[2], ov, nov, e);
    free(ovbuf);
    return r;
}

#endif
