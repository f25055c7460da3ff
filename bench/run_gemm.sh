#!/bin/sh
# Build lunet with the benchmarks and time ln_gemm against OpenBLAS (OpenMP
# build) with 1 and 2 threads.
# Usage: bench/run_gemm.sh [seconds-per-case [threads...]]   (default 0.25 1 2)
# Environment: BUILD_DIR (default <repo>/build-bench), OMP_WAIT_POLICY
# (default passive: idle OpenMP threads sleep instead of spinning).
# Needs: apt-get install -y libopenblas0-openmp libopenblas-openmp-dev
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DLUNET_BUILD_BENCH=ON -DLUNET_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2 --target bench_gemm >/dev/null

export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
echo "# OMP_WAIT_POLICY=$OMP_WAIT_POLICY; machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs" >&2
exec "$BUILD_DIR/bin/bench_gemm" "$@"
