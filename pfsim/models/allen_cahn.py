"""Allen-Cahn with a double well, a constant driving-force tilt, an optional manufactured
source (PFHub benchmark 7) and seeds planted at given positions and times.

    F[eta]     = integral of  W eta^2 (1 - eta)^2 + tilt h(eta) + kappa/2 |grad eta|^2
    h(eta)     = eta^3 (6 eta^2 - 15 eta + 10)   (h(0) = 0, h(1) = 1, h' = 30 eta^2 (1-eta)^2)
    deta/dt    = -L [ 2 W eta (1 - eta)(1 - 2 eta) + tilt h'(eta) - kappa lap(eta) ] + S(x, y, t)

With W = 1, L = 1, tilt = 0 this is PFHub BM7's equation. A negative tilt favours eta = 1.
NumPy and CUDA forms in pfsim/kernels/allen_cahn.py (kernels/allen_cahn.cu).
"""

from typing import Literal

import numpy as np
from pydantic import Field

from ..kernels import allen_cahn as ac
from ..schema import Length, Section, Time
from . import seeding
from .base import Model


class ManufacturedSource(Section):
    """PFHub BM7: alpha(x, t) = 1/4 + A1 t sin(B1 x) + A2 sin(B2 x + C2 t)."""

    kind: Literal["pfhub_bm7"]
    # defaults are BM7a's; B1 = 8 pi, B2 = 22 pi, C2 = pi / 16
    A1: float = 0.0075
    B1: float = 8 * np.pi
    A2: float = 0.03
    B2: float = 22 * np.pi
    C2: float = 0.0625 * np.pi


class Seed(Section):
    position: list[Length] = Field(min_length=2, max_length=3, description="centre (m)")
    radius: Length = Field(description="radius (m)")
    time: Time = Field(0.0, description="when it is planted (s)")


class AllenCahnParams(Section):
    kind: Literal["allen_cahn"]
    mobility: float = Field(1.0, gt=0, description="L")
    gradient_coefficient: float = Field(gt=0, description="kappa")
    barrier: float = Field(1.0, gt=0, description="W of the double well")
    tilt: float = Field(0.0, description="constant driving force multiplying h(eta)")
    source: ManufacturedSource | None = Field(None, description="PFHub BM7 manufactured source term S")
    seeds: list[Seed] = Field(default_factory=list, description="discs/spheres of eta = 1 planted at given times")
    nucleation: seeding.Nucleation | None = Field(
        None, description="random seeds during the run at a rate per volume per time (pfsim.models.seeding)")


def manufactured_solution(x, y, t, p: ManufacturedSource, kappa, xp=np):
    """eta_sol of PFHub BM7."""
    alpha = 0.25 + p.A1 * t * xp.sin(p.B1 * x) + p.A2 * xp.sin(p.B2 * x + p.C2 * t)
    return 0.5 * (1 - xp.tanh((y - alpha) / np.sqrt(2 * kappa)))


class AllenCahn(Model):
    fields = ("eta",)
    field_units = {"eta": "1"}
    observable_units = {"free_energy": "J (model units)", "mean_eta": "1", "mms_l2_error": "1"}

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None):
        super().__init__(params, grid, backend, drive, seed, extent)
        self.seed = seed
        if params.nucleation is not None or params.seeds:  # a nucleation study's observables
            self.observable_units = {**self.observable_units, **seeding.OBSERVABLE_UNITS}
            if params.nucleation is not None:
                seeding.check(params.nucleation, grid)
        if params.source is not None and grid.ndim != 2:
            raise ValueError("model.source: the PFHub BM7 source is defined on 2D grids only")
        for i, seed in enumerate(params.seeds):
            if len(seed.position) != grid.spatial_ndim:
                raise ValueError(f"model.seeds.{i}.position: expected {grid.spatial_ndim} coordinates")

    def rate(self, state, t):
        return {"eta": ac.rate(self.backend, self.grid, self.params, state["eta"], t)}

    def euler_step(self, state, t, dt):
        state["eta"] = ac.euler_step(self.backend, self.grid, self.params, state["eta"], t, dt, self.scratch)
        seeding.after_step(self, state, t, dt)

    @property
    def integrators(self):
        return ("euler",) if self.params.nucleation is not None else super().integrators

    def stability_limit(self):
        p = self.params
        return 2.0 / (p.mobility * (p.gradient_coefficient * self.laplacian_eigen_max() + 2 * p.barrier + 30 * abs(p.tilt)))

    def interface_width(self):
        """The tanh profile's length: eta = (1 - tanh(r / w)) / 2 with w = sqrt(2 kappa / W)."""
        return np.sqrt(2 * self.params.gradient_coefficient / self.params.barrier)

    def plant(self, seed, state):
        """Set eta to an equilibrium tanh sphere (or disc) profile, keeping existing metal."""
        xp = self.xp
        r2 = sum((c - x0) ** 2 for c, x0 in zip(self.grid.mesh(xp), seed.position))
        profile = 0.5 * (1 - xp.tanh((xp.sqrt(r2) - seed.radius) / self.interface_width()))
        xp.maximum(state["eta"], profile.astype(state["eta"].dtype), out=state["eta"])

    def events(self):
        return [(seed.time, lambda state, seed=seed: self.plant(seed, state)) for seed in self.params.seeds]

    def observables(self, state, t):
        eta, xp, g, p, ext = state["eta"], self.xp, self.grid, self.params, self.extent
        out = {"free_energy": ac.free_energy(self.backend, g, p, eta, self.scratch, ext),
               "mean_eta": ext.total(eta) / ext.whole.size}
        if p.source is not None:
            x, y = g.mesh(xp)
            err = eta - manufactured_solution(x, y, t, p.source, p.gradient_coefficient, xp)
            # PFHub BM7 norm: plain sum over every node times dx dy
            out["mms_l2_error"] = float(np.sqrt(ext.total(err * err) * ext.whole.node_volume))
        if "particle_count" in self.observable_units:
            out.update(seeding.observables(self, eta))
        return out
