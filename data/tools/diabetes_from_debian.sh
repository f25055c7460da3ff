#!/bin/sh
# data/tools/diabetes_from_debian.sh [OUTDIR] -- data/diabetes/diabetes.csv
# from Debian's python3-sklearn (its sklearn/datasets/data/diabetes_*.csv.gz:
# the raw, unscaled values of Efron et al.'s diabetes data, 442 patients):
# a header, then one row per patient, the ten features and the target.
# Needs apt-get (the package is downloaded, not installed) and dpkg-deb.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../diabetes}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && apt-get download python3-sklearn >/dev/null)
dpkg-deb -x "$TMP"/python3-sklearn_*.deb "$TMP/x"
D=$TMP/x/usr/lib/python3/dist-packages/sklearn/datasets/data
mkdir -p "$OUT"
{
    echo "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,target"
    zcat "$D/diabetes_target.csv.gz" | awk '{ printf "%d\n", $1 }' > "$TMP/y"
    zcat "$D/diabetes_data_raw.csv.gz" | tr ' ' ',' | paste -d, - "$TMP/y"
} > "$OUT/diabetes.csv"
echo "wrote $OUT/diabetes.csv ($(($(wc -l < "$OUT/diabetes.csv") - 1)) rows)"
