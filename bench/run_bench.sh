#!/bin/sh
# bench/run_bench.sh -- lunet against PyTorch on the CPU, side by side, in ONE
# run: for every workload, lunet then PyTorch at 1 thread, then both at 2
# threads (PyTorch twice: OMP_WAIT_POLICY=passive and unset), each in fresh
# processes, with the machine's load recorded before every pair. Prints a
# table (samples/s, seconds, peak RSS, ratios) and writes the raw JSON lines.
#
# Usage: bench/run_bench.sh [-r REPEAT] [-w WORKLOADS] [-o OUTDIR] [-e EPOCHS] [-L]
#   -L: lunet alone (no PyTorch side; same as TORCH_WAITS=none). Without it
#   the script refuses to run when the OpenMP OpenBLAS is missing (see
#   bench/bench_lib.sh: PyTorch on the reference BLAS flatters lunet ~10x).
#   WORKLOADS: comma list of startup, load, exp1, exp2, exp4a, wide_deep, exp5 (the four
#   exp5_* optimizers), infer (infer_b32, infer_b1000), or all (default).
# Environment:
#   LUNET        the lunet executable (default: build/bin/lunet of this tree)
#   LUNET_BASE   optional: a second lunet (the build before a change; a
#                wrapper script that sets LD_LIBRARY_PATH for a copied build
#                tree works), run right before LUNET at every thread count:
#                before and after in the same run, as two more columns
#   DATA         folder with the four Fashion-MNIST IDX .gz files
#                (default /usr/share/datasets/fashion-mnist)
#   LUNET_WAIT   OMP_WAIT_POLICY for lunet (default passive; "unset" leaves
#                it unset)
#   TORCH_WAITS  the policies PyTorch's 2-thread runs use (default
#                "passive unset"; PyTorch is credited with its best);
#                "none" skips the PyTorch side (lunet alone, e.g. before /
#                after with LUNET_BASE on a machine too busy for PyTorch)
#   OPENMP_BLAS  the OpenMP OpenBLAS folder (default
#                /usr/lib/x86_64-linux-gnu/openblas-openmp)
# Needs python3 with python3-torch and python3-numpy for the PyTorch side
# (bench/torch_bench.py) and for the report.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LUNET=${LUNET:-$ROOT/build/bin/lunet}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
PY=/usr/bin/python3
LUNET_WAIT=${LUNET_WAIT:-passive}
LUNET_BASE=${LUNET_BASE:-}
TORCH_WAITS=${TORCH_WAITS:-passive unset}
REPEAT=3
EPOCHS=1
WORKLOADS=all
OUT=

while getopts r:w:o:e:L opt; do
    case $opt in
    r) REPEAT=$OPTARG ;;
    w) WORKLOADS=$OPTARG ;;
    o) OUT=$OPTARG ;;
    e) EPOCHS=$OPTARG ;;
    L) TORCH_WAITS=none ;;
    *) echo "usage: $0 [-r REPEAT] [-w WORKLOADS] [-o OUTDIR] [-e EPOCHS] [-L]" >&2; exit 2 ;;
    esac
done
. "$HERE/bench_lib.sh"
[ "$TORCH_WAITS" = none ] || need_openblas run_bench "run lunet alone with -L"
[ -x "$LUNET" ] || { echo "run_bench: no lunet executable at $LUNET (set LUNET)" >&2; exit 2; }
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/lunet-bench.XXXXXX)
mkdir -p "$OUT"
RES=$OUT/results.jsonl
: > "$RES"

# The workload list, expanded.
LIST=
for w in $(echo "$WORKLOADS" | tr ',' ' '); do
    case $w in
    all) LIST="$LIST startup load exp1 exp2 exp4a wide_deep exp5_sgd exp5_rmsprop exp5_adagrad exp5_adam infer_b32 infer_b1000" ;;
    exp5) LIST="$LIST exp5_sgd exp5_rmsprop exp5_adagrad exp5_adam" ;;
    infer) LIST="$LIST infer_b32 infer_b1000" ;;
    *) LIST="$LIST $w" ;;
    esac
done

lunet_run() { # workload threads [executable]
    with_wait "$LUNET_WAIT" env OMP_NUM_THREADS="$2" "${3:-$LUNET}" "$HERE/bench_train.lua" \
        --threads "$2" --workloads "$1" --repeat "$REPEAT" --epochs "$EPOCHS" --data "$DATA" | tail -n 1
}

torch_run() { # workload threads policy
    if [ "$2" = 1 ]; then
        with_wait "$3" "$PY" "$HERE/torch_bench.py" --threads 1 --workloads "$1" \
            --repeat "$REPEAT" --epochs "$EPOCHS" --data "$DATA" | tail -n 1
    else
        with_wait "$3" env LD_LIBRARY_PATH="$OPENMP_BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
            "$PY" "$HERE/torch_bench.py" --threads "$2" --workloads "$1" \
            --repeat "$REPEAT" --epochs "$EPOCHS" --data "$DATA" | tail -n 1
    fi
}

# zlib alone inflating the same four files (one-shot, from memory), best of
# REPEAT: the baseline of the "load" workload.
zlib_run() {
    "$PY" - "$DATA" "$REPEAT" <<'EOF'
import json, os, sys, time, zlib
d, rep = sys.argv[1], int(sys.argv[2])
names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
best = None
for _ in range(rep):
    t = time.perf_counter()
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            zlib.decompress(f.read(), 31)
    dt = time.perf_counter() - t
    best = dt if best is None or dt < best else best
print(json.dumps({"workload": "load", "threads": 1, "seconds": round(best, 4), "repeat": rep}))
EOF
}

echo "== lunet: $LUNET ($("$LUNET" --version </dev/null 2>/dev/null | head -n 1 || true))" >&2
[ -z "$LUNET_BASE" ] || echo "== lunet before: $LUNET_BASE" >&2
echo "== results: $RES" >&2
for w in $LIST; do
    if [ "$w" = load ]; then
        l=$(load1); echo "-- load (load $l)" >&2
        record lunet "1" "$l" "$(lunet_run load 1)"
        record zlib "1" "$l" "$(zlib_run)"
        continue
    fi
    for t in 1 2; do
        l=$(load1); echo "-- $w, $t thread(s) (load $l)" >&2
        [ -z "$LUNET_BASE" ] || record lunet_base "$t" "$l" "$(lunet_run "$w" "$t" "$LUNET_BASE")"
        record lunet "$t" "$l" "$(lunet_run "$w" "$t")"
        if [ "$TORCH_WAITS" = none ]; then
            :
        elif [ "$t" = 1 ]; then
            record torch "1" "$l" "$(torch_run "$w" 1 passive)"
        else
            for p in $TORCH_WAITS; do
                record torch "2/$p" "$l" "$(torch_run "$w" 2 "$p")"
            done
        fi
    done
done

"$PY" - "$RES" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def get(side, w, pred=lambda r: True):
    return [r for r in recs if r["side"] == side and r["workload"] == w and pred(r)]
order = []
for r in recs:
    if r["workload"] not in order:
        order.append(r["workload"])
print()
print("| workload | lunet 1 thr | lunet 2 thr | PyTorch 1 thr | PyTorch 2 thr (passive / unset) "
      "| PyTorch best | lunet 2 thr / PyTorch best | peak RSS lunet / PyTorch (MB) | load |")
print("|---|---|---|---|---|---|---|---|---|")
base_rows = []
for w in order:
    if w in ("startup", "load"):
        continue
    l1, l2 = get("lunet", w, lambda r: r["threads"] == 1), get("lunet", w, lambda r: r["threads"] == 2)
    t1 = get("torch", w, lambda r: r["config"] == "1")
    t2 = get("torch", w, lambda r: r["config"].startswith("2/"))
    v = lambda r: r["samples_per_s"]
    b1, b2 = get("lunet_base", w, lambda r: r["threads"] == 1), get("lunet_base", w, lambda r: r["threads"] == 2)
    if l1 and l2 and b1 and b2:
        vs = ("%.2fx" % (v(l2[0]) / max([v(t1[0])] + [v(r) for r in t2]))) if t1 else "-"
        loads = sorted(r["load1"] for r in l1 + l2 + b1 + b2)
        base_rows.append("| %s | %.1fk | %.1fk | %.2fx | %.1fk | %.1fk | %.2fx | %s | %.1f-%.1f |" % (
            w, v(b1[0]) / 1e3, v(b2[0]) / 1e3, v(b2[0]) / v(b1[0]), v(l1[0]) / 1e3,
            v(l2[0]) / 1e3, v(l2[0]) / v(l1[0]), vs, loads[0], loads[-1]))
    if not (l1 and l2):
        continue
    rss_l = max(r["peak_rss_mb"] for r in l1 + l2)
    loads = sorted(r["load1"] for r in l1 + l2 + t1 + t2)
    if not t1:  # lunet alone (-L)
        print("| %s | %.1fk | %.1fk | - | - | - | - | %.0f / - | %.1f-%.1f |" % (
            w, v(l1[0]) / 1e3, v(l2[0]) / 1e3, rss_l, loads[0], loads[-1]))
        continue
    best = max([v(t1[0])] + [v(r) for r in t2])
    t2s = " / ".join("%.1fk" % (v(r) / 1e3) for r in t2)
    rss_t = min(r["peak_rss_mb"] for r in t1 + t2)
    print("| %s | %.1fk | %.1fk | %.1fk | %s | %.1fk | **%.2fx** | %.0f / %.0f | %.1f-%.1f |" % (
        w, v(l1[0]) / 1e3, v(l2[0]) / 1e3, v(t1[0]) / 1e3, t2s, best / 1e3,
        v(l2[0]) / best, rss_l, rss_t, loads[0], loads[-1]))
if base_rows:
    print("\nbefore (LUNET_BASE) and after (LUNET), same run, samples/s:\n")
    print("| workload | before 1 thr | before 2 thr | before 2/1 | after 1 thr | after 2 thr "
          "| after 2/1 | after 2 thr / PyTorch best | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in base_rows:
        print(row)
s_l, s_t = get("lunet", "startup"), get("torch", "startup")
if s_l and s_t:
    bl, bt = min(r["seconds"] for r in s_l), min(r["seconds"] for r in s_t)
    print("\nstart-up to the first finished training step: lunet %.3f s (peak RSS %.0f MB), "
          "PyTorch %.3f s (peak RSS %.0f MB)" % (bl, min(r["peak_rss_mb"] for r in s_l), bt,
                                                 min(r["peak_rss_mb"] for r in s_t)))
g_l, g_z = get("lunet", "load"), get("zlib", "load")
if g_l and g_z:
    print("dataset load (.gz, four files): lunet %.3f s, plain zlib %.3f s: %.2fx" % (
        g_l[0]["seconds"], g_z[0]["seconds"], g_l[0]["seconds"] / g_z[0]["seconds"]))
EOF
