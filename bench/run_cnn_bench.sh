#!/bin/sh
# bench/run_cnn_bench.sh -- lunet against PyTorch on convolutional networks,
# side by side in ONE run: for every workload (bench/bench_cnn.lua and
# bench/torch_cnn.py: LeNet-5-style and chapter-14 CNN training at batch 32
# and 128, inference), lunet then PyTorch at 1 thread, then both at 2
# threads (PyTorch with OMP_WAIT_POLICY=passive and unset, with the OpenMP
# OpenBLAS), each in a fresh process, the load average recorded before each
# pair; the whole sequence runs ROUNDS times, interleaved, so that a load
# change hits both sides alike. Prints a table (samples/s, the best of the
# rounds; ratios; convolution GFLOP/s against the FMA peak) and writes the
# raw JSON lines.
#
# Usage: bench/run_cnn_bench.sh [-r REPEAT] [-n ROUNDS] [-w WORKLOADS] [-s SAMPLES]
#                               [-o OUTDIR] [-c wall|cpu] [-t THREADS] [-g] [-L]
#   REPEAT: timed repeats per process (best kept, default 3); ROUNDS: default 2;
#   WORKLOADS: comma list of bench_cnn.lua's workloads or groups (default all);
#   SAMPLES: cap on each workload's images (default 0: 16,384 LeNet training,
#   2,048 CNN, 10,000 LeNet inference) for shorter runs on a busy machine.
#   -c cpu: both sides timed with the process CPU clock (all threads summed;
#   meant for -t 1 on a busy machine), default wall. -t: thread counts
#   (default "1 2"). -g: lunet also with every Conv2D on the im2col + GEMM
#   path alone (algorithm = "gemm", the path before conv_c1.h), same run.
#   -L: lunet alone (no PyTorch side). Without it the script refuses to run
#   when the OpenMP OpenBLAS is missing (bench/bench_lib.sh's need_openblas).
# Environment: LUNET (default build/bin/lunet), DATA (Fashion-MNIST IDX
#   folder, default /usr/share/datasets/fashion-mnist), LUNET_WAIT (lunet's
#   OMP_WAIT_POLICY, default passive), TORCH_WAITS (default "passive unset"),
#   PEAK (FMA peak GFLOP/s per core, default 213).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LUNET=${LUNET:-$ROOT/build/bin/lunet}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
PY=/usr/bin/python3
LUNET_WAIT=${LUNET_WAIT:-passive}
TORCH_WAITS=${TORCH_WAITS:-passive unset}
PEAK=${PEAK:-213}
REPEAT=3
ROUNDS=2
WORKLOADS=all
SAMPLES=0
OUT=
CLOCK=wall
THREADS="1 2"
GEMM=0
TORCH=1

while getopts r:n:w:s:o:c:t:gL opt; do
    case $opt in
    r) REPEAT=$OPTARG ;;
    n) ROUNDS=$OPTARG ;;
    w) WORKLOADS=$OPTARG ;;
    s) SAMPLES=$OPTARG ;;
    o) OUT=$OPTARG ;;
    c) CLOCK=$OPTARG ;;
    t) THREADS=$OPTARG ;;
    g) GEMM=1 ;;
    L) TORCH=0 ;;
    *) echo "usage: $0 [-r REPEAT] [-n ROUNDS] [-w WORKLOADS] [-s SAMPLES] [-o OUTDIR] [-c wall|cpu] [-t THREADS] [-g] [-L]" >&2; exit 2 ;;
    esac
done
. "$HERE/bench_lib.sh"
[ "$TORCH" = 0 ] || need_openblas run_cnn_bench "run lunet alone with -L"
[ -x "$LUNET" ] || { echo "run_cnn_bench: no lunet executable at $LUNET (set LUNET)" >&2; exit 2; }
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/lunet-cnn-bench.XXXXXX)
mkdir -p "$OUT"
RES=$OUT/results.jsonl
: > "$RES"

LIST=
for w in $(echo "$WORKLOADS" | tr ',' ' '); do
    case $w in
    all) LIST="$LIST lenet_b32 lenet_b128 cnn_b32 cnn_b128 lenet_infer_b32 lenet_infer_b128 cnn_infer_b32 cnn_infer_b128" ;;
    lenet) LIST="$LIST lenet_b32 lenet_b128" ;;
    cnn) LIST="$LIST cnn_b32 cnn_b128" ;;
    infer) LIST="$LIST lenet_infer_b32 lenet_infer_b128 cnn_infer_b32 cnn_infer_b128" ;;
    *) LIST="$LIST $w" ;;
    esac
done

lunet_run() { # workload threads [algorithm]
    with_wait "$LUNET_WAIT" env OMP_NUM_THREADS="$2" "$LUNET" "$HERE/bench_cnn.lua" \
        --threads "$2" --workloads "$1" --repeat "$REPEAT" --data "$DATA" \
        --samples "$SAMPLES" --clock "$CLOCK" --algorithm "${3:-auto}" | tail -n 1
}

torch_run() { # workload threads policy
    with_wait "$3" env OMP_NUM_THREADS="$2" \
        LD_LIBRARY_PATH="$OPENMP_BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$PY" "$HERE/torch_cnn.py" --threads "$2" --workloads "$1" \
        --repeat "$REPEAT" --data "$DATA" --samples "$SAMPLES" --clock "$CLOCK" | tail -n 1
}

echo "== lunet: $LUNET; results: $RES" >&2
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for w in $LIST; do
        for t in $THREADS; do
            l=$(load1); echo "-- round $r: $w, $t thread(s) (load $l)" >&2
            record lunet "$t" "$l" "$(lunet_run "$w" "$t")" "$r"
            [ "$GEMM" = 1 ] && record lunet-gemm "$t" "$l" "$(lunet_run "$w" "$t" gemm)" "$r"
            if [ "$TORCH" = 0 ]; then
                :
            elif [ "$t" = 1 ]; then
                record torch "1" "$l" "$(torch_run "$w" 1 passive)" "$r"
            else
                for p in $TORCH_WAITS; do
                    record torch "2/$p" "$l" "$(torch_run "$w" 2 "$p")" "$r"
                done
            fi
        done
    done
    r=$((r + 1))
done

"$PY" - "$RES" "$PEAK" "$CLOCK" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peak = float(sys.argv[2])
print("\n(%s clock)" % sys.argv[3])
# convolution flops per sample: forward; training adds dW for every conv and
# dx for all but the first (its input needs none)
FWD = {"lenet": [784000, 5000000],
       "cnn": [4917248, 28901376, 57802752, 28901376, 57802752]}
def conv_flops(w):
    f = FWD["lenet" if w.startswith("lenet") else "cnn"]
    return sum(f) if "infer" in w else 2 * f[0] + 3 * sum(f[1:])
order = []
for r in recs:
    if r["workload"] not in order:
        order.append(r["workload"])
best = lambda rs: max(r["samples_per_s"] for r in rs) if rs else float("nan")
if any(r["side"] == "lunet-gemm" for r in recs):
    print("\n| workload | threads | lunet | lunet, GEMM path only | ratio |\n|---|---|---|---|---|")
    for w in dict.fromkeys(r["workload"] for r in recs):
        for t in sorted({r["threads"] for r in recs if r["workload"] == w}):
            a = best([r for r in recs if r["side"] == "lunet" and r["workload"] == w and r["threads"] == t])
            g = best([r for r in recs if r["side"] == "lunet-gemm" and r["workload"] == w and r["threads"] == t])
            print("| %s | %d | %.0f | %.0f | %.2fx |" % (w, t, a, g, a / g))
sel = lambda side, w, pred: [r for r in recs if r["side"] == side and r["workload"] == w and pred(r)]
print()
waits = sorted({r["config"][2:] for r in recs if r["config"].startswith("2/")})
print("| workload | lunet 1 thr | lunet 2 thr | PyTorch 1 thr | PyTorch 2 thr (%s) " % " / ".join(waits) +
      "| lunet 2 thr / PyTorch best | lunet best / PyTorch best | conv GFLOP/s lunet / PyTorch "
      "(best) | load |")
print("|---|---|---|---|---|---|---|---|---|")
for w in order:
    l1 = best(sel("lunet", w, lambda r: r["threads"] == 1))
    l2 = best(sel("lunet", w, lambda r: r["threads"] == 2))
    t1 = best(sel("torch", w, lambda r: r["config"] == "1"))
    t2 = [best(sel("torch", w, lambda r, c=c: r["config"] == c))
          for c in sorted({r["config"] for r in recs if r["config"].startswith("2/")})]
    tb = max([t1] + t2)
    lb = max(l1, l2)
    gf = conv_flops(w) / 1e9
    loads = sorted(r["load1"] for r in recs if r["workload"] == w)
    row = ("| %s | %.0f | %.0f | %.0f | %s | **%.2fx** | %.2fx | %.0f / %.0f (%.0f %% / %.0f %% of 2 cores) "
           "| %.1f-%.1f |" % (w, l1, l2, t1, " / ".join("%.0f" % v for v in t2), l2 / tb, lb / tb,
                              lb * gf, tb * gf, 100 * lb * gf / (2 * peak),
                              100 * tb * gf / (2 * peak), loads[0], loads[-1]))
    print(row.replace("nanx", "-").replace("nan", "-"))  # no PyTorch side (-L)
EOF
