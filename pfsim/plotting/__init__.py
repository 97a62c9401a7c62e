"""`pfsim plot STORE`: PNG figures of a run store in battery units (units.py): the observables
as a few grouped figures and the voltage trace (observables.py), field maps at chosen times
(fields.py), the metal at the end of each half-cycle, and with --movie the fields over time
beside the voltage trace (movie.py)."""

from pathlib import Path

import numpy as np

from .units import time_unit

RC = {"axes.formatter.useoffset": False, "axes.formatter.limits": (-4, 5), "font.size": 8}


def plot_store(store, out=None, times=None, fields=None, movie=False, say=lambda msg: None) -> list[Path]:
    """Draw the store's figures into `out` (default STORE/../NAME-plots); the paths written.
    An unknown field name is refused (ConfigError) before anything is written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    from ..errors import ConfigError
    from ..io.store import RunStore

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
    with matplotlib.rc_context(RC):
        written += observable_figures(ds, out, plt)
        names = fields or known
        nt = ds.sizes.get("time", 0)
        if names and nt:
            from .fields import field_figure

            picks = (sorted({int(np.argmin(np.abs(ds["time"].values - t))) for t in times}) if times
                     else sorted({0, nt // 2, nt - 1}))
            for name in names:
                written.append(field_figure(ds, name, picks, out / f"{name}.png", plt))
        if movie and nt:
            from .movie import write_movie

            chosen = fields or (["xi"] if "xi" in known else known[:1])
            path, note = write_movie(ds, out, chosen, plt)
            say(f"movie: {path} ({note})")
            written.append(path)
    return written


def observable_figures(ds, out, plt):
    from .observables import grouped, voltage_trace

    written = []
    if not ds.sizes.get("obs_time", 0):
        return written
    written += grouped(ds, out, plt)
    if "cell_voltage" in ds:
        written.append(voltage_trace(ds, out / "voltage.png", plt))
        strip = half_cycle_strip(ds, out / "half_cycles.png", plt)
        if strip:
            written.append(strip)
    return written


def half_cycle_ends(protocol, t_last):
    """[(time, 'strip' or 'plate', its number, the current before it)] of each half-cycle's end:
    the protocol's breakpoints where a non-zero current changes."""
    ends, count = [], {"strip": 0, "plate": 0}
    for b in protocol.breakpoints():
        if b > t_last + 1e-9:
            break
        before, after = protocol(b - 1e-6), protocol(b + 1e-6)
        if before != after and before != 0:
            kind = "strip" if before > 0 else "plate"
            count[kind] += 1
            ends.append((b, kind, count[kind], before))
    return ends


def half_cycle_strip(ds, path, plt, field="xi", most=12):
    """The metal at the frames nearest the end of each half-cycle, side by side, titled with the
    half-cycle each panel ends; None when the protocol has none."""
    from .fields import field_figure
    from .observables import protocol

    proto = protocol(ds)
    if proto is None or field not in ds or not ds.sizes.get("time", 0):
        return None
    times = ds["time"].values
    ends = half_cycle_ends(proto, float(times[-1]))
    if not ends:
        return None
    div, tu = time_unit(times[-1])
    panels, seen = [], set()
    for b, kind, number, j in ends:
        k = int(np.argmin(np.abs(times - b)))
        if k in seen:
            continue
        seen.add(k)
        panels.append((kind, number, k, f"end of {kind} {number} ({j / 10:+.3g} mA/cm\u00b2)\n"
                                         f"frame at t = {times[k] / div:.4g} {tu}"))
        if len(panels) == most:
            break
    first = panels[0][0]
    panels.sort(key=lambda p: (p[0] != first, p[1]))  # a row for each kind of half-cycle, the first kind on top
    kinds = len({p[0] for p in panels})
    return field_figure(ds, field, [p[2] for p in panels], path, plt, titles=[p[3] for p in panels],
                        cols=-(-len(panels) // kinds))
