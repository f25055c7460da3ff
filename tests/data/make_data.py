#!/usr/bin/python3
"""Make the small files under tests/data/ used by the io tests.

Usage: /usr/bin/python3 tests/data/make_data.py   (needs numpy and h5py)

Hostile IDX files (each refused by ln.io.read_idx with a reason):
  idx_early_end.gz   a gzip stream of a 100x100 uint8 IDX (pseudo-random bytes),
                     cut after half of its compressed bytes
  idx_huge_claim.gz  header claims 1000x1000x1000x3 uint8 (3 GB), 6 bytes follow
  idx_trailing.gz    2x3 uint8 IDX with 4 extra bytes
  idx_small.gz       a good 2x3 uint8 IDX (values 1..6), gzip
HDF5 (small.h5): /f32 (2x3 float32), /f64 (4,) float64, /i64 (3,) int64,
  /big_i64 (2,) int64 with a value beyond int32, /u8 (2x2) uint8,
  /grp/i16 (2,) int16, /scalar () float64, /names (2,) strings, group /grp.
Gzip output uses mtime 0, so the bytes are reproducible.
"""
import gzip
import hashlib
import io
import os
import struct

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def idx_bytes(arr, code=0x08):
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim)
    head += b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(">u1").tobytes()


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as f:
        f.write(data)
    return buf.getvalue()


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    small = np.arange(1, 7, dtype=np.uint8).reshape(2, 3)
    good = idx_bytes(small)
    write("idx_small.gz", gz(good))
    noise = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(313))
    body = np.frombuffer(noise[:10000], np.uint8).reshape(100, 100)
    stream = gz(idx_bytes(body))
    write("idx_early_end.gz", stream[:len(stream) // 2])
    head = struct.pack(">BBBB", 0, 0, 8, 4) + struct.pack(">IIII", 1000, 1000, 1000, 3)
    write("idx_huge_claim.gz", gz(head + bytes(6)))
    write("idx_trailing.gz", gz(good + b"\x00\x01\x02\x03"))

    with h5py.File(os.path.join(HERE, "small.h5"), "w") as f:
        f["f32"] = np.array([[1.5, -2, 3], [4, 5, 6.25]], np.float32)
        f["f64"] = np.array([0.1, 0.2, 0.3, 1e10], np.float64)
        f["i64"] = np.array([-7, 0, 2**31 - 1], np.int64)
        f["big_i64"] = np.array([1, 2**40], np.int64)
        f["u8"] = np.array([[0, 255], [7, 8]], np.uint8)
        g = f.create_group("grp")
        g["i16"] = np.array([-300, 300], np.int16)
        f["scalar"] = np.float64(2.5)
        f["names"] = np.array([b"a", b"bc"])


if __name__ == "__main__":
    main()
