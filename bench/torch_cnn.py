#!/usr/bin/python3
"""PyTorch side of the CNN benchmark (bench/bench_cnn.lua has the lunet side).

Usage: torch_cnn.py [--threads N] [--workloads a,b] [--repeat R] [--data DIR]
                    [--samples N]

The same workloads as bench_cnn.lua (lenet_b32, lenet_b128, cnn_b32,
cnn_b128, lenet_infer_b32, lenet_infer_b128, cnn_infer_b32, cnn_infer_b128;
groups lenet, cnn, infer, all), the same models (NCHW, PyTorch's default
layout, whose CPU convolutions run on oneDNN in Debian's build), the same
data (images / 255), the plainest fast loop: X[i:i+bs] per batch,
zero_grad(set_to_none=True), forward, cross-entropy on logits, backward,
step; inference under torch.inference_mode() in eval mode. Every timed
repeat starts from a fresh model and optimizer; the best is reported.
With 2 threads run with LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp
(bench/run_cnn_bench.sh does).
"""
import argparse
import gzip
import json
import os
import sys
import time

GROUPS = {
    "lenet": ["lenet_b32", "lenet_b128"],
    "cnn": ["cnn_b32", "cnn_b128"],
    "infer": ["lenet_infer_b32", "lenet_infer_b128", "cnn_infer_b32", "cnn_infer_b128"],
}
GROUPS["all"] = GROUPS["lenet"] + GROUPS["cnn"] + GROUPS["infer"]


def read_idx(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        data = bytearray(f.read())
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def data(d, test, n):
    import torch
    pre = "t10k" if test else "train"
    x = read_idx(os.path.join(d, pre + "-images-idx3-ubyte.gz"))[:n]
    y = read_idx(os.path.join(d, pre + "-labels-idx1-ubyte.gz"))[:n]
    xt = torch.from_numpy(x.copy()).to(torch.float32).div_(255.0).reshape(len(x), 1, 28, 28)
    return xt, torch.from_numpy(y.astype("int64"))


def lenet():
    import torch
    import torch.nn as nn
    m = nn.Sequential(
        nn.Conv2d(1, 20, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(50 * 5 * 5, 500), nn.ReLU(), nn.Linear(500, 10))
    return m, torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)


def cnn():
    import torch
    import torch.nn as nn

    def conv(i, o, k=3):
        return [nn.Conv2d(i, o, k, padding=k // 2), nn.ReLU()]
    m = nn.Sequential(
        *conv(1, 64, 7), nn.MaxPool2d(2),
        *conv(64, 128), *conv(128, 128), nn.MaxPool2d(2),
        *conv(128, 256), *conv(256, 256), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256 * 3 * 3, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(64, 10))
    return m, torch.optim.NAdam(m.parameters(), lr=1e-3, eps=1e-7)


def run(args, name):
    import torch
    import torch.nn.functional as F
    is_lenet, infer = name.startswith("lenet"), "infer" in name
    bs = int(name.rsplit("_b", 1)[1])
    n = (10000 if is_lenet else 2048) if infer else (16384 if is_lenet else 2048)
    if args.samples > 0:
        n = min(n, args.samples)
    x, y = data(args.data, infer, n)
    best = None
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    for _ in range(args.repeat):
        model, opt = (lenet if is_lenet else cnn)()
        t0 = clock()
        if infer:
            model.eval()
            with torch.inference_mode():
                for i in range(0, n, bs):
                    model(x[i:i + bs])
        else:
            model.train()
            for i in range(0, n, bs):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x[i:i + bs]), y[i:i + bs]).backward()
                opt.step()
        dt = clock() - t0
        best = dt if best is None or dt < best else best
    return {"workload": name, "threads": args.threads, "samples_per_s": round(n / best, 1),
            "seconds": round(best, 4), "samples": n, "batch": bs, "repeat": args.repeat,
            "clock": args.clock}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default="all")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--samples", type=int, default=0,
                    help="cap every workload's image count (0: its default)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: process CPU time (all threads summed), for 1 thread on a "
                         "busy machine")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = []
    for w in args.workloads.split(","):
        w = w.strip()
        if w in GROUPS:
            names += GROUPS[w]
        elif w in GROUPS["all"]:
            names.append(w)
        elif w:
            sys.exit("torch_cnn: unknown workload %r" % w)
    for w in names:
        print(json.dumps(run(args, w)), flush=True)


if __name__ == "__main__":
    main()
