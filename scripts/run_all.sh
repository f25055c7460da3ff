#!/bin/sh
# Runs the experiments 0 to 7 (the tutorial's six, then the CNNs) in order into one folder, keeps
# each script's output as <outdir>/<script>.log, and ends with a timing
# table and every RESULT line (the figures of the README's results table).
#
#   scripts/run_all.sh [outdir]            (default: out)
#
# Environment: LUNET (the lunet executable, default build/bin/lunet),
# LUNET_SEED (default 42), LUNET_SMOKE=1 (1 epoch, small data), and
# OMP_NUM_THREADS as usual. Exits non-zero if any script failed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
LUNET=${LUNET:-$root/build/bin/lunet}
out=${1:-out}

if [ ! -x "$LUNET" ]; then
  echo "run_all: $LUNET is not an executable; build first (scripts/setup.sh) or set LUNET" >&2
  exit 1
fi
mkdir -p "$out"

SCRIPTS="00_sigmoid_saturation 01_he_init_leaky_relu 02_batchnorm_after_activation
03_batchnorm_before_activation 04_transfer_learning 05_optimizers 06_cnn_fashion_mnist
07_lenet_fashion_mnist"

now() { date +%s.%N; }

table=""
failed=0
t_all=$(now)
for s in $SCRIPTS; do
  log="$out/$s.log"
  t0=$(now)
  # the script's status survives the pipe through tee in a file
  { "$LUNET" "$here/$s.lua" "$out"; echo $? > "$out/.$s.rc"; } 2>&1 | tee "$log"
  rc=$(cat "$out/.$s.rc")
  rm -f "$out/.$s.rc"
  t1=$(now)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  status=ok
  if [ "$rc" != 0 ]; then status="FAILED ($rc)"; failed=$((failed + 1)); fi
  table="$table$(printf '%-34s %8s s  %s' "$s" "$secs" "$status")
"
done
total=$(awk -v a="$t_all" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')

echo
echo "==== run_all: $(nproc) CPU(s), OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}, seed ${LUNET_SEED:-42}${LUNET_SMOKE:+, smoke mode}"
printf '%-34s %10s\n' "script" "wall time"
printf '%s' "$table"
printf '%-34s %8s s\n' "total" "$total"
echo
echo "==== results"
cat "$out"/*.log | grep '^RESULT ' || true
[ "$failed" = 0 ]
