#!/usr/bin/env bash
# device-check.sh — the cuda backend on a machine with an NVIDIA GPU, in under 5 minutes:
#
#   tools/device-check.sh [--build DIR] [--data DIR]
#
#   1. the GPU, driver and tools;
#   2. the programs: from .devcarry/runtime.tar.xz (made by tools/device-prep.sh on a build
#      machine: a bare GPU machine needs no packages), else from --build DIR (default build/),
#      else built here into build-device/ (meson, ninja, nvcc and the build dependencies);
#   3. the CUDA test (tests/cuda/test_cuda.cpp) with SBS_REQUIRE_GPU=1: bitwise SbS forward
#      against the CPU's AVX-512 path, every layer kind and training operation;
#   4. compute-sanitizer (memcheck, racecheck) on a small layer and a small training step;
#   5. the benchmarks: layer-0 spike updates/s (batch 24 and 480), the Fashion-MNIST test pass
#      of 10,000 images with the reference SbS_Entropy weights on cuda and on the CPU (the
#      accuracies and confusion matrices must be equal), a training window, and one epoch of
#      configs/FASHION_MNIST/SbS_Mixed_Loss;
#   6. one JSON line of figures, last.
#
# Data: --data DIR, else .devcarry/fashion-mnist, else /usr/share/datasets/fashion-mnist.
# Exit status: 0 when the test, the sanitizer and the accuracy comparison passed, 1 otherwise.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="" data=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build="$2"; shift 2 ;;
        --data) data="$2"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "device-check: unknown option $1" >&2; exit 2 ;;
    esac
done
t_start=$(date +%s)
say() { printf 'device-check: %s\n' "$*" >&2; }
# the value of "key" in a one-line JSON object (numbers, true/false, "strings" without quotes)
jget() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"}]*\).*/\1/p" | tail -n 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok=1

# ---- 1. the machine
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null | head -n 1)
say "GPU: ${gpu:-none (nvidia-smi failed)}"
command -v nvcc >/dev/null 2>&1 && say "nvcc: $(nvcc --version | tail -n 1)"
say "OS: $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-?}"), $(ldd --version | head -n 1)"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib; do
    [ -d "$d" ] && LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"

# ---- 2. the programs
bin=""
if [ -f .devcarry/runtime.tar.xz ]; then
    tar -C "$tmp" -xJf .devcarry/runtime.tar.xz
    export LD_LIBRARY_PATH="$tmp/lib:$LD_LIBRARY_PATH"
    bin="$tmp/bin"
    say "programs from .devcarry/runtime.tar.xz"
elif [ -x "${build:-build}/tools/sbs-bench" ]; then
    b="${build:-build}"
    mkdir -p "$tmp/bin"
    for p in sbs-eval sbs-train tools/sbs-bench tests/cuda/test_cuda_device; do
        ln -s "$root/$b/$p" "$tmp/bin/"
    done
    bin="$tmp/bin"
    say "programs from $b/"
else
    say "building build-device/ (release, gpu_arch 90)"
    export PATH="/usr/local/cuda/bin:$PATH"
    if meson setup build-device --buildtype=release -Dcuda=enabled -Dgpu_arch=90 >"$tmp/setup.log" 2>&1 &&
       ninja -C build-device sbs-eval sbs-train tools/sbs-bench tests/cuda/test_cuda_device >"$tmp/build.log" 2>&1; then
        mkdir -p "$tmp/bin"
        for p in sbs-eval sbs-train tools/sbs-bench tests/cuda/test_cuda_device; do
            ln -s "$root/build-device/$p" "$tmp/bin/"
        done
        bin="$tmp/bin"
    else
        tail -n 20 "$tmp/setup.log" "$tmp/build.log" >&2
    fi
fi
# CUDA libraries elsewhere (e.g. a Python environment's nvidia-* packages); cuBLAS is
# loaded when the backend starts (by name, else beside libcudart)
if [ -n "$bin" ]; then
    need=$(ldd "$bin/sbs-bench" 2>/dev/null | awk '/not found/ { print $1 }')
    found=0
    for d in ${LD_LIBRARY_PATH//:/ }; do ls "$d"/libcublas.so.* >/dev/null 2>&1 && found=1; done
    ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.' && found=1
    [ $found = 0 ] && need="$need libcublas.so.13"
    for lib in $need; do
        f=$(find /usr/local /opt /usr/lib -name "$lib" 2>/dev/null | head -n 1)
        [ -n "$f" ] && export LD_LIBRARY_PATH="$(dirname "$f"):$LD_LIBRARY_PATH" &&
            say "$lib: $(dirname "$f")"
    done
fi
if [ -z "$bin" ] || ! "$bin/sbs-bench" --help >/dev/null 2>&1; then
    say "no runnable programs (see above; run tools/device-prep.sh on a build machine and carry .devcarry)"
    "$bin/sbs-bench" --help 2>&1 | head -n 5 >&2
    printf '{"device_check": "no programs", "gpu": "%s"}\n' "$gpu"
    exit 1
fi
if [ -z "$data" ]; then
    for d in .devcarry/fashion-mnist /usr/share/datasets/fashion-mnist; do
        [ -f "$d/t10k-images-idx3-ubyte.gz" ] && { data="$d"; break; }
    done
fi

# ---- 3. the CUDA test
export SBS_SOURCE_ROOT="$root" SBS_REQUIRE_GPU=1
t0=$SECONDS
if timeout 150 "$bin/test_cuda_device" >"$tmp/test.log" 2>&1; then tests=pass; else tests=fail; ok=0; fi
cat "$tmp/test.log" >&2
say "CUDA test: $tests ($((SECONDS - t0)) s)"

# ---- 4. compute-sanitizer on small cases
san=skipped
if command -v compute-sanitizer >/dev/null 2>&1; then
    san=clean
    for tool in memcheck racecheck; do
        if ! timeout 120 compute-sanitizer --tool "$tool" --error-exitcode 9 \
                "$bin/sbs-bench" --backend cuda --batch 2 --out 17 --size 9 --spikes 100 \
                --repeat 1 >"$tmp/san.log" 2>&1; then
            san="$tool errors (layer)"; ok=0; tail -n 30 "$tmp/san.log" >&2
        fi
    done
    if ! timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 \
            "$bin/sbs-bench" --backend cuda --config tests/train/tiny/def.json --train \
            --batch 3 --chunks 2 --spikes 40 --repeat 1 >"$tmp/san.log" 2>&1; then
        san="memcheck errors (training step)"; ok=0; tail -n 30 "$tmp/san.log" >&2
    fi
fi
say "compute-sanitizer: $san"

# ---- 5. benchmarks (median of the timed repeats; the first run is a warm-up)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "null" }'; }
layer_rate() { # backend batch repeats
    timeout 60 "$bin/sbs-bench" --backend "$1" --batch "$2" --in 1 --out 32 --kernel 5 --size 24 \
        --spikes 1600 --repeat "$3" 2>>"$tmp/bench.err" | tail -n +2 | while read -r l; do
        echo "$l" | jget spike_updates_per_s; done | median
}
l0_24=$(layer_rate cuda 24 6)
l0_480=$(layer_rate cuda 480 6)
say "layer 0 spike updates/s: ${l0_24:-?} (batch 24), ${l0_480:-?} (batch 480)"
cpu_l0=$(layer_rate cpu 24 3)

tr_win=$(timeout 90 "$bin/sbs-bench" --backend cuda --config configs/FASHION_MNIST/SbS_Mixed_Loss/def.json \
    --train --repeat 3 2>>"$tmp/bench.err" | tail -n 1)
win_s=$(echo "$tr_win" | jget seconds)
say "training window (20 x 24 images): ${win_s:-?} s: $tr_win"

acc_cuda=null acc_cpu=null test_s=null test_cpu_s=null same=null epoch_s=null epoch_acc=null
w=datasets/reference/weights/FASHION_MNIST/SbS_Entropy
if [ -n "$data" ]; then
    ev() { # backend batch
        timeout 120 "$bin/sbs-eval" --backend "$1" --batch "$2" --weights "$w" --data "$data" \
            --json --confusion configs/FASHION_MNIST/SbS_Entropy/def.json 2>/dev/null | tail -n 1
    }
    e_cuda=$(ev cuda 1000)
    e_cpu=$(ev cpu 500)
    acc_cuda=$(echo "$e_cuda" | jget accuracy); test_s=$(echo "$e_cuda" | jget seconds)
    acc_cpu=$(echo "$e_cpu" | jget accuracy); test_cpu_s=$(echo "$e_cpu" | jget seconds)
    c1=$(echo "$e_cuda" | sed -n 's/.*"confusion": \(.*\)}/\1/p')
    c2=$(echo "$e_cpu" | sed -n 's/.*"confusion": \(.*\)}/\1/p')
    if [ -n "$c1" ] && [ "$c1" = "$c2" ] && [ "$acc_cuda" = "$acc_cpu" ]; then same=true; else same=false; ok=0; fi
    say "test pass (10,000 images): cuda ${acc_cuda:-?} % in ${test_s:-?} s, cpu ${acc_cpu:-?} % in ${test_cpu_s:-?} s, equal: $same"

    rm -rf "$tmp/run"
    el=$(date +%s)
    left=$((280 - (el - t_start)))
    [ "$left" -lt 30 ] && left=30
    timeout "$left" "$bin/sbs-train" --backend cuda --epochs 1 --data "$data" --out "$tmp/run" \
        --quiet configs/FASHION_MNIST/SbS_Mixed_Loss/def.json >"$tmp/train.out" 2>"$tmp/train.err"
    trc=$?
    ep=$(grep '"type": "epoch"' "$tmp/run/metrics.jsonl" 2>/dev/null | tail -n 1)
    epoch_s=$(echo "$ep" | jget seconds); epoch_acc=$(echo "$ep" | jget test_accuracy)
    say "one epoch of SbS_Mixed_Loss (exit $trc): ${epoch_s:-?} s, test accuracy ${epoch_acc:-?} %: $ep"
    [ "$trc" -ne 0 ] && tail -n 5 "$tmp/train.err" >&2
else
    say "no Fashion-MNIST data (--data, .devcarry/fashion-mnist): test pass and epoch skipped"
fi

n() { [ -n "${1:-}" ] && echo "$1" || echo null; }
printf '{"device_check": "%s", "gpu": "%s", "tests": "%s", "sanitizer": "%s", ' \
    "$([ $ok = 1 ] && echo pass || echo fail)" "$gpu" "$tests" "$san"
printf '"layer0_spike_updates_per_s_b24": %s, "layer0_spike_updates_per_s_b480": %s, ' "$(n "$l0_24")" "$(n "$l0_480")"
printf '"cpu_layer0_spike_updates_per_s_b24": %s, "train_window_s": %s, ' "$(n "$cpu_l0")" "$(n "$win_s")"
printf '"test_pass_s": %s, "test_accuracy_cuda": %s, "test_accuracy_cpu": %s, "test_pass_cpu_s": %s, "equal": %s, ' \
    "$(n "$test_s")" "$(n "$acc_cuda")" "$(n "$acc_cpu")" "$(n "$test_cpu_s")" "$same"
printf '"epoch_s": %s, "epoch_test_accuracy": %s, "seconds": %d}\n' "$(n "$epoch_s")" "$(n "$epoch_acc")" \
    $(( $(date +%s) - t_start ))
[ $ok = 1 ]
