#!/usr/bin/python3
"""Cut a small Fashion-MNIST sample out of the full IDX files.

Usage: fashion_sample.py SRC_DIR OUT_DIR [N_TRAIN [N_TEST]]

Takes the FIRST N_TRAIN (default 6000) training images/labels and the FIRST
N_TEST (default 1000) test images/labels, in file order, so that "validation =
the first 5,000 training images" means the same images on the sample as on the
full set.  Writes the same four IDX file names, gzip'ed with mtime 0 and no
file name (reproducible bytes), checks the headers of the sources, and prints
the class counts.  Standard library only.
"""

import gzip
import os
import struct
import sys

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path, magic, ndim):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got = struct.unpack(">I", data[:4])[0]
    if got != magic:
        raise SystemExit("%s: magic 0x%08x, want 0x%08x" % (path, got, magic))
    dims = struct.unpack(">%dI" % ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    size = 1
    for d in dims:
        size *= d
    if len(body) != size:
        raise SystemExit("%s: %d data bytes, header says %d" % (path, len(body), size))
    return dims, body


def write_idx_gz(path, magic, dims, payload):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as g:
            g.write(header)
            g.write(payload)


def cut(src, out, prefix, n):
    idims, images = read_idx(os.path.join(src, prefix + "-images-idx3-ubyte.gz"), 0x803, 3)
    (nl,), labels = read_idx(os.path.join(src, prefix + "-labels-idx1-ubyte.gz"), 0x801, 1)
    if idims[0] != nl:
        raise SystemExit("%s: %d images but %d labels" % (prefix, idims[0], nl))
    if n > nl:
        raise SystemExit("%s: asked for %d of %d" % (prefix, n, nl))
    pix = idims[1] * idims[2]
    write_idx_gz(os.path.join(out, prefix + "-images-idx3-ubyte.gz"), 0x803,
                 (n, idims[1], idims[2]), images[:n * pix])
    write_idx_gz(os.path.join(out, prefix + "-labels-idx1-ubyte.gz"), 0x801,
                 (n,), labels[:n])
    return [labels[:n].count(c) for c in range(10)], nl


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    n_train = int(sys.argv[3]) if len(sys.argv) > 3 else 6000
    n_test = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    os.makedirs(out, exist_ok=True)
    tr, ntr = cut(src, out, "train", n_train)
    te, nte = cut(src, out, "t10k", n_test)
    print("train: first %d of %d; t10k: first %d of %d" % (n_train, ntr, n_test, nte))
    print("class  name         train  t10k")
    for c in range(10):
        print("%5d  %-11s  %5d  %4d" % (c, CLASSES[c], tr[c], te[c]))
    print("  all  %-11s  %5d  %4d" % ("", sum(tr), sum(te)))


if __name__ == "__main__":
    main()
