"""Regular node-based grids in 2D and 3D, and their boundary conditions.

Node i of an axis sits at origin + i * spacing. A periodic axis of n nodes has length
n * spacing (node n would be node 0 again); a bounded axis has nodes on both walls and
length (n - 1) * spacing. Arrays are indexed [x, y] or [x, y, z].

Boundary conditions act on the stencil in one of two ways, the same in NumPy
(`pfsim.stencil`) and CUDA (`kernels/stencil.cuh`):
- periodic: the neighbour across the wall is the node on the far side;
- no_flux and dirichlet: the neighbour across the wall mirrors the first interior node
  (ghost[-1] = f[1]), a second-order zero-gradient condition. Dirichlet nodes are then
  reset to their value after each update, so the mirrored value never matters there.
"""

from dataclasses import dataclass
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from .schema import Length, Section, quantity
from .stencil import along

AXES = ("x", "y", "z")


class Dirichlet(Section):
    dirichlet: float = Field(description="value held on the wall nodes")


def _side(value):
    if isinstance(value, str) and value in ("periodic", "no_flux"):
        return value
    if isinstance(value, dict) and set(value) == {"dirichlet"}:
        return value
    raise ValueError(f"expected 'periodic', 'no_flux' or {{dirichlet: VALUE}}, got {value!r:.60}")


# callable discriminators pick the one union member that a value can be, so an error is
# reported once, by that member (not also "input should be a valid list" for a bad number)
Side = Annotated[
    Union[Annotated[Literal["periodic", "no_flux"], Tag("name")], Annotated[Dirichlet, Tag("mapping")]],
    Discriminator(lambda v: "name" if isinstance(v, str) else "mapping"),
    BeforeValidator(_side),
]


class AxisBoundaries(Section):
    """Both walls of an axis: periodic, no_flux or {dirichlet: VALUE}; one value sets both."""

    low: Side = Field("periodic", description="wall at the first node")
    high: Side = Field("periodic", description="wall at the last node")

    @model_validator(mode="after")
    def _periodic_pairs(self):
        if (self.low == "periodic") != (self.high == "periodic"):
            raise ValueError("periodic must be set on both sides of an axis (low and high)")
        return self


def _axis_boundaries(value):
    """Accept 'periodic', 'no_flux', {dirichlet: v} for both sides, or {low:, high:}."""
    if isinstance(value, str) or (isinstance(value, dict) and "dirichlet" in value and not {"low", "high"} & set(value)):
        return {"low": value, "high": value}
    return value


class GridConfig(Section):
    shape: list[int] = Field(min_length=2, max_length=3, description="nodes along x, y (, z)")
    spacing: Annotated[
        Union[Annotated[Length, Tag("number")], Annotated[list[Length], Tag("list")]],
        Discriminator(lambda v: "list" if isinstance(v, (list, tuple)) else "number"),
    ] = Field(description="node spacing, one for all axes or one per axis")
    origin: list[quantity("length")] | None = Field(None, description="position of node 0 on each axis (default 0)")
    boundaries: dict[Literal["x", "y", "z"], AxisBoundaries] = Field(
        default_factory=dict, description="per axis; unspecified axes are periodic"
    )

    @model_validator(mode="before")
    @classmethod
    def _expand_boundaries(cls, data):
        if isinstance(data, dict) and isinstance(data.get("boundaries"), dict):
            data = dict(data)
            data["boundaries"] = {k: _axis_boundaries(v) for k, v in data["boundaries"].items()}
        return data

    @model_validator(mode="after")
    def _consistent(self):
        nd = len(self.shape)
        if any(n < 3 or n > 65536 for n in self.shape):
            raise ValueError("shape: every axis needs between 3 and 65536 nodes")
        if int(np.prod(self.shape, dtype=np.float64)) > 2**34:
            raise ValueError("shape: more than 2^34 nodes")
        if isinstance(self.spacing, list) and len(self.spacing) != nd:
            raise ValueError(f"spacing: expected 1 or {nd} values, got {len(self.spacing)}")
        if self.origin is not None and len(self.origin) != nd:
            raise ValueError(f"origin: expected {nd} values, got {len(self.origin)}")
        extra = [a for a in self.boundaries if AXES.index(a) >= nd]
        if extra:
            raise ValueError(f"boundaries: axis '{extra[0]}' does not exist on a {nd}D grid")
        return self


@dataclass(frozen=True)
class Grid:
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    sides: tuple[tuple[object, object], ...]  # per axis (low, high): "periodic" | "no_flux" | float

    @classmethod
    def from_config(cls, cfg: GridConfig) -> "Grid":
        nd = len(cfg.shape)
        spacing = cfg.spacing if isinstance(cfg.spacing, list) else [cfg.spacing] * nd
        origin = cfg.origin or [0.0] * nd
        sides = []
        for a in AXES[:nd]:
            b = cfg.boundaries.get(a, AxisBoundaries())
            sides.append(tuple(s.dirichlet if isinstance(s, Dirichlet) else s for s in (b.low, b.high)))
        return cls(tuple(cfg.shape), tuple(map(float, spacing)), tuple(map(float, origin)), tuple(sides))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def spatial_ndim(self) -> int:
        """Axes of space: ndim, less the member axis of an ensemble's stack (pfsim.ensemble)."""
        return self.ndim

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def periodic(self) -> tuple[bool, ...]:
        return tuple(lo == "periodic" for lo, _ in self.sides)

    @property
    def node_volume(self) -> float:
        return float(np.prod(self.spacing))

    def coords(self, axis: int) -> np.ndarray:
        return self.origin[axis] + self.spacing[axis] * np.arange(self.shape[axis])

    def mesh(self, xp=np):
        """Node coordinates broadcastable to the grid shape, as arrays of `xp`."""
        out = []
        for a in range(self.ndim):
            shape = [1] * self.ndim
            shape[a] = self.shape[a]
            out.append(xp.asarray(self.coords(a).reshape(shape)))
        return out

    def apply_dirichlet(self, field):
        """Hold Dirichlet wall nodes at their values (in place, NumPy or CuPy)."""
        for a, pair in enumerate(self.sides):
            for s, v in enumerate(pair):
                if not isinstance(v, str):  # a Dirichlet wall's value
                    field[along(self.ndim, a, 0 if s == 0 else -1)] = v

    def interior_weights(self, xp=np):
        """Quadrature weights for integrals over the domain: 1/2 on bounded walls (trapezoid)."""
        w = xp.ones(self.shape)
        for a, p in enumerate(self.periodic):
            if not p:
                for end in (0, -1):
                    w[along(self.ndim, a, end)] *= 0.5
        return w
