#!/bin/sh
# Regenerate data/fashion-mnist/ (first 6,000 train + first 1,000 test images)
# from Debian's dataset-fashion-mnist package.
# Needs: the package (apt-get install dataset-fashion-mnist), /usr/bin/python3.
# Usage: data/tools/fashion_sample.sh [OUT_DIR] [SRC_DIR]
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-"$HERE/../fashion-mnist"}
SRC=${2:-/usr/share/datasets/fashion-mnist}

if [ ! -f "$SRC/train-images-idx3-ubyte.gz" ]; then
    echo "no $SRC/train-images-idx3-ubyte.gz: apt-get install dataset-fashion-mnist" >&2
    exit 1
fi
mkdir -p "$OUT"
/usr/bin/python3 "$HERE/fashion_sample.py" "$SRC" "$OUT" 6000 1000

# LICENSE: Debian's copyright file for the package, as shipped.
COPYRIGHT=/usr/share/doc/dataset-fashion-mnist/copyright
if [ -f "$COPYRIGHT" ]; then
    {
        echo "Fashion-MNIST, (c) 2017 Zalando SE, MIT (Expat) licence."
        echo "This folder holds a sample of it cut by data/tools/fashion_sample.sh"
        echo "from Debian's dataset-fashion-mnist package.  Its copyright file,"
        echo "$COPYRIGHT, reads verbatim:"
        echo
        echo "--------------------------------------------------------------------------"
        cat "$COPYRIGHT"
        echo "--------------------------------------------------------------------------"
    } > "$OUT/LICENSE"
fi

ls -l "$OUT"
