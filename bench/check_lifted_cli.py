#!/usr/bin/python3
"""Check `liftlab-cli loss --loss lifted` against an independent float64 reference.

For several random batches (B in 8, 64, 256; d in 2, 64, 512; 4 images per
class; three layouts, see below), this script writes X.npy (float32 [B,d]) and
Y.npy (int64 [B]) to a temporary folder, runs

    <cli> loss --embeddings X.npy --labels Y.npy --loss lifted

which must print JSON {"loss": L, "grad_norm": G} (G = Frobenius norm of
dL/dX), and compares L and G with a float64 reference written as explicit
Python loops over the positive pairs (the gradient comes from
torch.autograd through that loop form).

Lifted structured loss (Song et al. 2016), margin a (default 1.0):
    D_ij = sqrt(max(||x_i - x_j||^2, 1e-12))
    J_ij = log( sum_{k: y_k != y_i} exp(a - D_ik)
              + sum_{l: y_l != y_j} exp(a - D_jl) ) + D_ij     for i<j, y_i == y_j
    L    = 1/(2|P|) * sum_{(i,j) in P} max(0, J_ij)^2

Each (B, d) pair is tried with three layouts of the embeddings:
  noise 0.05 / noise 0.5: i.i.d. N(0, scale^2) coordinates, no class
      structure (the hinge is then active for every pair: J ~ a + log(2n) > 0);
  clusters 1.0: half of the classes at the origin, the other half moved
      along random directions to a radius beyond the hinge threshold, plus
      N(0, 1) noise, so about half the hinges are inactive (J < 0).
For B=8 (two classes) the clusters layout makes every hinge inactive
(checks an exact zero loss and gradient); for B=64 and 256 about half are
active. The clusters layout is skipped for d=2: separated classes in the
plane need far-out points with close positive pairs, where float32
Gram-matrix distances lose ~1e-5 of relative accuracy, so the case would
test float32 rounding rather than the loss. The active fraction of each case
is reported.

Float32 note: the CLI works in float32. As a yardstick, each case also shows
the error of the float32 vectorised formula of reference_train.py (Gram-matrix
distances) against the float64 loop reference ("f32ref"); the layouts are
chosen so that this stays well below 1e-5.

Exit status: 0 if every relative error is <= --tol (default 1e-5), 1 if not,
2 if the CLI could not be run or its output could not be read.

`--self-test` runs no CLI: it checks the loop reference against the
vectorised formula of reference_train.py (float64, loss and gradient).
"""

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def lifted_loss_loop(x, labels, margin=1.0):
    """Lifted structured loss by explicit loops over positive pairs.

    x: [B,d] tensor (use float64 for a reference), labels: sequence of ints.
    Distances are computed from differences (not from a Gram matrix), one
    anchor row at a time, so this is independent of the vectorised form.
    Returns (loss tensor, number of positive pairs, number of active pairs).
    """
    labels = [int(v) for v in labels]
    b = len(labels)

    def dist_row(i):
        # D_ik for all k, with the safe sqrt.
        diff = x - x[i]
        return torch.sqrt(torch.clamp((diff * diff).sum(dim=1), min=1e-12))

    rows = {}
    total = x.sum() * 0.0
    n_pairs = 0
    n_active = 0
    for i in range(b):
        for j in range(i + 1, b):
            if labels[i] != labels[j]:
                continue
            n_pairs += 1
            di = rows.setdefault(i, dist_row(i))
            dj = rows.setdefault(j, dist_row(j))
            neg_i = [k for k in range(b) if labels[k] != labels[i]]
            neg_j = [l for l in range(b) if labels[l] != labels[j]]
            if not neg_i and not neg_j:
                continue  # empty sums: log(0) = -inf, hinge is 0
            s = torch.exp(margin - di[neg_i]).sum() + torch.exp(margin - dj[neg_j]).sum()
            jij = torch.log(s) + di[j]
            if float(jij) > 0:
                n_active += 1
            total = total + torch.clamp(jij, min=0) ** 2
    if n_pairs == 0:
        return total, 0, 0
    return total / (2.0 * n_pairs), n_pairs, n_active


def reference(x_np, y_np, margin=1.0):
    """float64 loss, gradient Frobenius norm and active fraction of the loop form."""
    x = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
    loss, n_pairs, n_active = lifted_loss_loop(x, y_np.tolist(), margin)
    loss.backward()
    grad_norm = float(torch.linalg.norm(x.grad))
    return float(loss), grad_norm, (n_active / n_pairs if n_pairs else 0.0)


def make_batch(rng, b, d, per_class, layout, scale, margin=1.0):
    """Random float32 embeddings [b,d] and int64 labels [b] (per_class per class).

    layout "noise": scale * N(0, I) coordinates, no class structure.
    layout "clusters": the same noise plus class centres: classes 0..C/2-1
    at the origin, the others at radius D_pos + a + log(2(b - per_class)) + 2
    along random unit directions (D_pos = scale*sqrt(2d), the typical distance
    of a positive pair), far enough for their hinges to be inactive.
    Rows are shuffled so that classes are not contiguous.
    """
    n_classes = b // per_class
    y = np.repeat(np.arange(n_classes), per_class)
    x = scale * rng.normal(size=(b, d))
    if layout == "clusters":
        d_pos = scale * math.sqrt(2.0 * d)
        radius = np.zeros(n_classes)
        radius[n_classes // 2:] = d_pos + margin + math.log(2 * (b - per_class)) + 2.0
        dirs = rng.normal(size=(n_classes, d))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        x = x + (radius[:, None] * dirs)[y]
    elif layout != "noise":
        raise ValueError(f"unknown layout {layout!r}")
    perm = rng.permutation(b)
    return x[perm].astype(np.float32), y[perm].astype(np.int64)


def cases():
    """(B, d, layout, scale) for every check."""
    out = []
    for b, d in itertools.product([8, 64, 256], [2, 64, 512]):
        for layout, scale in [("noise", 0.05), ("noise", 0.5), ("clusters", 1.0)]:
            if layout == "clusters" and d == 2:
                continue   # see the module docstring
            out.append((b, d, layout, scale))
    return out


def float32_vectorised(x_np, y_np, margin):
    """Loss and gradient norm of reference_train's vectorised form in float32."""
    from reference_train import lifted_structured_loss
    x = torch.tensor(x_np, dtype=torch.float32, requires_grad=True)
    loss = lifted_structured_loss(x, torch.from_numpy(y_np), margin)
    loss.backward()
    return float(loss), float(torch.linalg.norm(x.grad))


def rel_err(got, want, floor=1e-6):
    """|got - want| / max(|want|, floor); the floor only matters for a zero loss."""
    return abs(got - want) / max(abs(want), floor)


def run_cli(cli, x, y, workdir, margin, extra):
    xp = os.path.join(workdir, "X.npy")
    yp = os.path.join(workdir, "Y.npy")
    np.save(xp, x)
    np.save(yp, y)
    cmd = [cli, "loss", "--embeddings", xp, "--labels", yp, "--loss", "lifted"]
    if margin is not None:
        cmd += ["--margin", repr(margin)]
    cmd += extra
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.strip()}")
    # The JSON object is the last non-empty line of stdout.
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed nothing on stdout")
    out = json.loads(lines[-1])
    return float(out["loss"]), float(out["grad_norm"])


def self_test(args):
    """No CLI: check the loop reference against the vectorised formula.

    1. float64 vectorised (reference_train.lifted_structured_loss) vs the
       float64 loop: loss, gradient norm and the full gradient must agree to
       1e-10 (they are the same formula, computed two different ways).
    2. float32 vectorised vs float64 loop must stay within --tol: this shows
       that a correct float32 implementation can pass the CLI check.
    """
    from reference_train import lifted_structured_loss
    rng = np.random.default_rng(args.seed)
    worst64 = 0.0
    worst32 = 0.0
    for b, d, layout, scale in cases():
        x_np, y_np = make_batch(rng, b, d, 4, layout, scale, args.margin)
        loss_ref, gnorm_ref, active = reference(x_np, y_np, args.margin)
        # float64 vectorised, full gradient compared with the loop's gradient.
        xv = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
        lifted_structured_loss(xv, torch.from_numpy(y_np), args.margin).backward()
        xl = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
        lifted_loss_loop(xl, y_np.tolist(), args.margin)[0].backward()
        g_err = float(torch.linalg.norm(xv.grad - xl.grad)) / max(float(torch.linalg.norm(xl.grad)), 1e-6)
        loss64 = float(lifted_structured_loss(xv.detach(), torch.from_numpy(y_np), args.margin))
        e64 = max(rel_err(loss64, loss_ref), rel_err(float(torch.linalg.norm(xv.grad)), gnorm_ref), g_err)
        loss32, gnorm32 = float32_vectorised(x_np, y_np, args.margin)
        e32 = max(rel_err(loss32, loss_ref), rel_err(gnorm32, gnorm_ref))
        worst64, worst32 = max(worst64, e64), max(worst32, e32)
        print(f"B={b:3d} d={d:3d} {layout:8s} {scale:<4} active={active:.2f} loss={loss_ref:9.6g} "
              f"grad_norm={gnorm_ref:8.5g} | f64 vectorised rel_err={e64:.1e} | "
              f"f32 vectorised rel_err={e32:.1e}")
    ok = worst64 <= 1e-10 and worst32 <= args.tol
    print(json.dumps({"self_test": "pass" if ok else "fail", "max_rel_err_f64": worst64,
                      "max_rel_err_f32": worst32, "tol": args.tol}))
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(
        description="Compare `liftlab-cli loss --loss lifted` with a float64 loop reference "
                    "(exit 0: all within --tol, 1: some case fails, 2: CLI error).")
    p.add_argument("cli", nargs="?", default="build/release/app/liftlab-cli",
                   help="path to liftlab-cli (default: %(default)s)")
    p.add_argument("--tol", type=float, default=1e-5,
                   help="maximum allowed relative error of loss and grad_norm (default: %(default)s)")
    p.add_argument("--margin", type=float, default=1.0,
                   help="margin a of the reference (default: %(default)s)")
    p.add_argument("--pass-margin", action="store_true",
                   help="also pass --margin to the CLI (off: rely on its default of 1.0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--self-test", action="store_true",
                   help="no CLI: check the loop reference against the vectorised formula")
    p.add_argument("--cli-arg", action="append", default=[],
                   help="extra argument for the CLI (repeatable)")
    args = p.parse_args()
    # One thread: the loop reference is thousands of tiny ops, for which
    # intra-op threading only adds overhead (badly so on a busy machine).
    torch.set_num_threads(1)

    if args.self_test:
        return self_test(args)

    if not (os.path.isfile(args.cli) and os.access(args.cli, os.X_OK)):
        print(f"error: {args.cli} is not an executable file", file=sys.stderr)
        return 2

    rng = np.random.default_rng(args.seed)
    worst = 0.0
    failures = 0
    all_cases = cases()
    with tempfile.TemporaryDirectory(prefix="liftlab-lifted-") as tmp:
        for b, d, layout, scale in all_cases:
            x, y = make_batch(rng, b, d, 4, layout, scale, args.margin)
            loss_ref, gnorm_ref, active = reference(x, y, args.margin)
            loss32, gnorm32 = float32_vectorised(x, y, args.margin)
            try:
                loss_cli, gnorm_cli = run_cli(args.cli, x, y, tmp,
                                              args.margin if args.pass_margin else None,
                                              args.cli_arg)
            except (RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            e_loss = rel_err(loss_cli, loss_ref)
            e_g = rel_err(gnorm_cli, gnorm_ref)
            e32 = max(rel_err(loss32, loss_ref), rel_err(gnorm32, gnorm_ref))
            bad = not (max(e_loss, e_g) <= args.tol)   # NaN counts as a failure
            failures += bad
            # A NaN from the CLI makes the error NaN; record it as infinite.
            worst = max(worst, *[e if e == e else math.inf for e in (e_loss, e_g)])
            print(f"{'FAIL' if bad else 'ok  '} B={b:3d} d={d:3d} {layout:8s} {scale:<4} "
                  f"active={active:.2f} loss cli={loss_cli:.8g} ref={loss_ref:.8g} "
                  f"rel_err={e_loss:.1e} | grad_norm cli={gnorm_cli:.8g} ref={gnorm_ref:.8g} "
                  f"rel_err={e_g:.1e} | f32ref rel_err={e32:.1e}")
    print(json.dumps({"cases": len(all_cases), "failures": failures,
                      "max_rel_err": worst, "tol": args.tol}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
