#!/bin/sh
# Run the PyTorch benchmark at 1 thread and at 2 threads; append JSON lines to OUT.
# Usage: bench/run_torch.sh OUT.jsonl [extra torch_bench.py args, e.g. --repeat 5]
# Needs: apt-get install -y --no-install-recommends python3-torch python3-numpy
#        dataset-fashion-mnist (or pass --data DIR with the four IDX .gz files).
#
# 2 threads run with the OpenMP build of OpenBLAS first on the library path
# (with the pthread build, its own thread pool fights torch's OpenMP pool and
# exp1 drops ~14x) and with OMP_WAIT_POLICY=passive.  Override the wait policy
# with TORCH_BENCH_WAIT_POLICY=active (or an empty value to leave it unset).
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 OUT.jsonl [torch_bench.py args]" >&2
    exit 2
fi
OUT=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
BENCH="$HERE/torch_bench.py"
. "$HERE/bench_lib.sh"; need_openblas run_torch "run lunet alone: bench/bench_train.lua"
WAIT=${TORCH_BENCH_WAIT_POLICY-passive}

: > "$OUT"

echo "== PyTorch, 1 thread" >&2
"$PY" "$BENCH" --threads 1 --out "$OUT" "$@"

echo "== PyTorch, 2 threads (LD_LIBRARY_PATH=$OPENMP_BLAS, OMP_WAIT_POLICY=${WAIT:-unset})" >&2
if [ -n "$WAIT" ]; then
    env LD_LIBRARY_PATH="$OPENMP_BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        OMP_WAIT_POLICY="$WAIT" "$PY" "$BENCH" --threads 2 --out "$OUT" "$@"
else
    env -u OMP_WAIT_POLICY LD_LIBRARY_PATH="$OPENMP_BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$PY" "$BENCH" --threads 2 --out "$OUT" "$@"
fi

echo "== wrote $(wc -l < "$OUT") lines to $OUT" >&2
