#!/bin/sh
# bench/run_expr.sh -- bench_expr.lua and torch_expr.py in one session,
# twice, interleaved (the ratios are the figures; single timings swing with
# the machine's load). Run from the repository root after a build.
set -e
for round in 1 2; do
  echo "# round $round, load: $(cut -d' ' -f1 /proc/loadavg)"
  build/bin/lunet bench/bench_expr.lua
  /usr/bin/python3 bench/torch_expr.py 2>/dev/null
done
