#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034  # check() evals its quoted conditions
# `meson install --destdir` into a temporary folder, then the installed programs: --version
# prints the build's version; a config named by a relative path that does not exist in the
# current directory is found among the installed configs (also after the installed tree is
# moved elsewhere: the lookup is relative to the program); a local folder of the same name
# wins; an unknown name fails with exit 2 naming it; the configs are installed whole; the man
# pages sbs-train(1) and sbs-eval(1) are there (when help2man was found: MAN=1); sbs-sweep
# (tools/sweep.sh) is installed and runs the sbs-train beside it.
# usage: test_install.sh BUILD_DIR SOURCE_DIR MAN(0|1)
set -u
BUILD="$1"; SRC="$2"; MAN="$3"
T="$(mktemp -d "${TMPDIR:-/tmp}/sbs-install-test.XXXXXX")"
trap 'rm -rf -- "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

# --no-rebuild: meson test has built everything; no ninja run beside the other tests
if ! meson install -C "$BUILD" --no-rebuild --destdir "$T/dest" > "$T/install.log" 2>&1; then
    echo "FAIL meson install --destdir: $(tail -n 3 "$T/install.log")"
    exit 1
fi
train=$(find "$T/dest" -path '*/bin/sbs-train' -type f)
eval_=$(find "$T/dest" -path '*/bin/sbs-eval' -type f)
check "sbs-train and sbs-eval installed in a bin folder" '[ -x "$train" ] && [ -x "$eval_" ]'
[ -x "$train" ] || exit 1
prefix=${train%/bin/sbs-train}
cfgdir=$(find "$T/dest" -path '*/share/sbs-train/configs' -type d)
check "configs installed in <datadir>/sbs-train/configs, whole" \
    '[ -n "$cfgdir" ] && diff -r "$SRC/configs" "$cfgdir" > /dev/null'

want="sbs-train $("$BUILD/sbs-train" --version | sed 's/^sbs-train //')"
check "installed sbs-train --version: $want" '[ "$("$train" --version)" = "$want" ]'

mkdir -p "$T/cwd"
cd "$T/cwd" || exit 1
out=$("$train" --dry-run FASHION_MNIST/SbS_Mixed_Loss 2>&1); rc=$?
check "dry-run of an installed config by relative folder name" \
    '[ $rc -eq 0 ] && grep -q "spike updates per image" <<<"$out"'
full=$(grep "spike updates per image" <<<"$out")
out=$("$train" --dry-run configs/MNIST/SbS_Mixed_Loss/def.json 2>&1); rc=$?
check "dry-run of configs/MNIST/.../def.json (the README's form) finds the installed one" \
    '[ $rc -eq 0 ] && grep -q "spike updates per image" <<<"$out"'
out=$("$eval_" --plan FASHION_MNIST/SbS_Entropy 2>&1); rc=$?
check "installed sbs-eval --plan finds an installed config" \
    '[ $rc -eq 0 ] && grep -q "spike updates per image" <<<"$out"'
out=$("$train" --dry-run FASHION_MNIST/No_Such_Net 2>&1); rc=$?
check "an unknown config: exit 2, naming the path as typed" \
    '[ $rc -eq 2 ] && grep -q "FASHION_MNIST/No_Such_Net" <<<"$out" && ! grep -q "share/sbs-train" <<<"$out"'

# a folder of the same relative name in the current directory wins over the installed one
mkdir -p FASHION_MNIST/SbS_Mixed_Loss
cp "$SRC"/tests/train/tiny/*.json FASHION_MNIST/SbS_Mixed_Loss/
out=$("$train" --dry-run FASHION_MNIST/SbS_Mixed_Loss 2>&1); rc=$?
local_=$(grep "spike updates per image" <<<"$out")
check "a local folder of the same name wins over the installed config" \
    '[ $rc -eq 0 ] && [ -n "$local_" ] && [ "$local_" != "$full" ]'
rm -rf FASHION_MNIST

# the lookup follows the program: move the whole installed tree elsewhere
mv "$prefix" "$T/moved"
out=$("$T/moved/bin/sbs-train" --dry-run FASHION_MNIST/SbS_Mixed_Loss 2>&1); rc=$?
check "a moved install still finds its configs" \
    '[ $rc -eq 0 ] && [ "$(grep "spike updates per image" <<<"$out")" = "$full" ]'
out=$("$T/moved/bin/sbs-sweep" --out sw --axis number_of_spikes '[8]' --dry-run -- FASHION_MNIST/SbS_Mixed_Loss 2>&1); rc=$?
check "sbs-sweep installed; it runs the sbs-train beside it" \
    '[ $rc -eq 0 ] && grep -q "^  $T/moved/bin/sbs-train FASHION_MNIST/SbS_Mixed_Loss --set" <<<"$out"'
cd "$T" || exit 1

if [ "$MAN" = 1 ]; then
    for p in sbs-train sbs-eval; do
        page=$(find "$T/moved" -path "*/man1/$p.1" -type f)
        check "man page $p(1) installed, with its options" \
            '[ -n "$page" ] && grep -q "^\.SH SYNOPSIS" "$page" && grep -q "^\.TH \"*${p^^}" "$page" && grep -q -- "-\\\\-version" "$page"'
    done
else
    echo "note: man pages not checked: help2man was not found at meson setup (-Dman=auto)"
fi
exit $fail
