"""bench/torch_ops.py -- bench/bench_ops.lua's calls in PyTorch eager, one
thread (the same sizes, rounds and output format).

  /usr/bin/python3 bench/torch_ops.py [sizes]     e.g. 30000,1000000"""
import sys

import torch

from torch_timing import best


torch.set_num_threads(1)
sizes = (30000, 1000000)
if len(sys.argv) > 1:
    sizes = [int(s) for s in sys.argv[1].split(",")]
for n in sizes:
    a, b = torch.rand(n), torch.rand(n)
    m = a[: n // 100 * 100].reshape(n // 100, 100)
    row, col = torch.rand(1, 100), torch.rand(n // 100, 1)
    mask = a > 0.5
    rows = n // 100
    gidx = (torch.rand(rows, 1) * 100).long()
    gidx5 = (torch.rand(rows, 5) * 100).long()
    ai, bi = (torch.rand(n) * 10).int(), (torch.rand(n) * 10).int()
    mask2, ccol = b < 0.3, torch.rand(n // 100, 1) > 0.5
    ridx = torch.randperm(rows)
    labels = (torch.rand(n // 10) * 10).long()
    x32, w = torch.rand(32, 784), torch.rand(784, 300)
    cube = a[: n // 100 * 100].reshape(n // 100, 10, 10)
    ai2, mf = ai[: rows * 100].reshape(rows, 100), torch.rand(rows, 100)
    irow, icol = (torch.rand(1, 100) * 10).int(), (torch.rand(rows, 1) * 10).int()
    hidx = ridx[: rows // 2]
    reps = max(5, 3000000 // n)
    ops = [("ones", lambda: torch.ones(n)), ("rand", lambda: torch.rand(n)),
           ("randn", lambda: torch.randn(n)), ("clone", lambda: a.clone()),
           ("abs", lambda: a.abs()), ("sqrt", lambda: a.sqrt()), ("log", lambda: a.log()),
           ("exp", lambda: a.exp()), ("tanh", lambda: a.tanh()), ("sigmoid", lambda: a.sigmoid()),
           ("clamp", lambda: a.clamp(0.2, 0.8)), ("pow2", lambda: a.pow(2)),
           ("mul", lambda: a * b), ("div", lambda: a / b), ("addrow", lambda: m + row),
           ("mulcol", lambda: m * col), ("gt", lambda: a > 0.5), ("any", lambda: mask.any()),
           ("masksel", lambda: a[mask]), ("where", lambda: torch.where(mask, a, b)),
           ("int", lambda: a.int()), ("float", lambda: mask.float()), ("mean", lambda: a.mean()),
           ("std", lambda: a.std()), ("norm", lambda: a.norm()), ("argmax", lambda: a.argmax()),
           ("mean2", lambda: m.mean(1)), ("argmax2", lambda: m.argmax(1)),
           ("softmax", lambda: m.softmax(1)), ("logsm", lambda: m.log_softmax(1)),
           ("t", lambda: m.t().contiguous()), ("cat", lambda: torch.cat([a, b])),
           ("sum1", lambda: m.sum(0)), ("var2", lambda: m.var(1, unbiased=False)),
           ("lse", lambda: m.logsumexp(1)), ("gather", lambda: m.gather(1, gidx)),
           ("index", lambda: m.index_select(0, ridx)),
           ("permute", lambda: cube.permute(2, 0, 1).contiguous()),
           ("mfill", lambda: a.masked_fill_(mask, 0)), ("eq", lambda: a == b),
           ("maximum", lambda: torch.maximum(a, b)), ("subs", lambda: a - 0.5),
           ("argmin", lambda: a.argmin()), ("stack", lambda: torch.stack([a, b])),
           ("onehot", lambda: torch.nn.functional.one_hot(labels, 10)),
           ("randperm", lambda: torch.randperm(n)), ("mm32", lambda: x32 @ w),
           ("gather5", lambda: m.gather(1, gidx5)),
           ("perm132", lambda: cube.permute(0, 2, 1).contiguous()),
           ("perm213", lambda: cube.permute(1, 0, 2).contiguous()),
           ("lse1", lambda: m.logsumexp(0)), ("sm1", lambda: m.softmax(0)),
           ("eqi", lambda: ai == bi), ("land", lambda: mask & mask2), ("lnot", lambda: ~mask),
           ("arange", lambda: torch.arange(0, n)), ("equal", lambda: torch.equal(a, b)),
           ("wherebc", lambda: torch.where(ccol, m, 0.0)), ("usum", lambda: mask.sum()),
           ("imax", lambda: ai.max()), ("fmod", lambda: torch.remainder(a, b)),
           ("imul", lambda: ai * bi), ("iadd", lambda: ai + 3), ("iabs", lambda: ai.abs()),
           ("norm2", lambda: m.norm(2, 1)), ("allclose", lambda: torch.allclose(a, a)),
           ("ifill", lambda: mf.index_fill_(0, hidx, 0)), ("iaddrow", lambda: ai2 + irow),
           ("imulcol", lambda: ai2 * icol), ("igtcol", lambda: ai2 > icol),
           ("mixeq", lambda: ai2 == m)]
    print("torch n=%d " % n + " ".join("%s %.1f" % (k, best(f, reps)) for k, f in ops))
