#!/usr/bin/python3
"""PyTorch's side of the RNN training benchmark (bench/run_rnn.sh): the
workloads of bench/bench_rnn.lua with nn.LSTM / nn.GRU, Adam, MSE, batch 32,
a torch.randperm index per epoch, zero_grad(set_to_none=True); one epoch
timed after a warm-up of two batches, best of REPEAT fresh models.

    torch_rnn.py THREADS [REPEAT]
"""
import sys
import time

import torch

WORKLOADS = [  # name, cell, steps, features, samples, layers (units, ...)
    ("ch15_lstm", "LSTM", 50, 1, 7000, (20, 20)),
    ("ch15_gru", "GRU", 50, 1, 7000, (20, 20)),
    ("long_lstm", "LSTM", 100, 128, 640, (128,)),
    ("long_gru", "GRU", 100, 128, 640, (128,)),
]


class Model(torch.nn.Module):
    def __init__(self, cell, features, units):
        super().__init__()
        sizes = (features,) + units
        self.rnns = torch.nn.ModuleList(getattr(torch.nn, cell)(sizes[i], sizes[i + 1],
                                                                batch_first=True)
                                        for i in range(len(units)))
        self.out = torch.nn.Linear(units[-1], 1)

    def forward(self, x):
        for r in self.rnns:
            x = r(x)[0]
        return self.out(x[:, -1])


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    for name, cell, steps, feat, n, units in WORKLOADS:
        torch.manual_seed(1)
        x, y = torch.randn(n, steps, feat), torch.randn(n, 1)
        best = 0.0
        for _ in range(repeat):
            m = Model(cell, feat, units)
            opt = torch.optim.Adam(m.parameters(), 1e-3)

            def epoch(idx):
                for i in range(0, len(idx), 32):
                    b = idx[i:i + 32]
                    opt.zero_grad(set_to_none=True)
                    torch.nn.functional.mse_loss(m(x[b]), y[b]).backward()
                    opt.step()
            epoch(torch.arange(64))
            t0 = time.perf_counter()
            epoch(torch.randperm(n))
            best = max(best, n / (time.perf_counter() - t0))
        print("torch %s threads=%d samples_per_s=%.0f" % (name, threads, best), flush=True)


if __name__ == "__main__":
    main()
