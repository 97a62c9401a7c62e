"""Anisotropic Allen-Cahn coupled to heat with latent heat release: the Karma-Rappel model of PFHub
benchmark 3 (dendritic growth of a pure undercooled melt), 2D (docs/generic_models.md, section 3).

    tau(n) dphi/dt = [phi - lambda U (1 - phi^2)](1 - phi^2) + div(J)
    J              = W^2 grad(phi) + W W_theta (-phi_y, phi_x)
    dU/dt          = D lap(U) + 1/2 dphi/dt
    W(n) = W0 a(theta), tau(n) = tau0 a(theta)^2, a = 1 + eps_m cos(m (theta - theta0)),
    theta = atan2(phi_y, phi_x), W_theta = dW/dtheta = -W0 eps_m m sin(m (theta - theta0))

phi = +1 solid, -1 liquid; U the dimensionless temperature. J is the flux of the free energy's
gradient term: d/d(grad phi) of W(theta)^2 |grad phi|^2 / 2.

The anisotropic stencil: J is evaluated on the faces between nodes (x face i+1/2: phi_x =
(phi[i+1] - phi[i]) / h, phi_y the mean of the central y differences of both nodes; y faces
alike), W and W_theta from the face's own gradient (cos and sin of m theta from its
direction), and div(J) is the difference of the face fluxes: a compact, conservative 9-point
stencil, second order, with the walls' mirror rule of pfsim.stencil (no flux, and the symmetry
planes of a quarter dendrite for theta0 = 0). tau at a node takes theta from central
differences. NumPy and CUDA forms in pfsim/kernels/anisotropic_allen_cahn_heat.py
(kernels/anisotropic_allen_cahn_heat.cu). The fields' initial conditions are data in
model.initial (BM3a: a tanh disc of phi, U = -0.3).
"""

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..initial import InitialConfig, check_initial, initial_field
from ..kernels import anisotropic_allen_cahn_heat as aah
from ..schema import Section
from .base import Model


class AnisotropicAllenCahnHeatParams(Section):
    kind: Literal["anisotropic_allen_cahn_heat"]
    interface_width: float = Field(1.0, gt=0, description="W0")
    relaxation_time: float = Field(1.0, gt=0, description="tau0")
    diffusivity: float = Field(gt=0, description="D of U")
    coupling: float | None = Field(None, gt=0, description="lambda (none: D tau0 / (0.6267 W0^2), the thin-interface value)")
    anisotropy: float = Field(0.05, ge=0, lt=1, description="eps_m of a = 1 + eps_m cos(m (theta - theta0))")
    fold: int = Field(4, ge=1, le=12, description="m: the symmetry of the anisotropy")
    orientation: float = Field(0.0, description="theta0 (radians)")
    tip_threshold: float = Field(0.0, gt=-1, lt=1, description="the phi contour whose crossing of the x axis is the tip")
    initial: dict[Literal["phi", "u"], InitialConfig] = Field(description="initial condition of phi and of U, by kind")

    @model_validator(mode="after")
    def _both_fields(self):
        missing = [k for k in ("phi", "u") if k not in self.initial]
        if missing:
            raise ValueError(f"initial: no initial condition for {', '.join(missing)}")
        if self.anisotropy * (self.fold**2 - 1) >= 1:
            # W + W_theta_theta < 0: the stiffness turns negative and the front grows corners
            raise ValueError(f"anisotropy: {self.anisotropy:g} is at or beyond 1 / (m^2 - 1) = "
                             f"{1 / (self.fold**2 - 1):.4g} for fold {self.fold}: the interface stiffness turns negative")
        return self

    @property
    def lam(self) -> float:
        if self.coupling is not None:
            return self.coupling
        return self.diffusivity * self.relaxation_time / (0.6267 * self.interface_width**2)


class AnisotropicAllenCahnHeat(Model):
    fields = ("phi", "u")
    field_units = {"phi": "1", "u": "1"}
    observable_units = {"free_energy": "J (model units)", "solid_area": "m^2", "solid_fraction": "1",
                        "tip_position": "m", "mean_u": "1"}
    needs_initial = False  # phi's and U's initial conditions are in model.initial

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None):
        super().__init__(params, grid, backend, drive, seed, extent)
        if grid.ndim != 2:
            raise ValueError("model.kind: anisotropic_allen_cahn_heat is defined on 2D grids only")
        self.seed = seed
        for name, init in params.initial.items():
            check_initial(init, grid, f"model.initial.{name}")

    def initial_state(self):
        p, be = self.params, self.backend
        return {name: be.asarray(initial_field(p.initial[name], self, self.seed, stream=i))
                for i, name in enumerate(self.fields)}

    # --- evolution (pfsim/kernels/anisotropic_allen_cahn_heat.py) --------------------------------
    def rate(self, state, t):
        dphi, du = aah.rate(self.backend, self.grid, self.params, state["phi"], state["u"], self.scratch)
        return {"phi": dphi, "u": du}

    def euler_step(self, state, t, dt):
        state["phi"], state["u"] = aah.euler_step(self.backend, self.grid, self.params, state["phi"], state["u"],
                                                  dt, self.scratch)

    def stability_limit(self):
        """Forward Euler's limit of the stiffer equation: U's diffusion, or phi's relaxation with
        the largest W^2 (1 + eps_m m) over the smallest tau and the reaction's slope for |U| <= 1."""
        p, lam = self.params, self.laplacian_eigen_max()
        e = p.anisotropy
        tau_min = p.relaxation_time * (1 - e) ** 2
        stiffness = p.interface_width**2 * (1 + e) * (1 + e + e * p.fold)
        reaction = 2 + 2 * p.lam
        return min(2.0 / (p.diffusivity * lam), 2.0 * tau_min / (stiffness * lam + reaction))

    # --- diagnostics --------------------------------------------------------------------------
    def free_energy_density(self, phi, u):
        """1/2 W(n)^2 |grad phi|^2 + f_chem, central differences for the gradient."""
        p = self.params
        gx, gy = aah.central_gradient(self.grid, self.xp, phi)
        w, _ = aah.w_and_slope(p, self.xp, gx, gy)
        p2 = phi * phi
        chem = -0.5 * p2 + 0.25 * p2 * p2 + p.lam * u * phi * (1 - 2.0 / 3.0 * p2 + 0.2 * p2 * p2)
        return 0.5 * w * w * (gx * gx + gy * gy) + chem

    def tip_position(self, phi):
        """Where the phi = tip_threshold contour crosses the x axis (row y = first node): linear
        interpolation between the last node above it and the next."""
        row = self.extent.gather(phi[:, 0])  # the whole grid's row, joined from every rank's owned nodes
        x = self.extent.whole.coords(0)
        above = np.nonzero(row > self.params.tip_threshold)[0]
        if len(above) == 0:
            return float("nan")
        i = int(above[-1])
        if i + 1 >= len(row):
            return float(x[i])
        f0, f1 = row[i] - self.params.tip_threshold, row[i + 1] - self.params.tip_threshold
        return float(x[i] + (x[i + 1] - x[i]) * f0 / (f0 - f1))

    def observables(self, state, t):
        g, xp = self.grid, self.xp
        phi, u = state["phi"], state["u"]
        area = self.extent.integral(xp.ones(g.shape))
        solid = self.extent.integral(0.5 * (phi + 1))
        return {"free_energy": self.extent.integral(self.free_energy_density(phi, u)),
                "solid_area": solid, "solid_fraction": solid / area, "tip_position": self.tip_position(phi),
                "mean_u": self.extent.integral(u) / area}
