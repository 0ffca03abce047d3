#!/usr/bin/env bash
# TensorBoard event files and pictures of tiny training runs (tests/train/tiny on synthetic
# data from gen_data): a two-epoch run leaves one events.out.tfevents.* file whose records
# pass the CRC-32C checks and decode (with protoc --decode_raw and with the checker's own
# decoder) to the tags, steps and values of metrics.jsonl and to histograms of the saved
# weights (check_tfevents.py); the checker rejects a damaged, a cut and a mismatching file;
# --no-tensorboard writes none; a run killed with kill -9 leaves whole records; --png writes
# the weight mosaics and confusion heat maps of every epoch, and sbs-eval --png the same
# pictures of a weights folder, at the sizes png_out.h's layout gives.
set -u
TRAIN="$1"; EVAL="$2"; GEN="$3"; CHECK="$4"
SRC="${SBS_SOURCE_ROOT:-.}"
CFG="$SRC/tests/train/tiny/def.json"
if ! command -v python3 >/dev/null 2>&1; then
    echo "skipped: needs python3 for the event file reader"; exit 77
fi
if ! command -v protoc >/dev/null 2>&1; then
    echo "skipped: needs protoc (Debian: protobuf-compiler) as the independent reader"; exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
# width x height of a PNG from its IHDR chunk
png_size() {
    python3 -c 'import struct, sys
b = open(sys.argv[1], "rb").read(24)
print("%dx%d" % struct.unpack(">II", b[16:24]) if b[:8] == b"\x89PNG\r\n\x1a\n" else "no PNG")' "$1"
}

mkdir -p "$T/data" && "$GEN" mnist "$T/data" 600 || { echo "FAIL gen_data"; exit 1; }
common=(--data "$T/data" --limit-test 96 --quiet --threads 2)

"$TRAIN" "$CFG" --out "$T/a" --epochs 2 --limit-train 480 --png "$T/png" "${common[@]}" \
    > "$T/a.out"; rc=$?
check "two-epoch run exits 0" '[ $rc -eq 0 ]'
evs=("$T"/a/events.out.tfevents.*)
check "one event file events.out.tfevents.<time>.<host>.<pid> in --out" \
    '[ ${#evs[@]} -eq 1 ] && [ -s "${evs[0]}" ]'
ev="${evs[0]}"
python3 "$CHECK" "$ev" "$T/a/metrics.jsonl" "$T/a" > "$T/check.out" 2>&1; rc=$?
sed 's/^/    /' "$T/check.out"
check "records: CRCs, protoc and own decoder agree, scalars = metrics.jsonl, histograms = weights" \
    '[ $rc -eq 0 ]'
check "20 updates x 3 scalars + 2 epochs x 4 scalars" \
    'grep -q "^68 scalars match" "$T/check.out"'

# the checker is not blind: a flipped byte, a cut record, a changed metric
cp "$ev" "$T/bad"
size=$(stat -c %s "$ev")
printf '\x55' | dd of="$T/bad" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
python3 "$CHECK" --framing "$T/bad" > /dev/null 2>&1; rc=$?
check "checker rejects a flipped byte" '[ $rc -ne 0 ]'
head -c $((size - 3)) "$ev" > "$T/cut"
python3 "$CHECK" --framing "$T/cut" > /dev/null 2>&1; rc=$?
check "checker rejects a cut last record" '[ $rc -ne 0 ]'
sed '/"type": "epoch", "epoch": 1,/s/"loss": [0-9.e+-]*/"loss": 9.5/' "$T/a/metrics.jsonl" \
    > "$T/m2.jsonl"
python3 "$CHECK" "$ev" "$T/m2.jsonl" "$T/a" > "$T/m2.out" 2>&1; rc=$?
check "checker rejects a Train Loss that differs from metrics.jsonl" \
    '[ $rc -ne 0 ] && grep -q "Train Loss at step 1" "$T/m2.out" &&
     ! cmp -s "$T/m2.jsonl" "$T/a/metrics.jsonl"'

# --no-tensorboard
"$TRAIN" "$CFG" --out "$T/b" --epochs 1 --limit-train 96 --no-tensorboard "${common[@]}" \
    > /dev/null; rc=$?
check "--no-tensorboard: exit 0 and no event file" \
    '[ $rc -eq 0 ] && ! ls "$T"/b/events.out.tfevents.* >/dev/null 2>&1'

# kill -9 in the middle of the second epoch: the file holds whole records
"$TRAIN" "$CFG" --out "$T/k" --epochs 3 --limit-train 1440 "${common[@]}" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    grep -q '"type": "update", "epoch": 1, "update": 5,' "$T/k/metrics.jsonl" 2>/dev/null && break
    sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
kevs=("$T"/k/events.out.tfevents.*)
python3 "$CHECK" --framing "${kevs[0]}" > "$T/k.out" 2>&1; rc=$?
check "kill -9: the event file is whole records that decode" \
    '[ $rc -eq 0 ] && grep -aq "Test Error" "${kevs[0]}"'

# pictures: every epoch of training, and sbs-eval of a weights folder
check "sbs-train --png: weight mosaics and confusion of each epoch" \
    '[ "$(png_size "$T/png/weights_L0_S1.png")" = 205x205 ] &&
     [ "$(png_size "$T/png/weights_L2_S0.png")" = 827x621 ] &&
     [ "$(png_size "$T/png/confusion_S1.png")" = 331x331 ] &&
     [ "$(ls "$T/png" | wc -l)" -eq 6 ]'
"$EVAL" "$CFG" --data "$T/data" --weights "$T/b" --limit 48 --png "$T/evpng" > /dev/null; rc=$?
check "sbs-eval --png: exit 0, weights_L0/L2 and confusion.png" \
    '[ $rc -eq 0 ] && [ "$(png_size "$T/evpng/weights_L0.png")" = 205x205 ] &&
     [ "$(png_size "$T/evpng/weights_L2.png")" = 827x621 ] &&
     [ "$(png_size "$T/evpng/confusion.png")" = 331x331 ] && [ "$(ls "$T/evpng" | wc -l)" -eq 3 ]'
out=$("$TRAIN" "$CFG" --data "$T/data" --out "$T/c" --png "$T/a.out/png" 2>&1); rc=$?
check "sbs-train --png below a file: exit 2 at once, naming the folder" \
    '[ $rc -eq 2 ] && grep -q -- "--png $T/a.out/png: cannot create folder" <<<"$out" &&
     [ ! -e "$T/c" ]'
out=$("$EVAL" "$CFG" --data "$T/data" --weights "$T/b" --limit 48 --png "$T/a.out/p" 2>&1); rc=$?
check "sbs-eval --png below a file: exit 1 naming the folder" \
    '[ $rc -eq 1 ] && grep -q "cannot create folder $T/a.out/p" <<<"$out"'
"$EVAL" "$CFG" --data "$T/data" --weights "$T/b" --limit 48 --png "$T/new/deep/p" > /dev/null
rc=$?
check "sbs-eval --png makes missing parent folders" \
    '[ $rc -eq 0 ] && [ -s "$T/new/deep/p/weights_L0.png" ]'
exit $fail
