"""Cahn-Hilliard with a double-well free energy (PFHub benchmark 1 form).

    F[c]  = integral of  rho (c - c_alpha)^2 (c_beta - c)^2 + kappa/2 |grad c|^2
    mu    = df/dc - kappa lap(c)
    dc/dt = div(M grad mu) = M lap(mu)          (constant M)

NumPy form below; CUDA form in kernels/cahn_hilliard.cu. The free energy observable uses
central differences for |grad c|^2 (the MEMPHIS choice that PFHub's BM1a reference uses).
"""

from typing import Literal

import numpy as np

from pydantic import Field

from .. import stencil
from ..kernels import grid_args
from ..schema import Section
from .base import Model, numba_stepper, spare_buffer

KERNELS = "cahn_hilliard.cu"


class CahnHilliardParams(Section):
    kind: Literal["cahn_hilliard"]
    mobility: float = Field(gt=0, description="M, model units (length^2 per time per energy)")
    gradient_coefficient: float = Field(gt=0, description="kappa")
    barrier: float = Field(gt=0, description="rho_s of the double well")
    c_alpha: float = Field(0.3, description="first minimum of the double well")
    c_beta: float = Field(0.7, description="second minimum of the double well")


class CahnHilliard(Model):
    fields = ("c",)
    field_units = {"c": "1"}
    observable_units = {"free_energy": "J (model units)", "mass": "1 * m^d"}

    def _double_well(self, c):
        p = self.params
        return p.barrier * (c - p.c_alpha) ** 2 * (p.c_beta - c) ** 2

    # --- NumPy form --------------------------------------------------------------------
    # In place, one block of rows at a time (stencil.row_blocks), into work arrays kept between
    # steps: the same operations in the same order as the plain expressions, bit for bit,
    # with the intermediate passes in cache instead of main memory.
    def _work(self, c):
        """(mu, two scratch blocks) for fields like c."""
        w = getattr(self, "_work_arrays", None)
        if w is None or w[0].shape != c.shape or w[0].dtype != c.dtype:
            i0, i1 = stencil.row_blocks(c.shape)[0]
            block = (i1 - i0,) + c.shape[1:]
            w = self._work_arrays = [self.xp.empty_like(c), self.xp.empty(block, c.dtype), self.xp.empty(block, c.dtype)]
        return w

    def _double_well_slope_into(self, c, out, tmp):
        """2 rho (c - ca) (cb - c) (ca + cb - 2 c), evaluated left to right."""
        p, xp = self.params, self.xp
        xp.subtract(c, p.c_alpha, out=out)
        out *= 2 * p.barrier
        out *= xp.subtract(p.c_beta, c, out=tmp)
        xp.multiply(c, 2, out=tmp)
        out *= xp.subtract(p.c_alpha + p.c_beta, tmp, out=tmp)
        return out

    def chemical_potential_numpy(self, c, out=None):
        _, w1, w2 = self._work(c)
        mu = self.xp.empty_like(c) if out is None else out
        for i0, i1 in stencil.row_blocks(c.shape):
            m, block = i1 - i0, mu[i0:i1]
            stencil.laplacian_rows(c, self.grid, i0, i1, block, w1[:m])
            block *= -self.params.gradient_coefficient
            block += self._double_well_slope_into(c[i0:i1], w1[:m], w2[:m])
        return mu

    def euler_step_numpy(self, c, dt):
        mu, lap, work = self._work(c)
        self.chemical_potential_numpy(c, mu)
        for i0, i1 in stencil.row_blocks(c.shape):
            m = i1 - i0
            stencil.laplacian_rows(mu, self.grid, i0, i1, lap[:m], work[:m])
            lap[:m] *= self.params.mobility
            lap[:m] *= dt
            c[i0:i1] += lap[:m]

    # --- CUDA form ---------------------------------------------------------------------
    def chemical_potential_cuda(self, c):
        p, s = self.params, self.backend.scalar
        mu = self.xp.empty_like(c)
        args = (c, mu) + grid_args(self.backend, self.grid) + (s(p.barrier), s(p.c_alpha), s(p.c_beta), s(p.gradient_coefficient))
        self.backend.launch(KERNELS, "ch_chemical_potential", c.size, args)
        return mu

    def chemical_potential(self, c):
        if self.backend.is_gpu:
            return self.chemical_potential_cuda(c)
        return self.chemical_potential_numpy(c)

    def rate(self, state, t):
        mu = self.chemical_potential(state["c"])
        if self.backend.is_gpu:
            out = self.xp.empty_like(mu)
            args = (mu, out) + grid_args(self.backend, self.grid) + (self.backend.scalar(self.params.mobility),)
            self.backend.launch(KERNELS, "ch_rate", mu.size, args)
            return {"c": out}
        out = stencil.laplacian(mu, self.grid)
        out *= self.params.mobility
        return {"c": out}

    def euler_step(self, state, t, dt):
        c = state["c"]
        if not self.backend.is_gpu:
            stepper = numba_stepper(self, c)
            if stepper is not None:
                return stepper.cahn_hilliard(c, self._work(c)[0], self.params, dt)
            return self.euler_step_numpy(c, dt)
        state["c"] = self.euler_step_cuda(c, dt)

    def euler_step_cuda(self, c, dt):
        """One launch, out of place (ch_step_fused): returns the new c; the old array is kept
        as the next step's output buffer."""
        p, s = self.params, self.backend.scalar
        out = spare_buffer(self, c)
        args = (c, out) + grid_args(self.backend, self.grid) + (s(p.barrier), s(p.c_alpha), s(p.c_beta),
                                                 s(p.gradient_coefficient), s(p.mobility), s(dt))
        self.backend.launch(KERNELS, "ch_step_fused", c.size, args)
        self._spare = c
        return out

    def euler_step_cuda_two_launches(self, c, dt):
        """The unfused step, in place: ch_chemical_potential then ch_euler_update (5 words per
        node against the fused step's 2; kept as the benchmark's comparison)."""
        mu, s = self.chemical_potential_cuda(c), self.backend.scalar
        args = (c, mu) + grid_args(self.backend, self.grid) + (s(self.params.mobility), s(dt))
        self.backend.launch(KERNELS, "ch_euler_update", c.size, args)

    def stability_limit(self):
        p, lam = self.params, self.laplacian_eigen_max()
        curvature = 2 * p.barrier * (p.c_beta - p.c_alpha) ** 2  # bound on |f''| over the wells
        return 2.0 / (p.mobility * (p.gradient_coefficient * lam**2 + curvature * lam))

    def observables(self, state, t):
        c, xp, g = state["c"], self.xp, self.grid
        if self.backend.is_gpu:
            density = self._double_well(c) + 0.5 * self.params.gradient_coefficient * stencil.gradient_squared(c, g, xp)
            return {"free_energy": stencil.integrate(density, g, xp), "mass": stencil.integrate(c, g, xp)}
        p = self.params

        def density_rows(i0, i1, out, w1, w2, w3):
            # the expression above, node by node, through scratch blocks
            block = c[i0:i1]
            stencil.gradient_squared_rows(c, g, i0, i1, out, w1)
            out *= 0.5 * p.gradient_coefficient
            np.square(np.subtract(block, p.c_alpha, out=w1), out=w1)
            w1 *= p.barrier
            w1 *= np.square(np.subtract(p.c_beta, block, out=w2), out=w2)
            out += w1
            return out

        def c_rows(i0, i1, out, *work):
            out[...] = c[i0:i1]
            return out

        return {"free_energy": stencil.integrate_rows(density_rows, g, c.shape, c.dtype, self.__dict__.setdefault("_observable_blocks", [])),
                "mass": stencil.integrate_rows(c_rows, g, c.shape, c.dtype, self.__dict__.setdefault("_observable_blocks", []))}
