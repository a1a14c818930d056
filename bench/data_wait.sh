#!/usr/bin/env bash
# How long the training steps wait for their batches: ResNet-18 at 224 px
# (resized-crop augmentation of 256 px images) on an image folder of JPEGs
# written here, 8 classes x 4 images a batch. The batches are made on a
# worker thread while the previous step trains; summary.json records the
# steps' waits (data_wait_seconds) and the time spent making the batches
# (batch_seconds), which a loader on the training thread would add to
# every step. Prints both as fractions of the training time, per run and
# the median over RUNS runs.
# Usage: bench/data_wait.sh [RUNS] [STEPS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
steps=${2:-20}
threads=${3:-2}
cli=${LIFTLAB_CLI:-build/release/app/liftlab-cli}
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 24 classes of 16 JPEGs, 400-640 x 300-480 px: smooth colour fields, each
# class its own hue and stripe frequency, each image its own phase and noise.
$py - "$work/images" <<'PY'
import os, sys, numpy as np
from PIL import Image
root, rng = sys.argv[1], np.random.default_rng(1)
for c in range(24):
    folder = os.path.join(root, f"class{c:02d}")
    os.makedirs(folder)
    for i in range(16):
        w, h = int(rng.integers(400, 641)), int(rng.integers(300, 481))
        y, x = np.mgrid[0:h, 0:w] / max(w, h)
        base = np.sin(2 * np.pi * ((c % 6 + 2) * x + (c // 6 + 1) * y) + rng.uniform(0, 6.3))
        rgb = np.stack([base * np.cos(c + k * 2.1) for k in range(3)], -1)
        rgb = 127 + 100 * rgb + rng.normal(0, 12, (h, w, 3))
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(os.path.join(folder, f"{i:02d}.jpg"), quality=90)
PY

export LIFTLAB_CACHE= # decode every run (and keep nothing in ~/.cache)
summaries=()
for r in $(seq "$runs"); do
    out="$work/run$r"
    "$cli" train --dataset "$work/images" --model resnet18 --image-size 256 --augmentation resized-crop \
        -P 8 -K 4 --iterations "$steps" --eval-every 0 --threads "$threads" --out "$out" > "$work/log$r" 2>&1 \
        || { cat "$work/log$r"; exit 1; }
    summaries+=("$(cat "$out/summary.json")")
done
$py - "${summaries[@]}" <<'PY'
import json, statistics, sys
wait, make, speed = [], [], []
for i, text in enumerate(sys.argv[1:], 1):
    s = json.loads(text)
    wait.append(s["data_wait_seconds"] / s["train_seconds"])
    # A loader on the training thread would add the making time to each step.
    make.append(s["batch_seconds"] / (s["train_seconds"] - s["data_wait_seconds"] + s["batch_seconds"]))
    speed.append(s["images_per_sec"])
    print(f"run {i}: {s['steps']} steps, {s['images_per_sec']:.1f} images/s, waiting for data "
          f"{100 * wait[-1]:.2f}% of the step time (making the batches: {s['batch_seconds']:.2f} s, "
          f"{100 * make[-1]:.1f}% on the training thread)")
print(f"median: waiting {100 * statistics.median(wait):.2f}% (target < 5%), "
      f"{statistics.median(speed):.1f} images/s; batches made on the training thread would be "
      f"{100 * statistics.median(make):.1f}% of the step time")
PY
