#!/usr/bin/env bash
# gui_responsiveness.sh — is the GUI usable while it trains, and does it cost
# training speed? Runs the default experiment (lifted loss, Fashion-MNIST)
# for N steps with 2 threads, RUNS times each, alternating:
#   liftlab-cli train --iterations N --threads 2 --out <tmp>
#   bench_gui_responsiveness --steps N --threads 2   (the window, offscreen)
# and prints the GUI event-loop latency (10 ms timer probe: p50/p95/max of the
# lateness of its ticks while training) and the median images/s of each from
# the runs' summary.json, with the ratio GUI / CLI.
# Targets: latency p95 < 16 ms (one frame); ratio >= 0.95.
#
# usage: bench/gui_responsiveness.sh [-n N] [-r RUNS] [-b BUILD_DIR]
set -euo pipefail

steps=300
runs=2
build=build/release
while getopts "n:r:b:h" opt; do
    case $opt in
        n) steps=$OPTARG ;;
        r) runs=$OPTARG ;;
        b) build=$OPTARG ;;
        *) sed -n '2,14p' "$0"; exit 2 ;;
    esac
done

cli=$build/app/liftlab-cli
gui=$build/bench_gui_responsiveness
# Both must link the same core: a stale one would compare two versions.
cmake --build "$build" --target liftlab-cli bench_gui_responsiveness > /dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }

cli_rates=()
gui_lines=()
for r in $(seq 1 "$runs"); do
    "$cli" train --iterations "$steps" --threads 2 --out "$work/cli-$r" > "$work/cli-$r.log"
    cli_rates+=("$(json "$work/cli-$r/summary.json" images_per_sec)")
    "$gui" --steps "$steps" --threads 2 --workspace "$work/gui-$r" > "$work/gui-$r.json"
    gui_lines+=("$work/gui-$r.json")
    # Same experiment on both sides?
    gui_run=$(json "$work/gui-$r.json" run)
    python3 - "$work/cli-$r/config.json" "$gui_run/config.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
if a != b:
    sys.exit("different experiments: " + str({k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}))
PY
done

python3 - "${cli_rates[*]}" "${gui_lines[@]}" <<'PY'
import json, statistics, sys
cli = [float(x) for x in sys.argv[1].split()]
gui = [json.load(open(p)) for p in sys.argv[2:]]
cli_ips = statistics.median(cli)
gui_ips = statistics.median(g["images_per_sec"] for g in gui)
print(json.dumps({
    "steps": gui[0]["steps"],
    "runs": len(gui),
    "latency_p50_ms": max(g["latency_p50_ms"] for g in gui),
    "latency_p95_ms": max(g["latency_p95_ms"] for g in gui),
    "latency_max_ms": max(g["latency_max_ms"] for g in gui),
    "cli_images_per_sec": [round(x, 1) for x in cli],
    "gui_images_per_sec": [round(g["images_per_sec"], 1) for g in gui],
    "ratio_gui_over_cli": round(gui_ips / cli_ips, 3),
}))
PY
