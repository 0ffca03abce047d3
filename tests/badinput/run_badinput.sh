#!/usr/bin/env bash
# run_badinput.sh TRAIN EVAL GEN CASES — the bad-input table (cases.sh): every case gives one
# of the programs a bad config, weight file, data file, checkpoint or command line in a fresh
# copy of a small sandbox, and asserts
#   - the exit status (2: bad input),
#   - exactly one line on stderr, containing each keyword of the case (the file, key or
#     option it names, and what it says is wrong),
#   - no file or folder of the sandbox (configs, data, weights, Previous/, the output folder
#     out/ with an earlier run's files) created, changed or removed.
# Sandbox: cfg/ (the tiny net of tests/train/tiny, data_path "data", weight_path "out"),
# data/ (48 + 12 IDX images, from GEN), weights/ and Previous/ (good weights), out/ (files of
# an earlier run, with its checkpoint), npy/ (bad weight files, from GEN). Programs run in the
# sandbox, so the config's relative paths resolve there.
set -u
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
TRAIN=$(abs "$1") EVAL=$(abs "$2") GEN=$(abs "$3") CASES=$(abs "$4")
SRC="${SBS_SOURCE_ROOT:-$(cd "$(dirname "$CASES")/../.." && pwd)}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
base="$T/base"
mkdir -p "$base/cfg" "$base/weights" "$base/Previous" "$base/out"
"$GEN" "$base" || { echo "FAIL: $GEN"; exit 1; }
cp "$SRC/tests/train/tiny/network.json" "$base/cfg/network.json"
cat > "$base/cfg/dataset.json" <<'J'
{
    "data_path": "data", // the sandbox's small IDX set
    "data_mode": "MNIST_FASHION"
}
J
cat > "$base/cfg/def.json" <<'J'
{
    // the tiny net of tests/train/tiny, writing to out/
    "epoch_id_max": 100,
    "batch_size": 12,
    "number_of_spikes": [20],
    "forgetting_offset": 0.0,
    "weight_path": "out",
    "learning_parameters": {
        "learning_rate_threshold_w": 0.001,
        "number_of_batches_for_one_update": 2,
        "learning_rate_gamma_w": 0.02,
        "adapt_learning_rate_after_minibatch": false,
        "w_trainable": [true]
    }
}
J
cp "$base/npy/w0.npy" "$base/weights/Weight_L0_S0.npy"
cp "$base/npy/w2.npy" "$base/weights/Weight_L2_S0.npy"
cp "$base/npy/w0.npy" "$base/Previous/Weight_L0_S0.npy"
cp "$base/npy/w2.npy" "$base/Previous/Weight_L2_S0.npy"

# An earlier run in out/ (weights, checkpoint, log, metrics): the resume cases break its
# checkpoint, every case checks it stays as it is. The good config must work at all.
(cd "$base" && "$TRAIN" cfg --epochs 1 --limit-train 24 --limit-test 12 --threads 1 --quiet \
    > /dev/null 2> "$T/first.err")
rc=$?
if [ $rc -ne 0 ] || [ ! -s "$base/out/checkpoint.sbs" ]; then
    echo "FAIL: the good config does not train (exit $rc):"; cat "$T/first.err"; exit 1
fi
(cd "$base" && "$EVAL" --weights weights --threads 1 cfg > "$T/first.out" 2> "$T/first.err")
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL: the good weights do not evaluate (exit $rc):"; cat "$T/first.err"; exit 1
fi

snapshot() { # every folder, link and file (with its checksum and size); the output folder's
    # lock file (.sbs-train.lock) holds the pid of the last run that took it: its presence
    # counts, its contents do not
    (cd "$1" && { find . -type d -printf 'dir %p\n'; find . -type l -printf 'link %p -> %l\n'
                  find . -type f -name .sbs-train.lock -printf 'lock %p\n'
                  find . -type f ! -name .sbs-train.lock -exec cksum {} +; } | LC_ALL=C sort)
}

n=0 passed=0 failed=0
declare -A seen
# t NAME EXIT 'KEYWORD|KEYWORD...' 'SETUP (shell, in the sandbox)' train|eval ARGS...
t() {
    local name="$1" want="$2" kws="$3" setup="$4" prog="$5"
    shift 5
    n=$((n + 1))
    if [ -n "${seen[$name]:-}" ]; then echo "FAIL $name: duplicate case name"; failed=$((failed + 1)); return; fi
    seen[$name]=1
    local box="$T/case"
    rm -rf "$box"
    cp -a "$base" "$box"
    if ! (cd "$box" && eval "$setup") > "$T/setup.log" 2>&1; then
        echo "FAIL $name: setup failed: $(cat "$T/setup.log")"; failed=$((failed + 1)); return
    fi
    snapshot "$box" > "$T/before"
    local exe
    case $prog in train) exe="$TRAIN" ;; eval) exe="$EVAL" ;; *) echo "FAIL $name: program $prog"; failed=$((failed + 1)); return ;; esac
    local vg=()
    [ -n "${SBS_VALGRIND:-}" ] && vg=(valgrind --error-exitcode=99 --leak-check=full
        --errors-for-leak-kinds=definite,indirect --quiet --log-file="$T/valgrind.log")
    (cd "$box" && timeout 300 "${vg[@]}" "$exe" "$@" > "$T/stdout" 2> "$T/stderr" < /dev/null)
    local rc=$?
    snapshot "$box" > "$T/after"
    local why=()
    [ "$rc" -eq "$want" ] || why+=("exit $rc, expected $want")
    local lines
    lines=$(awk 'END { print NR }' "$T/stderr")
    [ "$lines" -eq 1 ] || why+=("$lines lines on stderr, expected 1")
    local IFS='|' kw
    for kw in $kws; do
        grep -qiF -- "$kw" "$T/stderr" || why+=("stderr does not mention '$kw'")
    done
    unset IFS
    if [ -n "${SBS_VALGRIND:-}" ] && [ -s "$T/valgrind.log" ]; then
        why+=("valgrind: $(grep -m3 -E 'Invalid|uninitialised|lost|ERROR SUMMARY' "$T/valgrind.log" | tr '\n' ' ')")
    fi
    rm -f "$T/valgrind.log"
    cmp -s "$T/before" "$T/after" || why+=("files changed: $(diff "$T/before" "$T/after" | grep '^[<>]' | head -3 | tr '\n' ' ')")
    if [ ${#why[@]} -eq 0 ]; then
        passed=$((passed + 1))
        echo "ok   $name: $(head -c 200 "$T/stderr")"
    else
        failed=$((failed + 1))
        echo "FAIL $name: ${why[*]}"
        echo "     stderr: $(head -c 600 "$T/stderr" | sed '2,$s/^/             /')"
    fi
}

. "$CASES"

echo "bad-input table: $n cases, $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$n" -ge 60 ]
