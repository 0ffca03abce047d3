#!/usr/bin/env bash
# check-layering.sh — the include graph of src/ runs one way (issue 8, DESIGN.md):
#   util -> config, io -> data -> sbs (SbS maths) -> nn -> backend, report -> train -> cli
# Every public header in include/sbs/ belongs to one module (the table below); a file of
# module M (src/M/..., or a header of M) may include only headers of M itself or of a module
# below it. A header the table does not know is an error too, so a new module is placed
# deliberately. Prints each violation as "FILE: includes HEADER (module A, above module B)"
# and exits 1 if there is any; prints the edges between modules it saw with -v.
#   usage: tools/check-layering.sh [-v] [ROOT]
set -u
verbose=0
[ "${1:-}" = -v ] && { verbose=1; shift; }
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$root" || exit 2

level() { # module -> rank
    case "$1" in
        util) echo 0 ;; config|io) echo 1 ;; data) echo 2 ;; sbs) echo 3 ;; nn) echo 4 ;;
        backend|report) echo 5 ;; train) echo 6 ;; cli) echo 7 ;; *) echo -1 ;;
    esac
}
header_module() { # include/sbs/NAME.h -> module
    case "$1" in
        common.h|threadpool.h|rng.h) echo util ;;
        config.h) echo config ;;
        npy.h|npz.h) echo io ;;
        png_out.h|tfevents.h) echo report ;;
        data.h|noise.h) echo data ;;
        sbs.h|sbs_step.h) echo sbs ;;
        net.h|layer.h|approx.h|noisy.h) echo nn ;;
        backend.h|exec.h|backend_cpu.h|alias_fast.h|blas_core.h) echo backend ;;
        train.h|mpi.h) echo train ;;
        cli.h|epochs.h|paths.h) echo cli ;;
        *) echo unknown ;;
    esac
}
file_module() { # a path -> module
    case "$1" in
        include/sbs/*) header_module "${1#include/sbs/}" ;;
        src/*) local m="${1#src/}"; echo "${m%%/*}" ;;
        *) echo unknown ;;
    esac
}

bad=0
edges=""
while IFS= read -r f; do
    fm=$(file_module "$f")
    fl=$(level "$fm")
    if [ "$fl" -lt 0 ]; then
        echo "$f: belongs to no known module ($fm): add it to tools/check-layering.sh"
        bad=1
        continue
    fi
    while IFS= read -r h; do
        [ -n "$h" ] || continue
        hm=$(header_module "$h")
        hl=$(level "$hm")
        if [ "$hl" -lt 0 ]; then
            echo "$f: includes sbs/$h, a header of no known module: add it to tools/check-layering.sh"
            bad=1
        elif [ "$hl" -gt "$fl" ] || { [ "$hl" -eq "$fl" ] && [ "$hm" != "$fm" ]; }; then
            echo "$f: includes sbs/$h (module $hm, not below module $fm)"
            bad=1
        fi
        [ "$hm" != "$fm" ] && edges="$edges$fm -> $hm"$'\n'
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"sbs\/\([^"]*\)".*/\1/p' "$f")
done < <(find src include/sbs -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' | sort)
if [ "$verbose" = 1 ]; then
    echo "module edges (includer -> included):"
    printf '%s' "$edges" | sort | uniq -c
fi
if [ "$bad" = 0 ]; then
    echo "layering: ok (util -> config, io -> data -> sbs -> nn -> backend, report -> train -> cli)"
fi
exit "$bad"
