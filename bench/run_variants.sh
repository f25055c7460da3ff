#!/bin/sh
# bench/run_variants.sh -- what a change to a workload costs, as a ratio in
# ONE run: for each pair BASE:VARIANT, lunet trains BASE then VARIANT (fresh
# processes, bench/bench_train.lua, best of its repeats), round after round,
# at 1 and 2 threads; prints each pair's speed ratio VARIANT/BASE (median and
# range over the rounds) and both peak RSS. Never a test: timings only mean
# something against the baseline measured next to them.
#
# Usage: bench/run_variants.sh [-n ROUNDS] [-r REPEAT] [-p PAIRS] [-t THREADS] [-o OUTDIR]
#   PAIRS    space-separated BASE:VARIANT (default "exp1:exp1_l2 exp1:exp1_u8")
#   THREADS  space-separated thread counts (default "1 2")
# Environment: LUNET, DATA, LUNET_WAIT as for bench/run_bench.sh.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LUNET=${LUNET:-$ROOT/build/bin/lunet}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
PY=/usr/bin/python3
LUNET_WAIT=${LUNET_WAIT:-passive}
ROUNDS=3
REPEAT=2
PAIRS="exp1:exp1_l2 exp1:exp1_u8"
THREADS="1 2"
OUT=

while getopts n:r:p:t:o: opt; do
    case $opt in
    n) ROUNDS=$OPTARG ;;
    r) REPEAT=$OPTARG ;;
    p) PAIRS=$OPTARG ;;
    t) THREADS=$OPTARG ;;
    o) OUT=$OPTARG ;;
    *) echo "usage: $0 [-n ROUNDS] [-r REPEAT] [-p PAIRS] [-t THREADS] [-o OUTDIR]" >&2; exit 2 ;;
    esac
done
[ -x "$LUNET" ] || { echo "run_variants: no lunet executable at $LUNET (set LUNET)" >&2; exit 2; }
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/lunet-variants.XXXXXX)
mkdir -p "$OUT"
RES=$OUT/results.jsonl
: > "$RES"

. "$HERE/bench_lib.sh"

run() { # workload threads
    with_wait "$LUNET_WAIT" env OMP_NUM_THREADS="$2" "$LUNET" "$HERE/bench_train.lua" \
        --threads "$2" --workloads "$1" --repeat "$REPEAT" --data "$DATA" | tail -n 1
}

echo "== results: $RES" >&2
for r in $(seq 1 "$ROUNDS"); do
    for t in $THREADS; do
        for p in $PAIRS; do
            for w in "${p%%:*}" "${p#*:}"; do
                l=$(load1); echo "-- round $r, $w, $t thread(s) (load $l)" >&2
                record lunet "$p/$t" "$l" "$(run "$w" "$t")" "$r"
            done
        done
    done
done

"$PY" - "$RES" <<'PYEOF'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| pair | threads | base samples/s | variant samples/s | variant/base (median, range) | peak RSS MB base / variant | load |")
print("|---|---|---|---|---|---|---|")
for cfg in dict.fromkeys(r["config"] for r in recs):
    pair, t = cfg.rsplit("/", 1)
    base, var = pair.split(":")
    rows = [r for r in recs if r["config"] == cfg]
    rounds = sorted({r["round"] for r in rows})
    get = lambda w, k: [r for r in rows if r["workload"] == w and r["round"] == k][0]
    ratios = [get(var, k)["samples_per_s"] / get(base, k)["samples_per_s"] for k in rounds]
    b = max(r["samples_per_s"] for r in rows if r["workload"] == base)
    v = max(r["samples_per_s"] for r in rows if r["workload"] == var)
    rb = max(r["peak_rss_mb"] for r in rows if r["workload"] == base)
    rv = max(r["peak_rss_mb"] for r in rows if r["workload"] == var)
    loads = [r["load1"] for r in rows]
    print("| %s | %s | %.1fk | %.1fk | %.3f (%.3f-%.3f) | %.0f / %.0f | %.1f-%.1f |" % (
        pair, t, b / 1e3, v / 1e3, statistics.median(ratios), min(ratios), max(ratios),
        rb, rv, min(loads), max(loads)))
PYEOF
