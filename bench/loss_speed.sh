#!/usr/bin/env bash
# Lifted loss forward+backward at B=256, d=512 (4 images per class):
# `liftlab-cli bench loss` against the vectorised PyTorch reference
# (bench/reference_lifted.py) on the same torch build, alternating runs.
# Usage: bench/loss_speed.sh [RUNS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
threads=${2:-2}
cli=${LIFTLAB_CLI:-build/release/app/liftlab-cli}
py=/usr/bin/python3
ours=() theirs=() rss=()
for _ in $(seq "$runs"); do
    out=$("$cli" bench loss --loss lifted --batch 256 --dim 512 --per-class 4 --repeat 50 --threads "$threads")
    ours+=("$($py -c 'import json,sys; print(json.loads(sys.argv[1])["median_ms"])' "$out")")
    rss+=("$($py -c 'import json,sys; print(json.loads(sys.argv[1])["peak_rss_growth_mb"])' "$out")")
    out=$($py bench/reference_lifted.py --batch 256 --dim 512 --per-class 4 --repeat 50 --threads "$threads")
    theirs+=("$($py -c 'import json,sys; print(json.loads(sys.argv[1])["median_ms"])' "$out")")
done
$py - "${ours[*]}" "${theirs[*]}" "${rss[*]}" <<'PY'
import statistics, sys
ours = [float(v) for v in sys.argv[1].split()]
theirs = [float(v) for v in sys.argv[2].split()]
rss = [float(v) for v in sys.argv[3].split()]
print(f"liftlab-cli bench loss : median {statistics.median(ours):.2f} ms  (runs: {', '.join(f'{v:.2f}' for v in ours)})")
print(f"PyTorch reference      : median {statistics.median(theirs):.2f} ms  (runs: {', '.join(f'{v:.2f}' for v in theirs)})")
print(f"speed-up               : {statistics.median(theirs) / statistics.median(ours):.2f}x")
print(f"peak RSS growth (ours) : {max(rss):.1f} MB")
PY
