#!/usr/bin/env bash
# run-fuzzers.sh BUILD_DIR SECONDS [TARGET...] — run the libFuzzer targets of a build made with
# `CC=clang meson setup BUILD_DIR -Dfuzzing=true -Db_lundef=false`, one after the other, one
# process each, SECONDS each. New inputs go to BUILD_DIR/fuzz-work/<target> (seeded from
# tests/fuzz/corpus/<target>), crashes to BUILD_DIR/fuzz-artifacts/, logs to
# BUILD_DIR/fuzz-logs/<target>.log; a summary line per target (runs, coverage, crashes) at the end.
# Copy a crashing input into tests/fuzz/corpus/<target>/ once it is fixed: it is replayed by
# `meson test` from then on.
set -u
build="$1"; secs="$2"; shift 2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(config set npy idx cifar ckpt run)
mkdir -p "$build/fuzz-logs" "$build/fuzz-artifacts"
for t in "${targets[@]}"; do
    exe="$build/tests/fuzz/fuzz_$t"
    [ -x "$exe" ] || { echo "$t: $exe not built"; continue; }
    work="$build/fuzz-work/$t"
    mkdir -p "$work"
    dict=()
    case $t in config|set|run) dict=(-dict="$here/config.dict") ;; npy) dict=(-dict="$here/npy.dict") ;; esac
    "$exe" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$build/fuzz-artifacts/$t-" "${dict[@]}" "$work" "$here/corpus/$t" \
        > "$build/fuzz-logs/$t.log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz-logs/$t.log" | grep -o '[0-9]*$')
    last=$(grep -E '^#[0-9]+' "$build/fuzz-logs/$t.log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | tail -1)
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | tail -1)
    crashes=$(ls "$build/fuzz-artifacts" | grep -c "^$t-" || true)
    echo "$t: exit $rc, ${secs}s, runs ${runs:-?}, ${cov:-cov: ?}, ${ft:-ft: ?}, artifacts $crashes"
done
