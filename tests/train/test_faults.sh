#!/usr/bin/env bash
# Faults: a full disk during a save is reported and leaves the previous weight files and the
# checkpoint valid; NaN in the loss stops the run naming the layer; kill -9 at random moments,
# again and again, never leaves a partial weight or checkpoint file, and --resume finishes.
set -u
TRAIN="$1"
SRC="${SBS_SOURCE_ROOT:-.}"
CFG="$SRC/tests/train/tiny/def.json"
CNN="$SRC/tests/train/tinycnn/def.json"
DATA=/usr/share/datasets/fashion-mnist
if [ ! -d "$DATA" ]; then
    echo "skipped: needs $DATA (apt-get install dataset-fashion-mnist)"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
common=(--limit-train 480 --limit-test 96 --quiet)
sums() { (cd "$1" && sha256sum Weight_*_S0.npy checkpoint.sbs 2>/dev/null); }

# full disk: a file-size limit smaller than a weight file
"$TRAIN" "$CFG" --out "$T/a" --epochs 1 "${common[@]}" > /dev/null
before=$(sums "$T/a")
out=$( (ulimit -f 4; "$TRAIN" "$CFG" --out "$T/a" --epochs 2 --resume "${common[@]}") 2>&1 >/dev/null); rc=$?
echo "    $out"
check "save on a full disk: exit 1, names the file" '[ $rc -eq 1 ] && grep -q "Weight_L2_S1.npy" <<<"$out"'
check "previous weights and checkpoint unchanged" '[ "$(sums "$T/a")" = "$before" ]'
check "no temporary files left" '[ -z "$(ls "$T/a" | grep tmp)" ]'
"$TRAIN" "$CFG" --out "$T/a" --epochs 2 --resume "${common[@]}" > /dev/null; rc=$?
check "--resume after the failed save finishes" '[ $rc -eq 0 ] && [ -f "$T/a/Weight_L2_S1.npy" ]'

# NaN: an absurd learning rate blows the CNN up
out=$("$TRAIN" "$CNN" --out "$T/n" --epochs 1 "${common[@]}" --set learning_parameters.optimizer_name=SGD \
      --set learning_parameters.learning_rate_gamma_w=1e38 2>&1 >/dev/null); rc=$?
echo "    $out"
check "NaN stops the run (exit 1) naming the layer" '[ $rc -eq 1 ] && grep -q "layer [0-9]* (CONV2D)" <<<"$out"'

# a config too large for memory fails before any work, with exit 3, and writes nothing
out=$("$TRAIN" "$CFG" --out "$T/oom" --epochs 1 "${common[@]}" --set batch_size=50000000 2>&1 >/dev/null); rc=$?
echo "    $out"
check "huge config: exit 3 before any work, says how much memory" '[ $rc -eq 3 ] && grep -q "GiB of memory" <<<"$out" && [ ! -e "$T/oom" ]'
out=$("$TRAIN" "$CFG" --dry-run --set batch_size=50000000); rc=$?
check "--dry-run reports the memory the run needs" '[ $rc -eq 0 ] && grep -q "^memory: " <<<"$out"'

# kill -9, repeatedly
ok=1; kills=0
for i in $(seq 1 12); do
    "$TRAIN" "$CFG" --out "$T/k" --epochs 3 $([ -f "$T/k/checkpoint.sbs" ] && echo --resume) "${common[@]}" > /dev/null 2>&1 &
    pid=$!
    sleep "$((RANDOM % 2)).$((RANDOM % 9 + 1))$((RANDOM % 10))"
    kill -9 $pid 2>/dev/null && kills=$((kills + 1))
    wait $pid 2>/dev/null
    for f in "$T"/k/Weight_L*.npy; do
        [ -e "$f" ] || continue
        case "$(basename "$f")" in
            Weight_L0_*) want=$((128 + 25 * 16 * 4)) ;;
            Weight_L2_*) want=$((128 + 400 * 10 * 4)) ;;
            *) want=-1 ;;
        esac
        sz=$(stat -c %s "$f")
        [ "$sz" -eq "$want" ] || { echo "    $f: $sz bytes, expected $want"; ok=0; }
    done
done
echo "    $kills runs killed with SIGKILL"
check "kill -9 x12: weight files always whole" '[ $ok -eq 1 ]'
# (a run killed before its first update has no checkpoint yet: then start afresh)
"$TRAIN" "$CFG" --out "$T/k" --epochs 3 $([ -f "$T/k/checkpoint.sbs" ] && echo --resume) "${common[@]}" > "$T/k.out"; rc=$?
"$TRAIN" "$CFG" --out "$T/ref" --epochs 3 "${common[@]}" > /dev/null
same=1
for f in "$T"/ref/Weight_L*_S2.npy; do cmp -s "$f" "$T/k/$(basename "$f")" || same=0; done
check "after the kills --resume finishes bitwise equal to an uninterrupted run" '[ $rc -eq 0 ] && [ $same -eq 1 ]'
check "stale temporary files are cleaned up" '[ -z "$(ls "$T/k" | grep tmp)" ]'
exit $fail
