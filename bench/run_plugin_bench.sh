#!/bin/sh
# bench/run_plugin_bench.sh -- out-of-tree optimizer plugins built the
# documented ways, against the built-in Adam (bench/bench_plugin.lua):
#   - docs/sdk/example_optimizer (AdaBelief) with find_package(lunet) on the
#     BUILD tree (-Dlunet_DIR=<build>), no CMAKE_BUILD_TYPE given;
#   - the same file with scripts/lunet-plugin-build against an install
#     (cmake --install into a temporary prefix);
#   - plugins/optimizers/adam.c copied out of tree under another name
#     (unit adam_oot, class AdamOOT) with find_package: the same source as
#     the built-in, so any difference is the build's.
# Usage: bench/run_plugin_bench.sh [-r REPEAT]   (LUNET_BUILD: default build)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=$(cd "${LUNET_BUILD:-$ROOT/build}" && pwd)
REPEAT=7
while getopts r: opt; do
    case $opt in
    r) REPEAT=$OPTARG ;;
    *) exit 2 ;;
    esac
done
TMP=$(mktemp -d /tmp/lunet_plugin_bench_XXXXXX)
trap 'rm -rf "$TMP"' EXIT

cmake -S "$ROOT/docs/sdk/example_optimizer" -B "$TMP/ab" -Dlunet_DIR="$BUILD" >/dev/null
cmake --build "$TMP/ab" >/dev/null

cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
sh "$ROOT/scripts/lunet-plugin-build" --prefix "$TMP/prefix" -o "$TMP/ab_script.so" \
    "$ROOT/docs/sdk/example_optimizer/ada_belief.c"

mkdir -p "$TMP/adam_src"
sed -e 's/"adam"/"adam_oot"/g' -e 's/"Adam"/"AdamOOT"/' \
    "$ROOT/plugins/optimizers/adam.c" > "$TMP/adam_src/adam_oot.c"
cat > "$TMP/adam_src/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.19)
project(adam_oot LANGUAGES C)
find_package(lunet 0.1 REQUIRED)
lunet_add_plugin(adam_oot adam_oot.c)
CM
cmake -S "$TMP/adam_src" -B "$TMP/adam_build" -Dlunet_DIR="$BUILD" >/dev/null
cmake --build "$TMP/adam_build" >/dev/null

OMP_NUM_THREADS=${THREADS:-1} "$BUILD/bin/lunet" "$HERE/bench_plugin.lua" --repeat "$REPEAT" \
    "AdaBelief=$TMP/ab/ada_belief.so" "AdamOOT=$TMP/adam_build/adam_oot.so"
# The script-built one in its own process (its unit name is taken above).
OMP_NUM_THREADS=${THREADS:-1} "$BUILD/bin/lunet" "$HERE/bench_plugin.lua" --repeat "$REPEAT" \
    "AdaBelief=$TMP/ab_script.so"
