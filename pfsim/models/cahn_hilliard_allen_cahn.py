"""A conserved concentration c coupled to N non-conserved order parameters eta_1..eta_N: the PFHub
benchmark 2 (Ostwald ripening) free energy (docs/generic_models.md, section 2).

    F        = integral of  f(c, eta) + kappa_c/2 |grad c|^2 + sum_i kappa_eta/2 |grad eta_i|^2
    f        = f_a(c) (1 - h) + f_b(c) h + w g
    f_a      = rho2 (c - c_alpha)^2,   f_b = rho2 (c_beta - c)^2
    h        = sum_i eta_i^3 (6 eta_i^2 - 15 eta_i + 10)
    g        = sum_i eta_i^2 (1 - eta_i)^2 + alpha sum_{i<j} eta_i^2 eta_j^2     (each pair once)
    dc/dt    = M lap(df/dc - kappa_c lap(c))
    deta_i/dt = -L (df/deta_i - kappa_eta lap(eta_i))

cross_term: "each_pair_once" (PRISMS-PF's choice, the default) or "each_pair_twice" (the literal
double sum over j != i that MOOSE's upload uses: alpha doubled in effect). The fields' initial
conditions are data in model.initial, one kind of pfsim.initial per field. time.integrator semi_implicit:
the adaptive IMEX Fourier step (semi_implicit_step; fully periodic grids). NumPy and CUDA forms in
pfsim/kernels/cahn_hilliard_allen_cahn.py (kernels/cahn_hilliard_allen_cahn.cu).
"""

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from .. import stencil
from ..initial import InitialConfig, check_initial, initial_field
from ..kernels import cahn_hilliard_allen_cahn as chac
from ..schema import Section
from .base import Model

MAX_ORDER_PARAMETERS = 16


def order_parameter_names(n):
    return tuple(f"eta{i}" for i in range(1, n + 1))


class CahnHilliardAllenCahnParams(Section):
    kind: Literal["cahn_hilliard_allen_cahn"]
    order_parameters: int = Field(4, ge=1, le=MAX_ORDER_PARAMETERS, description="N: the eta fields eta1..etaN")
    mobility: float = Field(gt=0, description="M of c")
    relaxation: float = Field(gt=0, description="L of the eta_i")
    kappa_c: float = Field(gt=0, description="gradient coefficient of c")
    kappa_eta: float = Field(gt=0, description="gradient coefficient of every eta_i")
    rho2: float = Field(gt=0, description="rho^2 of f_a = rho^2 (c - c_alpha)^2, f_b = rho^2 (c_beta - c)^2")
    c_alpha: float = Field(0.3, description="c of the matrix phase")
    c_beta: float = Field(0.7, description="c of the particle phase")
    w: float = Field(1.0, ge=0, description="height of the order parameters' double wells")
    alpha: float = Field(5.0, ge=0, description="cross term between order parameters")
    cross_term: Literal["each_pair_once", "each_pair_twice"] = Field(
        "each_pair_once", description="alpha sum over pairs i < j (PRISMS-PF), or over j != i (MOOSE: each pair twice)")
    initial: dict[str, InitialConfig] = Field(description="initial condition of each field (c, eta1..etaN), by kind")

    @model_validator(mode="after")
    def _every_field_once(self):
        names = ("c",) + order_parameter_names(self.order_parameters)
        unknown = [k for k in self.initial if k not in names]
        missing = [k for k in names if k not in self.initial]
        if unknown:
            raise ValueError(f"initial: unknown field {unknown[0]!r} (the fields are {', '.join(names)})")
        if missing:
            raise ValueError(f"initial: no initial condition for {', '.join(missing)}")
        return self


class CahnHilliardAllenCahn(Model):
    fields = ("c",) + order_parameter_names(4)  # the default N; an instance holds its own
    field_units = {"c": "1", **{n: "1" for n in order_parameter_names(MAX_ORDER_PARAMETERS)}}
    observable_units = {"free_energy": "J (model units)", "mass": "1 * m^d",
                        **{f"mean_{n}": "1" for n in order_parameter_names(MAX_ORDER_PARAMETERS)}}
    needs_initial = False  # each field's initial condition is in model.initial

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None):
        super().__init__(params, grid, backend, drive, seed, extent)
        self.seed = seed
        self.etas = order_parameter_names(params.order_parameters)
        self.fields = ("c",) + self.etas
        for name, init in params.initial.items():
            check_initial(init, grid, f"model.initial.{name}")
        self.pair_factor = 1.0 if params.cross_term == "each_pair_once" else 2.0

    def initial_state(self):
        p, be = self.params, self.backend
        return {name: be.asarray(initial_field(p.initial[name], self, self.seed, stream=i))
                for i, name in enumerate(self.fields)}

    # --- evolution (pfsim/kernels/cahn_hilliard_allen_cahn.py) ---------------------------------
    @property
    def cross(self) -> float:
        """The factor of eta_k sum_{j != k} eta_j^2 in df/deta_k: 2 alpha per counting of each pair."""
        return 2 * self.params.alpha * self.pair_factor

    def rate(self, state, t):
        dc, detas = chac.rate(self.backend, self.grid, self.params, self.cross, state["c"],
                              [state[n] for n in self.etas], self.scratch)
        return {"c": dc, **dict(zip(self.etas, detas))}

    def euler_step(self, state, t, dt):
        c, etas = chac.euler_step(self.backend, self.grid, self.params, self.cross, state["c"],
                                  [state[n] for n in self.etas], dt, self.scratch)
        state["c"] = c
        state.update(zip(self.etas, etas))

    # --- the semi-implicit Fourier step (time.integrator: semi_implicit) ------------------------
    @property
    def integrators(self):
        """euler and rk4; semi_implicit on a fully periodic grid held by one process."""
        whole = getattr(self.grid, "whole", None) is None  # a rank's slab has .whole (pfsim.parallel)
        return super().integrators + (("semi_implicit",) if whole and all(self.grid.periodic) else ())

    def semi_implicit_step(self, state, t, dt):
        """The state one IMEX Euler step of dt later (new arrays; pfsim.kernels.cahn_hilliard_allen_cahn).
        solve_counts: [eta solves, their iterations in all, the most in one] since the model was built."""
        k2 = self.scratch.get("minus_laplacian_symbol")
        if k2 is None:
            k2 = self.scratch["minus_laplacian_symbol"] = stencil.minus_laplacian_symbol(self.grid, self.xp)
        iterations = []
        c, etas = chac.semi_implicit_step(self.backend, self.params, self.cross, state["c"],
                                          [state[n] for n in self.etas], dt, k2, iterations)
        counts = self.solve_counts
        counts[:] = [counts[0] + len(iterations), counts[1] + sum(iterations), max([counts[2]] + iterations)]
        return {"c": c, **dict(zip(self.etas, etas))}

    @property
    def solve_counts(self) -> list:
        return self.scratch.setdefault("solve_counts", [0, 0, 0])

    def free_energy(self, state) -> float:
        return self.extent.integral(self.free_energy_density(state))

    def discrete_energy(self, state) -> float:
        """F with one-sided differences for the gradients on a periodic grid: the energy that the
        5-point (7-point) Laplacian's equations dissipate (lap = -D+^T D+), which the semi-implicit
        step control holds non-increasing. The `free_energy` observable (central differences) can
        rise by a little where this one falls."""
        p, xp = self.params, self.xp
        local = self.free_energy_density(state, gradients=False)
        gradients = [(p.kappa_c, state["c"])] + [(p.kappa_eta, state[n]) for n in self.etas]
        for kappa, f in gradients:
            for a, h in enumerate(self.grid.spacing):
                local = local + (0.5 * kappa / h**2) * (xp.roll(f, -1, axis=a) - f) ** 2
        return self.extent.integral(local)

    def stability_limit(self):
        """Forward Euler's limit of the stiffer of the two equations, from bounds on the second
        derivatives of f for c in [0, 1] and eta in [0, 1]."""
        p, lam = self.params, self.laplacian_eigen_max()
        n = p.order_parameters
        ch = 2.0 / (p.mobility * (p.kappa_c * lam**2 + 2 * p.rho2 * lam))
        jump = p.rho2 * abs(p.c_beta - p.c_alpha) * (abs(p.c_alpha + p.c_beta) + 2)  # |f_b - f_a| for c in [0, 1]
        curvature = jump * 5.78 + p.w * (2 + 2 * p.alpha * self.pair_factor * max(n - 1, 0))  # max |h''| = 5.77
        ac = 2.0 / (p.relaxation * (p.kappa_eta * lam + curvature))
        return min(ch, ac)

    # --- diagnostics --------------------------------------------------------------------------
    def free_energy_density(self, state, gradients=True):
        """f + gradient energies (central differences for the gradients, as the BM1 reference;
        gradients=False: f alone)."""
        p, g, xp = self.params, self.grid, self.xp
        c = state["c"]
        h, sq = chac.sums([state[n] for n in self.etas])
        f = p.rho2 * (c - p.c_alpha) ** 2 * (1 - h) + p.rho2 * (p.c_beta - c) ** 2 * h
        if gradients:
            f = f + 0.5 * p.kappa_c * stencil.gradient_squared(c, g, xp)
        wells, quartic = 0.0, 0.0
        for n in self.etas:
            e = state[n]
            wells = wells + e * e * (1 - e) ** 2
            quartic = quartic + (e * e) ** 2
            if gradients:
                f = f + 0.5 * p.kappa_eta * stencil.gradient_squared(e, g, xp)
        pairs = 0.5 * (sq * sq - quartic)  # sum over i < j of eta_i^2 eta_j^2
        return f + p.w * (wells + p.alpha * self.pair_factor * pairs)

    def observables(self, state, t):
        out = {"free_energy": self.free_energy(state),
               "mass": self.extent.integral(state["c"])}
        totals = np.atleast_1d(self.extent.total(*(state[n] for n in self.etas)))  # one number for one eta
        for n, total in zip(self.etas, totals):
            out[f"mean_{n}"] = float(total) / self.extent.whole.size
        return out
