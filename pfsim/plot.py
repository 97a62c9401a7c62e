"""`pfsim plot STORE`: observables against time and field snapshots as PNG files."""

from pathlib import Path

import numpy as np


def plot_store(store, out=None, times=None, fields=None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    from .io.store import RunStore

    RunStore.open(store, mode="r")  # clear error for a path that is not a run store
    ds = xr.open_zarr(store)
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

    names = fields or [v for v in ds.data_vars if ds[v].dims[:1] == ("time",)]
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
