"""PFHub BM2a self-convergence on the full periodic 200 x 200 domain (docs/generic_models.md,
section 2): two run stores of configs/pfhub/bm2a.yaml, dx = 1 and dx = 0.5 (tolerance halved),

    pfsim run configs/pfhub/bm2a.yaml -o /tmp/bm2a/dx1.zarr
    pfsim run configs/pfhub/bm2a.yaml -o /tmp/bm2a/dx05.zarr --set "grid.shape=[400,400]" \\
        --set grid.spacing=0.5 --set time.tolerance=5e-5

    python benchmarks/bm2a_self_convergence.py /tmp/bm2a/dx1.zarr /tmp/bm2a/dx05.zarr [-o FIGURE]

prints max over the common sample times of |F_fine / F_coarse - 1| (the PFHub criterion: under
1 %), each run's largest relative mass change and largest rise of F, its steps and wall time,
and draws F against t on a log time axis (default docs/figures/bm2a_free_energy.png).
"""

import argparse

import matplotlib
import numpy as np
import xarray as xr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def observables(path):
    ds = xr.open_zarr(path)
    return ds.obs_time.values, ds.free_energy.values, ds.mass.values, ds.attrs["pfsim"]


def describe(label, t, F, mass, meta):
    runs = meta.get("history", [])
    steps = meta.get("iteration")
    print(f"{label}: t = 0 .. {t[-1]:g} ({len(t)} samples), {steps} steps, status {meta.get('status')}, "
          f"largest relative mass change {np.max(np.abs(mass - mass[0])) / abs(mass[0]):.1e}, "
          f"largest rise of F between samples {max([0.0, *np.diff(F)]):.2e}, F(end) = {F[-1]:.6g}")
    for r in runs:
        print(f"  run {r['started']} -> {r['ended']}: t {r['from_time']:g} -> {r['to_time']:g}, "
              f"to step {r['steps_to']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("coarse")
    ap.add_argument("fine")
    ap.add_argument("-o", "--out", default="docs/figures/bm2a_free_energy.png")
    args = ap.parse_args()
    (tc, Fc, mc, meta_c), (tf, Ff, mf, meta_f) = observables(args.coarse), observables(args.fine)
    describe("dx = 1", tc, Fc, mc, meta_c)
    describe("dx = 0.5", tf, Ff, mf, meta_f)
    common, ic, jf = np.intersect1d(tc, tf, return_indices=True)
    change = np.abs(Ff[jf] / Fc[ic] - 1)
    later = common > 0
    k = np.argmax(change[later])
    print(f"max |F(dx=0.5) / F(dx=1) - 1| over 0 < t <= {common[-1]:g}: {change[later][k]:.2e} at t = "
          f"{common[later][k]:g}; at t = 0 {change[0]:.2e}; at the last common time {change[-1]:.2e}")

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 6.0), sharex=True, height_ratios=(2, 1))
    top.plot(tc[tc > 0], Fc[tc > 0], label="dx = 1 (200 x 200 nodes), tolerance 1e-4")
    top.plot(tf[tf > 0], Ff[tf > 0], "--", label="dx = 0.5 (400 x 400 nodes), tolerance 5e-5")
    top.set_xscale("log")
    top.set_ylabel("free energy F")
    top.set_title("PFHub BM2a, periodic 200 x 200 domain, semi-implicit")
    top.legend()
    bottom.plot(common[later], 100 * change[later], color="k")
    bottom.set_xscale("log")
    bottom.set_yscale("log")
    bottom.axhline(1.0, color="r", lw=0.8, ls=":")
    bottom.set_ylabel("|F(0.5) / F(1) - 1| (%)")
    bottom.set_xlabel("time t")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
