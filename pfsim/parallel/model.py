"""A model run on one slab of a decomposed grid.

`SlabModel` wraps the model built on the rank's padded `LocalGrid`: the halos are exchanged
before every rate evaluation (each Euler step and RK4 stage), so the model's own NumPy or CUDA
code computes every owned node exactly as a single-process run does. Observables are the
model's own, which reduce through its extent (owned nodes only, added up across ranks).
"""

from .comm import ParallelError

# rows of ghosts each model's rate needs: its stencil applied once (Allen-Cahn) or twice
# (Cahn-Hilliard: the Laplacian of the chemical potential; so the c of BM2's coupled model and
# of the electrostatic one, whose potential, solved through the extent, enters mu pointwise).
# BM3's anisotropic stencil reaches one row: a node's two x faces take phi of its row and of the
# row on either side, its y faces central x differences (the rows either side), as do tau and
# lap(U). li_stripping applies one-node stencils to its fields and to what it computes from them
# pointwise, and exchanges the ghosts of what its elliptic solves return (pfsim.models.extent);
# li_plating also exchanges the metal after each sub-step and nucleation and the damage after
# its update, so that li_cycling's plating sub-steps start from valid ghosts too.
HALO = {"cahn_hilliard": 2, "allen_cahn": 1, "cahn_hilliard_allen_cahn": 2, "anisotropic_allen_cahn_heat": 1,
        "cahn_hilliard_electrostatic": 2, "li_stripping": 1, "li_plating": 1, "li_cycling": 1}


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
        return self.inner.observables(state, t)
