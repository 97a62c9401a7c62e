"""Cell geometry: the solid electrolyte (SSE) slab under the Li metal, and its surface defects.

The last grid axis is the cell normal: the counter electrode is the wall at its first node,
the current collector the wall at its last node. The SSE fills the nodes at or below the
surface height H(lateral position); the Li side (metal or void) is above. The surface is flat
at `electrolyte_thickness`, lowered by pits and scratches, and roughened by a seeded Gaussian
random field.
"""

from typing import Literal

import numpy as np
from pydantic import Field

from ..initial import random_stream
from ..schema import Length, Section, quantity


class Pit(Section):
    """A pit in the SSE surface, filled with Li (a trench in 2D)."""

    center: list[quantity("length")] = Field(min_length=1, max_length=2, description="lateral position (m)")
    width: Length = Field(description="diameter at the surface (m)")
    depth: Length = Field(description="depth below the surface (m)")
    shape: Literal["round", "box"] = Field("round", description="semi-elliptic or flat-bottomed")


class Scratch(Section):
    """A straight trench across a 3D cell, along `axis`."""

    axis: Literal["x", "y"] = Field(description="direction the scratch runs in")
    position: quantity("length") = Field(description="lateral position across the scratch (m)")
    width: Length
    depth: Length


class Roughness(Section):
    rms: Length = Field(description="root-mean-square height (m)")
    correlation_length: Length = Field(description="Gaussian correlation length l (m): <h(x) h(x + r)> = "
                                       "rms^2 exp(-r^2 / l^2)")
    sampling: Literal["modes", "nodes"] = Field(
        "modes", description="modes: drawn per Fourier mode of the cell, so one seed is the same surface on every "
        "grid; nodes: white noise on the grid's nodes, smoothed to a correlation exp(-r^2 / (2 l^2)) (another "
        "surface on another grid; the surface of runs stored before 2026-12-07, which resume with it)")


class GeometryConfig(Section):
    electrolyte_thickness: Length = Field(description="SSE thickness from the counter electrode to the flat surface (m)")
    pits: list[Pit] = Field(default_factory=list)
    scratches: list[Scratch] = Field(default_factory=list)
    roughness: Roughness | None = Field(None, description="random surface roughness (seeded)")


def surface_height(cfg: GeometryConfig, grid, seed: int, where="model.geometry") -> np.ndarray:
    """H on the lateral nodes (shape = grid.shape[:-1]); raises ValueError naming bad keys."""
    lat_axes = grid.ndim - 1
    coords = np.meshgrid(*[grid.coords(a) for a in range(lat_axes)], indexing="ij")
    lengths = [grid.shape[a] * grid.spacing[a] if grid.periodic[a] else (grid.shape[a] - 1) * grid.spacing[a]
               for a in range(lat_axes)]
    z = grid.coords(grid.ndim - 1)
    H = np.full(coords[0].shape, cfg.electrolyte_thickness + 0.0) + grid.origin[-1]
    if not z[1] <= H.flat[0] <= z[-2]:
        raise ValueError(f"{where}.electrolyte_thickness: the surface must lie inside the grid, "
                         f"between {z[1] - grid.origin[-1]:.3g} and {z[-2] - grid.origin[-1]:.3g} m")
    for i, pit in enumerate(cfg.pits):
        if len(pit.center) != lat_axes:
            raise ValueError(f"{where}.pits.{i}.center: expected {lat_axes} lateral coordinate(s)")
        r2 = np.zeros_like(H)
        for a, c in enumerate(pit.center):
            lo = grid.origin[a]
            if not lo <= c <= lo + lengths[a]:
                raise ValueError(f"{where}.pits.{i}.center: {c:.3g} m is outside the domain [{lo:.3g}, {lo + lengths[a]:.3g}] m")
            d = coords[a] - c
            if grid.periodic[a]:
                d = (d + lengths[a] / 2) % lengths[a] - lengths[a] / 2
            r2 += d * d
        H -= _profile(np.sqrt(r2), pit.width, pit.depth, pit.shape)
        _check_depth(H, z, grid, f"{where}.pits.{i}.depth")
    for i, s in enumerate(cfg.scratches):
        if lat_axes != 2:
            raise ValueError(f"{where}.scratches.{i}: scratches need a 3D grid; use pits in 2D")
        across = 1 if s.axis == "x" else 0
        lo = grid.origin[across]
        if not lo <= s.position <= lo + lengths[across]:
            raise ValueError(f"{where}.scratches.{i}.position: {s.position:.3g} m is outside the domain")
        H -= _profile(np.abs(coords[across] - s.position), s.width, s.depth, "box")
        _check_depth(H, z, grid, f"{where}.scratches.{i}.depth")
    if cfg.roughness is not None:
        H += rough_surface(H.shape, grid.spacing[:lat_axes], cfg.roughness, seed)
        _check_depth(H, z, grid, f"{where}.roughness.rms")
    return H


def _profile(r, width, depth, shape):
    inside = r < width / 2
    if shape == "box":
        return np.where(inside, depth, 0.0)
    return np.where(inside, depth * np.sqrt(np.clip(1 - (2 * r / width) ** 2, 0, 1)), 0.0)


def _check_depth(H, z, grid, key):
    if H.min() < z[1] or H.max() > z[-2]:
        raise ValueError(f"{key}: the SSE surface leaves the grid (keep it between the second and the last-but-one node)")


def rough_surface(shape, spacing, cfg: Roughness, seed: int) -> np.ndarray:
    """Periodic Gaussian random heights with a Gaussian correlation of the given length."""
    if cfg.sampling == "nodes":
        return _surface_drawn_on_nodes(shape, spacing, cfg, seed)
    return _surface_drawn_per_mode(shape, spacing, cfg, seed)


def _surface_drawn_per_mode(shape, spacing, cfg: Roughness, seed: int) -> np.ndarray:
    """Heights of correlation <h(x) h(x + r)> = rms^2 exp(-r^2 / l^2), one seed the same surface
    on every grid: the Fourier modes of the periodic cell up to where the amplitude filter
    exp(-k^2 l^2 / 8) (the square root of the correlation's spectrum) falls under exp(-35) get complex normal
    amplitudes in a fixed order of their integer indices, and the surface is their sum sampled at
    the grid's nodes (modes past the grid's Nyquist index are left out), scaled to the rms of the
    continuous surface."""
    ndim = len(shape)
    lengths = [n * h for n, h in zip(shape, spacing)]
    ell = cfg.correlation_length
    top = [int(np.ceil(np.sqrt(8 * 35) / ell * L / (2 * np.pi))) for L in lengths]
    # half of the modes: the last axis 0..top, the others -top..top; of each +-m pair on the plane
    # m_last = 0 the one whose first nonzero index is positive; (0, ..., 0) left out
    axes = [np.arange(-t, t + 1) for t in top[:-1]] + [np.arange(0, top[-1] + 1)]
    idx = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, ndim)
    first = np.take_along_axis(idx, np.argmax(idx != 0, axis=1)[:, None], axis=1)[:, 0]
    idx = idx[(idx[:, -1] > 0) | (first > 0)]
    rng = random_stream(seed, 1)
    amp = (rng.standard_normal(len(idx)) + 1j * rng.standard_normal(len(idx))) / np.sqrt(2)
    k2 = sum((2 * np.pi * idx[:, a] / lengths[a]) ** 2 for a in range(ndim))
    amp = amp * np.exp(-k2 * ell**2 / 8)
    variance = 2 * float(np.sum(np.abs(amp) ** 2))  # of the continuous surface 2 Re sum(amp e^{ikx})
    inside = np.all([np.abs(idx[:, a]) <= (shape[a] - 1) // 2 for a in range(ndim)], axis=0)
    spectrum = np.zeros(shape, complex)
    for sign, values in ((1, amp[inside]), (-1, np.conj(amp[inside]))):
        np.add.at(spectrum, tuple((sign * idx[inside] % np.asarray(shape)).T), values)
    field = np.real(np.fft.ifftn(spectrum)) * np.prod(shape)
    return field * (cfg.rms / np.sqrt(variance)) if variance > 0 else field


def _surface_drawn_on_nodes(shape, spacing, cfg: Roughness, seed: int) -> np.ndarray:
    """White noise on the grid's nodes, smoothed by exp(-k^2 l^2 / 4) (a correlation
    exp(-r^2 / (2 l^2))) and scaled to the rms: another surface on another grid. pfsim's surface
    before `sampling` was added; runs stored then resume with it."""
    noise = random_stream(seed, 1).standard_normal(shape)
    k2 = np.zeros(shape)
    for a, (n, h) in enumerate(zip(shape, spacing)):
        k = 2 * np.pi * np.fft.fftfreq(n, d=h)
        k2 = k2 + (k.reshape([-1 if b == a else 1 for b in range(len(shape))])) ** 2
    field = np.real(np.fft.ifftn(np.fft.fftn(noise) * np.exp(-k2 * cfg.correlation_length**2 / 4)))
    field -= field.mean()
    std = field.std()
    return field * (cfg.rms / std) if std > 0 else field


def electrolyte_mask(grid, H) -> np.ndarray:
    """True on SSE nodes: normal coordinate at or below the surface height."""
    z = grid.coords(grid.ndim - 1)
    return z.reshape([1] * (grid.ndim - 1) + [-1]) <= H[..., None] + 1e-12 * grid.spacing[-1]


def face_dilation(mask):
    """`mask` grown by one node across faces (not across the walls)."""
    from scipy import ndimage

    return ndimage.binary_dilation(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1))


def periodic_labels(mask):
    """Labels of the connected regions of `mask` (face neighbours), joined across the lateral
    (periodic) walls."""
    from scipy import ndimage

    return _merge_periodic(ndimage.label(mask)[0], range(mask.ndim - 1))


def _merge_periodic(labels, axes):
    """Join labels that touch across periodic walls."""
    parent = {}

    def find(a):
        while parent.get(a, a) != a:
            a = parent[a]
        return a

    for a in axes:
        lo = np.take(labels, 0, axis=a)
        hi = np.take(labels, -1, axis=a)
        for x, y in zip(lo.ravel(), hi.ravel()):
            if x and y:
                rx, ry = find(x), find(y)
                if rx != ry:
                    parent[max(rx, ry)] = min(rx, ry)
    if not parent:
        return labels
    lut = np.arange(labels.max() + 1)
    for k in range(1, len(lut)):
        lut[k] = find(k)
    return lut[labels]
