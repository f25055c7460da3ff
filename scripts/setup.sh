#!/bin/sh
# Set up a Debian 12 machine for lunet and build it into build/.
# Idempotent: packages already installed are not fetched again, and the
# build is incremental. Needs root (or sudo) only when packages are missing.
#
#   scripts/setup.sh            install the packages, configure, build
#   scripts/setup.sh --no-build only the packages
#   LUNET_BUILD_TYPE=Debug scripts/setup.sh
set -eu
cd "$(dirname "$0")/.."

# libzmq3-dev and libssl-dev build lunet-kernel (Jupyter); jupyter-* and
# python3-nbclient run its tests (tests/jupyter) and `jupyter kernelspec`.
# libopenmpi-dev builds lunet.mpi (data-parallel training, docs/distributed.md);
# openmpi-bin runs it (mpirun) and its tests (tests/mpi).
PACKAGES="gcc make cmake pkg-config liblua5.4-dev lua5.4 check libsubunit-dev
  zlib1g-dev libhdf5-dev hdf5-tools libjansson-dev gnuplot-nox graphviz
  dataset-fashion-mnist python3-numpy python3-h5py
  clang-14 libclang-rt-14-dev valgrind
  libzmq3-dev libssl-dev jupyter-notebook jupyter-nbconvert jupyter-client
  python3-nbclient python3-jupyter-client luarocks
  libopenmpi-dev openmpi-bin"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
    --no-install-recommends $missing
fi

[ "${1:-}" = "--no-build" ] && exit 0
cmake -S . -B build -DCMAKE_BUILD_TYPE="${LUNET_BUILD_TYPE:-Release}" >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built into build/ (build/bin/lunet)"
