#!/bin/sh
# sanitize.sh -- the whole test suite under AddressSanitizer + UBSan, and
# the quickstart under valgrind memcheck. Zero findings or a non-zero exit.
#
#   scripts/sanitize.sh [--asan-only | --valgrind-only]
#
# 1. Configures build-asan/ with -DLUNET_SANITIZE=ON (ASan + UBSan,
#    -fno-sanitize-recover=all), builds it, and runs every CTest test with
#    ASan/UBSan halting on the first error and LeakSanitizer on. The one
#    test left out is fuzz_run_short, which builds its own clang+libFuzzer
#    tree (tests/fuzz/run_fuzz.sh; the fuzz corpora do replay here, under
#    the sanitizers, as fuzz_replay_*).
# 2. Builds a plain RelWithDebInfo tree (build-valgrind/) and runs the
#    README's quickstart (the seed's first experiment: He initialisation +
#    LeakyReLU on Fashion-MNIST, on a 2,000-image slice for one epoch, then
#    evaluate, save and load_model) under valgrind memcheck with
#    --error-exitcode=1 and --errors-for-leak-kinds=definite: any memory
#    error or definite leak fails the run.
#
# Environment: LUNET_ASAN_BUILD, LUNET_VALGRIND_BUILD (build trees),
# CTEST_ARGS (extra ctest arguments, e.g. "-R lua_" to narrow).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
asan_build=${LUNET_ASAN_BUILD:-$src/build-asan}
vg_build=${LUNET_VALGRIND_BUILD:-$src/build-valgrind}
do_asan=1
do_vg=1
case ${1:-} in
--asan-only) do_vg=0 ;;
--valgrind-only) do_asan=0 ;;
"") ;;
*) sed -n '2,25p' "$0"; exit 2 ;;
esac
export OMP_WAIT_POLICY=passive

if [ "$do_asan" = 1 ]; then
    echo "sanitize: ASan+UBSan build in $asan_build"
    mkdir -p "$asan_build" # logs go inside the build tree (ignored by git)
    cmake -S "$src" -B "$asan_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DLUNET_SANITIZE=ON >"$asan_build/sanitize-configure.log" 2>&1 ||
        { cat "$asan_build/sanitize-configure.log"; exit 1; }
    cmake --build "$asan_build" -j2 >"$asan_build/sanitize-build.log" 2>&1 ||
        { tail -40 "$asan_build/sanitize-build.log"; exit 1; }
    # halt on the first report; big allocations fail (NULL) as they do
    # without ASan, so "cannot allocate" paths are exercised, not aborted
    # intercept_tls_get_addr=0: GCC 12's LeakSanitizer misreads the dynamic
    # TLS of a dlopen'ed library (lunet.h5 -> libhdf5) under glibc 2.36 and
    # its tracer dies with SIGSEGV at exit; static TLS is still scanned
    export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:allocator_may_return_null=1:max_allocation_size_mb=16384:detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1:intercept_tls_get_addr=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    # libhdf5 1.10.8 leaks on corrupt files (the hostile tests open some):
    # tests/fuzz/lsan-suite.supp says why and what it matches
    export LSAN_OPTIONS="suppressions=$src/tests/fuzz/lsan-suite.supp:print_suppressions=0"
    echo "sanitize: running the suite under ASan+UBSan"
    # shellcheck disable=SC2086
    ctest --test-dir "$asan_build" --output-on-failure -j2 -E '^fuzz_run_short$' \
        ${CTEST_ARGS:-} 2>&1 | tee "$asan_build/sanitize-ctest.log"
    # ctest's status is lost in the pipe: read its summary
    if ! grep -q "100% tests passed" "$asan_build/sanitize-ctest.log"; then
        echo "sanitize: FAILED under ASan+UBSan (log: $asan_build/sanitize-ctest.log)"
        exit 1
    fi
    if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$asan_build/sanitize-ctest.log"; then
        echo "sanitize: a sanitizer report in a passing test (log: $asan_build/sanitize-ctest.log)"
        exit 1
    fi
    unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
    echo "sanitize: ASan+UBSan: no findings"
fi

if [ "$do_vg" = 1 ]; then
    command -v valgrind >/dev/null || { echo "sanitize: valgrind is not installed (apt-get install valgrind)"; exit 1; }
    echo "sanitize: plain build for valgrind in $vg_build"
    mkdir -p "$vg_build"
    cmake -S "$src" -B "$vg_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DLUNET_SANITIZE=OFF -DLUNET_BUILD_TESTS=OFF >"$vg_build/sanitize-configure.log" 2>&1 ||
        { cat "$vg_build/sanitize-configure.log"; exit 1; }
    cmake --build "$vg_build" -j2 >"$vg_build/sanitize-build.log" 2>&1 ||
        { tail -40 "$vg_build/sanitize-build.log"; exit 1; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cat >"$work/quickstart.lua" <<'EOF'
-- The README's quickstart on a slice (valgrind runs ~50x slower).
local ln = require "lunet"
ln.random.seed(42)
local train, test = ln.datasets.fashion_mnist.load_data()
local X_full, y_full = train.x:float() / 255, train.y
local X_test, y_test = test.x:float() / 255, test.y
local X_valid, X_train = X_full:narrow(1, 1, 500), X_full:narrow(1, 501, 2000)
local y_valid, y_train = y_full:narrow(1, 1, 500), y_full:narrow(1, 501, 2000)

local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  ln.layers.Dense{300, kernel_initializer = "he_normal"},
  ln.layers.LeakyReLU{},
  ln.layers.Dense{100, kernel_initializer = "he_normal"},
  ln.layers.LeakyReLU{},
  ln.layers.Dense{10, activation = "softmax"},
}
model:compile{loss = "sparse_categorical_crossentropy",
              optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
              metrics = {"accuracy"}}
model:summary()
local history = model:fit(X_train, y_train,
                          {epochs = 1, validation_data = {X_valid, y_valid}})
print(model:evaluate(X_test:narrow(1, 1, 500), y_test:narrow(1, 1, 500)))
local path = arg[1] .. "/my_model.h5"
model:save(path)
local again = ln.models.load_model(path)
print(again:evaluate(X_test:narrow(1, 1, 500), y_test:narrow(1, 1, 500)))
EOF
    echo "sanitize: the quickstart under valgrind memcheck"
    OMP_NUM_THREADS=2 valgrind --tool=memcheck --error-exitcode=1 \
        --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite --track-origins=yes \
        "$vg_build/bin/lunet" "$work/quickstart.lua" "$work" \
        >"$vg_build/sanitize-valgrind.log" 2>&1 || {
        tail -60 "$vg_build/sanitize-valgrind.log"
        echo "sanitize: valgrind found errors (log: $vg_build/sanitize-valgrind.log)"
        exit 1
    }
    grep -E "ERROR SUMMARY|definitely lost" "$vg_build/sanitize-valgrind.log" || true
    echo "sanitize: valgrind: no errors, no definite leaks"
fi
echo "sanitize: all clean"
