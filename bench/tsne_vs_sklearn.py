#!/usr/bin/python3
"""t-SNE of Fashion-MNIST: `liftlab-cli project` against scikit-learn's TSNE,
same input, same settings, same machine, measured in the same run.

Input: the 70,000 Fashion-MNIST images (train + test, pixels / 255),
reduced to 50 dimensions by PCA (computed once here, shared by both sides).
Settings: perplexity 30, 750 iterations, PCA initialisation, learning rate
'auto' for scikit-learn (N / 48 with its factor-4 gradient, which is the
N / 12 that liftlab uses without that factor), 2 threads.

Quality, computed the same way for both layouts: the mean fraction of each
point's 10 nearest neighbours in the 50-D input kept among its 10 nearest in
2-D, and the leave-one-out 1-NN label accuracy in 2-D.

Usage: /usr/bin/python3 bench/tsne_vs_sklearn.py [--sizes 10000,20000,70000]
       [--sklearn-max 20000] [--cli build/release/app/liftlab-cli]
scikit-learn comes from Debian: apt-get install python3-sklearn.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist():
    xs, ys = [], []
    for which in ("train", "t10k"):
        xs.append(read_idx(f"{DATA}/{which}-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255)
        ys.append(read_idx(f"{DATA}/{which}-labels-idx1-ubyte.gz").astype(np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def pca(x, k):
    centred = x.astype(np.float64) - x.mean(0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    return (centred @ vectors[:, ::-1][:, :k]).astype(np.float32)


def knn(x, k):
    """Exact k nearest neighbours (self excluded): FAISS's exhaustive search
    when python3-faiss is installed, blocked numpy otherwise."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    try:
        import faiss
        index = faiss.IndexFlatL2(x.shape[1])
        index.add(x)
        _, found = index.search(x, k + 1)
        rows = np.arange(len(x))[:, None]
        return np.array([r[r != i][:k] for r, i in zip(found, rows[:, 0])])
    except ImportError:
        pass
    norms = (x * x).sum(1)
    out = np.empty((len(x), k), np.int64)
    for start in range(0, len(x), 2048):
        q = x[start:start + 2048]
        d = norms[None, :] - 2 * q @ x.T
        d[np.arange(len(q)), np.arange(start, start + len(q))] = np.inf
        part = np.argpartition(d, k, axis=1)[:, :k]
        order = np.take_along_axis(d, part, 1).argsort(1)
        out[start:start + len(q)] = np.take_along_axis(part, order, 1)
    return out


def quality(high_nn, layout, labels, k=10):
    low = knn(layout, k)
    kept = np.mean([len(set(a) & set(b)) / k for a, b in zip(high_nn, low)])
    return kept, float(np.mean(labels[low[:, 0]] == labels))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,20000,70000")
    p.add_argument("--sklearn-max", type=int, default=20000, help="largest N given to scikit-learn (it is slow)")
    p.add_argument("--cli", default="build/release/app/liftlab-cli")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    x, y = fashion_mnist()
    x50 = pca(x, 50)
    tmp = tempfile.mkdtemp(prefix="liftlab-tsne-")
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        data, labels = x50[:n], y[:n]
        path = os.path.join(tmp, f"x{n}.npy")
        np.save(path, data)
        high = knn(data, 10)

        out = os.path.join(tmp, f"y{n}.npy")
        t0 = time.perf_counter()
        run = subprocess.run([args.cli, "project", "--embeddings", path, "--method", "tsne", "--perplexity", "30",
                              "--iterations", "750", "--threads", str(args.threads), "--out", out],
                             check=True, capture_output=True, text=True)
        ours_s = time.perf_counter() - t0
        ours_kl = json.loads(run.stdout)["kl_divergence"]
        ours_q = quality(high, np.load(out), labels)
        row = {"n": n, "liftlab_s": ours_s, "liftlab_kl": ours_kl, "liftlab_nn10": ours_q[0], "liftlab_1nn": ours_q[1]}

        if n <= args.sklearn_max:
            try:
                from sklearn.manifold import TSNE
            except ImportError:
                sys.exit("scikit-learn is missing: apt-get install python3-sklearn")
            t0 = time.perf_counter()
            tsne = TSNE(n_components=2, perplexity=30, n_iter=750, init="pca", learning_rate="auto",
                        method="barnes_hut", n_jobs=args.threads, random_state=0)
            theirs = tsne.fit_transform(data)
            row["sklearn_s"] = time.perf_counter() - t0
            row["sklearn_kl"] = float(tsne.kl_divergence_)
            row["sklearn_nn10"], row["sklearn_1nn"] = quality(high, theirs, labels)
        rows.append(row)
        line = (f"N={n:6d}  liftlab {row['liftlab_s']:6.1f} s  KL {ours_kl:.3f}  10-NN kept {ours_q[0]:.3f}  "
                f"1-NN acc {ours_q[1]:.3f}")
        if "sklearn_s" in row:
            line += (f"  | sklearn {row['sklearn_s']:6.1f} s  KL {row['sklearn_kl']:.3f}  "
                     f"10-NN kept {row['sklearn_nn10']:.3f}  1-NN acc {row['sklearn_1nn']:.3f}  "
                     f"| speed-up {row['sklearn_s'] / row['liftlab_s']:.1f}x")
        print(line, flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
