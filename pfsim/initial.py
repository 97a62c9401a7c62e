"""Initial conditions of a field, chosen with `initial.kind` (the single-field models) or per
field in `model.initial` (the coupled generic models: pfsim.models.cahn_hilliard_allen_cahn,
anisotropic_allen_cahn_heat).

All of them are computed on the host in float64 and then moved to the backend, so NumPy
and CuPy runs start from the same numbers. Random ones draw from a Philox (counter-based)
stream keyed by the run seed (and the field's index). Every kind is data: constants, noise,
sums of Fourier modes, tanh spheres and discs, the PFHub formulas, an array from a `.npy` file
or a zarr store (a run store's frame included), checked for shape and dtype.
"""

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from .schema import Section


class Constant(Section):
    kind: Literal["constant"]
    value: float = Field(description="value everywhere")


class Random(Section):
    kind: Literal["random"]
    mean: float = Field(description="mean value")
    amplitude: float = Field(ge=0, description="uniform noise in [-amplitude, amplitude]")


class PfhubBM1(Section):
    """PFHub BM1: c0 + eps [cos(0.105x)cos(0.11y) + (cos(0.13x)cos(0.087y))^2
    + cos(0.025x - 0.15y)cos(0.07x - 0.02y)], x and y in grid units."""

    kind: Literal["pfhub_bm1"]
    c0: float = Field(0.5, description="mean composition")
    epsilon: float = Field(0.01, description="amplitude of the cosine perturbation")


class Manufactured(Section):
    """The model's manufactured solution at t = 0 (Allen-Cahn with a PFHub BM7 source)."""

    kind: Literal["manufactured"]


class PfhubBM2Eta(Section):
    """PFHub BM2 order parameter i (x and y in grid units).

    eps_eta {cos(0.01 i x - 4) cos((0.007 + 0.01 i) y) + cos((0.11 + 0.01 i) x) cos((0.11 + 0.01 i) y)
    + psi [cos((0.046 + 0.001 i) x + (0.0405 + 0.001 i) y) cos((0.031 + 0.001 i) x - (0.004 + 0.001 i) y)]^2}^2
    """

    kind: Literal["pfhub_bm2_eta"]
    index: int = Field(ge=1, description="i of the formula (1 to 4 in BM2)")
    epsilon: float = Field(0.1, description="eps_eta")
    psi: float = Field(1.5, description="psi")


class FourierTerm(Section):
    amplitude: float = Field(description="A of A cos(wavevector . x + phase)")
    wavevector: list[float] = Field(min_length=2, max_length=3, description="one component per axis (radians per unit length)")
    phase: float = Field(0.0, description="phase (radians)")


class Fourier(Section):
    """mean + sum of A cos(k . x + phase) over the modes."""

    kind: Literal["fourier"]
    mean: float = Field(0.0, description="constant part")
    modes: list[FourierTerm] = Field(default_factory=list, description="the modes")


class Sphere(Section):
    centre: list[float] = Field(min_length=2, max_length=3, description="centre (model units: m)")
    radius: float = Field(gt=0, description="radius where the profile is half-way")


class TanhProfiles(Section):
    """What the sphere kinds share: the tanh profile of each sphere and how they combine."""

    width: float = Field(gt=0, description="tanh length")
    inside: float = Field(1.0, description="value at the centres")
    outside: float = Field(0.0, description="value far away")
    combine: Literal["max", "clipped_sum"] = Field(
        "max", description="how overlapping profiles combine: their maximum, or their sum clipped to 1")


class Spheres(TanhProfiles):
    """tanh spheres (3D) or discs (2D), combined by their maximum; distances wrap on periodic axes.

    outside + (inside - outside) max over the spheres of (1 - tanh((r - R) / width)) / 2, r the
    distance to the sphere's centre (to its nearest periodic image); centres anywhere.
    """

    kind: Literal["spheres"]
    spheres: list[Sphere] = Field(min_length=1, description="the spheres (discs)")


class RandomSpheres(TanhProfiles):
    """tanh spheres (discs) at random centres, uniform over the domain, from the run's Philox stream.

    As `spheres`, with `count` centres drawn from the stream of the run seed and the field's index
    (the same seed draws the same centres).
    """

    kind: Literal["random_spheres"]
    count: int = Field(ge=1, le=100000, description="number of spheres")
    radius: float = Field(gt=0, description="radius of every sphere")


class NpyFile(Section):
    """An array from a .npy file, checked for shape (the grid's) and dtype (real; no pickled objects)."""

    kind: Literal["npy"]
    path: str = Field(min_length=1, max_length=4096, description="the .npy file")


class ZarrArray(Section):
    """An array of a zarr store (a run store's last frame: array NAME, index -1), checked for shape and dtype.

    The array's shape after `index` must be the grid's, its dtype real.
    """

    kind: Literal["zarr"]
    path: str = Field(min_length=1, max_length=4096, description="the zarr store (or array)")
    array: str | None = Field(None, max_length=1024, description="array path inside the store (none: the store is an array)")
    index: int | None = Field(None, description="index along the first axis (a frame of a time series), or none")


InitialConfig = (Constant | Random | PfhubBM1 | Manufactured | PfhubBM2Eta | Fourier | Spheres | RandomSpheres
                 | NpyFile | ZarrArray)


def random_stream(seed: int, stream: int) -> np.random.Generator:
    """An independent counter-based stream: key = (seed, stream)."""
    return np.random.Generator(np.random.Philox(key=[seed, stream]))


def check_initial(cfg, grid, where="initial"):
    """The checks of a kind against the grid that need no array (ValueError naming `where`)."""
    nd = grid.spatial_ndim
    if cfg.kind in ("pfhub_bm1", "pfhub_bm2_eta", "manufactured") and nd != 2:
        raise ValueError(f"{where}.kind: {cfg.kind} is defined on 2D grids only")
    if cfg.kind == "fourier":
        for i, m in enumerate(cfg.modes):
            if len(m.wavevector) != nd:
                raise ValueError(f"{where}.modes.{i}.wavevector: expected {nd} components")
    if cfg.kind == "spheres":
        for i, s in enumerate(cfg.spheres):
            if len(s.centre) != nd:
                raise ValueError(f"{where}.spheres.{i}.centre: expected {nd} coordinates")


def _check_header(shape, dtype, grid, what, where="initial"):
    if np.dtype(dtype).kind not in "fiu":
        raise ValueError(f"{where}: {what} has dtype {np.dtype(dtype)}; expected real numbers (float or integer)")
    if tuple(shape) != tuple(grid.shape):
        raise ValueError(f"{where}: {what} has shape {tuple(shape)}; the grid has {tuple(grid.shape)}")


def check_file(cfg, grid, where="initial"):
    """Shape and dtype of an npy or zarr initial array against the grid, from its header or
    metadata only (no data read); nothing for the other kinds."""
    if cfg.kind == "npy":
        try:
            with open(Path(cfg.path), "rb") as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{where}: cannot read {cfg.path} as a .npy array ({exc})") from None
        _check_header(shape, dtype, grid, cfg.path, where)
    elif cfg.kind == "zarr":
        a = _zarr_array(cfg, where)
        shape = a.shape[1:] if cfg.index is not None else a.shape
        if cfg.index is not None and not -a.shape[0] <= cfg.index < a.shape[0]:
            raise ValueError(f"{where}.index: {cfg.index} is outside the array's {a.shape[0]} entries")
        _check_header(shape, a.dtype, grid, _zarr_name(cfg), where)


def check_initials(cfg, grid):
    """check_initial and check_file of a run's initial conditions: `initial`, and the fields'
    conditions in model.initial (the coupled generic models)."""
    given = [("initial", cfg.initial)] if cfg.initial is not None else []
    given += [(f"model.initial.{k}", v) for k, v in (getattr(cfg.model, "initial", None) or {}).items()]
    for where, init in given:
        check_initial(init, grid, where)
        check_file(init, grid, where)


def _checked(a, grid, what):
    a = np.asarray(a)
    _check_header(a.shape, a.dtype, grid, what)
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"initial: {what} holds NaN or Inf")
    return a


def read_npy(path, grid):
    try:
        a = np.load(Path(path), allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise ValueError(f"initial: cannot read {path} as a .npy array ({exc})") from None
    return _checked(a, grid, path)


def _zarr_name(cfg):
    return f"{cfg.path}/{cfg.array}" if cfg.array else cfg.path


def _zarr_array(cfg, where="initial"):
    import zarr

    try:
        node = zarr.open(str(cfg.path), mode="r")
        a = node[cfg.array] if cfg.array is not None else node
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{where}: cannot read {_zarr_name(cfg)} as a zarr array ({type(exc).__name__}: {exc})") from None
    if not hasattr(a, "dtype"):
        raise ValueError(f"{where}: {_zarr_name(cfg)} is a zarr group, not an array (name one with `array`)")
    return a


def read_zarr(cfg, grid):
    check_file(cfg, grid)
    a = _zarr_array(cfg)
    return _checked(a[cfg.index] if cfg.index is not None else a[...], grid, _zarr_name(cfg))


def _sphere_profiles(grid, mesh, spheres, width, combine):
    """max (or sum clipped to 1) over (centre, radius) of (1 - tanh((r - radius) / width)) / 2, r to the
    centre's nearest image on periodic axes."""
    out = np.zeros(grid.shape)
    whole = _whole(grid)  # a slab's periods are those of the whole grid
    lengths = [n * h for n, h in zip(whole.shape, whole.spacing)]
    for centre, radius in spheres:
        r2 = 0.0
        for x, x0, length, periodic in zip(mesh, centre, lengths, whole.periodic):
            d = x - x0
            if periodic:  # the nearest image: distances across a periodic wall
                d = d - length * np.round(d / length)
            r2 = r2 + d * d
        profile = 0.5 * (1 - np.tanh((np.sqrt(r2) - radius) / width))
        if combine == "max":
            np.maximum(out, profile, out=out)
        else:
            out += profile
    return np.minimum(out, 1.0) if combine == "clipped_sum" else out


def _whole(grid):
    """The whole grid of a rank's slab (pfsim.parallel.decomp.LocalGrid), or the grid itself."""
    return getattr(grid, "whole", None) or grid


def _rows(grid, a):
    """The rows of a whole-grid array that a slab holds (all of it on a whole grid)."""
    rows = getattr(grid, "rows", ())
    return a[np.asarray(rows)] if getattr(grid, "whole", None) is not None and len(rows) else a


def initial_field(cfg, model, seed: int, stream: int = 0) -> np.ndarray:
    """The field of kind `cfg` on model.grid (a rank's slab: its rows of the whole grid's field);
    `stream`: the Philox stream of the random kinds (the field's index in a coupled model)."""
    grid = model.grid
    mesh = grid.mesh(np)
    if cfg.kind == "constant":
        return np.full(grid.shape, cfg.value)
    if cfg.kind == "random":  # on a slab: its rows of the whole grid's draw
        noise = random_stream(seed, stream).uniform(-1.0, 1.0, size=_whole(grid).shape)
        return _rows(grid, cfg.mean + cfg.amplitude * noise)
    if cfg.kind in ("pfhub_bm2_eta", "fourier", "spheres"):
        check_initial(cfg, grid)
    if cfg.kind == "pfhub_bm2_eta":
        x, y = mesh
        i, e = cfg.index, cfg.epsilon
        brace = (np.cos(0.01 * i * x - 4) * np.cos((0.007 + 0.01 * i) * y)
                 + np.cos((0.11 + 0.01 * i) * x) * np.cos((0.11 + 0.01 * i) * y)
                 + cfg.psi * (np.cos((0.046 + 0.001 * i) * x + (0.0405 + 0.001 * i) * y)
                              * np.cos((0.031 + 0.001 * i) * x - (0.004 + 0.001 * i) * y)) ** 2)
        return e * brace**2 + np.zeros(grid.shape)
    if cfg.kind == "fourier":
        out = np.full(grid.shape, cfg.mean)
        for m in cfg.modes:
            out += m.amplitude * np.cos(m.phase + sum(k * x for k, x in zip(m.wavevector, mesh)))
        return out
    if cfg.kind in ("spheres", "random_spheres"):
        if cfg.kind == "spheres":
            spheres = [(sp.centre, sp.radius) for sp in cfg.spheres]
        else:  # centres uniform over the (whole) domain: [origin, origin + length) on every axis
            w = _whole(grid)
            lengths = [(n if p else n - 1) * h for n, h, p in zip(w.shape, w.spacing, w.periodic)]
            u = random_stream(seed, stream).uniform(0.0, 1.0, size=(cfg.count, w.ndim))
            spheres = [(list(np.asarray(w.origin) + row * lengths), cfg.radius) for row in u]
        return cfg.outside + (cfg.inside - cfg.outside) * _sphere_profiles(grid, mesh, spheres, cfg.width, cfg.combine)
    if cfg.kind == "npy":
        return _rows(grid, read_npy(cfg.path, _whole(grid)))
    if cfg.kind == "zarr":
        return _rows(grid, read_zarr(cfg, _whole(grid)))
    if cfg.kind == "pfhub_bm1":
        if grid.ndim != 2:
            raise ValueError("initial: pfhub_bm1 is defined on 2D grids")
        x, y = mesh
        return cfg.c0 + cfg.epsilon * (
            np.cos(0.105 * x) * np.cos(0.11 * y)
            + (np.cos(0.13 * x) * np.cos(0.087 * y)) ** 2
            + np.cos(0.025 * x - 0.15 * y) * np.cos(0.07 * x - 0.02 * y)
        ) + np.zeros(grid.shape)
    if cfg.kind == "manufactured":
        from .models.allen_cahn import manufactured_solution

        src = getattr(model.params, "source", None)
        if src is None:
            raise ValueError("initial: 'manufactured' needs a model with a manufactured source (model.source)")
        x, y = mesh
        return manufactured_solution(x, y, 0.0, src, model.params.gradient_coefficient) + np.zeros(grid.shape)
    raise ValueError(f"initial.kind: unknown {cfg.kind!r}")
