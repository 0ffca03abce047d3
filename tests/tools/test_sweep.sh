#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034  # check() evals its quoted conditions
# tools/sweep.sh on the tiny SbS net with synthetic MNIST-format data: a 2x2 grid
# (number_of_spikes x learning rate), 2 runs at a time, stopped half-way with SIGTERM to the
# sweep (exit 130; the running runs save their state and are recorded as interrupted; no
# sbs-train is left running), then run again: finished runs are not started again, the
# interrupted ones resume (--resume), the rest start, and results.jsonl / results.csv hold
# the 4 runs with their overrides. A third run starts nothing. Then a --list sweep, and bad
# overrides caught by the --dry-run check before any run starts.
# usage: test_sweep.sh SWEEP_SH SBS_TRAIN GEN_DATA
set -u
SWEEP="$1"; TRAIN="$2"; GEN="$3"
SRC="${SBS_SOURCE_ROOT:-.}"
T=$(mktemp -d "${TMPDIR:-/tmp}/sbs-sweep-test.XXXXXX")
S="$T/sweep"
pid=""
trap '[ -n "$pid" ] && kill -KILL $pid 2>/dev/null; rm -rf -- "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
mkdir -p "$T/data" && "$GEN" mnist "$T/data" 400 || { echo "FAIL gen_data"; exit 1; }

train_args=("$SRC/tests/train/tiny" --data "$T/data" --epochs 4 --limit-train 240
            --limit-test 100 --threads 1 --quiet)
grid=(--axis number_of_spikes '[50]' '[100]' --axis learning_parameters.learning_rate_gamma_w 0.01 0.02)
sweep=("$SWEEP" --train "$TRAIN" --out "$S" "${grid[@]}" -j 2 -- "${train_args[@]}")
# sbs-train processes whose command line names the sweep folder (no procps needed)
procs() {
    local n=0 p c
    for p in /proc/[0-9]*; do
        c=""
        { read -r c < "$p/comm"; } 2>/dev/null
        [ "$c" = sbs-train ] &&
            tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -F -- "$S/" && n=$((n + 1))
    done
    echo $n
}
status_of() { sed -n 's/.*"status": "\([a-z]*\)".*/\1/p' "$1/result.json" 2>/dev/null; }

# --- usage errors and the check before anything starts
out=$("$SWEEP" --axis number_of_spikes '[50]' -- "${train_args[@]}" 2>&1); rc=$?
check "no --out: exit 2" '[ $rc -eq 2 ] && grep -q -- "--out" <<<"$out"'
out=$("$SWEEP" --train "$TRAIN" --out "$S" --axis number_of_spikes '[50]' -- "${train_args[@]}" --seed 3 2>&1); rc=$?
check "--seed after --: exit 2 (the sweep sets it)" '[ $rc -eq 2 ] && grep -q -- "--seed" <<<"$out"'
out=$("$SWEEP" --train "$TRAIN" --out "$S" --axis learning_parameters.learning_rate_gama_w 0.1 -- "${train_args[@]}" 2>&1); rc=$?
check "a misspelt key: exit 2 naming it and sbs-train's suggestion, before any run starts" \
    '[ $rc -eq 2 ] && grep -q "learning_rate_gama_w" <<<"$out" && grep -q "learning_rate_gamma_w" <<<"$out" && [ -z "$(ls -d "$S"/*seed=1 2>/dev/null)" ]'
out=$("$SWEEP" --train "$TRAIN" --out "$S" "${grid[@]}" --seeds 1,5-6 --dry-run -- "${train_args[@]}"); rc=$?
check "--dry-run lists 2x2x3 runs with their names" \
    '[ $rc -eq 0 ] && grep -q "^12 runs" <<<"$out" && grep -q "^number_of_spikes=100,learning_rate_gamma_w=0.02,seed=6$" <<<"$out"'

# --- the 2x2 sweep, stopped half-way: once a run has finished and another has done updates
# but no more than 2 of its 4 epochs (so that it cannot finish before the signal reaches it)
"${sweep[@]}" > "$T/sweep1.out" 2>&1 &  # not in a function: $! must be the sweep itself
pid=$!
for _ in $(seq 1 1200); do
    nfin=0; nbusy=0
    for d in "$S"/*seed=1; do
        [ -d "$d" ] || continue
        if [ "$(status_of "$d")" = finished ]; then nfin=$((nfin + 1))
        elif grep -q '"type": "update"' "$d/metrics.jsonl" 2>/dev/null &&
             ! grep -q '"type": "epoch", "epoch": [2-9]' "$d/metrics.jsonl"; then
            nbusy=$((nbusy + 1))
        fi
    done
    [ $nfin -ge 1 ] && [ $nbusy -ge 1 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
kill -TERM $pid 2>/dev/null
wait $pid; rc=$?
pid=""
check "SIGTERM half-way: the sweep exits 130" '[ $rc -eq 130 ]'
check "no sbs-train of the sweep is left running" '[ "$(procs)" -eq 0 ]'
fin1=() int1=()
for d in "$S"/*seed=1; do
    case "$(status_of "$d")" in
        finished) fin1+=("$d") ;;
        interrupted) int1+=("$d") ;;
    esac
done
echo "    after SIGTERM: ${#fin1[@]} finished, ${#int1[@]} interrupted"
check "at least one run finished and one was interrupted (saved, exit 130)" \
    '[ ${#fin1[@]} -ge 1 ] && [ ${#int1[@]} -ge 1 ] && [ $((${#fin1[@]} + ${#int1[@]})) -le 4 ]'
check "results.jsonl of the stopped sweep holds the runs that ran" \
    '[ "$(wc -l < "$S/results.jsonl")" -eq $((${#fin1[@]} + ${#int1[@]})) ]'
for d in "${fin1[@]}"; do stat -c '%y' "$d/result.json" > "$d/.mtime"; cp "$d/attempts.log" "$d/.attempts"; done
for d in "${int1[@]}"; do [ -f "$d/checkpoint.sbs" ] && touch "$d/.had_checkpoint"; done

# --- run again: finished runs untouched, interrupted ones resumed, the rest started
"${sweep[@]}" > "$T/sweep2.out" 2>&1; rc=$?
check "the second sweep exits 0" '[ $rc -eq 0 ]'
same=1
for d in "${fin1[@]}"; do
    [ "$(stat -c '%y' "$d/result.json")" = "$(cat "$d/.mtime")" ] && cmp -s "$d/attempts.log" "$d/.attempts" || same=0
done
check "runs finished before were not started again (result.json and attempts.log unchanged)" '[ $same -eq 1 ]'
# an interrupted run with a checkpoint resumes; one stopped before its first update (no
# checkpoint yet) starts afresh
resumed=0 right=1
for d in "${int1[@]}"; do
    want=fresh
    [ -f "$d/.had_checkpoint" ] && want=resume && resumed=$((resumed + 1))
    [ "$(grep -c ' start ' "$d/attempts.log")" -eq 2 ] &&
        tail -n 2 "$d/attempts.log" | head -n 1 | grep -q "start $want\$" || right=0
    [ $want = resume ] && ! grep -q -- "--resume" "$d/command.txt" && right=0
done
check "interrupted runs were resumed with --resume ($resumed; the others had no checkpoint yet)" \
    '[ $right -eq 1 ] && [ $resumed -ge 1 ]'
ok=1
for d in "$S"/*seed=1; do
    [ "$(status_of "$d")" = finished ] && [ "$(grep -c '"type": "epoch"' "$d/metrics.jsonl")" -eq 4 ] || ok=0
done
check "all 4 runs finished, each with 4 epoch records" '[ $ok -eq 1 ] && [ "$(ls -d "$S"/*seed=1 | wc -l)" -eq 4 ]'

# --- the collected results
R="$S/results.jsonl"
check "results.jsonl: 4 rows, all finished" \
    '[ "$(wc -l < "$R")" -eq 4 ] && [ "$(grep -c "\"result\": {\"status\": \"finished\"" "$R")" -eq 4 ]'
ok=1
for sp in 50 100; do
    for lr in 0.01 0.02; do
        name="number_of_spikes=$sp,learning_rate_gamma_w=$lr,seed=1"
        want="{\"run\": \"$name\", \"seed\": 1, \"overrides\": {\"number_of_spikes\": [$sp], \"learning_parameters.learning_rate_gamma_w\": $lr}, \"result\": {\"status\": \"finished\", "
        [ "$(grep -c -F -- "$want" "$R")" -eq 1 ] || { ok=0; echo "    missing: $want"; }
        grep -q -F "\"weights\": \"$S/$name\"}}" "$R" || { ok=0; echo "    no weights folder for $name"; }
    done
done
check "each row: the run's name, seed, overrides as JSON and its final line" '[ $ok -eq 1 ]'
C="$S/results.csv"
head -n 1 "$C" | grep -q '^run,seed,number_of_spikes,learning_parameters.learning_rate_gamma_w,status,' &&
    head -n 1 "$C" | grep -q ',test_error,' && hdr=1 || hdr=0
check "results.csv: header run, seed, the two keys, the result fields" '[ $hdr -eq 1 ]'
check "results.csv: 4 rows with the overrides in their columns" \
    '[ "$(wc -l < "$C")" -eq 5 ] && grep -q "^\"number_of_spikes=100,learning_rate_gamma_w=0.01,seed=1\",1,\[100\],0.01,finished," "$C"'

# --- a third time: nothing to do
cp "$R" "$T/r2"
"${sweep[@]}" > "$T/sweep3.out" 2>&1; rc=$?
check "a finished sweep starts nothing and collects the same results" \
    '[ $rc -eq 0 ] && ! grep -q " start " "$T/sweep3.out" && grep -q "4 finished (0 now, 4 before)" "$T/sweep3.out" && cmp -s "$R" "$T/r2"'

# --- a list of runs: a baseline line, a list value with a space
printf '# runs\n-\nnumber_of_spikes=[50, 60] learning_parameters.learning_rate_gamma_w=0.01\n' > "$T/list"
L="$T/listsweep"
"$SWEEP" --train "$TRAIN" --out "$L" --list "$T/list" -- "$SRC/tests/train/tiny" --data "$T/data" \
    --epochs 1 --limit-train 48 --limit-test 24 --threads 1 --quiet > "$T/list.out" 2>&1; rc=$?
check "--list: 2 runs, a baseline and one with a list value" \
    '[ $rc -eq 0 ] && [ "$(wc -l < "$L/results.jsonl")" -eq 2 ] && grep -q "^{\"run\": \"seed=1\", \"seed\": 1, \"overrides\": {}, " "$L/results.jsonl" && grep -q "\"overrides\": {\"number_of_spikes\": \[50, 60\], \"learning_parameters.learning_rate_gamma_w\": 0.01}" "$L/results.jsonl"'
check "--list: the list value in one quoted CSV field" 'grep -q ",\"\[50, 60\]\",0.01,finished," "$L/results.csv"'
printf 'batch_size=0\n' > "$T/bad"
out=$("$SWEEP" --train "$TRAIN" --out "$T/bad_sweep" --list "$T/bad" -- "${train_args[@]}" 2>&1); rc=$?
check "a bad value (batch_size=0): exit 2 naming the run, nothing started" \
    '[ $rc -eq 2 ] && grep -q "batch_size=0,seed=1" <<<"$out" && [ ! -e "$T/bad_sweep/batch_size=0,seed=1" ]'
[ $fail -eq 0 ] || { echo "--- sweep 1"; cat "$T/sweep1.out"; echo "--- sweep 2"; cat "$T/sweep2.out"; }
exit $fail
