#!/usr/bin/python3
"""PyTorch side of bench/bench_conv_layers.lua: the same convolution layers,
each product timed alone (forward; input gradient; weight gradient, the
last two through aten::convolution_backward with one output each), one JSON
line per (layer, product):

  {"layer": "lenet1", "op": "wgrad", "gflops": 40.1, "seconds": 0.0012, "flops": ...}

Usage: /usr/bin/python3 bench/torch_conv_layers.py --layers SPEC [--threads N]
       [--batch B] [--repeat R] [--min-time S] [--clock wall|cpu]
SPEC: name:H:W:C:filters:k[,name:...] -- "same" padding (odd k), stride 1,
except the layers named in --valid NAME[,NAME] ("-": none). --clock cpu times with the process CPU clock (all threads
summed), wall with perf_counter; the best of R timed loops is kept.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def timed(fn, clock, repeat, min_time):
    fn()  # warm-up
    best = None
    for _ in range(repeat):
        k, dt = 0, 0.0
        t0 = clock()
        while True:
            fn()
            k += 1
            dt = clock() - t0
            if dt >= min_time:
                break
        per = dt / k
        best = per if best is None or per < best else best
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--valid", default="-")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    clock = time.process_time if a.clock == "cpu" else time.perf_counter
    for spec in a.layers.split(","):
        name, h, w, c, f, k = spec.split(":")
        h, w, c, f, k = int(h), int(w), int(c), int(f), int(k)
        pad = 0 if name in a.valid.split(",") else (k - 1) // 2
        x = torch.randn(a.batch, c, h, w)
        wt = torch.randn(f, c, k, k) * (1.0 / (c * k * k) ** 0.5)
        b = torch.zeros(f)
        y = F.conv2d(x, wt, b, padding=pad)
        dy = torch.randn_like(y)
        flops = 2.0 * a.batch * y.shape[2] * y.shape[3] * c * k * k * f
        ops = {
            "fwd": lambda: F.conv2d(x, wt, b, padding=pad),
            "dx": lambda: torch.ops.aten.convolution_backward(
                dy, x, wt, [f], [1, 1], [pad, pad], [1, 1], False, [0, 0], 1,
                [True, False, False]),
            "wgrad": lambda: torch.ops.aten.convolution_backward(
                dy, x, wt, [f], [1, 1], [pad, pad], [1, 1], False, [0, 0], 1,
                [False, True, False]),
        }
        with torch.no_grad():
            for op, fn in ops.items():
                s = timed(fn, clock, a.repeat, a.min_time)
                print(json.dumps({"layer": name, "op": op, "gflops": flops / s / 1e9,
                                  "seconds": s, "flops": flops, "threads": a.threads}))


if __name__ == "__main__":
    main()
