#!/usr/bin/env python3
"""read_npz.py — an independent reader (Python's standard library only: zipfile and the .npy
header by hand, no numpy) of the files extract_noisy_pictures writes, for the noise-robustness
test.

usage: read_npz.py DIR SPIKES IMAGES BATCH LABELS_IDX_GZ

Checks that DIR/noisy_picture_data/SPIKES holds exactly the files 0.npz .. (mini-batches - 1).npz
for IMAGES test images in mini-batches of BATCH; that each is a zip of the_images.npy
(int64 '<i8', C order, shape (patterns, K, X, Y)) and labels.npy ('<i8', (patterns,));
that the counts are >= 0 and add up to SPIKES at every (pattern, position); and that the labels
are the first IMAGES labels of the IDX file. Prints one line "ok FILES K X Y DIGEST", DIGEST the
SHA-256 of all counts and labels in image order (the same for any batch size and thread count),
or "error: ..." and exits 1.
"""
import ast
import gzip
import hashlib
import os
import sys
import zipfile
from array import array


def fail(msg):
    print("error: " + msg)
    sys.exit(1)


def parse_npy(name, raw):
    """(descr, fortran_order, shape, data bytes) of a .npy"""
    if raw[:6] != b"\x93NUMPY":
        fail(f"{name}: no .npy magic")
    major = raw[6]
    if major == 1:
        hlen, start = int.from_bytes(raw[8:10], "little"), 10
    elif major in (2, 3):
        hlen, start = int.from_bytes(raw[8:12], "little"), 12
    else:
        fail(f"{name}: .npy version {major}")
    if (start + hlen) % 64:
        fail(f"{name}: header of {start + hlen} bytes is not 64-byte aligned")
    header = ast.literal_eval(raw[start:start + hlen].decode("latin1"))
    return header["descr"], header["fortran_order"], tuple(header["shape"]), raw[start + hlen:]


def int64s(name, data, count):
    a = array("q")
    if a.itemsize != 8:
        fail("this Python has no 8-byte 'q' arrays")
    if len(data) != 8 * count:
        fail(f"{name}: {len(data)} bytes of data, shape needs {8 * count}")
    a.frombytes(data)
    if sys.byteorder == "big":
        a.byteswap()
    return a


def read_labels(path, n):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if int.from_bytes(raw[:4], "big") != 2049:
        fail(f"{path}: not an IDX label file")
    return list(raw[8:8 + n])


def main():
    if len(sys.argv) != 6:
        fail("usage: read_npz.py DIR SPIKES IMAGES BATCH LABELS_IDX_GZ")
    base, T, n, B, labels_path = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
    folder = os.path.join(base, "noisy_picture_data", str(T))
    if not os.path.isdir(folder):
        fail(f"{folder}: no such folder")
    batches = (n + B - 1) // B
    want = sorted(f"{i}.npz" for i in range(batches))
    have = sorted(os.listdir(folder))
    if have != want:
        fail(f"{folder}: files {have}, expected {want}")
    truth = read_labels(labels_path, n)
    digest, ldigest = hashlib.sha256(), hashlib.sha256()
    dims = None
    for i in range(batches):
        path = os.path.join(folder, f"{i}.npz")
        b = min(B, n - i * B)
        with zipfile.ZipFile(path) as z:
            names = sorted(z.namelist())
            if names != ["labels.npy", "the_images.npy"]:
                fail(f"{path}: members {names}")
            arrays = {m: parse_npy(f"{path}:{m}", z.read(m)) for m in names}
        descr, fortran, shape, data = arrays["the_images.npy"]
        if descr != "<i8" or fortran or len(shape) != 4 or shape[0] != b:
            fail(f"{path}: the_images is {descr} {shape} fortran={fortran}, "
                 f"expected <i8 ({b}, K, X, Y)")
        if dims is None:
            dims = shape[1:]
        if shape[1:] != dims:
            fail(f"{path}: the_images shape {shape}, other files {dims}")
        K, X, Y = dims
        XY = X * Y
        counts = int64s(path, data, b * K * XY)
        if min(counts) < 0:
            fail(f"{path}: a negative count")
        for p in range(b):
            sums = [0] * XY
            for k in range(K):
                row = counts[(p * K + k) * XY:(p * K + k + 1) * XY]
                sums = [s + c for s, c in zip(sums, row)]
            bad = [m for m in range(XY) if sums[m] != T]
            if bad:
                m = bad[0]
                fail(f"{path}: pattern {p} position ({m // Y}, {m % Y}): counts add up to "
                     f"{sums[m]}, not {T}")
        ldescr, lfortran, lshape, ldata = arrays["labels.npy"]
        if ldescr != "<i8" or lfortran or lshape != (b,):
            fail(f"{path}: labels is {ldescr} {lshape}, expected <i8 ({b},)")
        labels = list(int64s(path, ldata, b))
        if labels != truth[i * B:i * B + b]:
            fail(f"{path}: labels {labels} differ from the data set's "
                 f"{truth[i * B:i * B + b]}")
        digest.update(data)
        ldigest.update(ldata)
    digest.update(ldigest.digest())
    print(f"ok {batches} {K} {X} {Y} {digest.hexdigest()}")


main()
