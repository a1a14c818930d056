#!/usr/bin/python3
"""Plain PyTorch reference of LiftLab's training setup.

This script re-implements, in a few hundred lines of straightforward PyTorch,
the training configuration that `liftlab-cli train` uses, so that the two can
be compared for speed (images/s over the training loop) and accuracy
(Recall@K and MAP@R on the test set).

Pipeline
--------
* Data: Fashion-MNIST IDX files (gzip, big-endian IDX header), normalised as
  x/255 then (x - 0.2860) / 0.3530.
* Splits: ``seen`` (train file -> train, t10k file -> test, all 10 classes) or
  ``zero-shot`` (train-file classes 0-4 -> train, t10k-file classes 5-9 -> test).
* Model ``convnet-small``: three conv3x3-BN-ReLU blocks (32, 64, 128 channels,
  max-pool after the first two, global average pool after the last) and a
  linear layer to the embedding dimension; optional L2 normalisation.
* Sampler: P x K class-balanced batches (P distinct classes, K distinct
  images per class, both uniformly at random).
* Augmentation: zero-pad 2 px, random 28x28 crop, horizontal flip p=0.5.
* Loss: lifted structured loss (Song et al. 2016, the squared-hinge form),
  vectorised with O(B^2) memory.
* Evaluation: query = every test image, gallery = every other test image,
  Euclidean distance, Recall@{1,2,4,8} and MAP@R.

Output: progress every 100 steps on stderr and one JSON line on stdout.

Use Debian's Python (/usr/bin/python3), which has torch and numpy.
The function ``lifted_structured_loss`` is also imported by
``reference_lifted.py`` and ``check_lifted_cli.py``.
"""

import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"
MEAN = 0.2860
STD = 0.3530


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def read_idx(path):
    """Read a gzip-compressed IDX file and return a numpy array.

    IDX header (big-endian): two zero bytes, one type byte (0x08 = uint8),
    one byte with the number of dimensions, then one uint32 per dimension.
    """
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: bad IDX magic")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: only uint8 IDX data is supported (type 0x{raw[2]:02x})")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    data = np.frombuffer(raw, dtype=np.uint8, offset=offset)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {np.prod(dims)} values, found {data.size}")
    return data.reshape(dims)


def load_fashion_mnist(data_dir, which):
    """Return (images uint8 [N,28,28], labels int64 [N]) for which in {train, t10k}."""
    images = read_idx(os.path.join(data_dir, f"{which}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{which}-labels-idx1-ubyte.gz"))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{which}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels.astype(np.int64)


def normalise(images_u8):
    """uint8 [N,28,28] -> float32 tensor [N,1,28,28], x/255 then (x-mean)/std."""
    x = torch.from_numpy(images_u8.astype(np.float32) / 255.0)
    x = (x - MEAN) / STD
    return x.unsqueeze(1).contiguous()


def load_split(data_dir, split):
    """Return (train_x, train_y, test_x, test_y) as torch tensors for the split."""
    tr_img, tr_lab = load_fashion_mnist(data_dir, "train")
    te_img, te_lab = load_fashion_mnist(data_dir, "t10k")
    if split == "seen":
        pass  # all 10 classes in both files
    elif split == "zero-shot":
        tr_keep = tr_lab <= 4          # classes 0-4 for training
        te_keep = te_lab >= 5          # classes 5-9 for testing
        tr_img, tr_lab = tr_img[tr_keep], tr_lab[tr_keep]
        te_img, te_lab = te_img[te_keep], te_lab[te_keep]
    else:
        raise ValueError(f"unknown split {split!r}")
    return (normalise(tr_img), torch.from_numpy(tr_lab),
            normalise(te_img), torch.from_numpy(te_lab))


# --------------------------------------------------------------------------
# Sampler and augmentation
# --------------------------------------------------------------------------

class PKSampler:
    """Class-balanced P x K batch sampler.

    Each batch: P distinct classes chosen uniformly at random among the
    classes present, then K distinct images of each chosen class chosen
    uniformly at random (without replacement inside the batch).
    """

    def __init__(self, labels, classes_per_batch, per_class, seed):
        labels = np.asarray(labels)
        self.classes = np.unique(labels)
        self.index_by_class = {int(c): np.flatnonzero(labels == c) for c in self.classes}
        self.p = classes_per_batch
        self.k = per_class
        if self.p > len(self.classes):
            raise ValueError(f"--classes-per-batch {self.p} > {len(self.classes)} classes available")
        small = [c for c, idx in self.index_by_class.items() if len(idx) < self.k]
        if small:
            raise ValueError(f"classes {small} have fewer than --per-class {self.k} images")
        self.rng = np.random.default_rng(seed)

    def next_batch(self):
        """Return an int64 numpy array of P*K dataset indices, grouped by class."""
        chosen = self.rng.choice(self.classes, size=self.p, replace=False)
        parts = [self.rng.choice(self.index_by_class[int(c)], size=self.k, replace=False)
                 for c in chosen]
        return np.concatenate(parts)


def augment(x, generator, pad=2):
    """Per-image random crop (after zero padding) and horizontal flip.

    x: normalised float tensor [B,1,28,28]. "Zero" padding means raw pixel
    value 0 (black, the Fashion-MNIST background), i.e. (0 - MEAN) / STD in
    normalised units, so the result equals padding the raw image with zeros
    and normalising afterwards.
    """
    b, c, h, w = x.shape
    fill = (0.0 - MEAN) / STD
    padded = F.pad(x, (pad, pad, pad, pad), value=fill)            # [B,1,h+2p,w+2p]
    # Random top-left corner of the crop for each image, in [0, 2*pad].
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h)[None, :])                # [B,h]
    cols = (ox[:, None] + torch.arange(w)[None, :])                # [B,w]
    bidx = torch.arange(b)[:, None, None]
    crops = padded[:, 0][bidx, rows[:, :, None], cols[:, None, :]]  # [B,h,w]
    crops = crops.unsqueeze(1)
    # Horizontal flip with probability 0.5, independently per image.
    flip = torch.rand(b, generator=generator) < 0.5
    crops = torch.where(flip[:, None, None, None], crops.flip(-1), crops)
    return crops.contiguous()


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------

class ConvNetSmall(nn.Module):
    """convnet-small: 3 conv3x3-BN-ReLU blocks + linear embedding head."""

    def __init__(self, embedding_dim=64, normalize=False):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                                   # 28 -> 14
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                                   # 14 -> 7
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),                           # global average pool
        )
        self.head = nn.Linear(128, embedding_dim)
        self.normalize = normalize

    def forward(self, x):
        z = self.head(torch.flatten(self.features(x), 1))
        if self.normalize:
            z = F.normalize(z, p=2, dim=1)
        return z


# --------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------

def pairwise_distances(x):
    """Euclidean distance matrix with a safe sqrt: sqrt(clamp(d2, min=1e-12)).

    d2 is computed from the Gram matrix (O(B^2) memory, not O(B^2 d)).
    """
    sq = (x * x).sum(dim=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.t())
    return torch.sqrt(torch.clamp(d2, min=1e-12))


def lifted_structured_loss(x, labels, margin=1.0, return_stats=False):
    """Lifted structured loss, paper form (Song et al. 2016), vectorised.

    For every positive pair i<j (same label):
        J_ij = log( sum_{k: y_k != y_i} exp(a - D_ik)
                  + sum_{l: y_l != y_j} exp(a - D_jl) ) + D_ij
    L = 1/(2|P|) * sum_{(i,j) in P} max(0, J_ij)^2

    Implementation: a masked row logsumexp per anchor, lse_i =
    log sum_{k neg of i} exp(a - D_ik), then J = logaddexp(lse_i, lse_j) + D_ij
    for all (i, j), masked to the positive pairs i<j.

    Non-negatives are filled with the most negative finite value rather than
    -inf so that an anchor without negatives (a one-class batch) yields a
    finite, hugely negative lse (hinge 0, gradient 0) instead of NaN.
    If return_stats, also returns the fraction of positive pairs with J > 0.
    """
    y = labels.view(-1)
    d = pairwise_distances(x)
    same = y[:, None] == y[None, :]
    neg = ~same
    very_negative = torch.finfo(d.dtype).min
    lse = torch.logsumexp((margin - d).masked_fill(~neg, very_negative), dim=1)  # [B]
    j = torch.logaddexp(lse[:, None], lse[None, :]) + d                          # [B,B]
    pos = torch.triu(same, diagonal=1)                                           # i<j, same label
    n_pos = int(pos.sum())
    if n_pos == 0:
        loss = x.sum() * 0.0   # keeps the graph; no positive pairs -> zero loss
        return (loss, 0.0) if return_stats else loss
    jp = j[pos]
    loss = torch.clamp(jp, min=0).pow(2).sum() / (2.0 * n_pos)
    if return_stats:
        return loss, float((jp > 0).float().mean())
    return loss


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------

@torch.no_grad()
def embed(model, x, batch=1000):
    """Embeddings of x in eval mode, in batches of `batch` images."""
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, x.shape[0], batch)])


@torch.no_grad()
def retrieval_metrics(emb, labels, ks=(1, 2, 4, 8), block=500):
    """Recall@K and MAP@R with query = each item, gallery = all other items.

    Distances are Euclidean (squared distances give the same ranking and are
    used directly). Queries are processed in blocks of `block` rows so that
    at most block x N distances are held at a time.

    Recall@K: fraction of queries with at least one same-label item among
    their K nearest neighbours.
    MAP@R: R = number of other items with the query's label;
    AP@R = (1/R) * sum_{i<=R} precision@i * rel(i); averaged over queries
    (queries with R = 0 count as 0).
    """
    emb = emb.float()
    labels = labels.view(-1)
    n = emb.shape[0]
    sq = (emb * emb).sum(1)
    class_count = torch.bincount(labels)
    r_all = class_count[labels] - 1                     # relevant items per query
    max_k = max(ks)
    hits = {k: 0 for k in ks}
    ap_sum = 0.0
    for start in range(0, n, block):
        stop = min(start + block, n)
        q = emb[start:stop]
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * (q @ emb.t())  # [b, N]
        rows = torch.arange(stop - start)
        d2[rows, rows + start] = float("inf")          # exclude the query itself
        r = r_all[start:stop]
        depth = int(max(max_k, int(r.max())))
        depth = min(depth, n - 1)
        _, idx = torch.topk(d2, depth, dim=1, largest=False, sorted=True)
        rel = (labels[idx] == labels[start:stop, None])  # [b, depth]
        for k in ks:
            hits[k] += int(rel[:, :k].any(dim=1).sum())
        # MAP@R: only the first R positions of each row count.
        ranks = torch.arange(1, depth + 1, dtype=torch.float64)[None, :]
        within_r = ranks <= r[:, None].double()
        relf = (rel & within_r).double()
        precision = relf.cumsum(1) / ranks
        ap = (precision * relf).sum(1) / r.clamp(min=1).double()
        ap_sum += float(ap.sum())
    out = {f"recall_at_{k}": hits[k] / n for k in ks}
    out["map_at_r"] = ap_sum / n
    return out


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------

def make_optimizer(name, params, lr, weight_decay):
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def lr_at(step, args):
    """Learning rate for 0-based step: constant, or cosine decay to 0."""
    if args.schedule == "constant":
        return args.lr
    return args.lr * 0.5 * (1.0 + math.cos(math.pi * step / args.iterations))


def train(model, train_x, train_y, args):
    """Run the training loop; return (images_per_sec, seconds, final_loss)."""
    sampler = PKSampler(train_y.numpy(), args.classes_per_batch, args.per_class, args.seed)
    aug_gen = torch.Generator().manual_seed(args.seed + 1)
    opt = make_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    batch_size = args.classes_per_batch * args.per_class
    model.train()
    loss_value = float("nan")
    window_start, window_images = time.perf_counter(), 0
    t0 = time.perf_counter()
    for step in range(args.iterations):
        lr = lr_at(step, args)
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.from_numpy(sampler.next_batch())
        xb, yb = train_x[idx], train_y[idx]
        if args.augment:
            xb = augment(xb, aug_gen)
        emb = model(xb)
        loss, active = lifted_structured_loss(emb, yb, args.margin, return_stats=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_value = float(loss.detach())
        window_images += batch_size
        if (step + 1) % 100 == 0 or step + 1 == args.iterations:
            now = time.perf_counter()
            ips = window_images / max(now - window_start, 1e-9)
            print(f"step {step + 1}/{args.iterations} loss {loss_value:.4f} lr {lr:.2e} "
                  f"active {active:.3f} images/s {ips:.1f}", file=sys.stderr, flush=True)
            window_start, window_images = now, 0
    seconds = time.perf_counter() - t0
    images_per_sec = args.iterations * batch_size / max(seconds, 1e-9)
    return images_per_sec, seconds, loss_value


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Plain PyTorch reference of LiftLab's Fashion-MNIST training "
                    "(convnet-small + lifted structured loss). Prints progress on "
                    "stderr and one JSON line of results on stdout.")
    p.add_argument("--data-dir", default=DATA_DIR,
                   help="folder with the Fashion-MNIST *.gz IDX files (default: %(default)s)")
    p.add_argument("--split", choices=["seen", "zero-shot"], default="seen",
                   help="seen: train/t10k, all classes; zero-shot: train classes 0-4, "
                        "test classes 5-9 (default: %(default)s)")
    p.add_argument("--embedding-dim", type=int, default=64, help="embedding size d (default: %(default)s)")
    p.add_argument("--normalize", action="store_true", help="L2-normalise the embeddings")
    p.add_argument("--classes-per-batch", type=int, default=4, help="P (default: %(default)s)")
    p.add_argument("--per-class", type=int, default=32, help="K (default: %(default)s)")
    p.add_argument("--no-augment", dest="augment", action="store_false",
                   help="switch off pad-2 random crop + horizontal flip")
    p.add_argument("--margin", type=float, default=1.0, help="lifted loss margin a (default: %(default)s)")
    p.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default="adam",
                   help="sgd uses momentum 0.9 (default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: %(default)s)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="weight decay (default: %(default)s)")
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant",
                   help="lr schedule; cosine: lr*0.5*(1+cos(pi*step/iterations)) (default: %(default)s)")
    p.add_argument("--iterations", type=int, default=1000, help="training steps (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed for init, sampler, augmentation (default: %(default)s)")
    p.add_argument("--eval-only-baselines", action="store_true",
                   help="skip training; print metrics for raw pixels and for the untrained network")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)   # model initialisation (PyTorch default inits)

    train_x, train_y, test_x, test_y = load_split(args.data_dir, args.split)
    print(f"split {args.split}: {train_x.shape[0]} train, {test_x.shape[0]} test images",
          file=sys.stderr, flush=True)
    model = ConvNetSmall(args.embedding_dim, args.normalize)

    if args.eval_only_baselines:
        raw = retrieval_metrics(test_x.flatten(1), test_y)
        print(json.dumps({"baseline": "raw_pixels", **raw}), flush=True)
        untrained = retrieval_metrics(embed(model, test_x), test_y)
        print(json.dumps({"baseline": "untrained_network", **untrained}), flush=True)
        return 0

    images_per_sec, seconds, final_loss = train(model, train_x, train_y, args)
    t_eval = time.perf_counter()
    metrics = retrieval_metrics(embed(model, test_x), test_y)
    print(f"evaluation took {time.perf_counter() - t_eval:.1f} s", file=sys.stderr, flush=True)
    result = {
        "images_per_sec": images_per_sec,
        "train_seconds": seconds,
        "recall_at_1": metrics["recall_at_1"],
        "recall_at_2": metrics["recall_at_2"],
        "recall_at_4": metrics["recall_at_4"],
        "recall_at_8": metrics["recall_at_8"],
        "map_at_r": metrics["map_at_r"],
        "iterations": args.iterations,
        "final_loss": final_loss,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
