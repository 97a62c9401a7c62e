"""Analysis of a nucleation-and-growth run: the Avrami (JMAK) fit of its transformed fraction.

    X(t) = 1 - exp(-k t^n)   <=>   ln(-ln(1 - X)) = ln k + n ln t

`jmak_fit` fits the straight line of ln(-ln(1 - X)) against ln t by least squares over the
samples with 0.05 <= X <= 0.95 (the window where both logarithms are well conditioned). In 2D
with a constant nucleation rate I and growth speed v (sharp interface) the theory gives
k = (pi / 3) I v^2 and n = 3; seeds all present at t = 0 (site saturation) give n = 2.

    python -m pfsim.analysis STORE [STORE ...] [--window 0.05 0.95]

prints, per run store with a `transformed_fraction` observable (the generic Allen-Cahn model
with `model.nucleation` or `model.seeds`), n, k, the fit's R^2 and the number of samples used,
and the mean and spread of n over the stores (the realisations of a study).
"""

import argparse
import sys
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JmakFit:
    k: float  # rate constant: X = 1 - exp(-k t^n), t in the run's time unit
    n: float  # Avrami exponent
    r2: float  # coefficient of determination of the straight-line fit
    samples: int  # samples inside the window

    def __iter__(self):  # k, n, r2 = jmak_fit(...)
        return iter((self.k, self.n, self.r2))


def jmak_fit(times, fraction, window=(0.05, 0.95)) -> JmakFit:
    """(k, n, R^2) of X = 1 - exp(-k t^n) fitted to the samples with window[0] <= X <= window[1]
    and t > 0 (a straight line of ln(-ln(1 - X)) against ln t); ValueError with fewer than 3."""
    t, x = np.asarray(times, float), np.asarray(fraction, float)
    use = np.isfinite(t) & np.isfinite(x) & (t > 0) & (x >= window[0]) & (x <= window[1])
    if use.sum() < 3:
        raise ValueError(f"jmak_fit: {int(use.sum())} samples with {window[0]} <= X <= {window[1]}; at least 3 needed")
    lx, ly = np.log(t[use]), np.log(-np.log1p(-x[use]))
    n, ln_k = np.polyfit(lx, ly, 1)
    resid = ly - (n * lx + ln_k)
    spread = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / spread if spread > 0 else 1.0
    return JmakFit(float(np.exp(ln_k)), float(n), r2, int(use.sum()))


def store_fit(path, window=(0.05, 0.95)) -> JmakFit:
    """jmak_fit of a run store's transformed_fraction observable."""
    import xarray as xr

    ds = xr.open_zarr(str(path))
    if "transformed_fraction" not in ds:
        raise ValueError(f"{path}: no transformed_fraction observable (a run of allen_cahn with model.nucleation "
                         "or model.seeds)")
    x = ds["transformed_fraction"]
    return jmak_fit(x[x.dims[0]].values, x.values, window)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pfsim.analysis", description=__doc__.split("\n\n")[0])
    ap.add_argument("stores", nargs="+", help="run stores with a transformed_fraction observable")
    ap.add_argument("--window", nargs=2, type=float, default=(0.05, 0.95), metavar=("LOW", "HIGH"),
                    help="range of X fitted (default 0.05 0.95)")
    args = ap.parse_args(argv)
    ns = []
    for path in args.stores:
        try:
            fit = store_fit(path, tuple(args.window))
        except (ValueError, OSError, KeyError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 1
        ns.append(fit.n)
        print(f"{path}: n = {fit.n:.3f}, k = {fit.k:.4g}, R^2 = {fit.r2:.4f} ({fit.samples} samples)")
    if len(ns) > 1:
        print(f"n over {len(ns)} stores: {np.mean(ns):.3f} +- {np.std(ns, ddof=1) / np.sqrt(len(ns)):.3f} "
              f"(mean +- standard error)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
