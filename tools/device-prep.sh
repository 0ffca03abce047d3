#!/usr/bin/env bash
# device-prep.sh — on a build machine (Debian 12 with nvcc and the build dependencies, no
# GPU needed), prepare what tools/device-check.sh needs on a bare, offline GPU machine:
#
#   tools/device-prep.sh [--arch 90]
#
# builds build-device/ (release, -Dcuda=enabled, machine code for --arch only: 90 = H100 /
# H200) and fills .devcarry/ (ignored by git): runtime.tar.xz with the programs, the CUDA test
# and the shared libraries they need that a CUDA machine may lack (OpenBLAS, gfortran,
# jansson, libpng, zlib; never glibc, libstdc++ or the CUDA libraries, which the GPU machine
# has to match its driver), and fashion-mnist/ (the data set's four .gz files). Take the
# repository with .devcarry/ to the GPU machine and run tools/device-check.sh there.
set -euo pipefail

arch=90
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "device-prep: unknown option $1 (expected --arch N)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
fi
command -v nvcc >/dev/null 2>&1 || { echo "device-prep: nvcc not found (install CUDA)" >&2; exit 1; }

b=build-device
if [ -f "$b/meson-private/coredata.dat" ]; then
    meson setup --reconfigure "$b" --buildtype=release -Dcuda=enabled -Dgpu_arch="$arch" >/dev/null
else
    meson setup "$b" --buildtype=release -Dcuda=enabled -Dgpu_arch="$arch" >/dev/null
fi
progs=(sbs-eval sbs-train tools/sbs-bench tests/cuda/test_cuda_device)
ninja -C "$b" "${progs[@]}"

out=.devcarry
rm -rf "$out"
mkdir -p "$out/stage/bin" "$out/stage/lib"
for p in "${progs[@]}"; do cp "$b/$p" "$out/stage/bin/"; done
# the shared libraries outside glibc, the C++ runtime and CUDA
for lib in $(ldd "$out"/stage/bin/* | awk '/=>/ { print $3 }' | sort -u); do
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libstdc++.so*|\
        libgcc_s.so*|libcuda*|libcublas*|libnvJitLink*) continue ;;
    esac
    cp -L "$lib" "$out/stage/lib/"
done
tar -C "$out/stage" -cJf "$out/runtime.tar.xz" bin lib
rm -rf "$out/stage"
data=/usr/share/datasets/fashion-mnist
if [ -d "$data" ]; then
    mkdir -p "$out/fashion-mnist"
    cp "$data"/*.gz "$out/fashion-mnist/"
else
    echo "device-prep: no Fashion-MNIST at $data (apt-get install dataset-fashion-mnist):" \
         "device-check.sh will skip the test pass and the epoch" >&2
fi
du -sh "$out"
echo "device-prep: ready; carry .devcarry (and run tools/device-check.sh on the GPU machine)"
