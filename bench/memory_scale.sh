#!/usr/bin/env bash
# Memory at the scale of Stanford Online Products. Writes a synthetic image
# folder of 120,000 JPEGs (400 x 300 px, 12,000 classes of 10; generated,
# deterministic; kept in WORK for the next run), and folders of its first
# 1,000 and 4,000 classes (10,000 and 40,000 images, as links). For each it
# runs liftlab-cli train with the images stored at S = 256 (3 x 256 x 256
# bytes each) and measures:
#   load    the seconds before the first step: listing, and on the first
#           load of a folder decoding every JPEG once into the cache file;
#   train   STEPS steps of a small network (below; 224 px crops, 128-image
#           batches): images/s, the median of the steps after the first two;
#   eval    the evaluation at the end, on the test split (half the
#           classes): images/s;
#   peak    peak RSS of the whole run, and of `liftlab-cli eval` alone.
# Peak RSS is the process's high-water mark (VmHWM, /usr/bin/time's
# "Maximum resident set size"); the page cache is not in it.
# With the default budget of 4G, 10,000 images (1.9 GiB decoded) stay in
# memory and the others are read from the cache file. A last row trains on
# the 10,000 images from the file (--memory-budget 1G), for the throughput
# of the two stores side by side.
# The pair of 10,000-image rows is run REPEAT times, alternating.
# Usage: bench/memory_scale.sh [WORK] [STEPS] [SIZES] [REPEAT]   (SIZES: e.g. "10000 40000 120000")
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/var/tmp/liftlab-memory-scale}
steps=${2:-20}
sizes=${3:-"10000 40000 120000"}
repeat=${4:-1}
cli=$(realpath "${LIFTLAB_CLI:-build/release/app/liftlab-cli}")
py=/usr/bin/python3
mkdir -p "$work"
export LIFTLAB_CACHE="$work/cache" # the decoded images of this benchmark, not the user's cache

if [[ ! -f $work/images-120000/done ]]; then
    echo "writing 120,000 JPEGs to $work/images-120000 ..." >&2
    rm -rf "$work/images-120000"
    $py - "$work/images-120000" <<'PY'
import os, sys, numpy as np
from multiprocessing import Pool
from PIL import Image
root = sys.argv[1]
W, H = 400, 300

def write_class(c):
    # A class: a colour field with its own hue, stripe direction and
    # frequency; its 10 images: shifted, brightened and with a bright box
    # of their own. Seeded by the class: the same files every time.
    rng = np.random.default_rng(c)
    folder = os.path.join(root, f"class{c:05d}")
    os.makedirs(folder, exist_ok=True)
    y, x = np.mgrid[0:H + 64, 0:W + 64] / W
    angle, freq = rng.uniform(0, np.pi), rng.uniform(2, 9)
    base = np.sin(2 * np.pi * freq * (np.cos(angle) * x + np.sin(angle) * y))
    hue = rng.uniform(0, 2 * np.pi)
    rgb = np.stack([127 + 90 * base * np.cos(hue + k * 2.1) for k in range(3)], -1)
    for i in range(10):
        dx, dy = rng.integers(0, 64, 2)
        image = rgb[dy:dy + H, dx:dx + W] + rng.uniform(-20, 20)
        bx, by = int(rng.integers(0, W - 60)), int(rng.integers(0, H - 60))
        image[by:by + 60, bx:bx + 60] = 240
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, f"{i}.jpg"), quality=85)

with Pool(os.cpu_count()) as pool:
    pool.map(write_class, range(12000), chunksize=50)
PY
    touch "$work/images-120000/done"
fi
# The network: a small TorchScript backbone (a 5 x 5 convolution of stride 4,
# then 4 x 4 average pooling: 256 features), so that the images/s measure
# the store and the augmentation, which a ResNet on two cores would hide
# (bench/data_wait.sh measures those waits for ResNet-18).
if [[ ! -f $work/probe.pt ]]; then
    $py - "$work/probe.pt" <<'PY'
import sys, torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 5, stride=4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
                          torch.nn.Flatten())
torch.jit.script(net).save(sys.argv[1])
PY
fi
for n in 10000 40000; do
    folder="$work/images-$n"
    if [[ ! -d $folder ]]; then
        mkdir -p "$folder"
        for ((c = 0; c < n / 10; c++)); do
            name=$(printf 'class%05d' "$c")
            ln -s "$work/images-120000/$name" "$folder/$name"
        done
    fi
done

# Runs a command under /usr/bin/time; prints "seconds peak_rss_mib".
measure() {
    local log="$work/time.log"
    /usr/bin/time -f '%e %M' -o "$log" "$@" > "$work/out.log" 2> "$work/err.log" || {
        cat "$work/err.log" >&2
        return 1
    }
    awk '{printf "%s %.0f\n", $1, $2 / 1024}' "$log"
}
# From a run: the median images/s of its steps after the first two (warm-up),
# the training seconds, and the evaluation's images/s and seconds.
run_figures() {
    $py - "$1" <<'PY'
import json, statistics, sys
steps = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl") if l.strip()]
ev = [json.loads(l) for l in open(sys.argv[1] + "/eval.jsonl") if l.strip()][-1]
print(f"{statistics.median(s['images_per_sec'] for s in steps[2:]):.1f} {steps[-1]['seconds']:.1f} "
      f"{ev['queries'] / ev['seconds']:.0f} {ev['seconds']:.1f}")
PY
}

printf '| images | budget | store | load s | train img/s | eval img/s | train+eval peak MiB | eval alone: s, peak MiB |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
row() {
    local n=$1 budget=$2 folder="$work/images-$1" run="$work/run-$1-$2"
    rm -rf "$run"
    # One run: load (decoding on the first load of a folder; the cache keeps
    # it), STEPS steps, and the evaluation at the end; then `eval` alone.
    read -r ws wm < <(measure "$cli" train --dataset "$folder" --split zero-shot --image-size 256 \
        --model "$work/probe.pt" --embedding-dim 64 --classes-per-batch 32 --per-class 4 \
        --augmentation resized-crop --threads 2 --data-workers 2 --checkpoint-every 0 \
        --iterations "$steps" --memory-budget "$budget" --out "$run")
    local store="memory"
    grep -q "images read from" "$work/err.log" "$work/out.log" && store="file"
    read -r rate ts erate es < <(run_figures "$run")
    read -r as am < <(measure "$cli" eval "$run" --threads 2 --memory-budget "$budget")
    cp "$work/out.log" "$run/eval-alone.json"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s s, %s |\n' "$n" "$budget" "$store" \
        "$($py -c "print(round($ws - $ts - $es, 1))")" "$rate" "$erate" "$wm" "$as" "$am"
}
for n in $sizes; do
    row "$n" 4G
done
for ((r = 0; r < repeat; ++r)); do
    row 10000 4G
    row 10000 1G
done
