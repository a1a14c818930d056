#!/usr/bin/env bash
# Forward+backward time of every registered loss at B=256, d=512 against the
# lifted loss's, measured alternately in the same run (`liftlab-cli bench
# loss`, 4 images per class; n-pair takes 2). Prints each loss's median and
# its ratio to the lifted loss's median.
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
        # Triplet with all triplets is the slow baseline it always was (O(B^3)).
        [ "$loss" = triplet ] && continue
        out=$("$cli" bench loss --loss "$loss" --batch 256 --dim 512 --per-class "$perClass" --repeat 30 --threads "$threads")
        results+=("$loss=$($py -c 'import json,sys; print(json.loads(sys.argv[1])["median_ms"])' "$out")")
    done
done
$py - "${results[@]}" <<'PY'
import statistics, sys
times = {}
for item in sys.argv[1:]:
    name, value = item.split("=")
    times.setdefault(name, []).append(float(value))
lifted = statistics.median(times["lifted"])
print(f"{'loss':<20} {'median ms':>10} {'x lifted':>9}   runs")
for name, values in times.items():
    m = statistics.median(values)
    print(f"{name:<20} {m:>10.2f} {m / lifted:>9.2f}   {', '.join(f'{v:.2f}' for v in values)}")
PY
