#!/usr/bin/python3
"""Write the seed corpora of the fuzz targets under tests/fuzz/corpus/.

Usage: /usr/bin/python3 tests/fuzz/make_corpus.py   (needs numpy)

  corpus/idx/      flag byte + IDX file: every element type, 1..4 dims,
                   empty dims, plain and gzip (flag bit 0), cut gzip
                   streams and a second gzip member (bits 1-4)
  corpus/npy/      .npy files from numpy: every supported dtype, 0-d,
                   empty, 8-d, format 2.0 and 3.0, and the refusals (Fortran
                   order, big-endian, structured, object, float16)
  corpus/csv/      options byte + CSV text: delimiters, header or not,
                   dtypes, quotes, CRLF, blank lines, empty fields
  corpus/args/     the byte encoding fuzz_args.c reads: every kind, the
                   first units of each, typical keyword arguments
  corpus/h5model/  written by make_corpus_h5model.lua (run by lunet: it
                   needs the model API)

The files are deterministic: run again, nothing changes.
"""
import io
import os
import re
import struct
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- IDX ----------------------------------------------------------------------

def idx(arr, code):
    fmt = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4",
           0x0D: ">f4", 0x0E: ">f8"}[code]
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim)
    head += b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(fmt).tobytes()


def make_idx():
    rng = np.random.RandomState(7)
    shapes = [(5,), (2, 3), (2, 2, 2), (1, 2, 1, 3), (0,), (3, 0)]
    codes = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
    k = 0
    for code in codes:
        for shape in shapes:
            a = rng.uniform(-100, 200, size=shape)
            if code == 0x08:
                a = np.abs(a)
            data = idx(a, code)
            out("idx", "plain_%02x_%d" % (code, k), b"\x00" + data)
            out("idx", "gzip_%02x_%d" % (code, k), b"\x01" + data)
            k += 1
    f = idx(np.array([1.5, np.nan, np.inf, -0.0]), 0x0D)
    out("idx", "plain_specials", b"\x00" + f)
    out("idx", "gzip_cut", bytes([0x01 | (3 << 1)]) + idx(np.arange(64).reshape(8, 8), 0x08))
    out("idx", "gzip_two_members", b"\x11" + idx(np.arange(6).reshape(2, 3), 0x08))
    out("idx", "huge_claim", b"\x00" + struct.pack(">BBBBIIII", 0, 0, 8, 4, 1000, 1000, 1000, 3) + b"abcdef")
    out("idx", "zero_then_huge", b"\x00" + struct.pack(">BBBBIII", 0, 0, 8, 3, 0, 0xFFFFFFFF, 0xFFFFFFFF))
    out("idx", "trailing", b"\x00" + idx(np.arange(6).reshape(2, 3), 0x08) + b"xyz")
    out("idx", "truncated", b"\x00" + idx(np.arange(6).reshape(2, 3), 0x0C)[:-3])
    out("idx", "nine_dims", b"\x00" + struct.pack(">BBBB", 0, 0, 8, 9) + b"\x00\x00\x00\x01" * 9 + b"\x07")
    raw = zlib.compressobj(6, zlib.DEFLATED, 31)
    gz = raw.compress(idx(np.arange(6).reshape(2, 3), 0x08)) + raw.flush()
    out("idx", "raw_gzip_stream", b"\x00" + gz)
    out("idx", "raw_gzip_corrupt", b"\x00" + gz[:10] + b"\xff" * 8 + gz[18:])


# ---- NPY ----------------------------------------------------------------------

def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr)
    else:
        np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()


def make_npy():
    rng = np.random.RandomState(11)
    arrays = {
        "f4": rng.standard_normal((3, 4)).astype("<f4"),
        "f8": rng.standard_normal((2, 5)),
        "i4": rng.randint(-1000, 1000, (4,)).astype("<i4"),
        "i8": rng.randint(-(1 << 40), 1 << 40, (2, 2)).astype("<i8"),
        "i8_fits": np.array([-5, 7, 2 ** 31 - 1, -2 ** 31], dtype="<i8"),
        "u1": rng.randint(0, 256, (2, 3, 2)).astype("u1"),
        "b1": np.array([[True, False], [False, True]]),
        "scalar": np.float32(3.25).reshape(()),
        "empty": np.zeros((0, 3), dtype="<f4"),
        "eight_dims": np.arange(256, dtype="<f4").reshape((2,) * 8),
        "specials": np.array([np.nan, np.inf, -np.inf, -0.0], dtype="<f4"),
    }
    for name, a in arrays.items():
        out("npy", name + ".npy", npy_bytes(a))
    out("npy", "v2.npy", npy_bytes(arrays["f4"], (2, 0)))
    out("npy", "v3.npy", npy_bytes(arrays["i4"], (3, 0)))
    out("npy", "fortran.npy", npy_bytes(np.asfortranarray(arrays["f8"])))
    out("npy", "big_endian.npy", npy_bytes(arrays["f4"].astype(">f4")))
    out("npy", "float16.npy", npy_bytes(arrays["f4"].astype("<f2")))
    out("npy", "structured.npy", npy_bytes(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])))
    good = npy_bytes(arrays["f4"])
    out("npy", "truncated.npy", good[:-5])
    out("npy", "trailing.npy", good + b"\x00" * 4)
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000, 1000000), }"
    hdr += b" " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + b"\n"
    out("npy", "huge_claim.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + b"\x00" * 16)
    out("npy", "header_past_end.npy", b"\x93NUMPY\x01\x00\xff\xff{'descr'")


# ---- CSV ----------------------------------------------------------------------

def make_csv():
    # option byte: bits 0-2 delimiter (0 , 1 ; 2 | 3 : 4 tab 5 space 6/7 next
    # byte), bit 3 header, bits 4-5 dtype (0 float32, 1 int32, 2 uint8)
    def opt(delim, header, dtype):
        return bytes([delim | (8 if header else 0) | (dtype << 4)])
    out("csv", "header_float", opt(0, 1, 0) + b"a,b,c\n1,2.5,3\n4,5,6e2\n")
    out("csv", "no_header", opt(0, 0, 0) + b"1,2\n3,4\n")
    out("csv", "crlf_blank", opt(0, 1, 0) + b"x,y\r\n\r\n1,2\r\n  \r\n3,4\r\n")
    out("csv", "quotes", opt(0, 1, 0) + b'"a,b", "c"\n"1.5", 2\n')
    out("csv", "empty_fields", opt(0, 1, 0) + b"a,b,c\n,2,\n1,,3\n")
    out("csv", "int", opt(0, 1, 1) + b"label,v\n0,7\n-3,2147483647\n")
    out("csv", "int_overflow", opt(0, 1, 1) + b"v\n2147483648\n")
    out("csv", "uint8", opt(0, 0, 2) + b"0,255\n12,7.9\n")
    out("csv", "semicolon", opt(1, 1, 0) + b"a;b\n1;2\n")
    out("csv", "pipe", opt(2, 0, 0) + b"1|2|3\n")
    out("csv", "tab", opt(4, 1, 0) + b"a\tb\n1\t2\n")
    out("csv", "space", opt(5, 0, 0) + b"1 2\n3 4\n")
    out("csv", "other_delim", opt(6, 0, 0) + b"#" + b"1#2\n3#4\n")
    out("csv", "ragged", opt(0, 1, 0) + b"a,b\n1,2\n3\n")
    out("csv", "not_number", opt(0, 1, 0) + b"a\nabc\n")
    out("csv", "specials", opt(0, 0, 0) + b"nan,inf,-inf,0x1p3,1e39\n")
    out("csv", "only_header", opt(0, 1, 0) + b"a,b,c\n")
    out("csv", "empty", opt(0, 1, 0))
    out("csv", "no_final_newline", opt(0, 0, 0) + b"1,2\n3,4")


# ---- args ----------------------------------------------------------------------

def c_list(src, name):
    body = re.search(r"%s\[\] = \{(.*?)\};" % name, src, re.S).group(1)
    return re.findall(r'"((?:[^"\\]|\\.)*)"', body)


KINDS = ["layer", "activation", "initializer", "optimizer", "schedule", "loss", "metric"]


def make_args():
    src = open(os.path.join(HERE, "fuzz_args.c")).read()
    keys = c_list(src, "keys")
    strings = c_list(src, "strings")

    def num(v):
        # fz_number: 0 -> 0, 1 -> 1, 2 -> -1, 8 -> fraction, 12..15 -> small ints
        if v == 0:
            return bytes([0])
        if v == 1:
            return bytes([1])
        if v == -1:
            return bytes([2])
        if isinstance(v, float) and 0 < v < 1:
            return bytes([8, int(v * 16)])
        if isinstance(v, int) and 1 <= v <= 8:
            return bytes([12, v - 1])
        return bytes([7]) + struct.pack(">I", abs(int(v))) + bytes([1 if v < 0 else 0])

    def value(v):
        if v is None:
            return bytes([0])
        if isinstance(v, bool):
            return bytes([1, 1 if v else 0])
        if isinstance(v, (int, float)):
            return bytes([2]) + num(v)
        if isinstance(v, str):
            return bytes([4, strings.index(v)])
        if isinstance(v, list):
            return bytes([6, len(v)]) + b"".join(num(x) for x in v)
        if isinstance(v, dict):
            return bytes([7]) + table(v, nested=True)
        raise ValueError(v)

    def table(d, nested=False):
        b = b""
        if nested:
            name = d.get("name")
            b += bytes([1, strings.index(name)]) if name else bytes([0])
            d = {k: v for k, v in d.items() if k != "name"}
        b += bytes([len(d)])
        for k, v in d.items():
            b += bytes([1, keys.index(k)]) + value(v)
        return b

    def seed(kind, unit, args, tail=b""):
        return bytes([KINDS.index(kind), 0, unit]) + table(args) + tail

    cases = {
        "layer": [{}, {"#1": 4}, {"#1": 3, "activation": "relu", "use_bias": False},
                  {"#1": 2, "kernel_initializer": {"name": "variance_scaling"},
                   "kernel_regularizer": {"l2": 0.5}},
                  {"rate": 0.5, "seed": 3}, {"axis": -1, "momentum": 0.5, "center": False},
                  {"alpha": 0.5}, {"max_value": 6, "negative_slope": 0.5, "threshold": 1}],
        "activation": [{}, {"alpha": 0.5}, {"max_value": 2}, {"axis": -1}],
        "initializer": [{}, {"seed": 3}, {"mode": "fan_avg", "distribution": "uniform"},
                        {"value": 2}, {"gain": 2}],
        "optimizer": [{}, {"learning_rate": 0.5}, {"momentum": 0.5, "nesterov": True},
                      {"clipnorm": 1, "clipvalue": 0.5},
                      {"learning_rate": {"name": "exponential_decay",
                                         "initial_learning_rate": 1, "decay_steps": 2,
                                         "decay_rate": 0.5}},
                      {"amsgrad": True, "epsilon": 0.5}],
        "schedule": [{"initial_learning_rate": 1, "decay_steps": 2, "decay_rate": 0.5},
                     {"boundaries": [1, 2], "values": [1, 0.5, 0.25]}, {}],
        "loss": [{}, {"from_logits": True}, {"label_smoothing": 0.5}, {"delta": 2}],
        "metric": [{}, {"threshold": 0.5}, {"k": 2}],
    }
    for kind, variants in cases.items():
        for unit in range(16):
            for i, args in enumerate(variants):
                # tail: build/run choices (shape dims, batch, flags, data)
                tail = bytes([1, 2, 3, 4, 2, 1]) + bytes(range(16))
                out("args", "%s_%02d_%d" % (kind, unit, i), seed(kind, unit, args, tail))
    out("args", "unknown_unit", bytes([0, 250, 5]) + b"densx" + bytes([0]))


if __name__ == "__main__":
    make_idx()
    make_npy()
    make_csv()
    make_args()
