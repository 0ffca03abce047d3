#!/bin/sh
# bench-compare.sh — time two sbs-bench builds side by side: the runs alternate (old, new,
# old, new, ...) so that both see the same machine, and each figure is the best repeat of a
# run. Prints one JSON line per build (the best and the median of its runs) and one with the
# ratios new/old, then a summary line.
#
#   tools/bench-compare.sh [--rounds N] OLD NEW [sbs-bench options]
#
# OLD and NEW are sbs-bench executables (e.g. a checkout of the previous release built in
# /tmp/base: /tmp/base/build/tools/sbs-bench, and build/tools/sbs-bench); the options go to
# both (default: --repeat 10). Example, the first layer of the Fashion-MNIST network and then
# its whole forward, on 2 threads:
#   tools/bench-compare.sh --rounds 5 /tmp/base/build/tools/sbs-bench build/tools/sbs-bench --threads 2
#   tools/bench-compare.sh --rounds 5 OLD NEW --threads 2 --config configs/FASHION_MNIST/SbS_Mixed_Loss/def.json
# Timings on shared or virtual machines drift by several per cent from minute to minute:
# compare ratios from one invocation, not figures from different days.
set -eu

rounds=5
if [ "${1:-}" = "--rounds" ]; then
    rounds=$2
    shift 2
fi
if [ $# -lt 2 ]; then
    echo "usage: $0 [--rounds N] OLD-sbs-bench NEW-sbs-bench [sbs-bench options]" >&2
    exit 2
fi
old=$1
new=$2
shift 2
case $rounds in
'' | *[!0-9]*)
    echo "$0: --rounds: expected a positive integer, found '$rounds'" >&2
    exit 2
    ;;
esac
[ "$rounds" -ge 1 ] || {
    echo "$0: --rounds: expected a positive integer, found '$rounds'" >&2
    exit 2
}
for b in "$old" "$new"; do
    [ -x "$b" ] || {
        echo "$0: $b: not an executable" >&2
        exit 2
    }
done
case " $* " in
*" --repeat "*) ;;
*) set -- --repeat 10 "$@" ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# the best repeat of one run, as "IMAGES_PER_S SPIKE_UPDATES_PER_S"
run_one() {
    bin=$1
    shift
    if ! "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; then
        echo "$0: $bin $* failed:" >&2
        cat "$tmp/err" >&2
        exit 1
    fi
    sed -n 's/.*"spike_updates_per_s": \([0-9.e+]*\), "images_per_s": \([0-9.e+]*\).*/\2 \1/p' \
        "$tmp/out" | sort -g | tail -n 1
}

i=0
while [ "$i" -lt "$rounds" ]; do
    run_one "$old" "$@" >>"$tmp/old"
    run_one "$new" "$@" >>"$tmp/new"
    i=$((i + 1))
done

# best and median of the per-run bests; the ratios
summary() {
    sort -g "$1" | awk -v name="$2" -v bin="$3" '
        { img[NR] = $1; su[NR] = $2 }
        END {
            n = NR
            mi = (n % 2) ? img[(n + 1) / 2] : (img[n / 2] + img[n / 2 + 1]) / 2
            # spike updates/s follow images/s (one shape per run)
            ms = (n % 2) ? su[(n + 1) / 2] : (su[n / 2] + su[n / 2 + 1]) / 2
            printf "{\"build\": \"%s\", \"bench\": \"%s\", \"runs\": %d, \"best_images_per_s\": %.2f, \"median_images_per_s\": %.2f, \"best_spike_updates_per_s\": %.4g, \"median_spike_updates_per_s\": %.4g}\n", name, bin, n, img[n], mi, su[n], ms
        }'
}
summary "$tmp/old" old "$old" | tee "$tmp/so"
summary "$tmp/new" new "$new" | tee "$tmp/sn"
awk '
    function field(line, key,   r) {
        r = line
        sub(".*\"" key "\": ", "", r)
        sub("[,}].*", "", r)
        return r + 0
    }
    NR == 1 { ob = field($0, "best_images_per_s"); om = field($0, "median_images_per_s") }
    NR == 2 { nb = field($0, "best_images_per_s"); nm = field($0, "median_images_per_s") }
    END {
        printf "{\"ratio_best\": %.3f, \"ratio_median\": %.3f}\n", nb / ob, nm / om
        printf "new/old: %.2fx (best runs), %.2fx (median runs)\n", nb / ob, nm / om > "/dev/stderr"
    }' "$tmp/so" "$tmp/sn"
