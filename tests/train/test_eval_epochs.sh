#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034  # check() evals its quoted conditions
# sbs-eval --epochs on a training run's folder (synthetic MNIST-format data, the tiny SbS net):
# one result per epoch whose accuracy equals the test accuracy the run logged for that epoch
# (same weights, same spikes); the range forms A:B, A:, :B, N, all; --json objects carry the
# epoch; bad ranges, ranges with no weights and a missing layer file fail with exit 2 and a
# line naming them; without --epochs the many epochs of a run folder are reported with a hint.
set -u
TRAIN="$1"; EVAL="$2"; GEN="$3"
SRC="${SBS_SOURCE_ROOT:-.}"
CFG="$SRC/tests/train/tiny"
T=$(mktemp -d "${TMPDIR:-/tmp}/sbs-eval-epochs.XXXXXX")
trap 'rm -rf -- "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
mkdir -p "$T/data" && "$GEN" mnist "$T/data" 400 || { echo "FAIL gen_data"; exit 1; }
"$TRAIN" "$CFG" --data "$T/data" --out "$T/run" --epochs 4 --limit-train 240 --limit-test 150 \
    --quiet --threads 2 > "$T/train.out" || { echo "FAIL sbs-train: $(tail -n 2 "$T/train.out")"; exit 1; }
ev=("$EVAL" "$CFG" --data "$T/data" --weights "$T/run" --limit 150)

# the run's own test accuracy per epoch, from metrics.jsonl: "0 11.0000" ...
grep '"type": "epoch"' "$T/run/metrics.jsonl" |
    sed 's/.*"epoch": \([0-9]*\),.*"test_accuracy": \([0-9.]*\).*/\1 \2/' > "$T/want"
out=$("${ev[@]}" --epochs all --json --batch 7 2>"$T/err"); rc=$?
sed 's/.*"epoch": \([0-9]*\), "accuracy": \([0-9.]*\).*/\1 \2/' <<<"$out" > "$T/got"
echo "    the run's test accuracy per epoch: $(tr '\n' ';' < "$T/want")"
check "--epochs all --json: 4 objects, accuracies equal to the run's metrics" \
    '[ $rc -eq 0 ] && [ "$(wc -l < "$T/want")" -eq 4 ] && cmp -s "$T/want" "$T/got"'
check "each JSON object starts with its epoch" \
    '[ "$(grep -c "^{\"epoch\": [0-3], \"accuracy\"" <<<"$out")" -eq 4 ]'

epochs_of() { "${ev[@]}" --epochs "$1" 2>/dev/null | sed -n 's/^epoch \([0-9]*\): accuracy.*/\1/p' | tr '\n' ' '; }
check "--epochs 1:2 evaluates epochs 1 2" '[ "$(epochs_of 1:2)" = "1 2 " ]'
check "--epochs 2: evaluates epochs 2 3" '[ "$(epochs_of 2:)" = "2 3 " ]'
check "--epochs :1 evaluates epochs 0 1" '[ "$(epochs_of :1)" = "0 1 " ]'
check "--epochs : evaluates all four" '[ "$(epochs_of :)" = "0 1 2 3 " ]'
check "--epochs 3 evaluates epoch 3" '[ "$(epochs_of 3)" = "3 " ]'
line=$("${ev[@]}" --epochs 3 2>/dev/null)
check "a line per epoch: 'epoch 3: accuracy ... %'" \
    'grep -q "^epoch 3: accuracy [0-9.]* % ([0-9]* / 150), error" <<<"$line"'

for bad in x 3:1 1:2:3 -1 1.5 ""; do
    out=$("${ev[@]}" --epochs "$bad" 2>&1); rc=$?
    check "--epochs '$bad': exit 2 naming --epochs" '[ $rc -eq 2 ] && grep -q -- "--epochs" <<<"$out"'
done
out=$("${ev[@]}" --epochs 7: 2>&1); rc=$?
check "--epochs 7: with no such weights: exit 2, lists the epochs there" \
    '[ $rc -eq 2 ] && grep -q "epochs there: 0, 1, 2, 3" <<<"$out"'
out=$("${ev[@]}" 2>&1); rc=$?
check "no --epochs on a run folder: exit 2 with a hint to --epochs" \
    '[ $rc -eq 2 ] && grep -q "files match" <<<"$out" && grep -q -- "--epochs" <<<"$out"'
rm "$T/run/Weight_L2_S2.npy"
out=$("${ev[@]}" --epochs 1:3 2>&1); rc=$?
check "a layer file missing for epoch 2: exit 2 naming Weight_L2_S2.npy, after epoch 1's line" \
    '[ $rc -eq 2 ] && grep -q "Weight_L2_S2.npy" <<<"$out" && grep -q "^epoch 1: accuracy" <<<"$out"'
exit $fail
