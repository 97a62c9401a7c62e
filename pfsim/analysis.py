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

Critical current of stripping against stack pressure, from the member stores of a sweep
(configs/sweeps/ccd_vs_pressure.yaml: two materials x five pressures x seeds):

    python -m pfsim.analysis ccd SWEEP_FILE_OR_FOLDER [MORE ...] [-o ccd.png] [--rise V] [--by KEY]

reads every run store in the folder (a sweep file: its output folder). A member that ended with
a contact or voltage failure gives its critical current: the applied current density of its
`failure` record. A member that reached the end of its ramp without failing counts as "> top
current" (the highest current it carried): an open triangle in the figure, never a number in the
mean. Members still running, stopped, interrupted, blown up, or ended for another reason are
listed and left out. Members are grouped by material (the scenario's `name`) and stack pressure;
the table gives per group the seeds counted, the mean, the standard deviation and the min-max of
the critical current; the figure draws the mean with min-max bars per material, each member as a
small dot, and the measured Li|LLZO points (Wang, Choudhury, Sakamoto, Joule 3 (2019) 2165:
about 0.1 mA/cm^2 at 0 MPa and 0.4 at 2 MPa) as reference markers. With `--rise V` the members
are read by the voltage criterion below instead of their `failure` records (members must run
without the contact stop: configs/sweeps/ccd_vs_pressure_voltage.yaml). With `--by KEY` (a
dotted config key that the sweep varies, e.g. model.creep.model) the groups are split by the
key's value as well (configs/sweeps/ccd_vs_pressure_llzo.yaml: both creep models); several
folders are read together (the same sweep run with each creep model into its own folder, then
`--by model.creep.model`). Exit codes: 0 figure
written; 2 no run store in the folder, or none with a critical current or a completed ramp.

The critical current in the sharp-interface limit, from a sweep over `model.interface.width`
(pfsim/width_limit.py):

    python -m pfsim.analysis width-limit SWEEP_FILE_OR_FOLDER [-o PNG] [--rise V] [--by KEY]

The experiments' criterion, a voltage divergence, from a stripping run's observables:

    python -m pfsim.analysis voltage STORE [STORE ...] [--rise 0.02] [--contact 0.25]

prints per store the first time the cell voltage (symmetric_cell_voltage where the run has
`model.symmetric_cell`, else cell_voltage) rose by more than `rise` volts within one hold of
constant current (above the hold's second sample, the first solved at its current: the
ohmic steps between holds do not count), the current then, and beside it the first sample with
the contact fraction under `contact`. Runs stopped by the contact criterion end before the voltage diverges: run them with
`--set model.failure_contact_fraction=0` to see both. Exit codes: 0; 1 a store without the
observables.

Every command: output cut off by its reader (`| head`) ends quietly with 0; an unexpected error
is one line on stderr and exit code 5 (as `pfsim`'s internal error), never a traceback.
"""

import argparse
import sys
from dataclasses import dataclass

import numpy as np

# the member reading lives in sweep_results (pfsim.width_limit reads it too); read_member,
# read_members and voltage_divergence stay importable from here
from .sweep_results import (EXIT_NOTHING, cell_voltage_name, group_members, read_member, read_members,  # noqa: F401
                            sweep_members, voltage_divergence, write_figure)


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


# --- critical current against stack pressure -------------------------------------------------

MEASURED = {"label": "Li|LLZO measured (Wang et al., Joule 2019)", "pressure": (0.0, 2.0), "current": (0.1, 0.4)}


def ccd_table(groups) -> str:
    """The groups as a text table: critical current in mA/cm^2, spread as standard deviation and min-max."""
    lines = [f"{'material':<14} {'p [MPa]':>7} {'seeds':>5} {'failed':>6}  critical current [mA/cm^2]: "
             "mean, standard deviation, min-max"]
    for g in groups:
        head = f"{g.material:<14} {g.pressure:>7.3g} {g.seeds:>5} {len(g.failed):>6}  "
        if g.complete:
            std = "-" if np.isnan(g.std) else f"{g.std:.3g}"
            lines.append(head + f"{g.mean:.3g}, {std}, {g.low:.3g}-{g.high:.3g}")
        elif not g.failed:
            lines.append(head + f"> {min(g.above):.3g} (no member failed up to the top of its ramp)")
        else:
            lines.append(head + f"mean > {g.mean:.3g} ({len(g.above)} did not fail up to {min(g.above):.3g}; "
                         f"the others {g.low:.3g}-{max(g.failed):.3g})")
    return "\n".join(lines)


def ccd_figure(groups, members=(), title=None):
    """Critical current [mA/cm^2] against stack pressure [MPa] per material: mean with min-max bars
    where every seed failed, an open triangle at the (lower-bound) mean where some did not, each
    member as a small dot (open triangle: above the top), and the measured Li|LLZO points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import RC
    from .plotting.units import label

    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(5, 4.6))
        materials = list(dict.fromkeys(g.material for g in groups))
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        span = max([g.pressure for g in groups] + [MEASURED["pressure"][-1]])
        for k, material in enumerate(materials):
            c, dx = colours[k % len(colours)], (k - (len(materials) - 1) / 2) * 0.015 * span  # side by side
            mine = [g for g in groups if g.material == material]
            full = [g for g in mine if g.complete]
            if full:
                x = [g.pressure + dx for g in full]
                bars = [[g.mean - g.low for g in full], [g.high - g.mean for g in full]]
                ax.errorbar(x, [g.mean for g in full], yerr=bars,
                            fmt="o-", color=c, ms=6, capsize=3, label=f"{material}: mean, bars min\u2013max over seeds")
            part = [g for g in mine if not g.complete]
            if part:
                ax.plot([g.pressure + dx for g in part], [g.mean for g in part], "^", color=c, mfc="none", ms=9,
                        label=f"{material}: > top of the ramp (lower bound of the mean)")
                for g in part:  # an arrow up: the critical current lies above
                    ax.annotate("", xy=(g.pressure + dx, g.mean), xytext=(0, 16), textcoords="offset points",
                                arrowprops={"arrowstyle": "<-", "color": c, "lw": 1})
            for m in members:
                if m.material == material and m.outcome in ("failed", "above"):
                    ax.plot(m.pressure + dx, m.current, "^" if m.outcome == "above" else ".", color=c, alpha=0.5,
                            ms=4, mfc="none" if m.outcome == "above" else c)
        if any(m.outcome in ("failed", "above") for m in members):
            ax.plot([], [], ".", color="0.5", ms=4, label="each seed (small \u25b3: did not fail)")
        ax.plot(MEASURED["pressure"], MEASURED["current"], "*", color="k", ms=10, label=MEASURED["label"])
        ax.set_xlabel(label("stack_pressure", "MPa"))
        ax.set_ylabel("critical current density [mA/cm\u00b2]")
        ax.set_xlim(-0.05 * span, 1.08 * span)
        top = max([g.mean for g in groups] + [g.high for g in groups if g.complete] + list(MEASURED["current"]))
        ax.set_ylim(0, 1.3 * top)
        handles, names = ax.get_legend_handles_labels()  # the materials first, in order, then the markers
        order = sorted(range(len(names)), key=lambda i: (names[i] == MEASURED["label"] or names[i].startswith("each"),
                                                         names[i]))
        ax.legend([handles[i] for i in order], [names[i] for i in order], fontsize=6, loc="upper center",
                  bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
        ax.set_title(title or "critical current of stripping against stack pressure", fontsize=8)
        fig.tight_layout()
    return fig


def ccd_main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m pfsim.analysis ccd",
                                 description="critical current of stripping against stack pressure, from a "
                                             "sweep's member stores: a table and a PNG (exit 0; 2: no store, or none "
                                             "to count)")
    ap.add_argument("sweep", nargs="+", help="a sweep's output folder (member-NNNN.zarr) or its sweep file; "
                                             "several: their members together (e.g. one sweep per creep model, "
                                             "with --by)")
    ap.add_argument("-o", "--output", help="PNG to write (default FOLDER/ccd_vs_pressure.png, of the first)")
    ap.add_argument("--rise", type=float, help="the voltage criterion instead of the failure records: the first "
                                                "rise of the cell voltage within a hold by more than this (V); see "
                                                "python -m pfsim.analysis voltage")
    ap.add_argument("--by", metavar="KEY", help="a swept config key (dotted, e.g. model.creep.model) whose value "
                                                "splits the groups: one series per material and value")
    args = ap.parse_args(argv)
    members = []
    for k, sweep in enumerate(args.sweep):
        found_in, found = sweep_members(sweep, args.rise, args.by)
        if not found:
            return EXIT_NOTHING
        folder = found_in if k == 0 else folder  # the first folder names the default output
        members += found
    groups = group_members(members)
    if not groups:
        print(f"{folder}: no member with a critical current or a completed ramp", file=sys.stderr)
        return EXIT_NOTHING
    print(ccd_table(groups))
    title = None if args.rise is None else f"critical current of stripping: cell voltage rise > {args.rise * 1e3:g} mV within a hold"
    write_figure(ccd_figure(groups, members, title), args.output, folder, "ccd_vs_pressure.png")
    return 0


def voltage_main(argv) -> int:
    import xarray as xr

    ap = argparse.ArgumentParser(prog="python -m pfsim.analysis voltage",
                                 description="critical current of a stripping run by voltage divergence within a hold, "
                                             "beside the contact criterion (exit 0; 1: a store without the observables)")
    ap.add_argument("stores", nargs="+", help="run stores of li_stripping runs")
    ap.add_argument("--rise", type=float, default=0.02, help="voltage rise within one hold that counts as divergence (V, default 0.02)")
    ap.add_argument("--contact", type=float, default=0.25, help="contact fraction of the contact criterion (default 0.25)")
    args = ap.parse_args(argv)
    for path in args.stores:
        try:
            ds = xr.open_zarr(path)
            name = cell_voltage_name(ds)
            t, v, j, c = (ds[k].values for k in ("obs_time", name, "current_density", "contact_fraction"))
        except (OSError, KeyError, ValueError) as exc:
            print(f"{path}: not a stripping run store with observables ({exc})", file=sys.stderr)
            return 1

        def found(hit):
            return "none in the run" if hit is None else f"t = {hit[0]:.6g} s at {hit[1] / 10:.4g} mA/cm^2"

        under = np.flatnonzero(c < args.contact)
        contact = None if under.size == 0 else (t[under[0]], j[under[0]])
        print(f"{path}: {name} rise > {args.rise * 1e3:g} mV within a hold: "
              f"{found(voltage_divergence(t, v, j, args.rise))}; contact < {args.contact:g}: {found(contact)}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["ccd"]:
        return ccd_main(argv[1:])
    if argv[:1] == ["voltage"]:
        return voltage_main(argv[1:])
    if argv[:1] == ["width-limit"]:
        from .width_limit import main as width_limit_main

        return width_limit_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m pfsim.analysis", description=__doc__.split("\n\n")[0],
                                 epilog="python -m pfsim.analysis ccd --help: critical current against stack pressure; "
                                        "python -m pfsim.analysis voltage --help: the voltage-divergence criterion; "
                                        "python -m pfsim.analysis width-limit --help: the critical current extrapolated "
                                        "to zero interface width")
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


def run(argv=None) -> int:
    """`main` with pfsim's failure conventions: output cut off by its reader (`| head`) ends
    quietly with 0; anything unexpected is one line on stderr and exit 5 (as `pfsim`), no traceback."""
    import os

    try:
        return main(argv)
    except BrokenPipeError:
        try:  # no second error when Python flushes stdout at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout without a file descriptor
            pass
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug or a store it cannot read: one line
        print(f"pfsim.analysis: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 5


if __name__ == "__main__":
    sys.exit(run())
