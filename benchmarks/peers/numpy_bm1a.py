"""PFHub BM1a as a user writes it in an afternoon: explicit Euler, np.roll Laplacian.

Periodic n x n grid, dx = 1, nodes at x, y = 1..n. The functions take the array module as
`xp`, so the same code runs on CuPy (cupy_bm1a.py). Run alone: python numpy_bm1a.py --n 256
"""

import time

import numpy as np

M, KAPPA, RHO, CA, CB = 5.0, 2.0, 5.0, 0.3, 0.7  # BM1a; dx = 1


def initial(n, xp=np):
    x = xp.arange(1, n + 1, dtype=xp.float64)
    x, y = xp.meshgrid(x, x, indexing="ij")
    return 0.5 + 0.01 * (
        xp.cos(0.105 * x) * xp.cos(0.11 * y)
        + (xp.cos(0.13 * x) * xp.cos(0.087 * y)) ** 2
        + xp.cos(0.025 * x - 0.15 * y) * xp.cos(0.07 * x - 0.02 * y)
    )


def laplacian(f, xp=np):
    return xp.roll(f, 1, 0) + xp.roll(f, -1, 0) + xp.roll(f, 1, 1) + xp.roll(f, -1, 1) - 4 * f


def run(c, dt, steps, xp=np):
    for _ in range(steps):
        mu = 2 * RHO * (c - CA) * (CB - c) * (CA + CB - 2 * c) - KAPPA * laplacian(c, xp)
        c = c + dt * M * laplacian(mu, xp)
    return c


def free_energy(c, xp=np):
    """Double well plus kappa/2 |grad c|^2 by central differences (PFHub's MEMPHIS form)."""
    gx = (xp.roll(c, -1, 0) - xp.roll(c, 1, 0)) / 2
    gy = (xp.roll(c, -1, 1) - xp.roll(c, 1, 1)) / 2
    return float((RHO * (c - CA) ** 2 * (CB - c) ** 2 + KAPPA / 2 * (gx**2 + gy**2)).sum())


def main(xp=np, sync=lambda: None):
    """python numpy_bm1a.py [--n 256] [--dt 2e-3] [--stop 10] [--steps K]: one JSON line with
    the seconds of the time stepping (all steps to `stop`, or only K of them)."""
    import argparse
    import json

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--dt", type=float, default=2e-3)
    ap.add_argument("--stop", type=float, default=10.0)
    ap.add_argument("--steps", type=int)
    args = ap.parse_args()
    steps = args.steps or round(args.stop / args.dt)
    c = initial(args.n, xp)
    sync()
    start = time.perf_counter()
    c = run(c, args.dt, steps, xp)
    sync()
    seconds = time.perf_counter() - start
    out = {"n": args.n, "dt": args.dt, "steps": steps, "seconds": seconds}
    if not args.steps:
        out["free_energy"] = free_energy(c, xp)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
