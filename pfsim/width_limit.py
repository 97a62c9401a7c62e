"""The critical current of stripping in the sharp-interface limit: extrapolation in the
interface width (docs/validation.md, "The interface width and the grid, apart").

A diffuse interface of width delta cannot hold the rims of a void that are thinner than itself,
and the stripping model's voids at a lithiophobic SSE are flat caps a micrometre high: a wider
interface makes the same void volume uncover less of the surface, and on one grid the time to
contact failure grows linearly with delta (Li|LLZO at delta = 2, 3 and 4 grid spacings: the
seed means within 54 s of a straight line). The sharp-interface value is the line's intercept at
delta = 0. The grid at fixed delta is a separate question (docs/validation.md); the
extrapolation is made on one grid. From a sweep over `model.interface.width` (and seeds)
on one grid:

    python -m pfsim.analysis width-limit SWEEP_FILE_OR_FOLDER [--rise V] [--by KEY] [-o PNG]

groups the members by material (the scenario's name, with --by KEY its value too) and stack
pressure; in each group with at least two widths whose members all failed, it fits the failure
times by t = t0 + a delta (least squares) and prints per width the seeds and the mean failure
time; then, the line fitted per seed (a seed's voids are its own,
the width acts on them alike, so the spread over seeds stays apart from the fit), the mean and
spread of t0 over seeds, the mean slope, the largest distance of a width's mean from the mean
line (with three or more widths: the check of linearity), and the critical current of each
seed at its t0: the applied current then (the hold t0 falls in), from the current protocol in
the stored config (all members of a sweep carry the same ramp), with its mean, spread and
min-max, and the charge stripped by the mean t0. --rise reads the failure times by the voltage
criterion (as `ccd`). The figure shows the failure times against delta with the mean line. Exit
codes: 0; 2 no run store, or no group that can be extrapolated (each is named with the reason).
"""

import argparse
import sys
from dataclasses import dataclass, field

import numpy as np

from .sweep_results import EXIT_NOTHING, sweep_members, write_figure

MAH_PER_CM2 = 36000.0  # C/m^2 in 1 mAh/cm^2


@dataclass
class Limit:
    """The straight-line fits of one group's failure times against the interface width, one per seed."""

    material: str
    pressure: float  # MPa
    widths: list  # m, sorted
    times: list  # per width: the failure times (s) of its members
    seeds: list  # the seeds fitted
    t0: list  # s, per seed: the intercept at zero width
    slope: list  # s/m, per seed
    worst: float  # s, the largest |width mean - mean line| (0 with two widths)
    current: list = field(default_factory=list)  # mA/cm^2, per seed: the hold its t0 falls in
    charge: float = float("nan")  # mAh/cm^2 stripped by the mean t0

    @property
    def mean(self) -> float:
        return float(np.mean(self.t0))

    @property
    def std(self) -> float:
        return float(np.std(self.t0, ddof=1)) if len(self.t0) > 1 else float("nan")


def fit(widths, times):
    """(t0, slope) of t = t0 + a w by least squares."""
    slope, t0 = np.polyfit(np.asarray(widths, float), np.asarray(times, float), 1)
    return float(t0), float(slope)


def group_limits(members):
    """(limits, reasons): one Limit per (material, pressure) group that can be extrapolated, and
    a line for each group or seed left out saying why. Each seed is fitted on its own (the seeds'
    voids differ, the width's effect on them is alike), so the spread over seeds is kept apart
    from the fit."""
    groups, reasons, limits = {}, [], []
    for m in members:
        if m.outcome != "left out":
            groups.setdefault((m.material, m.pressure), []).append(m)
    for (material, pressure), ms in sorted(groups.items()):
        name = f"{material} at {pressure:g} MPa"
        above = [m for m in ms if m.outcome != "failed"]
        if above:
            reasons.append(f"{name}: {len(above)} member(s) did not fail (width {above[0].width * 1e6:g} um, "
                           f"seed {above[0].seed}): no failure time to extrapolate")
            continue
        if any(not np.isfinite(m.width) for m in ms):
            reasons.append(f"{name}: a member without model.interface.width in its stored config")
            continue
        widths = sorted({m.width for m in ms})
        if len(widths) < 2:
            reasons.append(f"{name}: one interface width only ({widths[0] * 1e6:g} um); sweep model.interface.width")
            continue
        by_seed = {}
        for m in ms:
            by_seed.setdefault(m.seed, []).append(m)
        seeds, t0, slope = [], [], []
        for seed, sm in sorted(by_seed.items(), key=lambda kv: str(kv[0])):
            if len({m.width for m in sm}) < 2:
                reasons.append(f"{name}, seed {seed}: one interface width only, not fitted")
                continue
            a, b = fit([m.width for m in sm], [m.time for m in sm])
            seeds.append(seed), t0.append(a), slope.append(b)
        if not seeds:
            continue
        fitted = [m for m in ms if m.seed in seeds]
        widths = sorted({m.width for m in fitted})
        times = [[m.time for m in fitted if m.width == w] for w in widths]
        line = (np.mean(t0), np.mean(slope))
        worst = max(abs(np.mean(t) - (line[0] + line[1] * w)) for w, t in zip(widths, times)) if len(widths) > 2 else 0.0
        limit = Limit(material, pressure, widths, times, seeds, t0, slope, float(worst))
        limit.current = [ramp_at(ms, t)[0] for t in t0]
        limit.charge = ramp_at(ms, limit.mean)[1]
        limits.append(limit)
    return limits, reasons


def ramp_at(members, t):
    """(current density in mA/cm^2 at t, charge stripped by t in mAh/cm^2) of the current protocol
    in the first member's stored config (the members of a sweep share it); NaN for a t before the
    start (an intercept below zero)."""
    if t < 0:
        return float("nan"), float("nan")
    from .drive import DriveConfig
    from .io.store import RunStore
    from .protocol import Protocol

    drive = RunStore.open(members[0].path, mode="r").meta["config"]["drive"]
    ramp = Protocol(DriveConfig(**drive).current_density)
    if ramp.constant is not None:
        return abs(ramp.constant) / 10, abs(ramp.constant) * t / MAH_PER_CM2
    charge = 0.0
    for (duration, a, b), start in zip(ramp.segments, ramp.starts):
        if t <= start:
            break
        span = min(duration, t - start)
        charge += span * (a + 0.5 * (b - a) * span / duration)  # the linear segment's integral
    if t > ramp.starts[-1]:  # after the end: the final value held
        charge += (t - ramp.starts[-1]) * ramp.segments[-1][2]
    return abs(ramp(t)) / 10, abs(charge) / MAH_PER_CM2


def table(limits) -> str:
    lines = []
    for g in limits:
        lines.append(f"{g.material} at {g.pressure:g} MPa")
        for w, t in zip(g.widths, g.times):
            spread = f", {np.std(t, ddof=1):.0f} s standard deviation" if len(t) > 1 else ""
            lines.append(f"  width {w * 1e6:6.3g} um: {len(t)} member(s), failure at {np.mean(t):.0f} s (mean{spread})")
        std = "" if np.isnan(g.std) else f", {g.std:.0f} s standard deviation over seeds"
        line = "" if len(g.widths) < 3 else f"; widths' means within {g.worst:.0f} s of the mean line"
        lines.append(f"  sharp-interface limit: failure at {g.mean:.0f} s (mean of {len(g.seeds)} seed(s){std}), "
                     f"slope {np.mean(g.slope) * 1e-6:.0f} s per um{line}")
        j = np.asarray(g.current)
        if np.isfinite(j).all():
            spread = f", standard deviation {np.std(j, ddof=1):.3g}, {j.min():.3g}-{j.max():.3g}" if len(j) > 1 else ""
            lines.append(f"  critical current at the limit: {np.mean(j):.3g} mA/cm^2 (mean over seeds{spread}); "
                         f"{g.charge:.3g} mAh/cm^2 stripped by the mean failure time")
        else:
            lines.append("  critical current at the limit: none, a seed's zero-width failure time lies before the "
                         "start of the ramp (the straight line does not hold down to zero width)")
    return "\n".join(lines)


def figure(limits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import RC

    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(5, 4))
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        top = max(g.widths[-1] for g in limits) * 1e6
        for k, g in enumerate(limits):
            c = colours[k % len(colours)]
            for w, t in zip(g.widths, g.times):
                ax.plot([w * 1e6] * len(t), np.asarray(t) / 60, ".", color=c, alpha=0.5, ms=5)
            ax.plot([w * 1e6 for w in g.widths], [np.mean(t) / 60 for t in g.times], "o", color=c, ms=6,
                    label=f"{g.material}, {g.pressure:g} MPa: mean over seeds")
            x = np.linspace(0, top, 20)
            ax.plot(x, (g.mean + np.mean(g.slope) * x * 1e-6) / 60, "--", color=c, lw=1,
                    label=f"mean of the seeds' lines; at zero width {g.mean / 60:.1f} min " + (
                        f"({np.mean(g.current):.3g} mA/cm\u00b2)" if np.isfinite(g.current).all() else "(before the ramp)"))
            low, high = (g.mean - min(g.t0)) / 60, (max(g.t0) - g.mean) / 60
            ax.errorbar([k * 0.02 * top], [g.mean / 60], yerr=[[low], [high]],  # groups side by side
                        fmt="s", color=c, ms=5, capsize=3,
                        label="at zero width: mean, bars min\u2013max over seeds" if k == 0 else None)
        ax.set_xlabel("interface width [\u00b5m]")
        ax.set_ylabel("time to failure [min]")
        ax.set_xlim(-0.06 * top, 1.1 * top)
        ax.legend(fontsize=6, loc="upper left", frameon=False)
        ax.set_title("failure time against interface width; dots: each seed", fontsize=8)
        fig.tight_layout()
    return fig


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m pfsim.analysis width-limit",
                                 description="critical current of stripping extrapolated to zero interface width "
                                             "from a sweep over model.interface.width (exit 0; 2: nothing to extrapolate)")
    ap.add_argument("sweep", help="a sweep's output folder (member-NNNN.zarr) or its sweep file")
    ap.add_argument("-o", "--output", help="PNG to write (default FOLDER/width_limit.png)")
    ap.add_argument("--rise", type=float, help="failure times by the voltage criterion (V), as in `ccd`")
    ap.add_argument("--by", metavar="KEY", help="a swept config key that splits the groups, as in `ccd`")
    args = ap.parse_args(argv)
    folder, members = sweep_members(args.sweep, args.rise, args.by)
    if not members:
        return EXIT_NOTHING
    limits, reasons = group_limits(members)
    for r in reasons:
        print(f"  not extrapolated: {r}")
    if not limits:
        print(f"{folder}: no group with two or more interface widths whose members all failed", file=sys.stderr)
        return EXIT_NOTHING
    print(table(limits))
    write_figure(figure(limits), args.output, folder, "width_limit.png")
    return 0
