#!/usr/bin/python3
"""Time forward + backward of the vectorised lifted structured loss in PyTorch.

The loss is `lifted_structured_loss` from reference_train.py (masked row
logsumexp per anchor, logaddexp per positive pair, O(B^2) memory), applied to
random float32 embeddings [B, d] with B/per_class classes of per_class rows.
Each repetition builds the loss from a fresh leaf tensor and runs backward;
the median over --repeat timed repetitions (after --warmup untimed ones) is
printed as JSON: {"median_ms": ..., "batch": ..., "dim": ...}.

--naive instead compares the vectorised loss with the plain per-pair Python
loop (check_lifted_cli.lifted_loss_loop) on the same data, in float32 and
float64, and times both once; meant for small batches (B <= ~128).
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_train import lifted_structured_loss   # noqa: E402
from check_lifted_cli import lifted_loss_loop         # noqa: E402


def random_batch(batch, dim, per_class, seed, scale):
    """Random N(0, scale^2) embeddings and labels with per_class rows per class."""
    if batch % per_class:
        raise SystemExit(f"--batch {batch} is not a multiple of --per-class {per_class}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, dim, generator=g) * scale
    labels = torch.arange(batch // per_class).repeat_interleave(per_class)
    labels = labels[torch.randperm(batch, generator=g)]
    return x, labels


def time_vectorised(x, labels, margin, repeat, warmup):
    """Median wall time in ms of one forward + backward."""
    times = []
    for it in range(warmup + repeat):
        xl = x.detach().clone().requires_grad_(True)
        t0 = time.perf_counter()
        loss = lifted_structured_loss(xl, labels, margin)
        loss.backward()
        dt = time.perf_counter() - t0
        if it >= warmup:
            times.append(dt * 1e3)
    return statistics.median(times)


def naive_check(x, labels, margin):
    """Vectorised vs per-pair loop: loss and gradient differences."""
    if x.shape[0] > 128:
        print(f"warning: the naive loop is slow for B={x.shape[0]}", file=sys.stderr)
    result = {"batch": x.shape[0], "dim": x.shape[1]}
    for dtype, name in [(torch.float32, "float32"), (torch.float64, "float64")]:
        xv = x.detach().to(dtype).clone().requires_grad_(True)
        t0 = time.perf_counter()
        lv = lifted_structured_loss(xv, labels, margin)
        lv.backward()
        t_vec = time.perf_counter() - t0
        xn = x.detach().to(dtype).clone().requires_grad_(True)
        t0 = time.perf_counter()
        ln, _, _ = lifted_loss_loop(xn, labels.tolist(), margin)
        ln.backward()
        t_loop = time.perf_counter() - t0
        result[name] = {
            "loss_vectorised": float(lv),
            "loss_naive": float(ln),
            "loss_rel_diff": abs(float(lv) - float(ln)) / max(abs(float(ln)), 1e-12),
            "grad_rel_diff": float(torch.linalg.norm(xv.grad - xn.grad))
            / max(float(torch.linalg.norm(xn.grad)), 1e-12),
            "vectorised_ms": t_vec * 1e3,
            "naive_ms": t_loop * 1e3,
        }
    return result


def main():
    p = argparse.ArgumentParser(
        description="Median time of forward+backward of the vectorised lifted structured "
                    "loss on random float32 embeddings (JSON on stdout).")
    p.add_argument("--batch", type=int, default=256, help="B (default: %(default)s)")
    p.add_argument("--dim", type=int, default=512, help="d (default: %(default)s)")
    p.add_argument("--per-class", type=int, default=4, help="rows per class (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=50, help="timed repetitions (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=5, help="untimed repetitions first (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default: %(default)s)")
    p.add_argument("--margin", type=float, default=1.0, help="margin a (default: %(default)s)")
    p.add_argument("--scale", type=float, default=0.1,
                   help="std of the random embeddings (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--naive", action="store_true",
                   help="compare with the per-pair Python loop instead of timing (small B only)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    x, labels = random_batch(args.batch, args.dim, args.per_class, args.seed, args.scale)
    if args.naive:
        print(json.dumps(naive_check(x, labels, args.margin)))
        return 0
    median_ms = time_vectorised(x, labels, args.margin, args.repeat, args.warmup)
    print(json.dumps({"median_ms": median_ms, "batch": args.batch, "dim": args.dim,
                      "threads": args.threads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
