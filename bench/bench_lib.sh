# bench/bench_lib.sh -- what the side-by-side benchmark runners share
# (sourced by run_bench.sh and run_cnn_bench.sh; needs $PY and $RES).

# record SIDE CONFIG LOAD JSON [ROUND]: append the JSON line with the side
# ("lunet", "torch", ...), the configuration, the load average and the
# round to $RES.
record() {
    printf '%s\n' "$4" | "$PY" -c '
import json, sys
rec = json.loads(sys.stdin.read())
rec.update({"side": sys.argv[1], "config": sys.argv[2], "load1": float(sys.argv[3])})
if len(sys.argv) > 4:
    rec["round"] = int(sys.argv[4])
print(json.dumps(rec))' "$1" "$2" "$3" ${5:+"$5"} >> "$RES"
}

# The 1-minute load average.
load1() { cut -d' ' -f1 /proc/loadavg; }

# with_wait POLICY cmd...: run cmd with OMP_WAIT_POLICY=POLICY (or unset).
with_wait() {
    p=$1; shift
    if [ "$p" = unset ]; then env -u OMP_WAIT_POLICY "$@"; else env OMP_WAIT_POLICY="$p" "$@"; fi
}
