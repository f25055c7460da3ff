"""bench/torch_expr.py -- bench/bench_expr.lua's expressions in PyTorch
eager (the same sizes, threads, rounds and output format).

  /usr/bin/python3 bench/torch_expr.py [sizes]     e.g. 1000,100000"""
import sys

import torch

from torch_timing import best


sizes = (1000, 10000, 30000, 100000, 300000, 1000000)
if len(sys.argv) > 1:
    sizes = [int(s) for s in sys.argv[1].split(",")]
for n in sizes:
    a, b = torch.rand(n), torch.rand(n)
    cols = 1000 if n >= 100000 else 100
    m = a[: n // cols * cols].reshape(n // cols, cols)
    reps = max(3, 20000000 // n)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        print("torch n=%d threads=%d chain %.1f tanh %.1f sum %.1f max %.1f var %.1f sum1 %.1f sum2 %.1f max2 %.1f" % (
            n, threads, best(lambda: (a * 1.5 + b).exp().sum(), reps),
            best(lambda: a.tanh(), reps), best(lambda: a.sum(), reps),
            best(lambda: a.max(), reps), best(lambda: a.var(), reps),
            best(lambda: m.sum(0), reps), best(lambda: m.sum(1), reps),
            best(lambda: m.max(1), reps)))
