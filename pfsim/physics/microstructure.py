"""Polycrystalline SSE microstructure: grains and grain boundaries, generated from a seeded
Voronoi tessellation or read from a file, and the property maps they imply.

A node is a grain-boundary node when the distances d1 < d2 to its two nearest Voronoi seeds
differ by less than the boundary width w (near the bisector of two seeds, d2 - d1 = twice the
distance to it). The model's boundary is a resolved channel of width w (at least one grid
spacing), so its properties are effective ones: a physical boundary of width w_gb and
conductivity s_gb is represented by s_gb * w_gb / w (docs/plating.md).

Files: `.npy` with the grid's shape holding integer grain labels (boundaries where neighbouring
labels differ), a boolean boundary mask, or boundary fractions in [0, 1]; or, for 2D grids, a
grayscale image (.png) whose dark pixels (< 0.5) are boundaries, rows running from the top of
the cell (current collector) down to the counter electrode, columns along x.
"""

from pathlib import Path

import numpy as np
from pydantic import Field, model_validator

from ..initial import random_stream
from ..schema import Length, Section, quantity


class BoundaryProperties(Section):
    """Grain-boundary values; a key left out means 'as in the grains'."""

    ionic_conductivity: quantity("conductivity", gt=0) | None = Field(
        None, description="effective Li+ conductivity of the boundary channel (LLZO: 0.01-0.1 x bulk [memory])")
    electronic_conductivity: quantity("conductivity", ge=0) | None = Field(
        None, description="effective electronic conductivity of the boundary channel (higher than bulk [memory] Han 2019)")
    exchange_current_density: quantity("current density", gt=0) | None = Field(
        None, description="i0 where Li meets a boundary")
    toughness: quantity("fracture toughness", gt=0) | None = Field(
        None, description="K_IC along the boundary (intergranular fracture: below the bulk value)")


class MicrostructureConfig(Section):
    grain_size: Length | None = Field(None, description="mean grain diameter of the Voronoi polycrystal (m)")
    boundary_width: Length | None = Field(None, description="resolved width of the boundary channels (m, >= one grid spacing)")
    file: str | None = Field(None, description="read the grain map from this .npy or (2D) .png file instead")
    boundaries: BoundaryProperties = BoundaryProperties()

    @model_validator(mode="after")
    def _one_source(self):
        if (self.grain_size is None) == (self.file is None):
            raise ValueError("give either grain_size (a Voronoi polycrystal) or file (a grain map), not both or neither")
        if self.grain_size is not None and self.boundary_width is None:
            raise ValueError("boundary_width: required with grain_size")
        return self


def boundary_map(cfg: MicrostructureConfig, grid, sse, seed, where="model.microstructure", base=None):
    """Grain-boundary fraction on every node (0 in grains and off the SSE), as float64.

    `base` resolves a relative `file` path (the config file's folder)."""
    if cfg.file is not None:
        gb = _read_map(cfg.file, grid, f"{where}.file", base)
    else:
        gb = voronoi_boundaries(grid, sse, cfg.grain_size, cfg.boundary_width, seed, where)
    return np.where(sse, gb, 0.0)


def voronoi_boundaries(grid, sse, grain_size, width, seed, where="model.microstructure"):
    from scipy.spatial import cKDTree

    nd = grid.ndim
    lateral = [grid.shape[a] * grid.spacing[a] for a in range(nd - 1)]
    if grain_size > max(lateral):
        raise ValueError(f"{where}.grain_size: {grain_size:.3g} m is larger than the domain "
                         f"(widest lateral extent {max(lateral):.3g} m)")
    if width < min(grid.spacing) * (1 - 1e-9):
        raise ValueError(f"{where}.boundary_width: {width:.3g} m is under one grid spacing ({min(grid.spacing):.3g} m)")
    z = grid.coords(nd - 1) - grid.origin[-1]
    top = float(z[np.nonzero(sse.any(axis=tuple(range(nd - 1))))[0].max()]) if sse.any() else 0.0
    depth = top + grid.spacing[-1]
    grain_volume = np.pi / 4 * grain_size**2 if nd == 2 else np.pi / 6 * grain_size**3
    n_seeds = max(2, int(round(np.prod(lateral) * depth / grain_volume)))
    rng = random_stream(seed, 2)
    pts = rng.uniform(0, 1, (n_seeds, nd)) * np.array(lateral + [depth])
    box = np.array(lateral + [10 * depth + 10 * grain_size])  # no wrap along the normal
    tree = cKDTree(pts, boxsize=box)
    coords = np.meshgrid(*[(grid.coords(a) - grid.origin[a]) % lateral[a] for a in range(nd - 1)] + [z], indexing="ij")
    nodes = np.stack([c.ravel() for c in coords], axis=1)
    nodes[:, -1] = np.clip(nodes[:, -1], 0, None)
    d, _ = tree.query(nodes, k=2)
    gb = ((d[:, 1] - d[:, 0]) < width).reshape(grid.shape)
    return gb.astype(float)


def _read_map(path, grid, key, base):
    p = Path(path)
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    try:
        if p.suffix.lower() == ".npy":
            arr = np.load(p, allow_pickle=False)
        elif p.suffix.lower() == ".png":
            import matplotlib.image as mpimg

            img = np.asarray(mpimg.imread(p), dtype=float)
            if img.ndim == 3:
                img = img[..., :3].mean(axis=-1)
            arr = (img < 0.5)[::-1, :].T  # rows top-down -> (x, normal up)
        else:
            raise ValueError(f"{key}: '{path}' is neither .npy nor .png")
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"{key}: cannot read '{path}' ({type(exc).__name__}: {exc})") from None
    if arr.ndim != grid.ndim or tuple(arr.shape) != tuple(grid.shape):
        raise ValueError(f"{key}: the map in '{path}' has shape {tuple(arr.shape)}, the grid {tuple(grid.shape)}")
    if arr.dtype == bool:
        return arr.astype(float)
    if np.issubdtype(arr.dtype, np.integer):
        return labels_to_boundaries(arr, grid)
    arr = np.asarray(arr, dtype=float)
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{key}: a float map must hold boundary fractions in [0, 1]")
    return arr


def labels_to_boundaries(labels, grid):
    """1 on nodes with a neighbour of another grain label (across periodic walls too)."""
    gb = np.zeros(labels.shape, bool)
    for a in range(labels.ndim):
        for s in (1, -1):
            nb = np.roll(labels, s, axis=a)
            diff = nb != labels
            if not grid.periodic[a]:
                idx = [slice(None)] * labels.ndim
                idx[a] = 0 if s == 1 else -1
                diff[tuple(idx)] = False
            gb |= diff
    return gb.astype(float)
