#!/usr/bin/env bash
# NEWS.md's newest entry ("## X.Y.Z ...", the first such heading) names the version that
# `sbs-train --version` and `sbs-eval --version` print (meson.build's project version).
# usage: test_news.sh SBS_TRAIN SBS_EVAL NEWS.md
set -u
TRAIN="$1"; EVAL="$2"; NEWS="$3"
[ -f "$NEWS" ] || { echo "FAIL $NEWS not found"; exit 1; }
top=$(sed -n 's/^## \([0-9][0-9.]*[0-9A-Za-z.+~-]*\)\( .*\)\{0,1\}$/\1/p' "$NEWS" | head -n 1)
[ -n "$top" ] || { echo "FAIL $NEWS: no heading '## X.Y.Z' found"; exit 1; }
fail=0
for prog in "$TRAIN" "$EVAL"; do
    name=$(basename "$prog")
    got=$("$prog" --version)
    if [ "$got" = "$name $top" ]; then
        echo "ok   $name --version prints '$got', NEWS.md's top entry is $top"
    else
        echo "FAIL $name --version prints '$got', NEWS.md's top entry is '$top' (expected '$name $top')"
        fail=1
    fi
done
exit $fail
