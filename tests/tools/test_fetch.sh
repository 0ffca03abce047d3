#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034,SC2059,SC2317  # check() evals its quoted conditions
# tools/fetch-datasets.sh without the internet: fake MNIST .gz files and a fake CIFAR-10
# tarball made here, taken with --from, checked against a hash file given through
# SBS_FETCH_SHA256_FILE / --sha256-file. Good hashes: everything lands and CIFAR is unpacked;
# a wrong hash: non-zero exit, a line naming the file with both hashes, nothing left behind.
# Skips (77) when a tool it needs (gzip, tar, sha256sum) is missing.
set -u
FETCH="${1:-${SBS_SOURCE_ROOT:-.}/tools/fetch-datasets.sh}"
for tool in gzip tar sha256sum cmp; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "skipped: '$tool' not found"
        exit 77
    fi
done
[ -f "$FETCH" ] || { echo "FAIL fetch script not found: $FETCH"; exit 1; }

T="$(mktemp -d "${TMPDIR:-/tmp}/sbs-fetch-test.XXXXXX")"
trap 'rm -rf -- "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
leftovers() { find "$1" \( -name '*.part' -o -name '.unpack.*' \) 2>/dev/null | grep -q .; }

# --- fake archives -------------------------------------------------------------------------
SRC="$T/src"
mkdir -p "$SRC"
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
idx_images() { { be32 2051; be32 "$1"; be32 28; be32 28; head -c $(($1 * 784)) /dev/zero | tr '\0' '\7'; } | gzip -n > "$2"; }
idx_labels() { { be32 2049; be32 "$1"; for ((i = 0; i < $1; i++)); do printf "\\x$(printf %02x $((i % 10)))"; done; } | gzip -n > "$2"; }
idx_images 5 "$SRC/train-images-idx3-ubyte.gz"
idx_labels 5 "$SRC/train-labels-idx1-ubyte.gz"
idx_images 3 "$SRC/t10k-images-idx3-ubyte.gz"
idx_labels 3 "$SRC/t10k-labels-idx1-ubyte.gz"

mkdir -p "$T/cifar/cifar-10-batches-bin"
record() { printf "\\x$(printf %02x "$1")"; head -c 3072 /dev/zero | tr '\0' '\200'; }
for b in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    { record 3; record 7; } > "$T/cifar/cifar-10-batches-bin/$b.bin"
done
printf 'fake\n' > "$T/cifar/cifar-10-batches-bin/batches.meta.txt"
tar -czf "$SRC/cifar-10-binary.tar.gz" -C "$T/cifar" cifar-10-batches-bin

GOOD="$T/good.sha256"
(cd "$SRC" && sha256sum -- *.gz) > "$GOOD"
ZERO=0000000000000000000000000000000000000000000000000000000000000000
badhash() {   # badhash NAME FILE: the good table with NAME's hash replaced by zeros
    sed "s/^[0-9a-f]*  $1\$/$ZERO  $1/" "$GOOD" > "$2"
}

# --- good hashes: everything lands ---------------------------------------------------------
OUT="$T/out"
out=$(SBS_FETCH_SHA256_FILE="$GOOD" bash "$FETCH" --from "$SRC" --dir "$OUT" 2>&1); rc=$?
check "good hashes: exit 0" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || printf '%s\n' "$out"
ok=1
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    cmp -s "$SRC/$f" "$OUT/MNIST/$f" || ok=0
done
check "MNIST files copied byte for byte into DIR/MNIST" '[ $ok -eq 1 ]'
ok=1
for b in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    cmp -s "$T/cifar/cifar-10-batches-bin/$b.bin" "$OUT/CIFAR10/cifar-10-batches-bin/$b.bin" || ok=0
done
check "CIFAR-10 unpacked into DIR/CIFAR10/cifar-10-batches-bin" '[ $ok -eq 1 ]'
check "CIFAR-10 tarball removed after unpacking" '[ ! -e "$OUT/CIFAR10/cifar-10-binary.tar.gz" ]'
check "no partial files or unpack folders left" '! leftovers "$OUT"'

out=$(bash "$FETCH" --sha256-file "$GOOD" --from "$SRC" --dir "$OUT" 2>&1); rc=$?
check "second run (--sha256-file): exit 0 and skips what is there" '[ $rc -eq 0 ] && grep -q "already there" <<<"$out" && grep -q "already unpacked" <<<"$out"'

out=$(SBS_FETCH_SHA256_FILE="$GOOD" bash "$FETCH" --from "$SRC" --dir "$T/keep" --only cifar10 --keep-archives 2>&1); rc=$?
check "--only cifar10 --keep-archives: exit 0, archive kept, no MNIST" '[ $rc -eq 0 ] && [ -f "$T/keep/CIFAR10/cifar-10-binary.tar.gz" ] && [ ! -e "$T/keep/MNIST" ]'

# --- wrong hashes: non-zero, named, nothing left ------------------------------------------
badhash t10k-images-idx3-ubyte.gz "$T/bad1.sha256"
out=$(SBS_FETCH_SHA256_FILE="$T/bad1.sha256" bash "$FETCH" --from "$SRC" --dir "$T/bad1" --only mnist 2>&1); rc=$?
check "wrong MNIST hash: non-zero exit" '[ $rc -ne 0 ]'
check "wrong MNIST hash: the line names the file, expected and found hash" \
    'grep "t10k-images-idx3-ubyte.gz" <<<"$out" | grep -q "expected $ZERO" && grep -q "found $(sha256sum < "$SRC/t10k-images-idx3-ubyte.gz" | cut -d" " -f1)" <<<"$out"'
check "wrong MNIST hash: the bad file is not left behind" '[ ! -e "$T/bad1/MNIST/t10k-images-idx3-ubyte.gz" ] && ! leftovers "$T/bad1"'

badhash cifar-10-binary.tar.gz "$T/bad2.sha256"
out=$(SBS_FETCH_SHA256_FILE="$T/bad2.sha256" bash "$FETCH" --from "$SRC" --dir "$T/bad2" --only cifar10 2>&1); rc=$?
check "wrong CIFAR hash: non-zero, named, no tarball and nothing unpacked" \
    '[ $rc -ne 0 ] && grep -q "cifar-10-binary.tar.gz.*mismatch" <<<"$out" && [ ! -e "$T/bad2/CIFAR10/cifar-10-binary.tar.gz" ] && [ ! -e "$T/bad2/CIFAR10/cifar-10-batches-bin" ] && ! leftovers "$T/bad2"'

# a verified file already in place that was corrupted later is replaced
printf 'garbage' > "$OUT/MNIST/train-labels-idx1-ubyte.gz"
out=$(SBS_FETCH_SHA256_FILE="$GOOD" bash "$FETCH" --from "$SRC" --dir "$OUT" --only mnist 2>&1); rc=$?
check "a corrupted file in place is fetched again" '[ $rc -eq 0 ] && cmp -s "$SRC/train-labels-idx1-ubyte.gz" "$OUT/MNIST/train-labels-idx1-ubyte.gz"'

# --- a tarball without all batches is refused ---------------------------------------------
mkdir -p "$T/short/src" "$T/short/tree/cifar-10-batches-bin"
cp "$T/cifar/cifar-10-batches-bin/data_batch_1.bin" "$T/short/tree/cifar-10-batches-bin/"
tar -czf "$T/short/src/cifar-10-binary.tar.gz" -C "$T/short/tree" cifar-10-batches-bin
(cd "$T/short/src" && sha256sum -- cifar-10-binary.tar.gz) > "$T/short.sha256"
out=$(SBS_FETCH_SHA256_FILE="$T/short.sha256" bash "$FETCH" --from "$T/short/src" --dir "$T/short/out" --only cifar10 2>&1); rc=$?
check "tarball missing a batch: non-zero, names the batch, nothing unpacked" \
    '[ $rc -ne 0 ] && grep -q "data_batch_2.bin" <<<"$out" && [ ! -e "$T/short/out/CIFAR10/cifar-10-batches-bin" ] && ! leftovers "$T/short/out"'

# --- command-line and hash-file errors ----------------------------------------------------
out=$(bash "$FETCH" --only svhn 2>&1); rc=$?
check "--only svhn: exit 2, names the value" '[ $rc -eq 2 ] && grep -q "svhn" <<<"$out"'
printf 'nothex  train-images-idx3-ubyte.gz\n' > "$T/junk.sha256"
out=$(bash "$FETCH" --sha256-file "$T/junk.sha256" --from "$SRC" --dir "$T/junk" 2>&1); rc=$?
check "malformed hash file: exit 2, names file and line" '[ $rc -eq 2 ] && grep -q "junk.sha256:1" <<<"$out"'
mkdir -p "$T/empty"
out=$(SBS_FETCH_SHA256_FILE="$GOOD" bash "$FETCH" --from "$T/empty" --dir "$T/missing" --only mnist 2>&1); rc=$?
check "archive missing from --from: non-zero, names it" '[ $rc -ne 0 ] && grep -q "train-images-idx3-ubyte.gz" <<<"$out"'

exit $fail
