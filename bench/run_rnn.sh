#!/bin/sh
# LSTM/GRU training throughput, lunet vs PyTorch, in the same run: both at 1
# and 2 threads, each side at its best thread count, and the ratio.
# Usage: bench/run_rnn.sh [REPEAT]   (LUNET=path/to/lunet, default build/bin/lunet)
# PyTorch's 2-thread run uses the OpenMP OpenBLAS and OMP_WAIT_POLICY=passive,
# as bench/run_torch.sh does.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
LUNET=${LUNET:-$HERE/../build/bin/lunet}
R=${1:-2}
. "$HERE/bench_lib.sh"; need_openblas run_rnn "run lunet alone: build/bin/lunet bench/bench_rnn.lua THREADS REPEAT"
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for t in 1 2; do
    "$LUNET" "$HERE/bench_rnn.lua" $t "$R" | tee -a "$OUT"
    if [ $t -eq 1 ]; then
        /usr/bin/python3 "$HERE/torch_rnn.py" 1 "$R" | tee -a "$OUT"
    else
        LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_WAIT_POLICY=passive \
            /usr/bin/python3 "$HERE/torch_rnn.py" 2 "$R" | tee -a "$OUT"
    fi
done
echo "workload      lunet(best)  torch(best)  ratio"
awk '{ split($3, t, "="); split($4, v, "="); k = $1 " " $2;
       if (v[2] > best[k]) best[k] = v[2]; names[$2] = 1 }
     END { for (w in names) printf "%-12s %11.0f %12.0f %6.2fx\n", w, best["lunet " w],
           best["torch " w], best["lunet " w] / best["torch " w] }' "$OUT" | sort
