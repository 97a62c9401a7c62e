"""Allen-Cahn with a double well, a constant driving-force tilt, an optional manufactured
source (PFHub benchmark 7) and seeds planted at given positions and times.

    F[eta]     = integral of  W eta^2 (1 - eta)^2 + tilt h(eta) + kappa/2 |grad eta|^2
    h(eta)     = eta^3 (6 eta^2 - 15 eta + 10)   (h(0) = 0, h(1) = 1, h' = 30 eta^2 (1-eta)^2)
    deta/dt    = -L [ 2 W eta (1 - eta)(1 - 2 eta) + tilt h'(eta) - kappa lap(eta) ] + S(x, y, t)

With W = 1, L = 1, tilt = 0 this is PFHub BM7's equation. A negative tilt favours eta = 1.
NumPy form below; CUDA form in kernels/allen_cahn.cu.
"""

from typing import Literal

import numpy as np
from pydantic import Field

from .. import stencil
from ..kernels import grid_args
from ..schema import Length, Section, Time
from .base import Model, numba_stepper, spare_buffer

KERNELS = "allen_cahn.cu"


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


def manufactured_solution(x, y, t, p: ManufacturedSource, kappa, xp=np):
    """eta_sol of PFHub BM7."""
    alpha = 0.25 + p.A1 * t * xp.sin(p.B1 * x) + p.A2 * xp.sin(p.B2 * x + p.C2 * t)
    return 0.5 * (1 - xp.tanh((y - alpha) / np.sqrt(2 * kappa)))


def manufactured_source(x, y, t, p: ManufacturedSource, kappa, xp=np):
    """S(x, y, t) that makes eta_sol an exact solution (PFHub BM7)."""
    alpha = 0.25 + p.A1 * t * xp.sin(p.B1 * x) + p.A2 * xp.sin(p.B2 * x + p.C2 * t)
    ax = p.A1 * p.B1 * t * xp.cos(p.B1 * x) + p.A2 * p.B2 * xp.cos(p.B2 * x + p.C2 * t)
    axx = -p.A1 * p.B1**2 * t * xp.sin(p.B1 * x) - p.A2 * p.B2**2 * xp.sin(p.B2 * x + p.C2 * t)
    at = p.A1 * xp.sin(p.B1 * x) + p.A2 * p.C2 * xp.cos(p.B2 * x + p.C2 * t)
    sk = np.sqrt(kappa)
    th = xp.tanh((y - alpha) / np.sqrt(2 * kappa))
    sech2 = 1 - th * th
    return sech2 / (4 * sk) * (-2 * sk * th * ax * ax + np.sqrt(2.0) * (at - kappa * axx))


class AllenCahn(Model):
    fields = ("eta",)
    field_units = {"eta": "1"}
    observable_units = {"free_energy": "J (model units)", "mean_eta": "1", "mms_l2_error": "1"}

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None):
        super().__init__(params, grid, backend, drive, seed, extent)
        if params.source is not None and grid.ndim != 2:
            raise ValueError("model.source: the PFHub BM7 source is defined on 2D grids only")
        for i, seed in enumerate(params.seeds):
            if len(seed.position) != grid.spatial_ndim:
                raise ValueError(f"model.seeds.{i}.position: expected {grid.spatial_ndim} coordinates")

    def _slope(self, eta):
        p = self.params
        return 2 * p.barrier * eta * (1 - eta) * (1 - 2 * eta) + p.tilt * 30 * eta**2 * (1 - eta) ** 2

    # --- NumPy form --------------------------------------------------------------------
    def rate_numpy(self, eta, t):
        p = self.params
        r = stencil.laplacian(eta, self.grid)
        r *= p.gradient_coefficient
        r -= self._slope(eta)
        r *= p.mobility
        if p.source is not None:
            x, y = self.grid.mesh(self.xp)
            r += manufactured_source(x, y, t, p.source, p.gradient_coefficient, self.xp)
        return r

    def euler_step_numpy(self, state, t, dt):
        """eta + dt rate_numpy(eta), bit for bit, out of place into the array the previous step
        left over, one cache-sized block of rows at a time through three scratch blocks kept
        between steps: no grid-sized temporary (the BM7 source aside)."""
        xp, p, eta = self.xp, self.params, state["eta"]
        new = spare_buffer(self, eta)
        stepper = numba_stepper(self, eta) if p.source is None else None
        if stepper is not None:
            stepper.allen_cahn(eta, new, p, dt)
            state["eta"], self._spare = new, eta
            return
        w = getattr(self, "_work_blocks", None)
        blocks = stencil.row_blocks(eta.shape)
        rows = blocks[0][1] - blocks[0][0]
        if w is None or w[0].shape[1:] != eta.shape[1:] or w[0].dtype != eta.dtype or len(w[0]) != rows:
            w = self._work_blocks = [xp.empty((rows,) + eta.shape[1:], eta.dtype) for _ in range(3)]
        source = None
        if p.source is not None:
            x, y = self.grid.mesh(xp)
            source = manufactured_source(x, y, t, p.source, p.gradient_coefficient, xp)
        for i0, i1 in blocks:
            m, e = i1 - i0, eta[i0:i1]
            r, w1, w2 = new[i0:i1], w[1][:m], w[2][:m]
            stencil.laplacian_rows(eta, self.grid, i0, i1, r, w[0][:m])
            r *= p.gradient_coefficient
            r -= self._slope_into(e, w1, w2, w[0][:m])
            r *= p.mobility
            if source is not None:
                r += source[i0:i1]
            r *= dt
            r += e
        state["eta"], self._spare = new, eta

    def _slope_into(self, eta, out, tmp, tilt):
        """_slope(eta) into out, evaluated as the expression is (left to right)."""
        p, xp = self.params, self.xp
        xp.multiply(eta, 2 * p.barrier, out=out)
        out *= xp.subtract(1, eta, out=tmp)
        xp.multiply(eta, 2, out=tmp)
        out *= xp.subtract(1, tmp, out=tmp)
        if p.tilt:
            xp.square(eta, out=tilt)
            tilt *= p.tilt * 30
            tilt *= xp.square(xp.subtract(1, eta, out=tmp), out=tmp)
            out += tilt
        return out

    # --- CUDA form ---------------------------------------------------------------------
    def _rate_args(self, t):
        p, s, g = self.params, self.backend.scalar, self.grid
        src = p.source or ManufacturedSource(kind="pfhub_bm7")
        return grid_args(self.backend, self.grid) + (
            s(p.mobility), s(p.barrier), s(p.tilt), s(p.gradient_coefficient),
            np.int32(p.source is not None), s(g.origin[0]), s(g.origin[1]),
            s(g.spacing[0]), s(g.spacing[1]), s(t),
            s(src.A1), s(src.B1), s(src.A2), s(src.B2), s(src.C2),
        )

    def rate_cuda(self, eta, t):
        out = self.xp.empty_like(eta)
        self.backend.launch(KERNELS, "ac_rate", eta.size, (eta, out) + self._rate_args(t))
        return out

    def euler_step(self, state, t, dt):
        if not self.backend.is_gpu:
            return self.euler_step_numpy(state, t, dt)
        eta = state["eta"]
        out = spare_buffer(self, eta)  # one launch, out of place (ac_euler_update)
        self.backend.launch(KERNELS, "ac_euler_update", eta.size,
                            (eta, out) + self._rate_args(t) + (self.backend.scalar(dt),))
        state["eta"], self._spare = out, eta

    def rate(self, state, t):
        f = self.rate_cuda if self.backend.is_gpu else self.rate_numpy
        return {"eta": f(state["eta"], t)}

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
        eta, xp, g, p = state["eta"], self.xp, self.grid, self.params
        out = {"free_energy": self._free_energy(eta), "mean_eta": float(eta.mean())}
        if p.source is not None:
            x, y = g.mesh(xp)
            err = eta - manufactured_solution(x, y, t, p.source, p.gradient_coefficient, xp)
            # PFHub BM7 norm: plain sum over every node times dx dy
            out["mms_l2_error"] = float(np.sqrt(float((err * err).sum()) * g.node_volume))
        return out

    def _free_energy(self, eta):
        xp, g, p = self.xp, self.grid, self.params
        if self.backend.is_gpu:
            density = p.barrier * eta**2 * (1 - eta) ** 2 + 0.5 * p.gradient_coefficient * stencil.gradient_squared(eta, g, xp)
            if p.tilt:
                density = density + p.tilt * eta**3 * (6 * eta**2 - 15 * eta + 10)
            return stencil.integrate(density, g, xp)

        def density_rows(i0, i1, out, w1, w2, w3):
            # the expressions above, node by node, through scratch blocks
            e = eta[i0:i1]
            stencil.gradient_squared_rows(eta, g, i0, i1, out, w1)
            out *= 0.5 * p.gradient_coefficient
            np.square(e, out=w1)
            w1 *= p.barrier
            w1 *= np.square(np.subtract(1, e, out=w2), out=w2)
            out += w1
            if p.tilt:
                np.power(e, 3, out=w1)
                w1 *= p.tilt
                np.square(e, out=w2)
                w2 *= 6
                w2 -= np.multiply(e, 15, out=w3)
                w2 += 10
                w1 *= w2
                out += w1
            return out

        return stencil.integrate_rows(density_rows, g, eta.shape, eta.dtype, self.__dict__.setdefault("_observable_blocks", []))
