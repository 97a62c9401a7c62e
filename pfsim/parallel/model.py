"""A model run on one slab of a decomposed grid.

`SlabModel` wraps the model built on the rank's padded `LocalGrid`: the halos are exchanged
before every rate evaluation (each Euler step and RK4 stage), so the model's own NumPy or CUDA
code computes every owned node exactly as a single-process run does. Observables are the
same sums as the model's `observables`, over owned nodes only, added up across ranks.
"""

import numpy as np

from .. import stencil
from ..kernels.cahn_hilliard import double_well
from ..models.allen_cahn import manufactured_solution
from .comm import ParallelError, global_sums

# rows of ghosts each model's rate needs: its stencil applied once (Allen-Cahn) or twice
# (Cahn-Hilliard: the Laplacian of the chemical potential). li_stripping applies one-node
# stencils to its fields and to what it computes from them pointwise, and exchanges the
# ghosts of what its elliptic solves return (pfsim.models.extent); li_plating also exchanges
# the metal after each sub-step and nucleation and the damage after its update, so that
# li_cycling's plating sub-steps start from valid ghosts too.
HALO = {"cahn_hilliard": 2, "allen_cahn": 1, "li_stripping": 1, "li_plating": 1, "li_cycling": 1}


def halo_width(kind: str) -> int:
    if kind not in HALO:
        raise ParallelError(
            f"model.kind: {kind} runs on one process only; multi-process runs support "
            f"{', '.join(sorted(HALO))} (launch {kind} without mpirun/srun, or with one rank)")
    return HALO[kind]


class SlabModel:
    def __init__(self, model, domain):
        self.inner, self.domain = model, domain

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def rate(self, state, t):
        self.domain.exchange([state[n] for n in self.inner.fields])
        return self.inner.rate(state, t)

    def euler_step(self, state, t, dt):
        self.domain.exchange([state[n] for n in self.inner.fields])
        self.inner.euler_step(state, t, dt)

    def observables(self, state, t):
        self.domain.exchange([state[n] for n in self.inner.fields])
        if self.inner.params.kind not in OBSERVABLES:  # a model that reduces through its extent
            return self.inner.observables(state, t)
        terms = OBSERVABLES[self.inner.params.kind](self.inner, state, t, self.domain)
        totals = global_sums(self.domain.comm, [local for local, _ in terms.values()])
        return {name: finish(total) for (name, (_, finish)), total in zip(terms.items(), totals)}


# --- observables: {name: (this rank's partial sum, total -> value)} -----------------------------
def _integral(f, domain, xp):
    """This rank's part of stencil.integrate(f) over the whole grid (f on owned rows), and its finish."""
    vol = domain.whole.node_volume
    local = float(f.sum()) if all(domain.whole.periodic) else float((f * domain.weights(xp)).sum())
    return local, lambda total: total * vol


def _cahn_hilliard(model, state, t, domain):
    c, xp, own = state["c"], model.xp, domain.owned
    grad2 = stencil.gradient_squared(c, domain.grid, xp)[own]
    density = double_well(model.params, c[own]) + 0.5 * model.params.gradient_coefficient * grad2
    return {"free_energy": _integral(density, domain, xp), "mass": _integral(c[own], domain, xp)}


def _allen_cahn(model, state, t, domain):
    xp, p, own, g = model.xp, model.params, domain.owned, domain.grid
    eta = state["eta"]
    grad2 = stencil.gradient_squared(eta, g, xp)[own]
    eta = eta[own]
    density = p.barrier * eta**2 * (1 - eta) ** 2 + 0.5 * p.gradient_coefficient * grad2
    if p.tilt:
        density = density + p.tilt * eta**3 * (6 * eta**2 - 15 * eta + 10)
    out = {
        "free_energy": _integral(density, domain, xp),
        "mean_eta": (float(eta.sum()), lambda total: total / domain.whole.size),
    }
    if p.source is not None:
        x, y = (m[own] if m.shape[0] > 1 else m for m in g.mesh(xp))
        err = eta - manufactured_solution(x, y, t, p.source, p.gradient_coefficient, xp)
        out["mms_l2_error"] = (float((err * err).sum()), lambda total: float(np.sqrt(total * domain.whole.node_volume)))
    return out


OBSERVABLES = {"cahn_hilliard": _cahn_hilliard, "allen_cahn": _allen_cahn}
