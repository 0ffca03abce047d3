#!/usr/bin/env bash
# test_noise_e2e.sh — extract_noisy_pictures and `sbs-eval --noise` end to end, on the first
# Fashion-MNIST test images with the reference's SbS_Entropy weights (datasets/reference):
# bad --noise specs exit 2 with one line; the .npz files open with Python's zipfile (read by
# read_npz.py, standard library only) with the reference's names, dtypes and shapes, counts
# adding up to the spikes at every position and the data set's labels; the same pictures for
# any thread count and batch size, from sbs-eval and from sbs-train's test pass alike; the
# --noise curve starts at the noise-free result and is the same bit for bit when run again.
# Skips (77) when the Debian data package or python3 is absent.
set -u
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
EVAL=$(abs "$1")
TRAIN=$(abs "$2")
READ=$(abs "$3")
SHARED="${SBS_SOURCE_ROOT:-.}/datasets/reference"
DATA=/usr/share/datasets/fashion-mnist
CFG="$SHARED/configs/FASHION_MNIST/SbS_Entropy/def.json"
W="$SHARED/weights/FASHION_MNIST/SbS_Entropy"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

# errors first: they need no data
for spec in gauss:0.1 gaussian gaussian: gaussian:0.1,x gaussian:-0.1 saltpepper:2 \
            poisson:0.1,,0.2 uniform:nan; do
    out=$("$EVAL" "$CFG" --noise "$spec" 2>&1); rc=$?
    check "--noise $spec: exit 2, one line naming --noise" \
        '[ $rc -eq 2 ] && [ "$(wc -l <<<"$out")" -eq 1 ] && grep -q -- "--noise" <<<"$out"'
done
out=$("$EVAL" "$CFG" --set extract_noisy_pictures=1 --plan 2>&1); rc=$?
check "extract_noisy_pictures=1 (not a boolean): exit 2, names the key" \
    '[ $rc -eq 2 ] && grep -q "extract_noisy_pictures" <<<"$out"'
out=$("$EVAL" "$CFG" --set extract_noisy_pictures=true --plan 2>&1); rc=$?
check "extract_noisy_pictures=true is a known key" '[ $rc -eq 0 ]'

if [ ! -d "$DATA" ] || [ ! -f "$CFG" ] || [ ! -d "$W" ]; then
    echo "skipped: needs $DATA (apt-get install dataset-fashion-mnist) and $SHARED"
    [ $fail -eq 0 ] && exit 77 || exit 1
fi

run() { "$EVAL" "$CFG" --weights "$W" --data "$DATA" --limit 30 "$@"; }
correct() { sed -n 's/.*"correct": \([0-9]*\).*/\1/p' <<<"$1"; }
# the results without the timing and machine fields
results() { sed 's/, "backend".*//' <<<"$1"; }

# --- the robustness curve
clean=$(run --json --threads 2); rc=$?
check "clean run exits 0" '[ $rc -eq 0 ] && [ -n "$(correct "$clean")" ]'
curve=$(run --json --threads 2 --noise gaussian:0,0.2); rc=$?
again=$(run --json --threads 1 --batch 7 --noise gaussian:0,0.2)
echo "    clean: $(results "$clean")"
echo "    curve: $(results "$curve" | tr '\n' ' ')"
check "--noise gaussian:0,0.2: exit 0, one JSON object per level" \
    '[ $rc -eq 0 ] && [ "$(grep -c "^{\"noise\": \"gaussian\", \"level\": " <<<"$curve")" -eq 2 ]'
check "level 0 gives the noise-free result" \
    '[ "$(head -n 1 <<<"$curve" | sed "s/^{\"noise\": \"gaussian\", \"level\": 0, /{/; s/, \"backend\".*//")" = "$(results "$clean")" ]'
check "the curve is the same for threads 2 / 1 and batch 24 / 7" \
    '[ "$(results "$curve")" = "$(results "$again")" ]'
check "the noise changes the result at level 0.2" \
    '[ "$(tail -n 1 <<<"$curve" | sed "s/.*\"correct\": //")" != "$(head -n 1 <<<"$curve" | sed "s/.*\"correct\": //")" ]'
text=$(run --threads 2 --noise gaussian:0,0.2 2>/dev/null)
check "text mode: one line per level, named by kind and level" \
    '[ "$(wc -l <<<"$text")" -eq 2 ] && grep -q "^gaussian 0: accuracy" <<<"$text" && grep -q "^gaussian 0.2: accuracy" <<<"$text"'
sp=$(run --json --threads 2 --noise saltpepper:0.1 --spikes 200); rc=$?
check "--noise with --spikes 200" '[ $rc -eq 0 ] && grep -q "\"noise\": \"saltpepper\", \"level\": 0.1, .*\"spikes\": \[200, 200, 200, 200\]" <<<"$sp"'

# --- the pictures
if ! command -v python3 >/dev/null 2>&1; then
    echo "skipped: the .npz checks need python3 (apt-get install python3)"
    [ $fail -eq 0 ] && exit 77 || exit 1
fi
LABELS="$DATA/t10k-labels-idx1-ubyte.gz"
pics=(--set extract_noisy_pictures=true)
run --threads 2 "${pics[@]}" --noisy-dir "$T/e1" >/dev/null 2>"$T/e1.err"; rc=$?
r1=$(python3 "$READ" "$T/e1" 1600 30 24 "$LABELS")
echo "    sbs-eval, batch 24: $r1"
check "sbs-eval writes noisy_picture_data/1600/{0,1}.npz: names, <i8, (24|6, 25, 20, 20), sums 1600, labels" \
    '[ $rc -eq 0 ] && [ "$(cut -d" " -f1-5 <<<"$r1")" = "ok 2 25 20 20" ]'
check "sbs-eval says where the pictures are" 'grep -q "2 file(s) in $T/e1/noisy_picture_data/1600" "$T/e1.err"'
run --threads 1 --batch 7 "${pics[@]}" --noisy-dir "$T/e2" >/dev/null 2>&1
r2=$(python3 "$READ" "$T/e2" 1600 30 24 "$LABELS")
check "the same files for --threads 2 / 1 and --batch 24 / 7 (files of batch_size 24)" \
    '[ "${r2%% *}" = ok ] && [ "${r1##* }" = "${r2##* }" ]'
run --threads 2 "${pics[@]}" --set batch_size=7 --noisy-dir "$T/e4" >/dev/null 2>&1
r4=$(python3 "$READ" "$T/e4" 1600 30 7 "$LABELS")
check "batch_size 7: files of 7 patterns, the same counts" \
    '[ "$(cut -d" " -f1-2 <<<"$r4")" = "ok 5" ] && [ "${r4##* }" = "${r1##* }" ]'
run --threads 2 "${pics[@]}" --noisy-dir "$T/e3" --noise gaussian:0,0.2 >/dev/null 2>&1
r30=$(python3 "$READ" "$T/e3/gaussian_0" 1600 30 24 "$LABELS")
r32=$(python3 "$READ" "$T/e3/gaussian_0.2" 1600 30 24 "$LABELS")
check "with --noise: DIR/gaussian_<level>/, level 0 the clean pictures, level 0.2 others" \
    '[ "${r30##* }" = "${r1##* }" ] && [ "${r32%% *}" = ok ] && [ "${r32##* }" != "${r1##* }" ]'
mkdir -p "$T/cwd"
(cd "$T/cwd" && "$EVAL" "$CFG" --weights "$W" --data "$DATA" --limit 5 "${pics[@]}" >/dev/null 2>&1)
check "without --noisy-dir the pictures go to log_path (Log)" '[ -f "$T/cwd/Log/noisy_picture_data/1600/0.npz" ]'
# sbs-train's test pass, with learning off so the weights stay the shipped ones: the same
# files as sbs-eval's (epoch_id 0, batch_size 24, the same spike key)
"$TRAIN" "$CFG" --weights "$W" --data "$DATA" --out "$T/tr" --epochs 1 --limit-train 24 \
    --limit-test 30 --threads 2 --quiet --set learning_parameters.learning_active=false \
    "${pics[@]}" >/dev/null 2>"$T/tr.err"; rc=$?
rt=$(python3 "$READ" "$T/tr" 1600 30 24 "$LABELS")
echo "    sbs-train test pass: $rt"
check "sbs-train's test pass writes OUT/noisy_picture_data, the same pictures as sbs-eval" \
    '[ $rc -eq 0 ] && [ "${rt%% *}" = ok ] && [ "${rt##* }" = "${r1##* }" ]'
exit $fail
