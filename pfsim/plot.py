"""`pfsim plot STORE`: observables against time and field snapshots as PNG files."""

from pathlib import Path

import numpy as np


def plot_store(store, out=None, times=None, fields=None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    from .io.store import RunStore

    from .errors import ConfigError

    RunStore.open(store, mode="r")  # clear error for a path that is not a run store
    ds = xr.open_zarr(store)
    known = [v for v in ds.data_vars if ds[v].dims[:1] == ("time",)]
    unknown = [f for f in fields or [] if f not in known]
    if unknown:  # before anything is drawn or written
        raise ConfigError(f"plot --fields: {', '.join(unknown)} not in the store (it has {', '.join(known) or 'no fields'})")
    store = Path(store)
    out = Path(out) if out else store.parent / f"{store.name.removesuffix('.zarr')}-plots"
    out.mkdir(parents=True, exist_ok=True)
    written = []

    obs = [v for v in ds.data_vars if ds[v].dims == ("obs_time",)]
    if obs and ds.sizes.get("obs_time", 0):
        fig, axes = plt.subplots(len(obs), 1, figsize=(7, 2.2 * len(obs)), sharex=True, squeeze=False)
        for ax, name in zip(axes[:, 0], obs):
            ax.plot(ds["obs_time"], ds[name])
            ax.set_ylabel(f"{name}\n[{ds[name].attrs.get('units', '')}]", fontsize=8)
        axes[-1, 0].set_xlabel("time [s]")
        fig.tight_layout()
        written.append(out / "observables.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

    if "cell_voltage" in ds and ds.sizes.get("obs_time", 0):
        written.append(voltage_trace(ds, out / "voltage.png", plt))
        strip = half_cycle_strip(ds, out / "half_cycles.png", plt)
        if strip:
            written.append(strip)

    names = fields or known
    # the electrolyte mask (interface models): Li-side fields are blank in the SSE and the
    # potential is blank on the Li side
    sse = ds["electrolyte"].values.astype(bool) if "electrolyte" in ds else None
    # the plating model's fields live everywhere: outline the SSE and its grain boundaries instead
    plating = "damage" in ds
    grains = ds["grain_boundaries"].values.astype(float) if "grain_boundaries" in ds else None
    nt = ds.sizes.get("time", 0)
    if names and nt:
        if times:
            picks = sorted({int(np.argmin(np.abs(ds["time"].values - t))) for t in times})
        else:
            picks = sorted({0, nt // 2, nt - 1})
        for name in names:
            fig, axes = plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 3.2), squeeze=False)
            for ax, k in zip(axes[0], picks):
                frame = ds[name].isel(time=k)
                values = frame.values
                if sse is not None and not plating:
                    blank = ~sse if name == "potential" else sse
                    values = np.where(blank, np.nan, values)
                overlays = []
                if plating and sse is not None:
                    overlays = [(sse.astype(float), "k", 0.8)] + ([(grains, "w", 0.4)] if grains is not None else [])
                if values.ndim == 3:  # a cut through the middle of the first lateral axis
                    values = values[values.shape[0] // 2]
                    overlays = [(o[o.shape[0] // 2], c, lw) for o, c, lw in overlays]
                    xc, yc = ds["y"], ds["z"]
                else:
                    xc, yc = ds["x"], ds["y"]
                im = ax.pcolormesh(xc, yc, values.T, shading="auto")
                for o, colour, lw in overlays:
                    if o.min() < 0.5 < o.max():
                        ax.contour(xc, yc, o.T, levels=[0.5], colors=colour, linewidths=lw)
                ax.set_aspect("equal")
                ax.set_title(f"{name}, t = {float(ds['time'][k]):.4g} s", fontsize=9)
                fig.colorbar(im, ax=ax, shrink=0.8)
            fig.tight_layout()
            written.append(out / f"{name}.png")
            fig.savefig(written[-1], dpi=120)
            plt.close(fig)
    return written


def _meta(ds):
    return ds.attrs.get("pfsim", {})


def _protocol(ds):
    """The run's current-density protocol, rebuilt from the stored resolved config."""
    from .drive import DriveConfig
    from .protocol import Protocol

    drive = (_meta(ds).get("config") or {}).get("drive")
    return Protocol(DriveConfig(**drive).current_density) if drive else None


def voltage_trace(ds, path, plt):
    """Cell voltage (the simulated symmetric-cell trace) over the applied current, with the end
    of a run that failed (contact loss, short circuit) marked."""
    t = ds["obs_time"].values
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.plot(t / 3600, ds["cell_voltage"].values * 1e3, color="k", lw=1.2, label="cell voltage")
    ax.set_xlabel("time [h]")
    ax.set_ylabel("cell voltage [mV]")
    if "current_density" in ds:
        twin = ax.twinx()
        proto = _protocol(ds)
        if proto is not None and len(t):  # the protocol itself: its steps where they are, not between samples
            marks = [b for b in proto.breakpoints() if b < t[-1]]
            tt = np.unique(np.concatenate([np.linspace(0, t[-1], 2000), marks, np.array(marks) * (1 - 1e-9)]))
            twin.plot(tt / 3600, [proto(x) / 10 for x in tt], color="tab:blue", lw=0.8, alpha=0.6)
        else:
            twin.plot(t / 3600, ds["current_density"].values / 10, color="tab:blue", lw=0.8, alpha=0.6)
        twin.set_ylabel("current density [mA/cm^2]  (> 0 strips)", color="tab:blue")
    meta = _meta(ds)
    if meta.get("status") == "ended":
        end = float(meta.get("time", t[-1]))
        ax.axvline(end / 3600, color="tab:red", ls="--", lw=1)
        f = meta.get("failure")
        kind = {"contact": "contact failure", "voltage": "over-voltage"}.get(f["kind"], f["kind"].replace("_", " ")) if f else ""
        label = (f"{kind} at {f['current_density'] / 10:.3g} mA/cm^2, cycle {f['cycle']}"
                 if f else meta.get("stop_reason", "ended"))
        ax.annotate(label, (end / 3600, ax.get_ylim()[1]), color="tab:red", fontsize=8, ha="right", va="top",
                    rotation=90 if not f else 0, xytext=(-4, -4), textcoords="offset points")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def half_cycle_strip(ds, path, plt, field="xi", most=12):
    """The metal field at the frames nearest the ends of the protocol's segments where the
    current changes (the ends of half-cycles), side by side; None when there are none."""
    try:
        protocol = _protocol(ds)
    except Exception:  # an old or foreign store: no strip
        return None
    if protocol is None or field not in ds or not ds.sizes.get("time", 0):
        return None
    times = ds["time"].values
    ends = [b for b in protocol.breakpoints() if b <= times[-1] + 1e-9
            and protocol(b - 1e-6) != protocol(b + 1e-6) and protocol(b - 1e-6) != 0]
    if not ends:
        return None
    picks = sorted({int(np.argmin(np.abs(times - b))) for b in ends})[:most]
    fig, axes = plt.subplots(1, len(picks), figsize=(2.6 * len(picks), 2.8), squeeze=False)
    for ax, k in zip(axes[0], picks):
        values = ds[field].isel(time=k).values
        if values.ndim == 3:
            values = values[values.shape[0] // 2]
        ax.imshow(values.T, origin="lower", aspect="equal", vmin=0, vmax=1)
        j = protocol(float(times[k]) - 1e-6) / 10
        ax.set_title(f"t = {times[k] / 3600:.3g} h\n{j:+.3g} mA/cm^2 before", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
