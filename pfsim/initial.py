"""Initial conditions of a model's first field, chosen with `initial.kind`.

All of them are computed on the host in float64 and then moved to the backend, so NumPy
and CuPy runs start from the same numbers. Random ones draw from a Philox (counter-based)
stream keyed by the run seed.
"""

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


InitialConfig = Constant | Random | PfhubBM1 | Manufactured


def random_stream(seed: int, stream: int) -> np.random.Generator:
    """An independent counter-based stream: key = (seed, stream)."""
    return np.random.Generator(np.random.Philox(key=[seed, stream]))


def initial_field(cfg, model, seed: int) -> np.ndarray:
    grid = model.grid
    mesh = grid.mesh(np)
    if cfg.kind == "constant":
        return np.full(grid.shape, cfg.value)
    if cfg.kind == "random":
        noise = random_stream(seed, 0).uniform(-1.0, 1.0, size=grid.shape)
        return cfg.mean + cfg.amplitude * noise
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
