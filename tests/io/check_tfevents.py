#!/usr/bin/env python3
"""check_tfevents.py — an independent reader of sbs-train's TensorBoard event files.

  check_tfevents.py EVENTS METRICS WEIGHTS_DIR   full check against a finished run
  check_tfevents.py --framing EVENTS            only: whole records, CRCs, every record decodes

Every record's framing (uint64 length, masked CRC-32C of the length, data, masked CRC-32C of
the data) is checked with a CRC-32C written here (and checked on the standard test vector);
the data is decoded twice, by a protobuf wire-format decoder written here and by
`protoc --decode_raw`, and the two must agree. Then the scalars must be exactly those of the
last run in metrics.jsonl (tags, steps, values), and the weight histograms of each epoch must
describe the Weight_L*_S<epoch>.npy files in WEIGHTS_DIR (min, max, num, sum, sum of squares,
bucket counts recomputed from the weights). Python standard library only. Exit 0 ok, 1 on a
mismatch (each one printed)."""
import codecs
import glob
import json
import os
import re
import struct
import subprocess
import sys

FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL " + msg)


# ---------------------------------------------------------------- CRC-32C

def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


TABLE = _table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path):
    """the data of every record; a short or bad record is a failure"""
    raw = open(path, "rb").read()
    out, off = [], 0
    while off < len(raw):
        if len(raw) - off < 12:
            fail(f"{path}: {len(raw) - off} trailing bytes at offset {off}: not a whole record")
            break
        (n,) = struct.unpack_from("<Q", raw, off)
        (lcrc,) = struct.unpack_from("<I", raw, off + 8)
        if lcrc != masked(crc32c(raw[off:off + 8])):
            fail(f"{path}: record at offset {off}: length CRC {lcrc:#x} wrong")
            break
        if off + 16 + n > len(raw):
            fail(f"{path}: record at offset {off} of {n} bytes is cut off")
            break
        data = raw[off + 12:off + 12 + n]
        (dcrc,) = struct.unpack_from("<I", raw, off + 12 + n)
        if dcrc != masked(crc32c(data)):
            fail(f"{path}: record at offset {off}: data CRC {dcrc:#x} wrong")
            break
        out.append(data)
        off += 16 + n
    return out


# ---------------------------------------------------------------- protobuf wire format

def varint(b, i):
    v, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """[(number, wire type, value)]: int for varints, bytes for fixed and length-delimited"""
    out, i = [], 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wt}")
        if i > len(b):
            raise ValueError("truncated field")
        out.append((num, wt, v))
    return out


def dbl(v):
    return struct.unpack("<d", v)[0]


def decode_event(data):
    """Event -> dict(wall_time, step, file_version | values=[(tag, kind, value)])"""
    ev = {"step": 0, "values": []}
    for num, wt, v in fields(data):
        if num == 1 and wt == 1:
            ev["wall_time"] = dbl(v)
        elif num == 2 and wt == 0:
            ev["step"] = v - (1 << 64) if v >= 1 << 63 else v
        elif num == 3 and wt == 2:
            ev["file_version"] = v.decode()
        elif num == 5 and wt == 2:
            for sn, swt, sv in fields(v):
                if sn != 1 or swt != 2:
                    raise ValueError(f"Summary field {sn}")
                tag, val = None, None
                for vn, vwt, vv in fields(sv):
                    if vn == 1 and vwt == 2:
                        tag = vv.decode()
                    elif vn == 2 and vwt == 5:
                        val = ("scalar", struct.unpack("<f", vv)[0])
                    elif vn == 5 and vwt == 2:
                        val = ("histo", decode_histo(vv))
                    else:
                        raise ValueError(f"Summary.Value field {vn}")
                ev["values"].append((tag, val[0], val[1]))
        else:
            raise ValueError(f"Event field {num} (wire type {wt})")
    return ev


def decode_histo(b):
    h = {"bucket_limit": [], "bucket": []}
    names = {1: "min", 2: "max", 3: "num", 4: "sum", 5: "sum_squares"}
    for num, wt, v in fields(b):
        if num in names and wt == 1:
            h[names[num]] = dbl(v)
        elif num in (6, 7) and wt == 2:
            h["bucket_limit" if num == 6 else "bucket"] = list(struct.unpack(f"<{len(v) // 8}d", v))
        else:
            raise ValueError(f"HistogramProto field {num}")
    return h


# ---------------------------------------------------------------- protoc --decode_raw

def parse_text(text):
    """protoc --decode_raw output -> nested [(number, value)] (value: str or list)"""
    stack = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "}":
            done = stack.pop()
            stack[-1][-1] = (stack[-1][-1][0], done)
            continue
        m = re.match(r"^(\d+) \{$", line)
        if m:
            stack[-1].append((int(m.group(1)), None))
            stack.append([])
            continue
        m = re.match(r"^(\d+): (.*)$", line)
        if not m:
            raise ValueError(f"protoc line {line!r}")
        stack[-1].append((int(m.group(1)), m.group(2)))
    return stack[0]


def text_bytes(s):
    """a protoc string literal "..." -> bytes"""
    assert s.startswith('"') and s.endswith('"'), s
    return codecs.escape_decode(s[1:-1].encode("latin-1"))[0]


def hex_float(s, size):
    v = int(s, 16)
    return struct.unpack("<f", struct.pack("<I", v))[0] if size == 4 else \
        struct.unpack("<d", struct.pack("<Q", v))[0]


def decode_event_protoc(data):
    r = subprocess.run(["protoc", "--decode_raw"], input=data, capture_output=True)
    if r.returncode != 0:
        raise ValueError("protoc --decode_raw: " + r.stderr.decode().strip())
    ev = {"step": 0, "values": []}
    for num, v in parse_text(r.stdout.decode("latin-1")):
        if num == 1:
            ev["wall_time"] = hex_float(v, 8)
        elif num == 2:
            ev["step"] = int(v)
        elif num == 3:
            ev["file_version"] = text_bytes(v).decode()
        elif num == 5:
            for sn, sv in v:
                tag, val = None, None
                for vn, vv in sv:
                    if vn == 1:
                        tag = text_bytes(vv).decode()
                    elif vn == 2:
                        val = ("scalar", hex_float(vv, 4))
                    elif vn == 5:
                        h = {}
                        for hn, hv in vv:
                            if hn <= 5:
                                h[["min", "max", "num", "sum", "sum_squares"][hn - 1]] = \
                                    hex_float(hv, 8)
                            elif isinstance(hv, str):
                                b = text_bytes(hv)
                                h["bucket_limit" if hn == 6 else "bucket"] = \
                                    list(struct.unpack(f"<{len(b) // 8}d", b))
                            else:
                                # the packed doubles happened to parse as a message: protoc
                                # cannot show them; mark the field as not comparable
                                h["bucket_limit" if hn == 6 else "bucket"] = None
                        val = ("histo", h)
                ev["values"].append((tag, val[0], val[1]))
    return ev


# ---------------------------------------------------------------- .npy (float32, C order)

def read_npy(path):
    b = open(path, "rb").read()
    assert b[:6] == b"\x93NUMPY", path
    hl = struct.unpack_from("<H", b, 8)[0]
    header = b[10:10 + hl].decode("latin-1")
    assert "'<f4'" in header and "'fortran_order': False" in header, header
    dims = re.search(r"'shape': \(([^)]*)\)", header).group(1)
    shape = [int(x) for x in dims.split(",") if x.strip()]
    n = 1
    for s in shape:
        n *= s
    return list(struct.unpack_from(f"<{n}f", b, 10 + hl))


# ---------------------------------------------------------------- checks

def close(a, b, rel=1e-5, abs_=1e-4):
    return abs(a - b) <= abs_ + rel * abs(b)


def check_histogram(where, h, w):
    lo, hi = min(w), max(w)
    if h["min"] != lo or h["max"] != hi or h["num"] != len(w):
        fail(f"{where}: min/max/num {h['min']}/{h['max']}/{h['num']}, weights {lo}/{hi}/{len(w)}")
    s, sq = sum(w), sum(x * x for x in w)
    if not close(h["sum"], s, 1e-9, 1e-9) or not close(h["sum_squares"], sq, 1e-9, 1e-9):
        fail(f"{where}: sum {h['sum']} / squares {h['sum_squares']}, weights {s} / {sq}")
    lim, cnt = h["bucket_limit"], h["bucket"]
    if len(lim) != len(cnt) or not lim or lim[-1] != hi or lim != sorted(lim):
        fail(f"{where}: {len(lim)} limits (last {lim[-1] if lim else None}), {len(cnt)} buckets")
        return
    want = [0] * len(lim)
    for x in w:
        i = 0
        while x > lim[i]:
            i += 1
        want[i] += 1
    if [int(c) for c in cnt] != want or sum(cnt) != len(w):
        fail(f"{where}: bucket counts {cnt}, recomputed {want}")


def main(argv):
    if TABLE and crc32c(b"123456789") != 0xE3069283:
        fail("the test's CRC-32C is wrong on the standard vector")
        return 1
    framing = argv[1:2] == ["--framing"]
    path = argv[2] if framing else argv[1]
    recs = read_records(path)
    events = []
    for k, data in enumerate(recs):
        try:
            a, b = decode_event(data), decode_event_protoc(data)
        except ValueError as err:
            fail(f"{path}: record {k}: {err}")
            continue
        for (_, kind, hb), (_, _, ha) in zip(b["values"], a["values"]):
            for f in ("bucket_limit", "bucket"):
                if kind == "histo" and hb.get(f, 0) is None:
                    hb[f] = ha[f]
        if a != b:
            fail(f"{path}: record {k}: the two readers differ:\n  {a}\n  {b}")
        events.append(a)
    if not events or events[0].get("file_version") != "brain.Event:2":
        fail(f"{path}: the first record is not file_version brain.Event:2")
    print(f"{path}: {len(recs)} records, CRCs ok, decoded alike by protoc and this reader"
          if not FAILS else f"{path}: {len(recs)} records")
    if framing or FAILS:
        return 1 if FAILS else 0

    metrics, weights = argv[2], argv[3]
    lines = [json.loads(x) for x in open(metrics) if x.strip()]
    starts = [i for i, r in enumerate(lines) if r["type"] == "start"]
    run = lines[starts[-1] + 1:] if starts else lines
    want = {}
    for r in run:
        err = lambda acc: None if acc is None else 100.0 - acc
        if r["type"] == "update":
            items = [("Train Loss/update", r["loss"]),
                     ("Train Error/update", err(r["train_accuracy"])),
                     ("Learning Rate Scale WF/update", r["lr"])]
        else:
            test = r["test_error"] if r["test_error"] is not None else r["test_loss"]
            items = [("Train Loss", r["loss"]), ("Train Error", err(r["train_accuracy"])),
                     ("Test Error", test), ("Learning Rate Scale WF", r["lr"])]
        step = r["step"] if r["type"] == "update" else r["epoch"]
        for tag, v in items:
            if v is not None:
                want[(tag, step)] = v
    got, histos = {}, {}
    for ev in events[1:]:
        for tag, kind, v in ev["values"]:
            key = (tag, ev["step"])
            if kind == "scalar":
                if key in got:
                    fail(f"{tag} at step {ev['step']} written twice")
                got[key] = v
            else:
                histos[key] = v
    for key in sorted(set(want) | set(got)):
        if key not in got:
            fail(f"{key[0]} at step {key[1]}: in metrics.jsonl ({want[key]}), not in the events")
        elif key not in want:
            fail(f"{key[0]} at step {key[1]}: in the events ({got[key]}), not in metrics.jsonl")
        elif not close(got[key], want[key]):
            fail(f"{key[0]} at step {key[1]}: events {got[key]}, metrics.jsonl {want[key]}")
    epochs = sorted({r["epoch"] for r in run if r["type"] == "epoch"})
    nh = 0
    for e in epochs:
        files = sorted(glob.glob(os.path.join(weights, f"Weight_L*_S{e}.npy")))
        if not files:
            fail(f"no Weight_L*_S{e}.npy in {weights}")
        for f in files:
            layer = int(re.search(r"Weight_L(\d+)_S", f).group(1))
            key = (f"Weights Layer {layer}", e)
            if key not in histos:
                fail(f"no histogram {key[0]} at step {e}")
                continue
            check_histogram(f"{key[0]} step {e}", histos[key], read_npy(f))
            nh += 1
    if len(histos) != nh:
        fail(f"{len(histos)} histograms in the events, {nh} weight files")
    print(f"{len(got)} scalars match metrics.jsonl ({len(run)} records), {nh} histograms match "
          f"the weight files" if not FAILS else f"{len(FAILS)} mismatches")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
