#!/usr/bin/env bash
# Forward+backward time of every registered loss at B=256, d=512 against the
# lifted loss's: `liftlab-cli bench loss --baseline lifted` times the two
# alternately in one process, so both see the same load on a shared machine
# (4 images per class; n-pair takes 2). Prints, per loss, the median over
# RUNS processes of its median time and of its ratio to the lifted loss.
# Usage: bench/loss_zoo.sh [RUNS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
threads=${2:-2}
cli=${LIFTLAB_CLI:-build/release/app/liftlab-cli}
py=/usr/bin/python3
losses=$("$cli" losses | grep -v "^ " | cut -d" " -f1)
results=()
for _ in $(seq "$runs"); do
    for loss in $losses; do
        perClass=4
        [ "$loss" = n-pair ] && perClass=2
        # The baseline itself, and triplet with all triplets: the slow
        # reference it always was (O(B^3)).
        [ "$loss" = lifted ] || [ "$loss" = triplet ] && continue
        results+=("$("$cli" bench loss --loss "$loss" --baseline lifted --batch 256 --dim 512 \
            --per-class "$perClass" --repeat 30 --threads "$threads")")
    done
done
$py - "${results[@]}" <<'PY'
import json, statistics, sys
runs = {}
for item in sys.argv[1:]:
    r = json.loads(item)
    runs.setdefault(r["loss"], []).append(r)
print(f"{'loss':<20} {'ms':>7} {'lifted ms':>10} {'x lifted':>9}   ratio per run")
for name, rs in runs.items():
    ratios = [r["ratio"] for r in rs]
    print(f"{name:<20} {statistics.median(r['median_ms'] for r in rs):>7.2f} "
          f"{statistics.median(r['baseline_median_ms'] for r in rs):>10.2f} {statistics.median(ratios):>9.2f}   "
          + ", ".join(f"{v:.2f}" for v in ratios))
PY
