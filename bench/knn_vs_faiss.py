#!/usr/bin/python3
"""All-vs-all exact kNN: `liftlab-cli knn` against FAISS IndexFlatL2, same
data, same machine, same thread count, alternating, medians.

Data: the 60,000 Fashion-MNIST training images (pixels / 255) reduced to
128 dimensions by PCA, float32. Each row's k = 9 nearest other rows.
FAISS is asked for k + 1 and the row itself is dropped. The neighbour sets
are compared row by row; a row whose sets differ only by a tie or
near-tie at the k-th distance (within 1e-5 relative) is counted apart.

Usage: /usr/bin/python3 bench/knn_vs_faiss.py [--runs 3] [--threads 2]
FAISS comes from Debian: apt-get install python3-faiss.
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
from tsne_vs_sklearn import read_idx  # noqa: E402  (one IDX reader for the benches)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--k", type=int, default=9)
    p.add_argument("--cli", default="build/release/app/liftlab-cli")
    args = p.parse_args()
    try:
        import faiss
    except ImportError:
        sys.exit("FAISS is missing: apt-get install python3-faiss")
    faiss.omp_set_num_threads(args.threads)

    x = read_idx("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").reshape(-1, 784)
    x = x.astype(np.float64) / 255
    x -= x.mean(0)
    _, vectors = np.linalg.eigh(x.T @ x)
    x = np.ascontiguousarray((x @ vectors[:, ::-1][:, :128]).astype(np.float32))
    tmp = tempfile.mkdtemp(prefix="liftlab-knn-")
    data = os.path.join(tmp, "x.npy")
    np.save(data, x)
    k = args.k

    ours, theirs = [], []
    for _ in range(args.runs):
        out = os.path.join(tmp, "i.npy")
        dist = os.path.join(tmp, "d.npy")
        run = subprocess.run([args.cli, "knn", "--embeddings", data, "--k", str(k), "--out", out,
                              "--distances-out", dist, "--threads", str(args.threads)],
                             check=True, capture_output=True, text=True)
        ours.append(json.loads(run.stdout)["seconds"])
        t0 = time.perf_counter()
        index = faiss.IndexFlatL2(x.shape[1])
        index.add(x)
        fd, fi = index.search(x, k + 1)
        theirs.append(time.perf_counter() - t0)

    li, ld = np.load(out), np.load(dist)
    # Drop each row's own index from FAISS's answer (or its last if self is not there: duplicates).
    rows = np.arange(len(x))
    own = fi == rows[:, None]
    fi_wo = np.array([r[~o][:k] if o.any() else r[:k] for r, o in zip(fi, own)])
    same = np.array([set(a) == set(b) for a, b in zip(li, fi_wo)])
    kth = np.sqrt(np.maximum(np.sort(fd, 1)[:, k], 0))
    near_tie = ~same & (np.abs(ld[:, -1] - kth) <= 1e-5 * np.maximum(kth, 1e-12) + 1e-6)
    print(f"liftlab-cli knn : median {statistics.median(ours):.2f} s  (runs: {', '.join(f'{v:.2f}' for v in ours)})")
    print(f"FAISS FlatL2    : median {statistics.median(theirs):.2f} s  (runs: {', '.join(f'{v:.2f}' for v in theirs)})")
    print(f"ratio liftlab / FAISS: {statistics.median(ours) / statistics.median(theirs):.2f} (target <= 1.2)")
    print(f"identical neighbour sets: {same.sum()} of {len(x)} rows; "
          f"differing only at a tie of the k-th distance: {near_tie.sum()}; other differences: {(~same & ~near_tie).sum()}")
    print(json.dumps({"liftlab_s": statistics.median(ours), "faiss_s": statistics.median(theirs),
                      "identical_rows": int(same.sum()), "tie_rows": int(near_tie.sum()), "rows": len(x)}))


if __name__ == "__main__":
    main()
