#!/usr/bin/env bash
# setup.sh — prepare a Debian 12 machine for sbs-train and build it.
#
#   sudo tools/setup.sh              install the packages (apt-get), then configure and build
#   tools/setup.sh --no-install      only configure and build (packages already there)
#
# Installs: the compiler and build tools (build-essential, meson, ninja-build, pkg-config),
# the libraries (OpenBLAS, jansson, libpng, zlib, Open MPI for training over several
# processes, libzip for .npz files, protobuf-c with its
# compiler protoc-c for the TensorBoard event files), python3 and protoc (the tests read .npz
# and event files back with them) and Debian's Fashion-MNIST package,
# help2man (man pages) and clang-format (the format check)
# (dataset-fashion-mnist, at /usr/share/datasets/fashion-mnist), the default data set of the
# quick start, help2man (the man pages) and clang-format (tools/check-format.sh). Then
# `meson setup build --buildtype=release` (or --reconfigure when build/ exists) and
# `ninja -C build`; with CUDA's nvcc (on PATH or in /usr/local/cuda/bin) the build includes
# the cuda backend. Safe to run again. Run from anywhere: it works in the
# repository that holds it.
set -euo pipefail

PACKAGES=(build-essential meson ninja-build pkg-config libopenblas-dev libjansson-dev
          libpng-dev zlib1g-dev libzip-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
          python3 dataset-fashion-mnist help2man clang-format libopenmpi-dev openmpi-bin)

usage() {
    cat <<EOF
usage: tools/setup.sh [--no-install] [--help]
Installs the Debian 12 packages sbs-train needs (as root, or through sudo), then builds it
in build/ (meson setup --buildtype=release, ninja).
  --no-install   skip apt-get; only configure and build
  --help         this text
Packages: ${PACKAGES[*]}
EOF
}

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

install=1
for arg in "$@"; do
    case "$arg" in
        --no-install) install=0 ;;
        -h|--help) usage; exit 0 ;;
        *) printf 'setup: unknown option %s\n' "$arg" >&2; usage >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -f meson.build ] || die "no meson.build in $root (is this the sbs-train repository?)"

if [ "$install" = 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
        say "not root: using sudo for apt-get"
    else
        die "installing packages needs root: run 'sudo tools/setup.sh' (or as root), or --no-install"
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found: this script is for Debian 12; install ${PACKAGES[*]} by hand, then run tools/setup.sh --no-install"
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        . /etc/os-release
        if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
            say "note: made for Debian 12, this is ${PRETTY_NAME:-unknown}; trying anyway"
        fi
    fi
    say "apt-get update"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    say "apt-get install ${PACKAGES[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
else
    say "--no-install: skipping apt-get"
fi

for tool in meson ninja pkg-config cc; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "'$tool' not found: run tools/setup.sh without --no-install (as root), or install it"
done

# The cuda backend is built when nvcc is found (meson option cuda=auto). CUDA installs nvcc
# in /usr/local/cuda/bin, which is often not on PATH.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
    say "nvcc: /usr/local/cuda/bin/nvcc (added to PATH for the cuda backend)"
fi

if [ -d build ] && [ -f build/meson-private/coredata.dat ]; then
    say "meson setup --reconfigure build"
    meson setup --reconfigure build --buildtype=release
else
    say "meson setup build --buildtype=release"
    meson setup build --buildtype=release
fi
say "ninja -C build"
ninja -C build

built=()
for exe in build/sbs-train build/sbs-eval build/tools/sbs-bench; do
    [ -x "$exe" ] && built+=("$exe")
done
say "done: ${built[*]:-(no programs found in build/?)}"
if [ -d /usr/share/datasets/fashion-mnist ]; then
    say "Fashion-MNIST: /usr/share/datasets/fashion-mnist (try the README's quick start)"
else
    say "Fashion-MNIST not found at /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)"
fi
say "MNIST and CIFAR-10: tools/fetch-datasets.sh"
