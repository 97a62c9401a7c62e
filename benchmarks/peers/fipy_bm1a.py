"""PFHub BM1a with FiPy as its users usually write it: the coupled implicit Cahn-Hilliard of
FiPy's examples (c and mu solved together, f'(c) linearised about the old c), one sweep per
step, FiPy's default solver.

Periodic n x n cells of size 1 with centres at x, y = 1..n (the nodes of the other BM1a
scripts). Prints one JSON line. Needs only FiPy (and its NumPy/SciPy); run it in FiPy's own
environment:  python fipy_bm1a.py --n 256 --dt 0.5 --stop 10 [--steps K] [--warmup W]
With --steps, only K steps are timed (after W untimed ones) and `extrapolated` gives the
time to `stop` at that rate.
"""

import argparse
import json
import time

import numpy as np

M, KAPPA, RHO, CA, CB = 5.0, 2.0, 5.0, 0.3, 0.7


def build(n):
    import fipy as fp

    mesh = fp.PeriodicGrid2D(nx=n, ny=n, dx=1.0, dy=1.0)
    x, y = mesh.cellCenters[0] + 0.5, mesh.cellCenters[1] + 0.5
    c = fp.CellVariable(mesh=mesh, name="c", hasOld=True)
    mu = fp.CellVariable(mesh=mesh, name="mu", hasOld=True)
    c.value = 0.5 + 0.01 * (
        np.cos(0.105 * x) * np.cos(0.11 * y)
        + (np.cos(0.13 * x) * np.cos(0.087 * y)) ** 2
        + np.cos(0.025 * x - 0.15 * y) * np.cos(0.07 * x - 0.02 * y)
    )
    dfdc = 2 * RHO * (c - CA) * (CB - c) * (CA + CB - 2 * c)
    d2fdc2 = 2 * RHO * ((CA + CB - 2 * c) ** 2 - 2 * (c - CA) * (CB - c))
    eq1 = fp.TransientTerm(var=c) == fp.DiffusionTerm(coeff=M, var=mu)
    eq2 = fp.ImplicitSourceTerm(coeff=1.0, var=mu) == (
        fp.ImplicitSourceTerm(coeff=d2fdc2, var=c) - d2fdc2 * c + dfdc - fp.DiffusionTerm(coeff=KAPPA, var=c))
    return c, mu, eq1 & eq2


def free_energy(c, n):
    """Double well plus kappa/2 |grad c|^2 by central differences, summed over the cells."""
    a = np.asarray(c.value).reshape(n, n).T  # FiPy orders cells x fastest: a[x, y]
    gx = (np.roll(a, -1, 0) - np.roll(a, 1, 0)) / 2
    gy = (np.roll(a, -1, 1) - np.roll(a, 1, 1)) / 2
    return float((RHO * (a - CA) ** 2 * (CB - a) ** 2 + KAPPA / 2 * (gx**2 + gy**2)).sum())


def main():
    import fipy as fp

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--dt", type=float, default=0.5)
    ap.add_argument("--stop", type=float, default=10.0)
    ap.add_argument("--steps", type=int, help="time only this many steps and extrapolate")
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    c, mu, eq = build(args.n)
    total = round(args.stop / args.dt)

    def step():
        c.updateOld()
        mu.updateOld()
        eq.sweep(dt=args.dt)

    done = 0
    if args.steps:
        for _ in range(args.warmup):
            step()
        done = args.warmup
    timed = args.steps or total
    start = time.perf_counter()
    for _ in range(timed):
        step()
    seconds = time.perf_counter() - start
    done += timed
    out = {
        "n": args.n, "dt": args.dt, "steps": done, "timed_steps": timed, "seconds": seconds,
        "seconds_per_step": seconds / timed, "fipy": fp.__version__,
        "solver": type(eq.getDefaultSolver()).__name__ if hasattr(eq, "getDefaultSolver") else "default",
    }
    if args.steps:
        out["extrapolated_seconds"] = seconds / timed * total
    else:
        out["free_energy"] = free_energy(c, args.n)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
