"""`pfsim plot STORE --movie`: the chosen fields over every frame of the store, with the cell
voltage trace beside them (a moving marker at each frame's time). MP4 through ffmpeg when
matplotlib finds it, else an animated GIF through Pillow."""

import numpy as np

from .fields import Cell, colourbar_label, draw, legend_handles, scale_of
from .observables import series
from .units import name_of, time_unit


def encoder():
    """('mp4', writer class, note) when ffmpeg is there, else ('gif', PillowWriter, note)."""
    from matplotlib import animation

    if animation.writers.is_available("ffmpeg"):
        return "mp4", animation.FFMpegWriter, "MP4 (ffmpeg)"
    return "gif", animation.PillowWriter, "GIF (Pillow: no ffmpeg found)"


def write_movie(ds, out, names, plt, fps=None):
    """The movie of `names` over all frames into out/movie.mp4 (or .gif); (path, format note)."""
    from matplotlib import animation

    ext, writer_class, note = encoder()
    path = out / f"movie.{ext}"
    n = ds.sizes["time"]
    frames = list(range(n))
    times = ds["time"].values
    div, tu = time_unit(times.max() if n else 0)
    trace = "cell_voltage" in ds and ds.sizes.get("obs_time", 0) > 0
    cols = len(names) + (1 if trace else 0)
    fig, axes = plt.subplots(1, cols, figsize=(3.6 * cols + 0.6, 3.9), squeeze=False, layout="constrained")
    axes = axes[0]
    cells, scales = [], []
    for ax, name in zip(axes, names):
        cell = Cell(ds, name)
        scale = scale_of(cell, name, frames)
        im = draw(ax, cell, name, 0, scale)
        bar = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02)
        bar.set_label(colourbar_label(name, scale[3]), fontsize=7)
        bar.ax.tick_params(labelsize=6)
        ax.set_title(name_of(name), fontsize=8)
        cells.append(cell)
        scales.append(scale)
    handles = legend_handles(cells[0], names[0]) if names else []
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=6, frameon=False)
    marker = None
    if trace:
        ax = axes[-1]
        t = ds["obs_time"].values
        v, vu = series(ds, "cell_voltage")
        ax.plot(t / div, v, color="0.6", lw=1)
        (done,) = ax.plot([], [], color="k", lw=1.3)
        (marker,) = ax.plot([], [], "o", color="tab:red", ms=5)
        ax.set_xlabel(f"time [{tu}]", fontsize=8)
        ax.set_ylabel(f"cell voltage [{vu}]", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_title("cell voltage", fontsize=8)
    title = fig.suptitle("", fontsize=9)

    def update(k):
        for ax, cell, name, scale in zip(axes, cells, names, scales):
            ax.clear()
            draw(ax, cell, name, k, scale)
            ax.set_title(name_of(name), fontsize=8)
        title.set_text(f"t = {float(times[k]) / div:.4g} {tu}")
        if marker is not None:
            upto = t <= times[k] * (1 + 1e-12)
            done.set_data(t[upto] / div, v[upto])
            if upto.any():
                marker.set_data([t[upto][-1] / div], [v[upto][-1]])
        return []

    update(0)
    fps = fps or int(np.clip(n / 8, 2, 10))
    anim = animation.FuncAnimation(fig, update, frames=frames, blit=False)
    anim.save(str(path), writer=writer_class(fps=fps), dpi=80)
    plt.close(fig)
    return path, note
