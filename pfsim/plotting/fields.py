"""Field maps: the cell's cross-section at chosen times in um, one colour scale per field across
a figure's times, equal aspect. The metal field xi is drawn as a state map: metal blue, voids
amber, the electrolyte (the store's static `electrolyte` mask, where metal has not filled it)
grey; grain boundaries (white), the SSE outline and the metal's outline (xi = 1/2) and the
contact line (green: the SSE surface under metal) are overlaid where the store has them."""

import numpy as np

from .units import convert, length_unit, name_of, time_unit

METAL, VOID, ELECTROLYTE, LI_SIDE, CONTACT = "#3b6ea8", "#f0a202", "#b4b4b4", "#dfe7f2", "#1a9850"
OUTLINE = {"supersaturation": "c"}  # the metal outline where the colour map runs dark
CMAPS = {"potential": "viridis", "electron_potential": "cividis", "supersaturation": "magma", "damage": "Reds"}


class Cell:
    """What the field maps of a store share: the plane drawn (a 3D store: the cut through the middle
    of its first axis), its coordinates in um, the static electrolyte and grain-boundary masks."""

    def __init__(self, ds, field):
        self.ds = ds
        ndim = ds[field].ndim - 1
        self.cut = ndim == 3
        axes = ("y", "z") if self.cut else ("x", "y")
        self.axes = axes
        whole = max(float(np.ptp(ds[a].values)) + float(np.diff(ds[a].values[:2]).sum()) for a in axes)
        factor, self.unit = length_unit(whole)
        self.x, self.y = (np.asarray(ds[a].values, float) * factor for a in axes)
        dx = self.x[1] - self.x[0] if len(self.x) > 1 else 1.0
        dy = self.y[1] - self.y[0] if len(self.y) > 1 else 1.0
        self.extent = (self.x[0] - dx / 2, self.x[-1] + dx / 2, self.y[0] - dy / 2, self.y[-1] + dy / 2)
        self.where = f", cut at x = {float(ds['x'].values[len(ds['x']) // 2]) * factor:.3g} {self.unit}" if self.cut else ""
        self.sse = self.plane(ds["electrolyte"].values).astype(bool) if "electrolyte" in ds else None
        self.gb = self.plane(ds["grain_boundaries"].values).astype(float) if "grain_boundaries" in ds else None
        self.contact = "contact_fraction" in ds and self.sse is not None  # the stripping physics' contact

    def plane(self, a):
        a = np.asarray(a)
        return a[a.shape[0] // 2] if self.cut else a

    def frame(self, name, k):
        return self.plane(self.ds[name].isel(time=k).values).astype(float)

    def xlabel(self):
        return f"{self.axes[0]} [{self.unit}]"

    def ylabel(self):
        normal = " (normal)" if self.sse is not None else ""  # the interface models' normal axis
        return f"{self.axes[1]}{normal} [{self.unit}]"


def scale_of(cell, name, picks):
    """(vmin, vmax, to_display, unit) of a field over the frames `picks`: to_display maps SI values
    to the unit chosen for the whole range (mV or V by it)."""
    ds = cell.ds
    units = ds[name].attrs.get("units", "1")
    if name in ("xi", "damage"):
        return 0.0, 1.0, (lambda v: v), "\u2013"
    lo, hi = np.inf, -np.inf
    for k in picks:
        v = masked(cell, name, cell.frame(name, k), k)
        v = v.compressed() if np.ma.isMaskedArray(v) else v.ravel()
        v = v[np.isfinite(v)]
        if v.size:
            lo, hi = min(lo, v.min()), max(hi, v.max())
    if not np.isfinite(lo):
        lo, hi = 0.0, 1.0
    (lo_d, hi_d), unit = convert([lo, hi], units, name)

    def to_display(v):
        return convert(np.append(np.asarray(v, float).ravel(), [lo, hi]), units, name)[0][:-2].reshape(np.shape(v))

    if hi_d == lo_d:
        hi_d = lo_d + 1e-9 + abs(lo_d) * 1e-6
    return lo_d, hi_d, to_display, unit


def masked(cell, name, values, k):
    """The field where it is defined: the potential in the electrolyte not filled by metal, the
    supersaturation on the Li side, the damage in the SSE; xi everywhere (its map greys the
    electrolyte itself)."""
    sse = cell.sse
    if sse is None or name == "xi" or name == "electron_potential":
        return values
    if name == "potential":
        metal = cell.frame("xi", k) > 0.5 if "xi" in cell.ds else np.zeros_like(sse)
        return np.ma.masked_where(~sse | metal, values)
    if name == "supersaturation":
        return np.ma.masked_where(sse, values)
    if name == "damage":
        return np.ma.masked_where(~sse, values)
    return values


def state_cmap():
    from matplotlib.colors import LinearSegmentedColormap

    # void and metal colours held to 0.3 and from 0.7: the blend marks the diffuse interface only
    cmap = LinearSegmentedColormap.from_list("li_state", [(0, VOID), (0.3, VOID), (0.7, METAL), (1, METAL)])
    return cmap.with_extremes(bad=ELECTROLYTE)


def draw(ax, cell, name, k, scale):
    """One map of field `name` at frame k on ax with the figure's colour scale; returns the image."""
    import matplotlib.pyplot as plt

    vmin, vmax, to_display, _ = scale
    values = cell.frame(name, k)
    if name == "xi":
        shown = np.ma.masked_where(cell.sse & (values < 0.5), values) if cell.sse is not None else values
        cmap = state_cmap()
    else:
        m = masked(cell, name, values, k)
        shown = np.ma.array(to_display(np.ma.getdata(m)), mask=np.ma.getmaskarray(m))
        cmap = plt.get_cmap(CMAPS.get(name, "viridis")).with_extremes(
            bad=LI_SIDE if name in ("potential", "damage") else ELECTROLYTE)
    im = ax.imshow(np.ma.asarray(shown).T, origin="lower", extent=cell.extent, cmap=cmap, vmin=vmin, vmax=vmax,
                   interpolation="nearest", aspect="equal")
    missing = np.isnan(values).T  # a lost chunk (NaN): white, not taken for any state
    if missing.any():
        rgba = np.zeros(missing.shape + (4,))
        rgba[missing] = (1.0, 1.0, 1.0, 1.0)
        ax.imshow(rgba, origin="lower", extent=cell.extent, interpolation="nearest", aspect="equal")
    overlay(ax, cell, name, k, values)
    ax.set_xlabel(cell.xlabel(), fontsize=8)
    ax.set_ylabel(cell.ylabel(), fontsize=8)
    ax.tick_params(labelsize=7)
    return im


def overlay(ax, cell, name, k, values):
    """Grain boundaries, the SSE outline, the metal outline (maps of other fields), the contact line."""
    x, y = cell.x, cell.y
    if cell.gb is not None and cell.gb.min() < 0.5 < cell.gb.max():
        ax.contour(x, y, cell.gb.T, levels=[0.5], colors="w", linewidths=0.5)
    if cell.sse is not None and name != "xi":
        ax.contour(x, y, cell.sse.T.astype(float), levels=[0.5], colors="0.25", linewidths=0.7)
    xi = values if name == "xi" else (cell.frame("xi", k) if "xi" in cell.ds else None)
    if xi is not None and name != "xi" and xi.min() < 0.5 < xi.max():
        ax.contour(x, y, xi.T, levels=[0.5], colors=OUTLINE.get(name, "k"), linewidths=0.8)
    if cell.contact and xi is not None:
        contact_line(ax, cell, xi)


def contact_line(ax, cell, xi):
    """The SSE surface where metal (xi > 1/2) sits on it, as a thick green line."""
    sse = cell.sse
    top = np.where(sse.any(axis=1), sse.shape[1] - np.argmax(sse[:, ::-1], axis=1), 0)  # first node above the SSE
    ok = top < sse.shape[1]
    wet = np.zeros(len(top), bool)
    wet[ok] = xi[np.flatnonzero(ok), top[ok]] > 0.5
    dy = cell.y[1] - cell.y[0] if len(cell.y) > 1 else 0
    dx = cell.x[1] - cell.x[0] if len(cell.x) > 1 else 0
    xs, ys = [], []
    for i in np.flatnonzero(wet):
        h = cell.y[min(top[i], len(cell.y) - 1)] - dy / 2
        xs += [cell.x[i] - dx / 2, cell.x[i] + dx / 2, np.nan]
        ys += [h, h, np.nan]
    if xs:
        ax.plot(xs, ys, color=CONTACT, lw=2.2, solid_capstyle="butt")


def legend_handles(cell, name):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    if name == "xi":
        handles += [Patch(color=METAL, label="metal"), Patch(color=VOID, label="void")]
        if cell.sse is not None:
            handles.append(Patch(color=ELECTROLYTE, label="electrolyte (SSE)"))
    else:
        if cell.sse is not None and name in ("potential", "damage"):
            handles.append(Patch(color=LI_SIDE, label="metal / Li side (not defined)"))
        if cell.sse is not None and name == "supersaturation":
            handles.append(Patch(color=ELECTROLYTE, label="electrolyte (SSE)"))
        if "xi" in cell.ds:
            handles.append(Line2D([], [], color=OUTLINE.get(name, "k"), lw=0.8, label="metal outline (\u03be = 1/2)"))
        if cell.sse is not None:
            handles.append(Line2D([], [], color="0.25", lw=0.7, label="SSE outline"))
    if cell.gb is not None:
        from matplotlib.patheffects import withStroke

        handles.append(Line2D([], [], color="w", lw=1.2, label="grain boundaries",
                              path_effects=[withStroke(linewidth=3, foreground="0.45")]))
    if cell.contact and "xi" in cell.ds:
        handles.append(Line2D([], [], color=CONTACT, lw=2.2, label="contact (metal on SSE)"))
    return handles


def colourbar_label(name, unit):
    if name == "xi":
        return "metal fraction \u03be [\u2013]"
    return f"{name_of(name)} [{unit}]"


def field_figure(ds, name, picks, path, plt, titles=None, cols=None):
    """Field `name` at the frames `picks`, `cols` to a row (default all), one colour scale and bar."""
    from .observables import failure_label, meta

    cell = Cell(ds, name)
    scale = scale_of(cell, name, picks)
    times = ds["time"].values
    end = failure_label(meta(ds))
    div, tu = time_unit(max(float(times[k]) for k in picks))
    cols = cols or len(picks)
    rows = -(-len(picks) // cols)
    aspect = (cell.extent[1] - cell.extent[0]) / (cell.extent[3] - cell.extent[2])
    width = 3.0 * cols * max(0.6, min(1.6, aspect))
    fig, axes = plt.subplots(rows, cols, figsize=(width + 1.4, 3.3 * rows + 0.6), squeeze=False, layout="constrained",
                             sharex=True, sharey=True)
    im = None
    for i, (ax, k) in enumerate(zip(axes.ravel(), picks)):
        im = draw(ax, cell, name, k, scale)
        title = titles[i] if titles else f"t = {float(times[k]) / div:.4g} {tu}"
        if k == len(times) - 1 and end:
            title += f"\n(end: {end})"
        if np.isnan(cell.frame(name, k)).any():  # a lost chunk reads as NaN (pfsim verify says which)
            title += "\n(data missing, white: damaged store)"
        ax.set_title(title, fontsize=8)
        if i % cols:
            ax.set_ylabel("")
        if i < len(picks) - cols:
            ax.set_xlabel("")
    for ax in axes.ravel()[len(picks):]:
        ax.set_visible(False)
    bar = fig.colorbar(im, ax=list(axes.ravel()), shrink=0.9, pad=0.02)
    bar.set_label(colourbar_label(name, scale[3]), fontsize=8)
    bar.ax.tick_params(labelsize=7)
    handles = legend_handles(cell, name)
    if handles:
        fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)
    fig.suptitle(f"{name_of(name)}{cell.where}", fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
