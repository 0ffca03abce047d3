#!/usr/bin/env bash
# End-to-end: the worked examples of SbS LOCAL, RECONSTRUCTION and full-layer spikes
# (configs/examples) train a few updates with sbs-train and report sensibly: a network ending
# in RECONSTRUCTION reports its test loss and null accuracies; the others an accuracy.
set -u
TRAIN="$1"
SRC="${SBS_SOURCE_ROOT:-.}"
DATA=/usr/share/datasets/fashion-mnist
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

for d in RECONSTRUCTION SBS_LOCAL FULL_LAYER_SPIKES; do
    out=$("$TRAIN" "$SRC/configs/examples/$d/def.json" --dry-run 2>&1); rc=$?
    check "$d: plan" '[ $rc -eq 0 ] && grep -q "spike updates per image" <<<"$out"'
done
out=$("$TRAIN" "$SRC/configs/examples/RECONSTRUCTION/def.json" --dry-run \
      --set learning_parameters.loss_mode=1 2>&1); rc=$?
check "RECONSTRUCTION with loss_mode 1: exit 2 naming the key" '[ $rc -eq 2 ] && grep -q "loss_mode" <<<"$out"'

if [ ! -d "$DATA" ]; then
    echo "skipped: needs $DATA (apt-get install dataset-fashion-mnist)"
    [ $fail -eq 0 ] && exit 77 || exit 1
fi
common=(--epochs 1 --limit-train 192 --limit-test 48 --threads 2 --quiet)
"$TRAIN" "$SRC/configs/examples/RECONSTRUCTION/def.json" --out "$T/r" "${common[@]}" > "$T/r.out"; rc=$?
last=$(tail -n 1 "$T/r.out")
check "RECONSTRUCTION trains: exit 0" '[ $rc -eq 0 ] && grep -q "\"status\": \"finished\"" <<<"$last"'
check "RECONSTRUCTION reports a test loss and no accuracy" 'grep -q "\"test_accuracy\": null" <<<"$last" && grep -Eq "\"test_loss\": [0-9]" <<<"$last"'
check "RECONSTRUCTION metrics: null accuracies, a test loss" 'grep "\"type\": \"epoch\"" "$T/r/metrics.jsonl" | grep -q "\"train_accuracy\": null, \"test_accuracy\": null, \"test_error\": null, \"test_loss\": [0-9]"'
check "RECONSTRUCTION saves only the SbS weights" '[ -f "$T/r/Weight_L0_S0.npy" ] && [ ! -e "$T/r/Weight_L1_S0.npy" ]'
for d in SBS_LOCAL FULL_LAYER_SPIKES; do
    "$TRAIN" "$SRC/configs/examples/$d/def.json" --out "$T/$d" "${common[@]}" > "$T/$d.out"; rc=$?
    last=$(tail -n 1 "$T/$d.out")
    check "$d trains: exit 0, reports an accuracy" '[ $rc -eq 0 ] && grep -Eq "\"test_accuracy\": [0-9]" <<<"$last" && grep -q "\"test_loss\": null" <<<"$last"'
done
"$TRAIN" "$SRC/configs/examples/SBS_LOCAL/def.json" --out "$T/l1" "${common[@]}" --threads 1 > /dev/null
same=1
for f in "$T"/SBS_LOCAL/Weight_L*_S0.npy; do cmp -s "$f" "$T/l1/$(basename "$f")" || same=0; done
check "SBS_LOCAL weights bitwise equal for --threads 1 and 2" '[ $same -eq 1 ]'
exit $fail
