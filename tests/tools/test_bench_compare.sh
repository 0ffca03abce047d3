#!/bin/sh
# tools/bench-compare.sh on two tiny runs of one sbs-bench: three JSON lines (old, new, the
# ratios), the figures positive, and clear refusals of a bad --rounds and a missing binary.
set -u
script=$1
bench=$2
fail=0
out=$(sh "$script" --rounds 2 "$bench" "$bench" --batch 2 --spikes 64 --repeat 2 --threads 1 2>/dev/null)
rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: exit $rc"; fail=1; }
[ "$(printf '%s\n' "$out" | wc -l)" -eq 3 ] || { echo "FAIL: expected 3 lines, found:"; printf '%s\n' "$out"; fail=1; }
printf '%s\n' "$out" | sed -n 1p | grep -q '"build": "old", .*"runs": 2, "best_images_per_s": [1-9]' ||
    { echo "FAIL: old line: $out"; fail=1; }
printf '%s\n' "$out" | sed -n 2p | grep -q '"build": "new", .*"best_spike_updates_per_s": [1-9]' ||
    { echo "FAIL: new line: $out"; fail=1; }
printf '%s\n' "$out" | sed -n 3p | grep -q '^{"ratio_best": [0-9.]*, "ratio_median": [0-9.]*}$' ||
    { echo "FAIL: ratio line: $out"; fail=1; }
err=$(sh "$script" --rounds 0 "$bench" "$bench" 2>&1)
[ $? -eq 2 ] && printf '%s' "$err" | grep -q -- '--rounds: expected a positive integer, found .0.' ||
    { echo "FAIL: --rounds 0: $err"; fail=1; }
err=$(sh "$script" /nonexistent/sbs-bench "$bench" 2>&1)
[ $? -eq 2 ] && printf '%s' "$err" | grep -q 'not an executable' ||
    { echo "FAIL: missing binary: $err"; fail=1; }
[ "$fail" -eq 0 ] && echo "ok   bench-compare: 3 lines, ratios, refusals"
exit "$fail"
