#!/usr/bin/env bash
# check-format.sh — the C sources against .clang-format: lists every file that clang-format
# would change (with the number of lines), exit 1 when there is one. CI runs it (.ci/run).
#
#   tools/check-format.sh            check the tracked *.c and *.h files
#   tools/check-format.sh FILE...    check these files
#   tools/check-format.sh --fix      reformat them in place (clang-format -i)
#
# The style is tuned to clang-format 14 (Debian 12's clang-format package); another version
# may format a few constructs differently (a warning says so). $CLANG_FORMAT picks the program.
set -uo pipefail

fix=0
files=()
for a in "$@"; do
    case "$a" in
        --fix) fix=1 ;;
        -h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
        -*) printf 'check-format: unknown option %s (--help)\n' "$a" >&2; exit 2 ;;
        *) files+=("$a") ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2
cf="${CLANG_FORMAT:-}"
if [ -z "$cf" ]; then
    for c in clang-format clang-format-14; do
        command -v "$c" >/dev/null 2>&1 && { cf="$c"; break; }
    done
fi
[ -n "$cf" ] || { echo "check-format: clang-format not found (apt-get install clang-format)" >&2; exit 2; }
ver=$("$cf" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
[ "$ver" = 14 ] || echo "check-format: note: $cf is version ${ver:-unknown}; .clang-format is tuned to 14" >&2

if [ ${#files[@]} -eq 0 ]; then
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        mapfile -t files < <(git ls-files -- '*.c' '*.h')
    else
        mapfile -t files < <(find src include tools tests -name '*.c' -o -name '*.h' | sort)
    fi
fi

if [ $fix -eq 1 ]; then
    "$cf" -i --style=file "${files[@]}" || exit 1
    echo "check-format: formatted ${#files[@]} files"
    exit 0
fi

bad=0 lines=0
for f in "${files[@]}"; do
    [ -f "$f" ] || { echo "check-format: $f: no such file" >&2; exit 2; }
    out=$("$cf" --style=file "$f") || { echo "check-format: $cf failed on $f" >&2; exit 2; }
    n=$(diff -U0 "$f" - <<<"$out" | grep -c '^-\([^-]\|$\)')
    if [ "$n" -gt 0 ]; then
        echo "$f: $n lines differ"
        bad=$((bad + 1)) lines=$((lines + n))
    fi
done
if [ $bad -gt 0 ]; then
    echo "check-format: $bad of ${#files[@]} files differ from .clang-format ($lines lines); tools/check-format.sh --fix reformats them"
    exit 1
fi
echo "check-format: ${#files[@]} files match .clang-format"
exit 0
