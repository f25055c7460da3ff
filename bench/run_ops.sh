#!/bin/sh
# bench/run_ops.sh -- bench_ops.lua and torch_ops.py in one session, ROUNDS
# times, interleaved, one thread each, then a table: per size and operation
# the best time of each side over the rounds and lunet's speed-up over
# PyTorch eager (> 1: lunet is faster). Run from the repository root after
# a build.
#
#   bench/run_ops.sh [ROUNDS] [SIZES]       e.g. bench/run_ops.sh 3 30000
set -e
ROUNDS=${1:-2}
SIZES=${2:-30000,1000000}
LUNET=${LUNET:-build/bin/lunet}
. bench/bench_lib.sh; need_openblas run_ops "run lunet alone: build/bin/lunet bench/bench_ops.lua SIZES"
OUT=$(mktemp /tmp/lunet-ops.XXXXXX)
interleave "$ROUNDS" "$OUT" bench/bench_ops.lua bench/torch_ops.py "$SIZES"
/usr/bin/python3 - "$OUT" <<'PY'
import re, sys
best, order = {}, []
for line in open(sys.argv[1]):
    m = re.match(r"(\w+) n=(\d+) (.*)", line)
    if not m:
        continue
    who, n = m.group(1), int(m.group(2))
    for op, v in re.findall(r"(\w+) ([\d.]+)", m.group(3)):
        if op not in order:
            order.append(op)
        key = (who, n, op)
        best[key] = min(best.get(key, 1e99), float(v))
sizes = sorted({k[1] for k in best})
print("\nbest us per call, one thread; speed-up = PyTorch / lunet")
print("| op | " + " | ".join("n=%d lunet | torch | speed-up" % n for n in sizes) + " |")
print("|---|" + "---:|---:|---:|" * len(sizes))
for op in order:
    cells = []
    for n in sizes:
        l, t = best.get(("lunet", n, op)), best.get(("torch", n, op))
        cells += ["-", "-", "-"] if l is None or t is None else ["%.1f" % l, "%.1f" % t, "%.2fx" % (t / l)]
    print("| %s | %s |" % (op, " | ".join(cells)))
PY
rm -f "$OUT"
