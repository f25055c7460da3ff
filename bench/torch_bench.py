#!/usr/bin/python3
"""PyTorch side of the lunet benchmark: training / inference throughput.

Runs each workload in its own child process (so that its peak RSS is its own),
on tensors loaded up front, with the plainest fast loop PyTorch offers: a
torch.randperm index per epoch, X[idx] per batch, zero_grad(set_to_none=True),
forward, cross-entropy on logits, backward, step.  No DataLoader.  The last,
partial batch of an epoch is trained on too (as Keras does).  Every timed
repeat starts from a freshly initialised model and optimizer; the best repeat
is reported.

Data: Fashion-MNIST read from the IDX .gz files with gzip + numpy, /255 as
float32; validation = the first 5,000 training images, train = the last 55,000
(exp5 uses the same data).  exp4a trains on the 8 classes other than
5 (sandal) and 6 (shirt), labels remapped to 0..7.

Workloads (names for --workloads):
  exp1            784-300-100-10, LeakyReLU(0.3), SGD lr 1e-3, batch 32
  exp2            BN(784)-300-ReLU-BN-100-ReLU-BN-10, SGD lr 1e-3, batch 32
  exp4a           5 SELU layers 300,100,50,50,50 -> 8, SGD lr 1e-3, batch 32
  exp5_sgd        784-250-ReLU-10, batch 128, SGD lr 0.01
  exp5_rmsprop    ... RMSprop lr 1e-3, alpha 0.9, eps 1e-7
  exp5_adagrad    ... Adagrad lr 1e-3, initial_accumulator_value 0.1, eps 1e-7
  exp5_adam       ... Adam lr 1e-3, eps 1e-7
  infer_b32       exp1 model, inference_mode, 10,000 test images, batch 32
  infer_b1000     same, batch 1000
  startup         wall time from spawning a fresh interpreter to the end of its
                  first training step (exp1 model, random batch of 32), and its
                  peak RSS
"exp5" expands to the four exp5_* workloads, "infer" to both inference ones,
"all" (the default) to everything.

Each workload prints one JSON line, e.g.
  {"workload": "exp1", "threads": 1, "samples_per_s": 32000.0, "seconds": 1.72,
   "samples": 55000, "epochs": 1, "batch": 32, "repeat": 3, "peak_rss_mb": 420.1}

Usage: torch_bench.py [--threads N] [--workloads a,b] [--epochs E] [--repeat R]
                      [--data DIR] [--out FILE]
With 2 threads, run with LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp
and OMP_WAIT_POLICY=passive (see run_torch.sh): with the pthread OpenBLAS the
two thread pools fight and throughput collapses.
"""

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
EXP5 = ["exp5_sgd", "exp5_rmsprop", "exp5_adagrad", "exp5_adam"]
INFER = ["infer_b32", "infer_b1000"]
ALL = ["startup", "exp1", "exp2", "exp4a", "wide_deep"] + EXP5 + INFER


def peak_rss_mb():
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def blas_libs():
    """Real paths of the BLAS libraries mapped into this process."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                base = os.path.basename(path)
                if path.startswith("/") and ("blas" in base or "gomp" in base):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(libs)


def env_info():
    import torch
    return {"torch_version": torch.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "ld_library_path": os.environ.get("LD_LIBRARY_PATH", ""),
            "blas_libs": blas_libs()}


def read_idx(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        data = bytearray(f.read())  # writable, so torch.from_numpy is happy
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_data(data_dir, name):
    """Tensors for one workload: (x, y) float32 [N, 784] in [0, 1] and int64.

    Training workloads get the training file minus its first 5,000 images
    (the validation part); inference gets the test file.  Only what the
    workload needs is built, so that its peak RSS is not inflated by unused
    copies.
    """
    import numpy as np
    import torch
    if name in INFER:
        x = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz"))
    else:
        n_valid = 5000
        x = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
        if len(x) <= n_valid:
            raise SystemExit("%s: only %d training images" % (data_dir, len(x)))
        x, y = x[n_valid:], y[n_valid:]
        if name == "exp4a":
            # 8 classes: drop 5 (sandal) and 6 (shirt), map 7,8,9 -> 5,6,7
            keep = (y != 5) & (y != 6)
            x, y = x[keep], y[keep]
            y = np.where(y > 6, y - 2, y)
    xt = torch.from_numpy(np.ascontiguousarray(x).reshape(len(x), -1)).to(torch.float32)
    xt.div_(255.0)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    return xt, yt


# ---------------------------------------------------------------- models

def wide_deep_class():
    import torch
    import torch.nn as nn

    class WideDeep(nn.Module):
        """bench_train.lua's wide_deep: two inputs, a residual Add, a
        Concatenate, a main and an auxiliary output (logits)."""

        def __init__(self):
            super().__init__()
            self.h1, self.h2 = nn.Linear(784, 100), nn.Linear(100, 100)
            self.main, self.aux = nn.Linear(156, 10), nn.Linear(100, 10)

        def forward(self, wide, deep):
            h1 = torch.relu(self.h1(deep))
            r = h1 + torch.relu(self.h2(h1))
            return self.main(torch.cat([wide, r], 1)), self.aux(r)
    return WideDeep


def WideDeep():
    return wide_deep_class()()


def make_model(name):
    import torch.nn as nn
    if name in ("exp1", "infer_b32", "infer_b1000", "startup"):
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 300), nn.LeakyReLU(0.3),
            nn.Linear(300, 100), nn.LeakyReLU(0.3),
            nn.Linear(100, 10))
    if name == "exp2":
        # Keras BatchNormalization defaults: momentum 0.99 (= torch 0.01), eps 1e-3
        return nn.Sequential(
            nn.Flatten(),
            nn.BatchNorm1d(784, eps=1e-3, momentum=0.01),
            nn.Linear(784, 300), nn.ReLU(),
            nn.BatchNorm1d(300, eps=1e-3, momentum=0.01),
            nn.Linear(300, 100), nn.ReLU(),
            nn.BatchNorm1d(100, eps=1e-3, momentum=0.01),
            nn.Linear(100, 10))
    if name == "exp4a":
        layers = [nn.Flatten()]
        prev = 784
        for width in (300, 100, 50, 50, 50):
            lin = nn.Linear(prev, width)
            # LeCun normal init, as SELU wants
            nn.init.normal_(lin.weight, 0.0, (1.0 / prev) ** 0.5)
            nn.init.zeros_(lin.bias)
            layers += [lin, nn.SELU()]
            prev = width
        layers.append(nn.Linear(prev, 8))
        return nn.Sequential(*layers)
    if name == "wide_deep":
        return WideDeep()
    if name.startswith("exp5"):
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 250), nn.ReLU(),
            nn.Linear(250, 10))
    raise SystemExit("unknown workload %r" % name)


def make_optimizer(name, params):
    import torch.optim as optim
    if name == "exp5_sgd":
        return optim.SGD(params, lr=0.01)
    if name == "exp5_rmsprop":
        return optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-7)
    if name == "exp5_adagrad":
        return optim.Adagrad(params, lr=1e-3, initial_accumulator_value=0.1, eps=1e-7)
    if name == "exp5_adam":
        return optim.Adam(params, lr=1e-3, eps=1e-7)
    return optim.SGD(params, lr=1e-3)


def batch_size(name):
    if name.startswith("exp5"):
        return 128
    if name == "infer_b1000":
        return 1000
    return 32


# ---------------------------------------------------------------- runs

def train_run(name, x, y, epochs):
    import torch
    import torch.nn.functional as F
    model = make_model(name)
    model.train()
    opt = make_optimizer(name, model.parameters())
    bs = batch_size(name)
    n = x.shape[0]
    if name == "wide_deep":
        return train_wide_deep(model, opt, bs, x, y, epochs)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb = x[idx]
            yb = y[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
    dt = time.perf_counter() - t0
    return dt, float(loss)


def train_wide_deep(model, opt, bs, x, y, epochs):
    import torch
    import torch.nn.functional as F
    n = x.shape[0]
    img = x.view(n, 28, 28)
    wide = torch.cat([img.mean(2), img.mean(1)], 1).contiguous()
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            yb = y[idx]
            opt.zero_grad(set_to_none=True)
            main, aux = model(wide[idx], x[idx])
            loss = 0.9 * F.cross_entropy(main, yb) + 0.1 * F.cross_entropy(aux, yb)
            loss.backward()
            opt.step()
    return time.perf_counter() - t0, float(loss)


def infer_run(name, x):
    import torch
    model = make_model(name)
    model.eval()
    bs = batch_size(name)
    n = x.shape[0]
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, n, bs):
            model(x[i:i + bs])
    return time.perf_counter() - t0


def child_workload(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    name = args.child
    if name == "startup_child":
        import torch.nn.functional as F
        model = make_model("startup")
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        xb = torch.rand(32, 784)
        yb = torch.randint(0, 10, (32,))
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        sys.stdout.write("STEP_DONE\n")
        sys.stdout.flush()
        info = {"peak_rss_mb": round(peak_rss_mb(), 1)}
        info.update(env_info())
        sys.stdout.write(json.dumps(info) + "\n")
        return

    x, y = load_data(args.data, name)
    bs = batch_size(name)
    best = None
    extra = {}
    for _ in range(args.repeat):
        if name in INFER:
            samples = x.shape[0]
            dt = infer_run(name, x)
            epochs = 1
        else:
            samples = x.shape[0] * args.epochs
            dt, last_loss = train_run(name, x, y, args.epochs)
            extra["last_loss"] = round(last_loss, 4)
            epochs = args.epochs
        if best is None or dt < best:
            best = dt
    rec = {"workload": name, "threads": args.threads,
           "samples_per_s": round(samples / best, 1), "seconds": round(best, 4),
           "samples": samples, "epochs": epochs, "batch": bs, "repeat": args.repeat,
           "peak_rss_mb": round(peak_rss_mb(), 1)}
    rec.update(extra)
    rec.update(env_info())
    print(json.dumps(rec), flush=True)


def run_startup(args):
    """Spawn a fresh interpreter; time from spawn to its first finished step."""
    best = None
    rss = None
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "startup_child",
           "--threads", str(args.threads)]
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        dt = time.perf_counter() - t0
        rest = p.stdout.read()
        if p.wait() != 0 or line.strip() != "STEP_DONE":
            raise SystemExit("startup child failed")
        info = json.loads(rest)
        if best is None or dt < best:
            best, rss = dt, info
    rec = {"workload": "startup", "threads": args.threads,
           "seconds": round(best, 4), "repeat": args.repeat}
    rec.update(rss)
    return rec


def expand(spec):
    out = []
    for w in spec.split(","):
        w = w.strip()
        if not w:
            continue
        if w == "all":
            out += ALL
        elif w == "exp5":
            out += EXP5
        elif w == "infer":
            out += INFER
        elif w in ALL:
            out.append(w)
        else:
            raise SystemExit("unknown workload %r (known: %s)" % (w, ", ".join(ALL)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default="all")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats; best is reported")
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder with the 4 IDX .gz files")
    ap.add_argument("--out", help="also append the JSON lines to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads < 1 or args.epochs < 1 or args.repeat < 1:
        raise SystemExit("--threads, --epochs and --repeat must be >= 1")

    if args.child:
        child_workload(args)
        return

    out = open(args.out, "a") if args.out else None
    for w in expand(args.workloads):
        if w == "startup":
            rec = run_startup(args)
            line = json.dumps(rec)
        else:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", w,
                   "--threads", str(args.threads), "--epochs", str(args.epochs),
                   "--repeat", str(args.repeat), "--data", args.data]
            res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            if res.returncode != 0:
                raise SystemExit("workload %s failed (exit %d)" % (w, res.returncode))
            line = res.stdout.strip().splitlines()[-1]
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()
    if out:
        out.close()


if __name__ == "__main__":
    main()
