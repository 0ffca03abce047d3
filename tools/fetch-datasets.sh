#!/usr/bin/env bash
# fetch-datasets.sh — download MNIST and CIFAR-10 (binary version) for sbs-train, check their
# SHA-256, and put them where configs/MNIST and configs/CIFAR10 look for them:
#
#   datasets/MNIST/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz   (read as they are, gzipped)
#   datasets/CIFAR10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin
#
# Fashion-MNIST is not fetched here: it comes from Debian's dataset-fashion-mnist package
# (tools/setup.sh installs it; /usr/share/datasets/fashion-mnist).
#
# A file whose SHA-256 differs from the table below is deleted and the script stops with a
# line naming the file, the expected and the found hash. Running it again skips what is
# already in place and verified.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tools/fetch-datasets.sh [options]
Downloads MNIST (four IDX .gz files) and CIFAR-10 (cifar-10-binary.tar.gz) from their official
locations, checks their SHA-256 and unpacks CIFAR-10.
  --dir DIR            where the data sets go (default: datasets/ in the repository);
                       MNIST lands in DIR/MNIST, CIFAR-10 in DIR/CIFAR10
  --from DIR           take the archives from the local folder DIR instead of downloading
                       (the same file names: train-images-idx3-ubyte.gz, ...,
                       cifar-10-binary.tar.gz)
  --only mnist|cifar10 fetch one data set only
  --keep-archives      keep cifar-10-binary.tar.gz after unpacking (default: delete it)
  --sha256-file FILE   replace entries of the built-in hash table with the lines
                       'SHA256  NAME' of FILE (same as SBS_FETCH_SHA256_FILE=FILE)
  --help               this text
Exit status: 0 ok, 1 download, checksum or unpacking failed, 2 bad command line.
EOF
}

# --- the hash table --------------------------------------------------------------------
# MNIST: the SHA-256 sums of the four files as distributed by LeCun, Cortes and Burges; the
# same values are used by well-known loaders (torch.rb's port of torchvision's MNIST,
# TensorFlow Datasets' checksum list, Guild AI's MNIST example), and the files are byte-identical
# on the mirrors below (torchvision's own list has their MD5s: f68b3c2dcbeaaa9fbdd348bbdeb94873,
# d53e105ee54ea40749a09fcbcd1e9432, 9fb629c4189551a2d022fa330f9573f3,
# ec29112dd5afa0611ce80d1b7f02629c in the order below).
# CIFAR-10: the binary-version tarball from the University of Toronto.
declare -A SHA256=(
    [train-images-idx3-ubyte.gz]=440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
    [train-labels-idx1-ubyte.gz]=3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
    [t10k-images-idx3-ubyte.gz]=8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
    [t10k-labels-idx1-ubyte.gz]=f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
    [cifar-10-binary.tar.gz]=c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd
)
MNIST_FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
             t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
# The official site first, then the mirrors PyTorch and TensorFlow use (same bytes; the
# checksum decides).
MNIST_URLS=(https://yann.lecun.com/exdb/mnist/
            https://ossci-datasets.s3.amazonaws.com/mnist/
            https://storage.googleapis.com/cvdf-datasets/mnist/)
CIFAR_FILE=cifar-10-binary.tar.gz
CIFAR_URLS=(https://www.cs.toronto.edu/~kriz/)
CIFAR_DIR=cifar-10-batches-bin
CIFAR_BATCHES=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin
               data_batch_5.bin test_batch.bin)
CIFAR_RECORD=3073   # 1 label byte + 3 x 32 x 32 pixel bytes

# --- helpers -----------------------------------------------------------------------------
say() { printf 'fetch-datasets: %s\n' "$*"; }
err() { printf 'fetch-datasets: error: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }
usage_error() { printf 'fetch-datasets: %s\n' "$*" >&2; usage >&2; exit 2; }

PARTIAL=""          # the file being written now; removed if we stop half-way
UNPACK_TMP=""
cleanup() {
    [ -n "$PARTIAL" ] && rm -f -- "$PARTIAL"
    [ -n "$UNPACK_TMP" ] && rm -rf -- "$UNPACK_TMP"
    return 0
}
trap cleanup EXIT
trap 'cleanup; err "interrupted"; exit 130' INT TERM

sha256_of() {
    local out
    if command -v sha256sum >/dev/null 2>&1; then out=$(sha256sum -- "$1")
    elif command -v shasum >/dev/null 2>&1; then out=$(shasum -a 256 -- "$1")
    elif command -v openssl >/dev/null 2>&1; then out=$(openssl dgst -sha256 -r -- "$1")
    else die "no SHA-256 tool found (sha256sum, shasum or openssl)"
    fi
    out=${out%% *}
    printf '%s\n' "${out,,}"
}

file_size() { wc -c < "$1" | tr -d ' '; }

download() {   # url output
    local url="$1" out="$2"
    if command -v curl >/dev/null 2>&1; then
        local progress=(--silent --show-error)
        [ -t 2 ] && progress=(--progress-bar)
        curl --fail --location --retry 3 --connect-timeout 30 "${progress[@]}" -o "$out" -- "$url"
    elif command -v wget >/dev/null 2>&1; then
        local progress=(--quiet)
        [ -t 2 ] && progress=(--quiet --show-progress)
        wget --tries=3 --timeout=60 "${progress[@]}" -O "$out" -- "$url"
    else
        die "neither curl nor wget found: apt-get install curl (or use --from DIR)"
    fi
}

# fetch NAME DESTDIR URL_PREFIX... : DESTDIR/NAME, verified. Returns 0 when in place.
fetch() {
    local name="$1" destdir="$2"; shift 2
    local dest="$destdir/$name" expected="${SHA256[$name]}" found
    if [ -f "$dest" ]; then
        found=$(sha256_of "$dest")
        if [ "$found" = "$expected" ]; then
            say "$name: already there, SHA-256 ok"
            return 0
        fi
        say "$name: present but its SHA-256 is $found, expected $expected: fetching it again"
    fi
    PARTIAL="$dest.part"
    rm -f -- "$PARTIAL"
    if [ -n "$FROM" ]; then
        [ -f "$FROM/$name" ] || die "$FROM/$name: not found (--from $FROM)"
        say "$name: copying from $FROM"
        cp -- "$FROM/$name" "$PARTIAL" || die "$name: cannot copy $FROM/$name to $destdir"
    else
        local ok=0 prefix
        for prefix in "$@"; do
            say "$name: downloading $prefix$name"
            if download "$prefix$name" "$PARTIAL"; then ok=1; break; fi
            rm -f -- "$PARTIAL"
            say "$name: $prefix$name failed; trying the next location"
        done
        [ "$ok" = 1 ] || die "$name: could not download it from any of: $*"
    fi
    found=$(sha256_of "$PARTIAL")
    if [ "$found" != "$expected" ]; then
        rm -f -- "$PARTIAL"
        PARTIAL=""
        rm -f -- "$dest"
        die "$name: SHA-256 mismatch: expected $expected, found $found (file deleted)"
    fi
    mv -f -- "$PARTIAL" "$dest"
    PARTIAL=""
    say "$name: SHA-256 ok ($(file_size "$dest") bytes)"
}

# --- command line ------------------------------------------------------------------------
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$root/datasets"
FROM=""
ONLY=""
KEEP=0
HASHFILE="${SBS_FETCH_SHA256_FILE:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) [ $# -ge 2 ] || usage_error "--dir needs a folder"; DIR="$2"; shift 2 ;;
        --dir=*) DIR="${1#*=}"; shift ;;
        --from) [ $# -ge 2 ] || usage_error "--from needs a folder"; FROM="$2"; shift 2 ;;
        --from=*) FROM="${1#*=}"; shift ;;
        --only) [ $# -ge 2 ] || usage_error "--only needs mnist or cifar10"; ONLY="$2"; shift 2 ;;
        --only=*) ONLY="${1#*=}"; shift ;;
        --sha256-file) [ $# -ge 2 ] || usage_error "--sha256-file needs a file"; HASHFILE="$2"; shift 2 ;;
        --sha256-file=*) HASHFILE="${1#*=}"; shift ;;
        --keep-archives) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage_error "unknown option '$1'" ;;
    esac
done
ONLY="${ONLY,,}"
case "$ONLY" in
    ""|mnist|cifar10) ;;
    cifar|cifar-10) ONLY=cifar10 ;;
    *) usage_error "--only: '$ONLY' is not mnist or cifar10" ;;
esac
[ -n "$DIR" ] || usage_error "--dir: empty folder name"
if [ -n "$FROM" ]; then
    [ -d "$FROM" ] || usage_error "--from: '$FROM' is not a folder"
    FROM="$(cd "$FROM" && pwd)"
fi

if [ -n "$HASHFILE" ]; then
    [ -f "$HASHFILE" ] || usage_error "hash file '$HASHFILE' not found (--sha256-file / SBS_FETCH_SHA256_FILE)"
    lineno=0
    while IFS= read -r line || [ -n "$line" ]; do
        lineno=$((lineno + 1))
        line="${line%$'\r'}"
        case "$line" in ""|\#*) continue ;; esac
        read -r hash name rest <<<"$line" || true
        name="${name#\*}"   # sha256sum's binary-mode marker
        if ! [[ "$hash" =~ ^[0-9a-fA-F]{64}$ ]] || [ -z "$name" ] || [ -n "${rest:-}" ]; then
            usage_error "$HASHFILE:$lineno: expected 'SHA256  NAME', found '$line'"
        fi
        [ -n "${SHA256[$name]+x}" ] ||
            usage_error "$HASHFILE:$lineno: '$name' is not a file this script fetches"
        SHA256[$name]="${hash,,}"
    done < "$HASHFILE"
    say "hash table: entries from $HASHFILE"
fi

command -v sha256sum >/dev/null 2>&1 || command -v shasum >/dev/null 2>&1 ||
    command -v openssl >/dev/null 2>&1 || die "no SHA-256 tool found (sha256sum, shasum or openssl)"
if [ -z "$FROM" ] && ! command -v curl >/dev/null 2>&1 && ! command -v wget >/dev/null 2>&1; then
    die "neither curl nor wget found: apt-get install curl (or use --from DIR)"
fi
mkdir -p -- "$DIR" || die "cannot create $DIR"

# --- MNIST -------------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = mnist ]; then
    mdir="$DIR/MNIST"
    mkdir -p -- "$mdir" || die "cannot create $mdir"
    for f in "${MNIST_FILES[@]}"; do
        fetch "$f" "$mdir" "${MNIST_URLS[@]}"
    done
    say "MNIST ready in $mdir"
fi

# --- CIFAR-10 ----------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = cifar10 ]; then
    cdir="$DIR/CIFAR10"
    mkdir -p -- "$cdir" || die "cannot create $cdir"
    stamp="$cdir/$CIFAR_DIR/.sha256"
    if [ -f "$stamp" ] && [ "$(cat -- "$stamp")" = "${SHA256[$CIFAR_FILE]}" ]; then
        say "$CIFAR_DIR: already unpacked from $CIFAR_FILE (SHA-256 ok)"
    else
        command -v tar >/dev/null 2>&1 || die "tar not found: apt-get install tar"
        command -v gzip >/dev/null 2>&1 || die "gzip not found: apt-get install gzip"
        fetch "$CIFAR_FILE" "$cdir" "${CIFAR_URLS[@]}"
        UNPACK_TMP="$(mktemp -d "$cdir/.unpack.XXXXXX")"
        say "$CIFAR_FILE: unpacking"
        tar -xzf "$cdir/$CIFAR_FILE" -C "$UNPACK_TMP" --no-same-owner ||
            die "$CIFAR_FILE: tar could not unpack it"
        for b in "${CIFAR_BATCHES[@]}"; do
            p="$UNPACK_TMP/$CIFAR_DIR/$b"
            [ -f "$p" ] || die "$CIFAR_FILE: has no $CIFAR_DIR/$b"
            n=$(file_size "$p")
            if [ "$n" -eq 0 ] || [ $((n % CIFAR_RECORD)) -ne 0 ]; then
                die "$CIFAR_FILE: $CIFAR_DIR/$b has $n bytes, expected a multiple of $CIFAR_RECORD"
            fi
        done
        printf '%s\n' "${SHA256[$CIFAR_FILE]}" > "$UNPACK_TMP/$CIFAR_DIR/.sha256"
        rm -rf -- "${cdir:?}/$CIFAR_DIR"
        mv -- "$UNPACK_TMP/$CIFAR_DIR" "$cdir/$CIFAR_DIR"
        rm -rf -- "$UNPACK_TMP"
        UNPACK_TMP=""
        if [ "$KEEP" = 0 ]; then
            rm -f -- "${cdir:?}/$CIFAR_FILE"
        fi
    fi
    say "CIFAR-10 ready in $cdir/$CIFAR_DIR"
fi

if [ "$DIR" != "$root/datasets" ]; then
    say "these are not where configs/ look (datasets/ in the current folder): pass --data $DIR/MNIST or --data $DIR/CIFAR10"
fi
