#!/bin/sh
# bench/run_loaded_ops.sh -- bench_loaded_ops.lua at 1 and 2 threads, ROUNDS
# times, alternating, with BUSY vCPUs kept busy by a shell loop pinned to
# each (0: idle; 2: load 2 on a 2-vCPU machine), then a table of mean us
# per call. With LUNET_BASE set (the build before a change), that lunet
# runs before LUNET at every thread count: before / after in one run.
# Run from the repository root after a build.
#
#   bench/run_loaded_ops.sh [BUSY] [ROUNDS] [N] [CALLS]   e.g. 2 2 300000 1000
set -e
BUSY=${1:-2}
ROUNDS=${2:-2}
N=${3:-300000}
CALLS=${4:-1000}
LUNET=${LUNET:-build/bin/lunet}
OUT=$(mktemp /tmp/lunet-loaded.XXXXXX)
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -f "$OUT"' EXIT INT TERM
NCPU=$(nproc)
i=0
while [ "$i" -lt "$BUSY" ]; do
    taskset -c $((i % NCPU)) sh -c 'while :; do :; done' &
    PIDS="$PIDS $!"
    i=$((i + 1))
done
echo "# busy vCPUs: $BUSY, load: $(cut -d' ' -f1-3 /proc/loadavg)"
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    for t in 1 2; do
        [ -z "$LUNET_BASE" ] || echo "base $($LUNET_BASE bench/bench_loaded_ops.lua $t "$N" "$CALLS")" >> "$OUT"
        echo "new $($LUNET bench/bench_loaded_ops.lua $t "$N" "$CALLS")" >> "$OUT"
    done
    r=$((r + 1))
done
/usr/bin/python3 - "$OUT" <<'PY'
import collections, re, sys
rows, order = collections.defaultdict(list), []
for line in open(sys.argv[1]):
    m = re.match(r"(base|new) (\d)T n=\d+ mean: (.*)", line)
    if not m:
        continue
    vals = dict((k, float(v)) for k, v in re.findall(r"(\S+) ([\d.]+)", m.group(3)))
    order = order or list(vals)
    rows[(m.group(1), m.group(2))].append(vals)
cols = [k for k in (("base", "1"), ("base", "2"), ("new", "1"), ("new", "2")) if k in rows]
print("\nmean us per call, one value per round")
print("| op | " + " | ".join("%s %sT" % (w if len(cols) > 2 else "lunet", t) for w, t in cols) + " |")
print("|---|" + "---:|" * len(cols))
for op in order:
    print("| %s | %s |" % (op, " | ".join("/".join("%.0f" % r[op] for r in rows[c]) for c in cols)))
print("| all | %s |" % " | ".join("/".join("%.0f" % sum(r.values()) for r in rows[c]) for c in cols))
PY
