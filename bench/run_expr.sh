#!/bin/sh
# bench/run_expr.sh -- bench_expr.lua and torch_expr.py in one session,
# ROUNDS times, interleaved (the ratios are the figures; single timings swing
# with the machine's load), then a table: per size and expression the best
# time of each side over the rounds and lunet's speed-up over PyTorch's
# better thread count. Run from the repository root after a build.
#
#   bench/run_expr.sh [ROUNDS] [SIZES]       e.g. bench/run_expr.sh 3 1000,10000
#
# PyTorch runs with its OpenMP OpenBLAS (LD_LIBRARY_PATH below) at 1 and 2
# threads; lunet at 1 and 2 threads (bench_expr.lua alternates them).
set -e
ROUNDS=${1:-2}
SIZES=${2:-1000,10000,30000,100000,300000,1000000}
LUNET=${LUNET:-build/bin/lunet}
. bench/bench_lib.sh; need_openblas run_expr "run lunet alone: build/bin/lunet bench/bench_expr.lua SIZES"
OUT=$(mktemp /tmp/lunet-expr.XXXXXX)
interleave "$ROUNDS" "$OUT" bench/bench_expr.lua bench/torch_expr.py "$SIZES"
/usr/bin/python3 - "$OUT" <<'PY'
import re, sys
EXPRS = ("chain", "tanh", "sum", "max", "var", "sum1", "sum2", "max2")
best = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+) n=(\d+) threads=(\d) (.*)", line)
    if not m:
        continue
    who, n, th = m.group(1), int(m.group(2)), int(m.group(3))
    for e, v in re.findall(r"(\w+) ([\d.]+)", m.group(4)):
        key = (who, n, th, e)
        best[key] = min(best.get(key, 1e99), float(v))
sizes = sorted({k[1] for k in best})
print("\nbest us per expression; speed-up = PyTorch's better thread count / lunet")
print("| n | expr | lunet 1T | lunet 2T | torch 1T | torch 2T | lunet 1T / torch | lunet 2T / torch |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
for n in sizes:
    for e in EXPRS:
        l1, l2 = best.get(("lunet", n, 1, e)), best.get(("lunet", n, 2, e))
        t1, t2 = best.get(("torch", n, 1, e)), best.get(("torch", n, 2, e))
        if None in (l1, l2, t1, t2):
            continue
        tb = min(t1, t2)
        print("| %d | %s | %.1f | %.1f | %.1f | %.1f | %.2fx | %.2fx |" % (n, e, l1, l2, t1, t2, tb / l1, tb / l2))
PY
rm -f "$OUT"
