"""PFHub BM2a self-convergence on the full periodic 200 x 200 domain (docs/generic_models.md,
section 2): run stores of configs/pfhub/bm2a.yaml on successively halved grids, e.g.

    pfsim run configs/pfhub/bm2a.yaml -o /tmp/bm2a/dx1.zarr
    pfsim run configs/pfhub/bm2a.yaml -o /tmp/bm2a/dx05.zarr --set "grid.shape=[400,400]" \\
        --set grid.spacing=0.5 --set time.tolerance=5e-5
    pfsim run configs/pfhub/bm2a.yaml -o /tmp/bm2a/dx025.zarr --set "grid.shape=[800,800]" \\
        --set grid.spacing=0.25 --set time.tolerance=5e-5 --set time.stop=20

    python benchmarks/bm2a_self_convergence.py STORE [STORE ...] [-o FIGURE]   (coarse to fine)

prints each run's steps, largest relative mass change and largest rise of F; for each pair of
neighbouring grids max over their common sample times t > 0 of |F_fine / F_coarse - 1| (the
PFHub criterion: under 1 % between the two finest grids); with three grids or more the observed
order log2(|F_h - F_h/2| / |F_h/2 - F_h/4|) at the times all share; and draws F against t on a
log time axis with the neighbours' relative differences below (default
docs/figures/bm2a_free_energy.png).
"""

import argparse

import matplotlib
import numpy as np
import xarray as xr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


class Run:
    def __init__(self, path):
        ds = xr.open_zarr(path)
        self.t, self.F, self.mass = ds.obs_time.values, ds.free_energy.values, ds.mass.values
        self.meta = ds.attrs["pfsim"]
        cfg = self.meta["config"]
        self.dx, self.shape = cfg["grid"]["spacing"], cfg["grid"]["shape"]
        self.tolerance = cfg["time"]["tolerance"]
        self.label = f"dx = {self.dx:g} ({self.shape[0]} x {self.shape[1]} nodes), tolerance {self.tolerance:g}"

    def describe(self):
        m = self.meta
        print(f"dx = {self.dx:g}: t = 0 .. {self.t[-1]:g} ({len(self.t)} samples), {m.get('iteration')} steps, "
              f"status {m.get('status')}, largest relative mass change "
              f"{np.max(np.abs(self.mass - self.mass[0])) / abs(self.mass[0]):.1e}, largest rise of F between "
              f"samples {max([0.0, *np.diff(self.F)]):.2e}, F(end) = {self.F[-1]:.6g}")
        for r in m.get("history", []):
            print(f"  run {r['started']} -> {r['ended']}: t {r['from_time']:g} -> {r['to_time']:g}, "
                  f"to step {r['steps_to']}")

    def at(self, times):
        return self.F[np.searchsorted(self.t, times)]


def common_times(runs):
    times = runs[0].t
    for r in runs[1:]:
        times = np.intersect1d(times, r.t)
    return times[times > 0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stores", nargs="+", help="run stores, coarse to fine")
    ap.add_argument("-o", "--out", default="docs/figures/bm2a_free_energy.png")
    args = ap.parse_args()
    runs = sorted((Run(p) for p in args.stores), key=lambda r: -r.dx)
    for r in runs:
        r.describe()

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 6.0), sharex=True, height_ratios=(2, 1))
    for r, style in zip(runs, ("-", "--", ":", "-.")):
        later = r.t > 0
        top.plot(r.t[later], r.F[later], style, label=r.label)
    for coarse, fine in zip(runs, runs[1:]):
        t = common_times([coarse, fine])
        change = np.abs(fine.at(t) / coarse.at(t) - 1)
        k = np.argmax(change)
        print(f"max |F(dx={fine.dx:g}) / F(dx={coarse.dx:g}) - 1| over 0 < t <= {t[-1]:g}: {change[k]:.2e} at "
              f"t = {t[k]:g}; at the last common time {change[-1]:.2e}; "
              + ", ".join(f"{c:.1e}" for c in change) + f" at t = {', '.join(f'{x:g}' for x in t)}")
        bottom.plot(t, 100 * change, marker="o", ms=3, label=f"dx {fine.dx:g} against {coarse.dx:g}")
    for a, b, c in zip(runs, runs[1:], runs[2:]):
        t = common_times([a, b, c])
        order = np.log2(np.abs(a.at(t) - b.at(t)) / np.abs(b.at(t) - c.at(t)))
        print(f"observed order from dx = {a.dx:g}, {b.dx:g}, {c.dx:g}: "
              + ", ".join(f"{o:.2f}" for o in order) + f" at t = {', '.join(f'{x:g}' for x in t)}")
    top.set_xscale("log")
    top.set_ylabel("free energy F")
    top.set_title("PFHub BM2a, periodic 200 x 200 domain, semi-implicit")
    top.legend(fontsize=8)
    bottom.set_xscale("log")
    bottom.set_yscale("log")
    bottom.axhline(1.0, color="r", lw=0.8, ls=":")
    bottom.set_ylabel("|F(fine) / F(coarse) - 1| (%)")
    bottom.set_xlabel("time t")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
