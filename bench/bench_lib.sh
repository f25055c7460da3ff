# bench/bench_lib.sh -- what the side-by-side benchmark runners share
# (sourced by the run_*.sh scripts; record needs $PY and $RES).

# The OpenMP build of OpenBLAS, put first on PyTorch's library path (the
# environment may name another folder holding its libblas.so.3).
OPENMP_BLAS=${OPENMP_BLAS:-/usr/lib/x86_64-linux-gnu/openblas-openmp}

# need_openblas SCRIPT HOW: refuse (exit 2) to compare with PyTorch when the
# OpenMP OpenBLAS is missing: PyTorch would then do its matrix products on
# the reference BLAS (or a pthread OpenBLAS whose pool fights torch's OpenMP
# pool), ~10x slower, and every ratio would flatter lunet by as much. HOW
# says how SCRIPT runs lunet alone.
need_openblas() {
    [ -e "$OPENMP_BLAS/libblas.so.3" ] && return 0
    echo "$1: refusing to compare with PyTorch: $OPENMP_BLAS/libblas.so.3 is missing," \
         "so PyTorch would run on the reference BLAS (~10x slower: every ratio would" \
         "flatter lunet). Install the OpenMP OpenBLAS (Debian package libopenblas0-openmp:" \
         "apt-get install libopenblas0-openmp), or $2." >&2
    exit 2
}

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

# interleave ROUNDS OUT LUA_SCRIPT PY_SCRIPT SIZES: lunet's script, then
# PyTorch's (on the OpenMP OpenBLAS), ROUNDS times, the load printed before
# each round; every line both print is appended to OUT.
interleave() {
    _round=1
    while [ "$_round" -le "$1" ]; do
        echo "# round $_round, load: $(cut -d' ' -f1-3 /proc/loadavg)"
        "$LUNET" "$3" "$5" | tee -a "$2"
        LD_LIBRARY_PATH=$OPENMP_BLAS /usr/bin/python3 "$4" "$5" 2>/dev/null | tee -a "$2"
        _round=$((_round + 1))
    done
    echo "# end, load: $(cut -d' ' -f1-3 /proc/loadavg)"
}
