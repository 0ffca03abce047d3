#!/usr/bin/env bash
# End-to-end training checks on a tiny SbS net (tests/train/tiny) with Fashion-MNIST:
# the loss falls and accuracy beats chance; weights are bitwise the same for 1 and 2 threads;
# an interrupted run (SIGINT) exits 130 and --resume ends bitwise where an uninterrupted run
# ends; kill -9 never leaves a half-written weight or checkpoint file; --set errors are clear.
set -u
TRAIN="$1"
SRC="${SBS_SOURCE_ROOT:-.}"
CFG="$SRC/tests/train/tiny/def.json"
DATA=/usr/share/datasets/fashion-mnist
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

out=$("$TRAIN" "$CFG" --set learning_parameters.learning_rate_gama_w=0.1 2>&1); rc=$?
check "--set unknown key: exit 2, names key and suggestion" '[ $rc -eq 2 ] && grep -q "learning_rate_gama_w" <<<"$out" && grep -q "learning_rate_gamma_w" <<<"$out"'
out=$("$TRAIN" "$CFG" --set batch_size=abc 2>&1); rc=$?
check "--set wrong type: exit 2, names key" '[ $rc -eq 2 ] && grep -q "batch_size" <<<"$out"'
out=$("$TRAIN" "$CFG" --set batch_size 2>&1); rc=$?
check "--set without '=': exit 2" '[ $rc -eq 2 ] && grep -q "batch_size" <<<"$out"'
out=$("$TRAIN" "$CFG" --epochs 2x 2>&1); rc=$?
check "--epochs 2x: exit 2" '[ $rc -eq 2 ] && grep -q -- "--epochs" <<<"$out"'
out=$("$TRAIN" "$CFG" --dry-run); rc=$?
check "--dry-run prints the plan" '[ $rc -eq 0 ] && grep -q "spike updates per image" <<<"$out"'

if [ ! -d "$DATA" ]; then
    echo "skipped: needs $DATA (apt-get install dataset-fashion-mnist)"
    [ $fail -eq 0 ] && exit 77 || exit 1
fi

common=(--limit-train 960 --limit-test 300 --quiet)
"$TRAIN" "$CFG" --out "$T/a" --epochs 3 --threads 2 "${common[@]}" > "$T/a.out"; rc=$?
check "training run exits 0" '[ $rc -eq 0 ]'
last=$(tail -n 1 "$T/a.out")
check "last stdout line is the result object" 'grep -q "\"status\": \"finished\"" <<<"$last"'
l0=$(grep '"type": "epoch", "epoch": 0' "$T/a/metrics.jsonl" | sed 's/.*"loss": \([0-9.e+-]*\).*/\1/')
l2=$(grep '"type": "epoch", "epoch": 2' "$T/a/metrics.jsonl" | sed 's/.*"loss": \([0-9.e+-]*\).*/\1/')
acc=$(sed 's/.*"test_accuracy": \([0-9.]*\).*/\1/' <<<"$last")
echo "    loss epoch 0 $l0, epoch 2 $l2, test accuracy $acc %"
check "loss decreases over 3 epochs" 'awk -v a="$l0" -v b="$l2" "BEGIN{exit !(b < a - 0.05)}"'
check "test accuracy beats chance clearly (>= 30 %)" 'awk -v a="$acc" "BEGIN{exit !(a >= 30)}"'
check "metrics has update and epoch records" '[ $(grep -c "\"type\": \"update\"" "$T/a/metrics.jsonl") -eq 60 ] && [ $(grep -c "\"type\": \"epoch\"" "$T/a/metrics.jsonl") -eq 3 ]'

"$TRAIN" "$CFG" --out "$T/b" --epochs 3 --threads 1 "${common[@]}" > /dev/null
same=1
for f in "$T"/a/Weight_L*_S2.npy; do cmp -s "$f" "$T/b/$(basename "$f")" || same=0; done
check "weights bitwise equal for --threads 1 and 2" '[ $same -eq 1 ] && ls "$T"/a/Weight_L0_S2.npy >/dev/null'

# interrupt with SIGINT after a few updates, then resume
"$TRAIN" "$CFG" --out "$T/c" --epochs 3 --threads 2 "${common[@]}" > "$T/c.out" &
pid=$!
for _ in $(seq 1 400); do
    n=$(grep -c '"type": "update", "epoch": 1' "$T/c/metrics.jsonl" 2>/dev/null || true)
    [ "${n:-0}" -ge 3 ] && break
    sleep 0.05
done
kill -INT $pid
wait $pid; rc=$?
check "SIGINT: exit 130 with an 'interrupted' result" '[ $rc -eq 130 ] && grep -q "\"status\": \"interrupted\"" "$T/c.out"'
"$TRAIN" "$CFG" --out "$T/c" --epochs 3 --threads 1 --resume "${common[@]}" > "$T/c2.out"; rc=$?
same=1
for f in "$T"/a/Weight_L*_S2.npy; do cmp -s "$f" "$T/c/$(basename "$f")" || same=0; done
check "resume exits 0 and ends bitwise equal to the uninterrupted run" '[ $rc -eq 0 ] && [ $same -eq 1 ]'
check "resumed metrics continue (3 epoch records in all)" '[ $(grep -c "\"type\": \"epoch\"" "$T/c/metrics.jsonl") -eq 3 ]'

# kill -9 at several moments: every weight/checkpoint file stays whole, and --resume works
ok=1
for i in 1 2 3 4 5; do
    "$TRAIN" "$CFG" --out "$T/d" --epochs 2 --threads 2 "${common[@]}" $([ $i -gt 1 ] && echo --resume) > /dev/null 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    for f in "$T"/d/Weight_L*.npy; do
        [ -e "$f" ] || continue
        sz=$(stat -c %s "$f")
        case "$(basename "$f")" in
            Weight_L0_*) want=$((128 + 25 * 16 * 4)) ;;
            Weight_L2_*) want=$((128 + 400 * 10 * 4)) ;;
            *) want=-1 ;;
        esac
        [ "$sz" -eq "$want" ] || { echo "    $f has $sz bytes, expected $want"; ok=0; }
    done
done
check "kill -9 x5: weight files always whole" '[ $ok -eq 1 ]'
if [ -f "$T/d/checkpoint.sbs" ]; then
    "$TRAIN" "$CFG" --out "$T/d" --epochs 2 --threads 2 --resume "${common[@]}" > /dev/null; rc=$?
    check "--resume after kill -9 finishes" '[ $rc -eq 0 ]'
fi
exit $fail
