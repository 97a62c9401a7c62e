"""Cahn-Hilliard with electrostatics: a conserved concentration c carrying the charge density
k c, its potential Phi from Poisson's equation solved every step (docs/generic_models.md).

    F[c]     = integral of  f(c) + kappa/2 |grad c|^2 + k c (Phi_c / 2 + Phi_ext)
    f(c)     = rho (c - c_alpha)^2 (c_beta - c)^2
    -eps lap(Phi) = k c            Phi = Phi_c + Phi_ext: Phi_c the charge's own potential (zero
                                   on the Dirichlet walls), Phi_ext the walls' (no charge)
    mu       = f'(c) - kappa lap(c) + k Phi
    dc/dt    = M lap(mu)

The 1/2 multiplies only the charge's energy in its own field (each pair of charges once); the
energy of the charge in the field of the walls' potential has none. The variation of both is
k Phi. With no Dirichlet wall the potential is that of the charge on a uniform neutralising
background (k (c - mean c)), fixed by a zero mean.

Walls of Phi (`potential_walls`, per bounded axis and side): neumann (zero normal field) or
dirichlet with a value that may vary along the wall, given as data: a mean, a list of Fourier
modes and (2D) a sampled profile, Phi_b(x) = value + sum_m amplitude_m cos(wavevector_m . x +
phase_m) + profile(x) at the wall's nodes, the profile's samples spread evenly over the wall and
linearly interpolated.
Periodic axes of the grid are periodic for Phi too. The walls of c are the grid's.

Phi is a field of the state (written to the store and checkpoints) that `enforce` recomputes from
c after every update: one elliptic solve per step (per stage with RK4), through the extent. The
step of c: pfsim/kernels/cahn_hilliard_electrostatic.py (kernels/cahn_hilliard_electrostatic.cu).
"""

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..kernels import cahn_hilliard as ch
from ..kernels import cahn_hilliard_electrostatic as chel
from ..schema import Section
from .base import Model
from .cahn_hilliard import CahnHilliardParams

AXES = ("x", "y", "z")


class FourierMode(Section):
    amplitude: float = Field(description="A of A cos(wavevector . x + phase)")
    wavevector: list[float] = Field(min_length=2, max_length=3,
                                    description="one component per axis (radians per unit length)")
    phase: float = Field(0.0, description="phase (radians)")


class PotentialWall(Section):
    condition: Literal["neumann", "dirichlet"] = Field("neumann", description="zero normal field, or a held value")
    value: float = Field(0.0, description="dirichlet: the mean value on the wall")
    modes: list[FourierMode] = Field(default_factory=list, description="dirichlet: Fourier modes added along the wall")
    profile: list[float] = Field(default_factory=list, description=(
        "dirichlet, 2D grids: values sampled evenly from the wall's first node to its last, linearly "
        "interpolated to its nodes and added"))

    @model_validator(mode="after")
    def _data_only_when_held(self):
        if self.condition == "neumann" and (self.value != 0.0 or self.modes or self.profile):
            raise ValueError("value, modes and profile are read on dirichlet walls only")
        if len(self.profile) == 1:
            raise ValueError("profile: give at least two samples (a constant is `value`)")
        return self


class PotentialAxis(Section):
    low: PotentialWall = Field(PotentialWall(), description="wall at the first node")
    high: PotentialWall = Field(PotentialWall(), description="wall at the last node")


class CahnHilliardElectrostaticParams(CahnHilliardParams):
    kind: Literal["cahn_hilliard_electrostatic"]
    charge: float = Field(description="k: charge density per unit c")
    permittivity: float = Field(gt=0, description="eps of -eps lap(Phi) = k c")
    potential_walls: dict[Literal["x", "y", "z"], PotentialAxis] = Field(
        default_factory=dict, description="walls of Phi on bounded axes; unspecified walls are neumann")
    potential_tolerance: float = Field(1e-12, gt=0, lt=1e-3, description="relative residual of the Poisson solves")


def wall_values(wall: PotentialWall, grid, axis: int, side: int) -> np.ndarray:
    """Phi_b at the nodes of one wall (host, float64), shaped as the grid less `axis`."""
    mesh = grid.mesh(np)
    index = [slice(None)] * grid.ndim
    index[axis] = 0 if side == 0 else -1
    wall_shape = tuple(n for a, n in enumerate(grid.shape) if a != axis)
    out = np.full(wall_shape, float(wall.value))
    for m in wall.modes:
        arg = m.phase + sum(k * x for k, x in zip(m.wavevector, mesh))
        out += (m.amplitude * np.cos(np.broadcast_to(arg, grid.shape)))[tuple(index)]
    if wall.profile:
        along = 1 - axis  # 2D: the wall's own axis
        x = grid.coords(along)
        out += np.interp((x - x[0]) / (x[-1] - x[0]), np.linspace(0.0, 1.0, len(wall.profile)), wall.profile)
    return out


class CahnHilliardElectrostatic(Model):
    fields = ("c", "potential")
    field_units = {"c": "1", "potential": "1 (model units)"}
    observable_units = {"free_energy": "J (model units)", "chemical_energy": "J (model units)",
                        "electrostatic_energy": "J (model units)", "mass": "1 * m^d",
                        "potential_min": "1 (model units)", "potential_max": "1 (model units)"}

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None):
        super().__init__(params, grid, backend, drive, seed, extent)
        p, g, xp = params, grid, self.xp
        for name, walls in p.potential_walls.items():
            a = AXES.index(name)
            if a >= g.ndim:
                raise ValueError(f"model.potential_walls.{name}: axis '{name}' does not exist on a {g.ndim}D grid")
            if g.periodic[a]:
                raise ValueError(f"model.potential_walls.{name}: the grid's axis {name} is periodic (so is Phi)")
            for side in (walls.low, walls.high):
                if side.profile and g.ndim != 2:
                    raise ValueError(f"model.potential_walls.{name}: a sampled profile is read on 2D grids only")
                for i, m in enumerate(side.modes):
                    if len(m.wavevector) != g.ndim:
                        raise ValueError(f"model.potential_walls.{name}: modes.{i}.wavevector: expected {g.ndim} components")
        # the walls of the whole grid (a decomposed run's slab takes its rows: extent.local)
        whole = self.extent.whole
        held = np.zeros(whole.shape, bool)
        values = np.zeros(whole.shape)
        for a, name in enumerate(AXES[: g.ndim]):  # later axes win at corners two held walls share
            walls = p.potential_walls.get(name)
            if walls is None:
                continue
            for side, wall in enumerate((walls.low, walls.high)):
                if wall.condition == "dirichlet":
                    index = [slice(None)] * g.ndim
                    index[a] = 0 if side == 0 else -1
                    held[tuple(index)] = True
                    values[tuple(index)] = wall_values(wall, whole, a, side)
        # no held wall: the potential of the charge on a neutralising background, defined up to a
        # constant; one node is held at 0 (its equation holds by the others' with a neutral
        # right-hand side) and the mean removed after each solve
        self.neutral = not held.any()
        if self.neutral:
            held[(0,) * g.ndim] = True
        local = self.extent.local
        self.held, self.wall_values = xp.asarray(local(held)), xp.asarray(local(values))
        # the charge at a neumann wall node enters with the trapezoid weight (1/2): the solver's
        # no-flux rows have no face beyond the wall, so this is the mirror (second-order) form
        # for a potential that does not vary along the wall. (On a bounded x a slab's padded grid
        # halves its first and last rows: the whole grid's walls, or ghost rows, which no sum reads.)
        self.weights = g.interior_weights(xp)
        self.problem = self.extent.elliptic(k=xp.full(g.shape, p.permittivity), c=0.0, mask=~self.held)
        self.external = self.solve_potential(None) if not self.neutral else xp.zeros(g.shape)

    # --- the potential ----------------------------------------------------------------------
    def charge_rhs(self, c):
        """The right-hand side of the Poisson solve: weighted charge on free nodes, the walls' values
        on held ones (c None: no charge)."""
        xp, k = self.xp, self.params.charge
        if c is None:
            b = xp.zeros(self.grid.shape)
        else:
            rho = c
            if self.neutral:
                total, weight = self.extent.total(c * self.weights, self.weights)
                rho = c - total / weight
            b = (k * rho) * self.weights
        return xp.where(self.held, self.wall_values, b)

    def solve_potential(self, c, x0=None):
        phi, info = self.problem.solve(self.charge_rhs(c), x0=x0, rtol=self.params.potential_tolerance)
        if self.neutral:
            total, weight = self.extent.total(phi * self.weights, self.weights)
            phi = phi - total / weight
        return phi

    # --- evolution ----------------------------------------------------------------------------
    def rate(self, state, t):
        r = chel.rate_numpy(self.backend, self.grid, self.params, state["c"], state["potential"], self.scratch)
        return {"c": r, "potential": self.xp.zeros_like(r)}

    def euler_step(self, state, t, dt):
        state["c"] = chel.euler_step(self.backend, self.grid, self.params, state["c"], state["potential"], dt,
                                     self.scratch)

    def enforce(self, state, t):
        self.grid.apply_dirichlet(state["c"])
        state["potential"][...] = self.solve_potential(state["c"], x0=state["potential"])

    def stability_limit(self):
        p, lam = self.params, self.laplacian_eigen_max()
        curvature = 2 * p.barrier * (p.c_beta - p.c_alpha) ** 2
        screening = p.charge**2 / p.permittivity  # M k^2 / eps: the field's damping of every mode
        return 2.0 / (p.mobility * (p.gradient_coefficient * lam**2 + curvature * lam + screening))

    # --- diagnostics --------------------------------------------------------------------------
    def electrostatic_energy(self, c, phi):
        """The integral of k rho (Phi_c / 2 + Phi_ext) = k rho (Phi + Phi_ext) / 2 (trapezoid)."""
        rho = c
        if self.neutral:
            total, weight = self.extent.total(c * self.weights, self.weights)
            rho = c - total / weight
        density = 0.5 * self.params.charge * rho * (phi + self.external)
        return self.extent.integral(density)

    def observables(self, state, t):
        c, phi = state["c"], state["potential"]
        out = ch.observables(self.backend, self.grid, self.params, c, self.scratch, self.extent)
        electro = self.electrostatic_energy(c, phi)
        return {"free_energy": out["free_energy"] + electro, "chemical_energy": out["free_energy"],
                "electrostatic_energy": electro, "mass": out["mass"],
                "potential_min": self.extent.least(phi), "potential_max": self.extent.peak(phi)}
