"""bench/torch_timing.py -- what the PyTorch side of the side-by-side
benchmarks shares (imported by torch_expr.py and torch_ops.py)."""
import time


def best(f, reps, rounds=7):
    """Microseconds per call of f: the best of `rounds` rounds of `reps` calls."""
    t = 1e9
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            f()
        t = min(t, (time.perf_counter() - t0) / reps)
    return t * 1e6
