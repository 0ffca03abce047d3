#!/usr/bin/env bash
# Data-parallel training under MPI (mpi.h): N ranks give bitwise the weights of one process
# (cmp on every weight file) for 2 and 3 ranks, uneven splits (3 ranks on windows of 2 and 4
# chunks: a rank without a chunk, 1/1/2) and a trailing partial window, on the tiny net and
# on the shipped Fashion-MNIST SbS_Mixed_Loss config; one set of files and one result line;
# a stop (SIGUSR1 to the launcher, SIGTERM to one rank) saves, exits 130 everywhere, and
# resumes with another number of ranks to the uninterrupted run's weights; a rank killed with
# kill -9 ends the job non-zero within seconds; a NaN stops every rank; ranks with different
# data or SIMD paths, and a launcher of another MPI, are refused with exit 2.
#
# The launcher is set up for a small shared machine run as root (CI): root allowed, shared
# memory only (no TCP sockets), no binding to cores, oversubscription, no ssh (isolated).
set -u
TRAIN="$1"
MPIEXEC="${2:-none}"
SRC="${SBS_SOURCE_ROOT:-.}"
CFG="$SRC/tests/train/tiny/def.json"
CNN="$SRC/tests/train/tinycnn/def.json"
MIXED="$SRC/configs/FASHION_MNIST/SbS_Mixed_Loss/def.json"
DATA=/usr/share/datasets/fashion-mnist

if [ "$MPIEXEC" = none ] || [ ! -x "$MPIEXEC" ]; then
    echo "skipped: sbs-train is built without MPI (apt-get install libopenmpi-dev openmpi-bin, then meson setup --reconfigure)"
    exit 77
fi
if [ -n "${SBS_VALGRIND:-}" ]; then
    echo "skipped: the MPI libraries are not valgrind-clean (Open MPI leaks in MPI_Init)"
    exit 77
fi
if [ ! -d "$DATA" ]; then
    echo "skipped: needs $DATA (apt-get install dataset-fashion-mnist)"
    exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_orte_execute_quiet=1 \
    OMPI_MCA_btl=self,vader OMPI_MCA_plm=isolated OMPI_MCA_rmaps_base_oversubscribe=1 \
    OMPI_MCA_hwloc_base_binding_policy=none OMPI_MCA_mpi_yield_when_idle=1 UCX_TLS=self,sm
# LeakSanitizer reports the MPI libraries' plugins (not ours) in a sanitizer build
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
mpi() { local n=$1; shift; "$MPIEXEC" -n "$n" "$TRAIN" "$@"; }
# every weight file of folder $2 equal (cmp) to the same file of the reference folder $1
same_weights() {
    local n=0 f
    for f in "$2"/Weight_L*.npy; do
        [ -e "$f" ] || return 1
        cmp -s "$f" "$1/$(basename "$f")" || { echo "    $f differs from $1"; return 1; }
        n=$((n + 1))
    done
    echo "    $n weight files equal"
    [ $n -gt 0 ]
}
# the losses of the update records, in order
losses() { grep '"type": "update"' "$1/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/'; }
# the children of a process (the ranks of an isolated Open MPI launch), from /proc/*/stat
# ("pid (comm) state ppid ..."; comm may hold spaces and parentheses)
children() {
    awk -v p="$1" '{ s = $0; sub(/.*\) /, "", s); split(s, a, " "); if (a[2] == p) print $1 }' \
        /proc/[0-9]*/stat 2>/dev/null
}
# some of the pids still run (a zombie, which a container's init may never reap, does not)
running() {
    local p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && [ "$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$p/stat")" != Z ] &&
            return 0
    done
    return 1
}
# wait until folder $1 has at least $2 update records of epoch $3
wait_updates() {
    local i n
    for i in $(seq 1 1200); do
        n=$(grep -c "\"type\": \"update\", \"epoch\": $3" "$1/metrics.jsonl" 2>/dev/null || true)
        [ "${n:-0}" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

common=(--limit-train 960 --limit-test 300 --quiet)

# --- the tiny net: 1 process, then 2 and 3 ranks -------------------------------------------
"$TRAIN" "$CFG" --out "$T/one" --epochs 3 --threads 2 "${common[@]}" > "$T/one.out"; rc=$?
check "one process: exit 0" '[ $rc -eq 0 ]'
mpi 2 "$CFG" --out "$T/two" --epochs 3 "${common[@]}" > "$T/two.out"; rc=$?
check "2 ranks: exit 0" '[ $rc -eq 0 ]'
check "2 ranks: every weight file equal to one process's (3 epochs)" 'same_weights "$T/one" "$T/two"'
check "2 ranks: the same losses in the update records" '[ "$(losses "$T/one")" = "$(losses "$T/two")" ] && [ $(losses "$T/two" | wc -l) -eq 60 ]'
check "2 ranks: one result line on stdout, one run in train.log" '[ $(wc -l < "$T/two.out") -eq 1 ] && grep -q "\"status\": \"finished\"" "$T/two.out" && [ $(grep -c "sbs-train .*: " "$T/two/train.log") -eq 1 ]'
check "2 ranks: the same test accuracy" '[ "$(sed "s/, \"seconds.*//" "$T/one.out")" = "$(sed "s/, \"seconds.*//" "$T/two.out")" ]'
mpi 3 "$CFG" --out "$T/three" --epochs 1 "${common[@]}" > /dev/null; rc=$?
check "3 ranks on windows of 2 chunks (rank 0 has none): weights equal" '[ $rc -eq 0 ] && same_weights "$T/one" "$T/three"'

# uneven: windows of 4 chunks over 3 ranks (1/1/2), 1000 images: a last chunk of 16 images
# and a trailing window of 2 chunks (forwarded, not applied)
uneven=(--set learning_parameters.number_of_batches_for_one_update=4 --limit-train 1000)
"$TRAIN" "$CFG" --out "$T/u1" --epochs 1 --threads 2 "${common[@]}" "${uneven[@]}" > "$T/u1.out"
mpi 3 "$CFG" --out "$T/u3" --epochs 1 "${common[@]}" "${uneven[@]}" > "$T/u3.out"; rc=$?
check "3 ranks, 4 chunks a window (1/1/2), partial window: weights and results equal" '[ $rc -eq 0 ] && same_weights "$T/u1" "$T/u3" && [ "$(sed "s/, \"seconds.*//" "$T/u1.out")" = "$(sed "s/, \"seconds.*//" "$T/u3.out")" ]'

# --- stopping together and resuming with another number of ranks ---------------------------
"$MPIEXEC" -n 2 "$TRAIN" "$CFG" --out "$T/s" --epochs 3 "${common[@]}" > "$T/s.out" &
pid=$!
wait_updates "$T/s" 3 1
kill -USR1 $pid
wait $pid; rc=$?
check "SIGUSR1 to the launcher: exit 130, an 'interrupted' result" '[ $rc -eq 130 ] && grep -q "\"status\": \"interrupted\"" "$T/s.out"'
"$TRAIN" "$CFG" --out "$T/s" --epochs 3 --threads 2 --resume "${common[@]}" > /dev/null; rc=$?
check "resumed as one process: weights equal to the uninterrupted run" '[ $rc -eq 0 ] && same_weights "$T/one" "$T/s"'

"$MPIEXEC" -n 2 "$TRAIN" "$CFG" --out "$T/t" --epochs 3 "${common[@]}" > "$T/t.out" &
pid=$!
wait_updates "$T/t" 3 1
ranks=$(children $pid)
kill -TERM $(echo "$ranks" | tail -n 1)
wait $pid; rc=$?
check "SIGTERM to one rank: all stop, exit 130" '[ $rc -eq 130 ] && grep -q "\"status\": \"interrupted\"" "$T/t.out"'
mpi 3 "$CFG" --out "$T/t" --epochs 3 --resume "${common[@]}" > /dev/null; rc=$?
check "resumed with 3 ranks: weights equal to the uninterrupted run" '[ $rc -eq 0 ] && same_weights "$T/one" "$T/t"'

# --- failures: a killed rank, NaN, different data or SIMD, the wrong launcher ---------------
"$MPIEXEC" -n 2 "$TRAIN" "$CFG" --out "$T/k" --epochs 3 "${common[@]}" > /dev/null 2>&1 &
pid=$!
wait_updates "$T/k" 2 0
ranks=$(children $pid)
t0=$(date +%s%N)
kill -9 $(echo "$ranks" | tail -n 1)
for _ in $(seq 1 300); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
kill -0 $pid 2>/dev/null && { echo "    the job still runs 15 s after kill -9 of a rank"; kill -9 $pid $ranks; }
wait $pid; rc=$?
echo "    launcher exited $rc, $(( ($(date +%s%N) - t0) / 1000000 )) ms after kill -9 of a rank"
for _ in $(seq 1 100); do running $ranks || break; sleep 0.05; done # being killed
check "kill -9 of a rank: the job ends non-zero within 15 s, no rank left" '[ $rc -ne 0 ] && ! running $ranks'

out=$(mpi 2 "$CNN" --out "$T/n" --epochs 1 --limit-train 480 --limit-test 96 --quiet \
      --set learning_parameters.optimizer_name=SGD --set learning_parameters.learning_rate_gamma_w=1e38 2>&1 >/dev/null); rc=$?
echo "    $out"
check "NaN: every rank stops, exit 1, naming the layer" '[ $rc -eq 1 ] && grep -q "layer [0-9]* (CONV2D)" <<<"$out"'

mkdir -p "$T/data2"
ln -s "$DATA"/t10k-* "$DATA"/train-images-idx3-ubyte.gz "$T/data2/"
gzip -dc "$DATA/train-labels-idx1-ubyte.gz" > "$T/data2/train-labels-idx1-ubyte"
printf '\011' | dd of="$T/data2/train-labels-idx1-ubyte" bs=1 seek=20 conv=notrunc status=none
out=$("$MPIEXEC" -n 1 "$TRAIN" "$CFG" --out "$T/d" "${common[@]}" : \
      -n 1 "$TRAIN" "$CFG" --out "$T/d" "${common[@]}" --data "$T/data2" 2>&1 >/dev/null); rc=$?
echo "    $out"
check "a rank with other data: exit 2, names the rank" '[ $rc -eq 2 ] && grep -q "data set differs.*rank(s) 1 " <<<"$out"'
if grep -q avx2 /proc/cpuinfo; then
    out=$("$MPIEXEC" -n 1 "$TRAIN" "$CFG" --out "$T/d" "${common[@]}" : \
          -n 1 "$TRAIN" "$CFG" --out "$T/d" "${common[@]}" --simd scalar 2>&1 >/dev/null); rc=$?
    echo "    $out"
    check "ranks with different SIMD paths: exit 2, says --simd" '[ $rc -eq 2 ] && grep -q -- "--simd" <<<"$out"'
fi

out=$(env -u OMPI_COMM_WORLD_SIZE PMI_SIZE=2 PMI_RANK=0 "$TRAIN" "$CFG" --out "$T/w" "${common[@]}" 2>&1); rc=$?
echo "    $out"
check "another MPI's launcher (PMI_SIZE=2): exit 2, names the launcher to use" '[ $rc -eq 2 ] && grep -q "launcher" <<<"$out" && [ ! -e "$T/w" ]'

# --- the shipped SbS_Mixed_Loss config: 2 updates (the first measures the gradient scale) ---
mixed=(--limit-train 960 --limit-test 100 --epochs 1 --quiet)
"$TRAIN" "$MIXED" --out "$T/m1" --threads 2 "${mixed[@]}" > /dev/null; rc1=$?
mpi 2 "$MIXED" --out "$T/m2" "${mixed[@]}" > /dev/null; rc2=$?
mpi 3 "$MIXED" --out "$T/m3" "${mixed[@]}" > /dev/null; rc3=$?
check "SbS_Mixed_Loss: 1 process, 2 and 3 ranks exit 0" '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ $rc3 -eq 0 ]'
check "SbS_Mixed_Loss: 2 ranks' weights equal one process's" 'same_weights "$T/m1" "$T/m2"'
check "SbS_Mixed_Loss: 3 ranks' weights equal one process's" 'same_weights "$T/m1" "$T/m3"'
exit $fail
