#!/usr/bin/python3
"""UMAP of Fashion-MNIST: `liftlab-cli project --method umap` against
umap-learn, same input, same settings, same machine, measured in the same run.

Input: the first N of the 70,000 Fashion-MNIST images (train + test,
pixels / 255), reduced to 50 dimensions by PCA (computed once here, shared by
both sides). Settings: n_neighbors 15, min_dist 0.1, spread 1, epochs
umap-learn's default (500 up to 10,000 points, else 200), 2 threads (umap-learn
through numba, without a random_state, which would make it single-threaded).

umap-learn's first fit in this process includes numba's compilation; the
fits after it (warm) are the fair comparison. LiftLab is timed by the
seconds `liftlab-cli project` reports (kNN to layout, no process start or
file reading) and by the wall time of the whole command. With --repeat R,
LiftLab and umap-learn's warm fit each run R times, alternating, and the
medians are reported (the machine is shared and noisy).

Quality, computed the same way for every layout: the mean fraction of each
point's 10 nearest neighbours in the 50-D input kept among its 10 nearest in
2-D, and the leave-one-out 1-NN label accuracy in 2-D.

Usage: /usr/bin/python3 bench/umap_vs_umaplearn.py [--sizes 10000,70000]
       [--cli build/release/app/liftlab-cli] [--threads 2] [--repeat 3]
umap-learn comes from Debian: apt-get install umap-learn.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tsne_vs_sklearn import fashion_mnist, knn, pca, quality  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,70000")
    p.add_argument("--cli", default="build/release/app/liftlab-cli")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="LiftLab's seed")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each side (medians reported)")
    args = p.parse_args()
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    os.environ["NUMBA_NUM_THREADS"] = str(args.threads)  # before numba is imported
    try:
        import umap
    except ImportError:
        sys.exit("umap-learn is missing: apt-get install umap-learn")

    x, y = fashion_mnist()
    x50 = pca(x, 50)
    tmp = tempfile.mkdtemp(prefix="liftlab-umap-")
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        data, labels = x50[:n], y[:n]
        path = os.path.join(tmp, f"x{n}.npy")
        np.save(path, data)
        high = knn(data, 10)
        row = {"n": n}

        out = os.path.join(tmp, f"y{n}.npy")
        liftlab_s, liftlab_wall_s, warm_s = [], [], []

        def fit_umaplearn():
            t0 = time.perf_counter()
            layout = umap.UMAP(n_neighbors=15, min_dist=0.1, n_components=2, n_jobs=args.threads).fit_transform(data)
            return time.perf_counter() - t0, layout

        row["umaplearn_first_s"], layout = fit_umaplearn()
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            run = subprocess.run([args.cli, "project", "--embeddings", path, "--method", "umap", "--neighbors", "15",
                                  "--min-dist", "0.1", "--seed", str(args.seed), "--threads", str(args.threads),
                                  "--out", out], check=True, capture_output=True, text=True)
            liftlab_wall_s.append(time.perf_counter() - t0)
            liftlab_s.append(json.loads(run.stdout)["seconds"])
            seconds, layout = fit_umaplearn()
            warm_s.append(seconds)
        row["liftlab_s"] = statistics.median(liftlab_s)
        row["liftlab_wall_s"] = statistics.median(liftlab_wall_s)
        row["umaplearn_warm_s"] = statistics.median(warm_s)
        row["liftlab_runs_s"], row["umaplearn_warm_runs_s"] = liftlab_s, warm_s
        row["liftlab_nn10"], row["liftlab_1nn"] = quality(high, np.load(out), labels)
        row["umaplearn_nn10"], row["umaplearn_1nn"] = quality(high, layout, labels)
        row["speedup_vs_warm"] = row["umaplearn_warm_s"] / row["liftlab_s"]
        rows.append(row)
        print(f"N={n:6d}  liftlab {row['liftlab_s']:6.2f} s (wall {row['liftlab_wall_s']:5.1f} s)  "
              f"10-NN kept {row['liftlab_nn10']:.3f}  1-NN acc {row['liftlab_1nn']:.3f}  | umap-learn first "
              f"{row['umaplearn_first_s']:6.1f} s, warm {row['umaplearn_warm_s']:6.1f} s  "
              f"10-NN kept {row['umaplearn_nn10']:.3f}  1-NN acc {row['umaplearn_1nn']:.3f}  "
              f"| {row['speedup_vs_warm']:.1f}x the warm fit", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
