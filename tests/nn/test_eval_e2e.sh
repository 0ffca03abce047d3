#!/usr/bin/env bash
# End-to-end sbs-eval on Fashion-MNIST test images with the reference weights in datasets/reference:
# accuracy in range, results identical for any thread count and batch size, clear errors.
# Skips (77) when the Debian data package is absent.
set -u
EVAL="$1"
SHARED="${SBS_SOURCE_ROOT:-.}/datasets/reference"
DATA=/usr/share/datasets/fashion-mnist
CFG="$SHARED/configs/FASHION_MNIST/SbS_Entropy/def.json"
W="$SHARED/weights/FASHION_MNIST/SbS_Entropy"
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

# errors first: they need no data
out=$("$EVAL" --frobnicate 2>&1); rc=$?
check "unknown option exits 2 and names it" '[ $rc -eq 2 ] && grep -q -- "--frobnicate" <<<"$out"'
out=$("$EVAL" --spikes 12x "$CFG" 2>&1); rc=$?
check "bad number exits 2 and names the option" '[ $rc -eq 2 ] && grep -q -- "--spikes" <<<"$out"'
out=$("$EVAL" /nonexistent/def.json 2>&1); rc=$?
check "missing config exits 2 and names the file" '[ $rc -eq 2 ] && grep -q "/nonexistent/def.json" <<<"$out"'
if [ -f "$CFG" ]; then
    out=$("$EVAL" "$CFG" --weights /nonexistent-weights --data /nonexistent 2>&1); rc=$?
    check "missing weights exit 2 and name the folder" '[ $rc -eq 2 ] && grep -q "nonexistent-weights" <<<"$out"'
    out=$("$EVAL" "$CFG" --plan); rc=$?
    check "--plan prints the plan" '[ $rc -eq 0 ] && grep -q "spike updates per image: 700800" <<<"$out"'
    cnn="$SHARED/configs/FASHION_MNIST/CNN/def.json"
    out=$("$EVAL" "$cnn" --plan); rc=$?
    check "CNN twin plans" '[ $rc -eq 0 ] && grep -q "CONV2D" <<<"$out"'
fi

if [ ! -d "$DATA" ] || [ ! -f "$CFG" ] || [ ! -d "$W" ]; then
    echo "skipped: needs $DATA (apt-get install dataset-fashion-mnist) and $SHARED"
    [ $fail -eq 0 ] && exit 77 || exit 1
fi

run() { "$EVAL" "$CFG" --weights "$W" --data "$DATA" --limit 240 --json "$@"; }
a=$(run --threads 2 --batch 24) || fail=1
b=$(run --threads 1 --batch 7) || fail=1
c=$(run --threads 3 --batch 240) || fail=1
acc=$(sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p' <<<"$a")
echo "    accuracy on 240 images: $acc"
check "accuracy on 240 test images >= 78 %" 'awk -v a="$acc" "BEGIN{exit !(a>=78)}"'
ca=$(grep -o '"correct": [0-9]*' <<<"$a"); cb=$(grep -o '"correct": [0-9]*' <<<"$b"); cc=$(grep -o '"correct": [0-9]*' <<<"$c")
check "same result for threads 2/1/3 and batch 24/7/240" '[ -n "$ca" ] && [ "$ca" = "$cb" ] && [ "$ca" = "$cc" ]'
d=$(run --seed 5 --spikes 400)
acc400=$(sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p' <<<"$d")
check "--spikes 400 gives a lower but sensible accuracy ($acc400 %)" 'awk -v a="$acc400" -v b="$acc" "BEGIN{exit !(a>=60 && a<b+3)}"'
exit $fail
