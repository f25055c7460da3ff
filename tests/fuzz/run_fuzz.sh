#!/bin/sh
# run_fuzz.sh -- build the libFuzzer targets with clang (ASan + UBSan +
# libFuzzer) and fuzz each one for a while.
#
#   tests/fuzz/run_fuzz.sh [options] [TARGET...]     (targets: idx npy csv args h5model)
#     -t SECONDS   fuzzing time per target (default $LUNET_FUZZ_SECONDS or 20)
#     --short      the CTest mode: only with LUNET_FUZZ_SHORT=1, else
#                  skipped (77); .ci/run calls this script directly
#     --merge      afterwards, add the new inputs that widen coverage to the
#                  seed corpus tests/fuzz/corpus/<target> (libFuzzer -merge=1);
#                  then run the (strict) replays and take out any input that
#                  shows an open finding
#     --h5-raw     let h5model mutate whole HDF5 files too (mode 1): that
#                  fuzzes libhdf5's own parser, which has known memory bugs
#                  on corrupt files (docs/reliability.md); off by default
#
# Environment: LUNET_FUZZ_BUILD (build tree, default <source>/build-fuzz),
# LUNET_FUZZ_SECONDS. The build tree holds the working corpora
# (fuzz-work/<target>), the crash artifacts (fuzz-artifacts/<target>) and
# the logs (fuzz-logs/<target>.log), and the inputs of findings that are
# not crashes (fuzz-findings/<target>: a broken contract an open issue
# explains, listed as "FUZZ FINDING" lines; see docs/reliability.md).
#
# Exit status: 0 when no target crashed; 1 when one did (the input is
# printed: copy it into tests/fuzz/crashes/<target>/ once fixed, so it is
# replayed on every run); 77 when clang or its libFuzzer runtime is missing
# (CTest counts that as skipped). The last line gives the executions:
# "fuzz: N executions in total".
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${LUNET_FUZZ_BUILD:-$src/build-fuzz}
seconds=${LUNET_FUZZ_SECONDS:-20}
merge=0
short=0
h5raw=0
targets=""
while [ $# -gt 0 ]; do
    case $1 in
    -t) seconds=$2; shift 2 ;;
    --short) short=1; shift ;;
    --merge) merge=1; shift ;;
    --h5-raw) h5raw=1; shift ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
    *) targets="$targets $1"; shift ;;
    esac
done
[ -n "$targets" ] || targets="idx npy csv args h5model"

# The CTest run builds a whole clang tree: only when asked
# (LUNET_FUZZ_SHORT=1), so the README's test command stays the same
# everywhere and within its time; CI runs this script itself (.ci/run).
if [ "$short" = 1 ] && [ -z "${LUNET_FUZZ_SHORT:-}" ]; then
    echo "run_fuzz: SKIP: the short fuzz run happens in .ci/run, or here with LUNET_FUZZ_SHORT=1"
    exit 77
fi

cc=$(command -v clang-14 || command -v clang || true)
if [ -z "$cc" ]; then
    echo "run_fuzz: SKIP: clang is not installed (apt-get install clang libclang-rt-14-dev)"
    exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' > "$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null; then
    echo "run_fuzz: SKIP: $cc has no libFuzzer runtime (apt-get install libclang-rt-14-dev)"
    exit 77
fi

mkdir -p "$build"
# One run per build tree at a time (ctest -j and a manual run may overlap).
exec 9>"$build/.run_fuzz.lock"
flock 9

echo "run_fuzz: building the fuzz targets with $cc in $build"
# The sanitizer flags of LUNET_SANITIZE, given here so that
# float-cast-overflow can recover: ubsan.supp silences a reported finding
# in one named file, nothing else (halt_on_error stops on any other).
san="-fsanitize=address,undefined"
cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLUNET_SANITIZE=OFF -DLUNET_FUZZ=ON \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link $san -fno-sanitize-recover=all -fsanitize-recover=float-cast-overflow -fno-omit-frame-pointer -g" \
    -DCMAKE_EXE_LINKER_FLAGS="$san" -DCMAKE_SHARED_LINKER_FLAGS="$san" \
    -DCMAKE_MODULE_LINKER_FLAGS="$san" >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
cmake --build "$build" --target lunet_fuzzers -j2 >"$build/build.log" 2>&1 ||
    { tail -50 "$build/build.log"; exit 1; }

export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
# Findings that are not crashes are noted and fuzzing goes on (fz_finding).
export LUNET_FUZZ_LENIENT=1
[ "$h5raw" = 1 ] || export LUNET_FUZZ_H5_RAW=0
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$here/ubsan.supp:${UBSAN_OPTIONS:-}"

total=0
failed=""
for t in $targets; do
    exe=$build/bin/fuzz_$t
    [ -x "$exe" ] || { echo "run_fuzz: no target $t"; exit 1; }
    work=$build/fuzz-work/$t
    art=$build/fuzz-artifacts/$t
    log=$build/fuzz-logs/$t.log
    mkdir -p "$work" "$art" "$(dirname "$log")" "$build/fuzz-findings/$t"
    export LUNET_FUZZ_FINDINGS="$build/fuzz-findings/$t"
    set -- -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 \
        -error_exitcode=99 -timeout_exitcode=98 \
        -print_final_stats=1 -artifact_prefix="$art/"
    [ -f "$here/dict/$t.dict" ] && set -- "$@" -dict="$here/dict/$t.dict"
    [ "$t" = h5model ] && set -- "$@" -max_len=65536
    echo "run_fuzz: $t for ${seconds}s"
    status=0
    # libhdf5 has no frame pointers: full unwinding on malloc, so leak
    # stacks reach H5Fopen (lsan.supp) and lunet's own frames
    asan=$ASAN_OPTIONS
    [ "$t" = h5model ] && asan="$asan:fast_unwind_on_malloc=0"
    # the working corpus first: new inputs go there, not into the repo
    ASAN_OPTIONS=$asan "$exe" "$@" "$work" "$here/corpus/$t" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    runs=${runs:-0}
    total=$((total + runs))
    if [ "$status" -ne 0 ]; then
        failed="$failed $t"
        echo "run_fuzz: $t FAILED (status $status) after $runs executions; log: $log"
        grep -E "ERROR|INVARIANT|SUMMARY|Test unit written|^ +#[0-9]+ " "$log" | head -40
    else
        echo "run_fuzz: $t: $runs executions, no crash"
    fi
    if grep -q "FUZZ FINDING" "$log"; then
        echo "run_fuzz: $t: findings (not crashes; inputs in $build/fuzz-findings/$t):"
        grep "FUZZ FINDING" "$log" | cut -c1-400
    fi
    if [ "$merge" = 1 ] && [ "$status" -eq 0 ]; then
        "$exe" -merge=1 -timeout=20 "$here/corpus/$t" "$work" >"$log.merge" 2>&1 ||
            echo "run_fuzz: merge of $t failed (see $log.merge)"
    fi
done
echo "fuzz: $total executions in total"
if [ -n "$failed" ]; then
    echo "run_fuzz: crashes in:$failed (inputs in $build/fuzz-artifacts/)"
    exit 1
fi
exit 0
