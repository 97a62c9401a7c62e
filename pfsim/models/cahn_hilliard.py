"""Cahn-Hilliard with a double-well free energy (PFHub benchmark 1 form).

    F[c]  = integral of  rho (c - c_alpha)^2 (c_beta - c)^2 + kappa/2 |grad c|^2
    mu    = df/dc - kappa lap(c)
    dc/dt = div(M grad mu) = M lap(mu)          (constant M)

NumPy and CUDA forms in pfsim/kernels/cahn_hilliard.py (kernels/cahn_hilliard.cu). The free
energy observable uses central differences for |grad c|^2 (the MEMPHIS choice that PFHub's BM1a
reference uses).
"""

from typing import Literal

from pydantic import Field

from ..kernels import cahn_hilliard as ch
from ..schema import Section
from .base import Model


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

    def rate(self, state, t):
        return {"c": ch.rate(self.backend, self.grid, self.params, state["c"], self.scratch)}

    def euler_step(self, state, t, dt):
        state["c"] = ch.euler_step(self.backend, self.grid, self.params, state["c"], dt, self.scratch)

    def stability_limit(self):
        p, lam = self.params, self.laplacian_eigen_max()
        curvature = 2 * p.barrier * (p.c_beta - p.c_alpha) ** 2  # bound on |f''| over the wells
        return 2.0 / (p.mobility * (p.gradient_coefficient * lam**2 + curvature * lam))

    def observables(self, state, t):
        return ch.observables(self.backend, self.grid, self.params, state["c"], self.scratch, self.extent)
