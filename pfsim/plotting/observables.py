"""Observables as a few grouped figures: electrochemistry (cell voltage and current against time
and against capacity), interface (contact, voids, penetration, damage), balances (log scale) and
the rest; the cell-voltage trace over the applied current protocol."""

import numpy as np

from .units import COUNTS, convert, label, name_of, time_unit

# the interface figure's panels, in order: each a tuple of series drawn on one axes
INTERFACE = (("contact_fraction",), ("void_volume_fraction",), ("void_count",), ("largest_void_size",),
             ("penetration_depth_max", "penetration_depth_mean"), ("li_volume_in_sse",), ("damaged_volume",),
             ("isolated_nuclei",), ("nucleation_events",))
BALANCES = ("li_site_balance_error", "charge_balance_error")
# drawn on the electrochemistry figure, or read for its axes and titles
ELECTRO = ("cell_voltage", "interface_overpotential", "current_density", "peak_local_current_density",
           "charge_passed", "charge_throughput", "cycle", "half_cycle", "time_to_short_circuit")


def meta(ds):
    return ds.attrs.get("pfsim", {})


def protocol(ds):
    """The run's current-density protocol, rebuilt from the stored resolved config (None if absent)."""
    from ..drive import DriveConfig
    from ..protocol import Protocol

    try:
        drive = (meta(ds).get("config") or {}).get("drive")
        return Protocol(DriveConfig(**drive).current_density) if drive else None
    except Exception:  # an old or foreign store
        return None


def series(ds, name):
    """(display values, unit) of an observable."""
    return convert(ds[name].values, ds[name].attrs.get("units", "1"), name)


def same_unit(values, si_units, unit, name=""):
    """SI `values` in `unit`, the display unit another series of the same quantity chose."""
    if si_units == "V":
        return np.asarray(values, float) * (1e3 if unit == "mV" else 1.0)
    return convert(values, si_units, name)[0]


def capacity(ds):
    """Capacity passed at each sample (C/m^2): the charge throughput, or the summed |change| of
    the charge passed, or the integral of |current density|; None without any of them."""
    if "charge_throughput" in ds:
        return np.nan_to_num(ds["charge_throughput"].values)
    if "charge_passed" in ds:
        q = np.nan_to_num(ds["charge_passed"].values)
        return np.concatenate([[0.0], np.cumsum(np.abs(np.diff(q)))]) if len(q) else q
    if "current_density" in ds:
        t, j = ds["obs_time"].values, np.abs(np.nan_to_num(ds["current_density"].values))
        return np.concatenate([[0.0], np.cumsum(0.5 * (j[1:] + j[:-1]) * np.diff(t))]) if len(t) else t
    return None


def failure_label(m):
    """What ended the run, for a marker: 'short circuit at -10 mA/cm^2' (None if it did not end)."""
    if m.get("status") != "ended":
        return None
    f = m.get("failure") or {}
    kind = {"contact": "contact failure", "voltage": "over-voltage"}.get(f.get("kind"), str(f.get("kind", "")).replace("_", " "))
    if not f:
        return str(m.get("stop_reason", "ended"))
    text = kind
    if f.get("current_density") is not None:
        text += f" at {f['current_density'] / 10:.3g} mA/cm\u00b2"
    if f.get("cycle"):
        text += f", cycle {f['cycle']}"
    return text


def mark_end(ax, ds, scale):
    """A dashed red line where a run that ended (contact loss, short circuit) ended, labelled."""
    m = meta(ds)
    text = failure_label(m)
    if text is None:
        return
    end = float((m.get("failure") or {}).get("time", m.get("time", ds["obs_time"].values[-1])))
    ax.axvline(end / scale, color="tab:red", ls="--", lw=1)
    ax.annotate(text, (end / scale, 1), xycoords=("data", "axes fraction"), color="tab:red", fontsize=7,
                ha="right", va="top", xytext=(-3, -3), textcoords="offset points")


def electrochemistry(ds, path, plt):
    """Cell voltage (and the interface overpotential) and current density (and its local peak)
    against time (left) and against the capacity passed (right)."""
    t = ds["obs_time"].values
    div, tu = time_unit(t.max() if len(t) else 0)
    q = capacity(ds)
    cols = 2 if q is not None else 1
    fig, axes = plt.subplots(2, cols, figsize=(5.2 * cols, 5.6), sharex="col", squeeze=False, layout="constrained")
    rows = [("cell_voltage", "interface_overpotential"), ("current_density", "peak_local_current_density")]
    xs = [(t / div, f"time [{tu}]")]
    if q is not None:
        xs.append((q / 36000, "capacity passed [mAh/cm\u00b2]"))
    for r, names in enumerate(rows):
        present = [n for n in names if n in ds]
        if not present:
            for c in range(cols):
                axes[r, c].set_visible(False)
            continue
        for c, (x, xlabel) in enumerate(xs):
            ax = axes[r, c]
            unit = None
            for k, name in enumerate(present):
                if unit is None:
                    values, unit = series(ds, name)
                else:  # the panel's unit (a voltage in mV or V by the first series' range)
                    values = same_unit(ds[name].values, ds[name].attrs.get("units", "1"), unit, name)
                if name == "peak_local_current_density" and "current_density" in ds:  # |j|, signed as the applied
                    values = values * np.where(ds["current_density"].values < 0, -1.0, 1.0)
                ax.plot(x, values, lw=1.2 if k == 0 else 0.9, ls="-" if k == 0 else "--",
                        color="k" if k == 0 else "tab:blue",
                        label=name_of(name) + (" (signed as the applied)" if name.startswith("peak_local") else ""))
            quantity = "voltage" if r == 0 else "current density"
            ax.set_ylabel(f"{quantity} [{unit}]" + ("  (> 0 strips)" if r == 1 else ""))
            if len(present) > 1:
                ax.legend(fontsize=7, loc="best")
            if r == 1:
                ax.set_xlabel(xlabel)
            if c == 0:
                mark_end(ax, ds, div)
            ax.grid(alpha=0.3)
    fig.suptitle("Electrochemistry", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def held(ds, name) -> bool:
    """A series that never changes (NaN aside)."""
    v = ds[name].values
    v = v[np.isfinite(v)]
    return v.size > 0 and v.min() == v.max()


def panels(ds, path, plt, groups, title, log=False):
    """One axes per group of series against time, in two columns; a group whose series are all
    held constant is named with its value in the title instead; None if nothing is left to draw."""
    groups = [[n for n in g if n in ds and np.isfinite(ds[n].values).any()] for g in groups]
    groups = [g for g in groups if g]
    constant = [] if log else [n for g in groups if all(held(ds, m) for m in g) for n in g]
    groups = [g for g in groups if not set(g) <= set(constant)]
    if constant:
        said = [f"{name_of(n)} {series(ds, n)[0][0]:.4g} {series(ds, n)[1]}".rstrip(" \u2013") for n in constant]
        title += "\nheld constant: " + ", ".join(said)
    if not groups:
        return None
    t = ds["obs_time"].values
    div, tu = time_unit(t.max() if len(t) else 0)
    cols = 1 if len(groups) == 1 else 2
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 2.5 * rows + 0.6), sharex=True, squeeze=False,
                             layout="constrained")
    for ax, group in zip(axes.ravel(), groups):
        unit = None
        for name in group:
            values, u = series(ds, name)
            if log:
                values = np.where(np.abs(values) > 0, np.abs(values), np.nan)
            unit = unit or u
            ax.plot(t / div, values, lw=1.1, label=name_of(name))
        if log:
            ax.set_yscale("log")
            ax.set_ylabel(f"relative error [{unit}]")
        else:
            ax.set_ylabel(label(group[0], unit) if len(group) == 1 else f"{name_of(group[0]).split()[-1]} [{unit}]")
        if len(group) > 1:
            ax.legend(fontsize=7)
        if group[0] in COUNTS:
            from matplotlib.ticker import MaxNLocator

            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        mark_end(ax, ds, div)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(groups):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(f"time [{tu}]")
    if rows > 1 and len(groups) % cols:  # the lone last panel's neighbour above gets the time axis
        axes[-2, -1].xaxis.set_tick_params(labelbottom=True)
        axes[-2, -1].set_xlabel(f"time [{tu}]")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def grouped(ds, out, plt):
    """The observables' figures: electrochemistry.png, interface.png, balances.png, observables.png
    (the rest), those the store has series for."""
    written = []
    obs = [v for v in ds.data_vars if ds[v].dims == ("obs_time",)]
    if "cell_voltage" in ds:
        written.append(electrochemistry(ds, out / "electrochemistry.png", plt))
    for made in (panels(ds, out / "interface.png", plt, INTERFACE, "Interface"),
                 panels(ds, out / "balances.png", plt, [BALANCES], "Balances (relative errors)", log=True)):
        if made:
            written.append(made)
    used = set() if "cell_voltage" not in ds else set(ELECTRO) | set(BALANCES) | {n for g in INTERFACE for n in g}
    rest = [(n,) for n in obs if n not in used]
    made = panels(ds, out / "observables.png", plt, rest, "Other observables" if used else "Observables")
    if made:
        written.append(made)
    return written


def voltage_trace(ds, path, plt):
    """Cell voltage over the applied current (the protocol itself, its steps where they are), with
    the end of a run that failed (contact loss, short circuit) marked."""
    t = ds["obs_time"].values
    div, tu = time_unit(t.max() if len(t) else 0)
    fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
    v, vu = series(ds, "cell_voltage")
    ax.plot(t / div, v, color="k", lw=1.2, label="cell voltage")
    ax.set_xlabel(f"time [{tu}]")
    ax.set_ylabel(f"cell voltage [{vu}]")
    ax.grid(alpha=0.3)
    if "current_density" in ds:
        twin = ax.twinx()
        proto = protocol(ds)
        if proto is not None and len(t):
            marks = [b for b in proto.breakpoints() if b < t[-1]]
            tt = np.unique(np.concatenate([np.linspace(0, t[-1], 2000), marks, np.array(marks) * (1 - 1e-9)]))
            twin.plot(tt / div, [proto(x) / 10 for x in tt], color="tab:blue", lw=0.8, alpha=0.6)
        else:
            twin.plot(t / div, ds["current_density"].values / 10, color="tab:blue", lw=0.8, alpha=0.6)
        twin.set_ylabel("current density [mA/cm\u00b2]  (> 0 strips)", color="tab:blue")
    mark_end(ax, ds, div)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
