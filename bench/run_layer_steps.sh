#!/bin/sh
# bench/run_layer_steps.sh -- bench_layer_steps.lua and torch_layer_steps.py
# in one session, ROUNDS times, interleaved, THREADS threads each side, then
# a table: per layer the best time of each side over the rounds and lunet's
# speed-up over PyTorch (> 1: lunet is faster). One training step of a layer
# alone: what a user adds to a model costs. Run from the repository root
# after a build.
#
#   bench/run_layer_steps.sh [ROUNDS] [THREADS]       e.g. bench/run_layer_steps.sh 2 1
set -e
ROUNDS=${1:-2}
THREADS=${2:-1}
LUNET=${LUNET:-build/bin/lunet}
. bench/bench_lib.sh; need_openblas run_layer_steps "run lunet alone: build/bin/lunet bench/bench_layer_steps.lua THREADS"
OUT=$(mktemp /tmp/lunet-layers.XXXXXX)
interleave "$ROUNDS" "$OUT" bench/bench_layer_steps.lua bench/torch_layer_steps.py "$THREADS"
/usr/bin/python3 - "$OUT" "$THREADS" <<'PY'
import sys
best, order = {}, []
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) != 3 or parts[0] not in ("lunet", "torch"):
        continue
    who, name, us = parts[0], parts[1], float(parts[2])
    if name not in order:
        order.append(name)
    best[(who, name)] = min(best.get((who, name), float("inf")), us)
print("\nbest us per training step (forward + backward; a loss with its gradient), %s thread(s) each side;"
      " speed-up = PyTorch / lunet" % sys.argv[2])
print("| layer or loss | lunet | torch | speed-up |")
print("|---|---:|---:|---:|")
for name in order:
    l, t = best.get(("lunet", name)), best.get(("torch", name))
    if l is None or t is None:
        print("| %s | %s | %s | - |" % (name, l or "-", t or "-"))
    else:
        print("| %s | %.1f | %.1f | %.2fx |" % (name, l, t, t / l))
PY
rm -f "$OUT"
