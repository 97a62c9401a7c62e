"""What every model gives the simulation loop.

A model owns its parameters, the names of its prognostic fields and how they change:
`rate(state, t)` returns d(field)/dt for each field, `euler_step` may fuse that into an
in-place update (the CUDA paths do), `enforce` re-applies constraints after an update
(Dirichlet walls), `observables` reduces the state to scalars for the run store.
"""

import numpy as np

from .extent import Extent


def check_interface_cell(kind, grid, drive, width=None):
    """What the Li | SSE interface models need of a run: a drive section, periodic lateral axes
    with a bounded normal axis, and an interface at least two grid spacings wide."""
    if drive is None:
        raise ValueError(f"drive: {kind} needs a drive section (current_density, stack_pressure, temperature)")
    if grid.periodic[-1] or any(not p for p in grid.periodic[:-1]):
        raise ValueError(f"grid.boundaries: {kind} needs periodic lateral axes and a bounded last (normal) axis")
    h_min = min(grid.spacing)
    if width is not None and width < 2 * h_min * (1 - 1e-9):
        raise ValueError(f"model.interface.width: {width:.3g} m is under two grid spacings ({2 * h_min:.3g} m)")


class Model:
    fields: tuple[str, ...] = ()
    field_units: dict[str, str] = {}
    observable_units: dict[str, str] = {}
    # |value| beyond which a field is a blow-up even if still finite
    blowup_bound: float = 1e12
    # fraction of a stability limit that a sub-cycled part of a step takes (the run's time.cfl)
    cfl: float = 1.0

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None):
        self.params, self.grid, self.backend = params, grid, backend
        self.xp = backend.xp
        # the part of the grid this process holds (pfsim.models.extent): all of it unless decomposed
        self.extent = Extent(grid, backend) if extent is None else extent

    @property
    def scratch(self) -> dict:
        """What the kernels (pfsim.kernels) keep between steps: work arrays, spare buffers."""
        return self.__dict__.setdefault("_scratch", {})

    # models whose state is more than fields built from `initial` override these
    needs_initial = True

    @property
    def checkpoint_names(self) -> tuple[str, ...]:
        """Everything a checkpoint must hold to continue exactly (fields and scalar ledgers)."""
        return self.fields

    # --- evolution -------------------------------------------------------------------
    def rate(self, state, t):
        raise NotImplementedError

    @property
    def integrators(self) -> tuple[str, ...]:
        """The time integrators (time.integrator) this model can be stepped with: RK4 evaluates
        `rate`, which models that only step in place (`euler_step`) do not give."""
        return ("euler",) if type(self).rate is Model.rate else ("euler", "rk4")

    def euler_step(self, state, t, dt):
        rates = self.rate(state, t)
        for name in self.fields:
            state[name] += dt * rates[name]

    def enforce(self, state, t):
        for name in self.fields:
            self.grid.apply_dirichlet(state[name])

    # --- scalar ledgers (models with `ledger_names` keep them in state["ledger"]) ----------
    ledger_names: tuple[str, ...] = ()

    def ledger(self, state, name) -> float:
        return float(state["ledger"][self.ledger_names.index(name)])

    def _add(self, state, name, value):
        state["ledger"][self.ledger_names.index(name)] += value

    def _set(self, state, name, value):
        state["ledger"][self.ledger_names.index(name)] = value

    def stability_limit(self) -> float:
        """Largest forward-Euler time step that is linearly stable (s)."""
        return np.inf

    def events(self):
        """[(time, action(state))]: discrete changes at given simulated times."""
        return []

    def static_fields(self) -> dict:
        """Time-independent maps written once to the run store (e.g. the electrolyte mask)."""
        return {}

    # --- diagnostics -----------------------------------------------------------------
    def observables(self, state, t) -> dict[str, float]:
        return {}

    # --- helpers ------------------------------------------------------------------------
    def laplacian_eigen_max(self) -> float:
        """Largest |eigenvalue| of the discrete Laplacian: 4 sum(1/h^2)."""
        return 4.0 * sum(1.0 / h**2 for h in self.grid.spacing)
