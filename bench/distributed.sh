#!/usr/bin/env bash
# distributed.sh — data-parallel training on this machine: one process with
# 2 threads against 2 ranks (liftlab-cli train --nproc 2) with 1 thread
# each, on the same global batch; and the cost of the gradient all-reduce.
#
# Both train Fashion-MNIST (seen) with a global batch of P x K = 8 x 16
# images per step (2 ranks: 4 x 16 each), RUNS times each, alternating so
# that slow drifts of the machine hit both alike. Printed:
#   - the median images/s of each and their ratio (ranks / one process);
#   - for the ranks, the share of rank 0's step time spent in collectives
#     (summary.json's communication_seconds / train_seconds): the gather
#     of the embeddings, the gradient all-reduce, and waiting for the
#     other rank;
#   - `liftlab-cli bench allreduce --nproc 2`: the median time to sum
#     float32 buffers of 0.25 to 64 MB over 2 ranks on loopback, and per MB;
#   - the size of the gradients each step all-reduces (from the run's log).
# The extrapolation to several machines is in the README ("Several processes").

set -euo pipefail

usage() {
  cat <<'USAGE'
usage: bench/distributed.sh [-n N] [-r RUNS] [-c CLI] [-k]

  -n N      training steps of each run (default 300)
  -r RUNS   runs of each setting, alternating (default 3)
  -c CLI    path to liftlab-cli (default build/release/app/liftlab-cli)
  -k        keep the run folders (their location is printed)
USAGE
}

steps=300 runs=3 cli=build/release/app/liftlab-cli keep=0
while getopts "n:r:c:kh" opt; do
  case $opt in
    n) steps=$OPTARG ;;
    r) runs=$OPTARG ;;
    c) cli=$OPTARG ;;
    k) keep=1 ;;
    h) usage; exit 0 ;;
    *) usage; exit 2 ;;
  esac
done
[ -x "$cli" ] || { echo "distributed.sh: $cli not found (./liftlab.sh build)" >&2; exit 2; }

work=$(mktemp -d)
if [ "$keep" = 1 ]; then echo "runs in $work"; else trap 'rm -rf "$work"' EXIT; fi

common=(--dataset fashion-mnist --split seen -K 16 --iterations "$steps" --eval-every 0 --checkpoint-every 0 --seed 0)
for i in $(seq 1 "$runs"); do
  "$cli" train "${common[@]}" -P 8 --threads 2 --out "$work/one-$i" > "$work/one-$i.log"
  "$cli" train "${common[@]}" -P 4 --threads 1 --nproc 2 --out "$work/ranks-$i" > "$work/ranks-$i.log"
done
"$cli" bench allreduce --nproc 2 --repeat 20 > "$work/allreduce.jsonl"

python3 - "$work" "$runs" <<'PY'
import json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
def summary(name):
    return json.load(open(f"{work}/{name}/summary.json"))
one = [summary(f"one-{i}")["images_per_sec"] for i in range(1, runs + 1)]
ranks = [summary(f"ranks-{i}") for i in range(1, runs + 1)]
speed = [s["images_per_sec"] for s in ranks]
share = [s["communication_seconds"] / s["train_seconds"] for s in ranks]
print(f"one process x 2 threads: {statistics.median(one):8.0f} images/s  (runs: {', '.join(f'{v:.0f}' for v in one)})")
print(f"2 ranks x 1 thread:      {statistics.median(speed):8.0f} images/s  (runs: {', '.join(f'{v:.0f}' for v in speed)})")
print(f"ratio ranks / one process: {statistics.median(speed) / statistics.median(one):.2f}")
print(f"collectives' share of rank 0's step time: {100 * statistics.median(share):.1f}%  "
      f"(runs: {', '.join(f'{100 * v:.1f}%' for v in share)})")
print("all-reduce over 2 ranks on loopback (float32, median of 20):")
for line in open(f"{work}/allreduce.jsonl"):
    r = json.loads(line)
    print(f"  {r['megabytes']:7.2f} MB: {r['median_ms']:8.2f} ms  ({r['ms_per_megabyte']:.2f} ms/MB)")
PY
grep -o "[0-9.]* MB of gradients all-reduced per step" "$work/ranks-1.log" | head -1
