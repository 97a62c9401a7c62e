"""What the Li | SSE interface models (li_stripping, li_plating, li_cycling) share: the drive
(built once), the SSE surface, the lateral area, Li's molar volume, steps on the protocols'
breakpoints, and a checkpointed ledger of scalars holding the last step's diagnostics too (so a
resumed run's first sample equals the uninterrupted run's), the observables they all report."""

import numpy as np

from ..drive import Drive
from ..errors import StopRun
from ..physics.constants import AVOGADRO
from ..physics.geometry import surface_height
from .base import Model, check_interface_cell

STEP_DIAGNOSTICS = ("peak_local_current_density", "interface_overpotential")
# a 2D run is a cross-section of unit depth: its volumes are volumes per metre of depth
PER_DEPTH = {"m^3": "m^3/m"}


class InterfaceModel(Model):
    blowup_bound = 1e30
    needs_initial = False
    # ledger entries every single-physics interface model keeps; subclasses add their own
    ledger_names = ("voltage", "steps", "nucleation_events", "initial_li", "displaced_volume") + STEP_DIAGNOSTICS
    # checkpointed arrays beyond the fields and the ledger
    state_names: tuple[str, ...] = ()

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None, width=None):
        super().__init__(params, grid, backend, extent=extent)
        whole = self.extent.whole  # grid is this process's part of it (all of it unless decomposed)
        check_interface_cell(params.kind, whole, drive, width)
        self.seed = seed
        if grid.ndim == 2:  # the store says what a 2D "volume" is
            self.observable_units = {k: PER_DEPTH.get(u, u) for k, u in type(self).observable_units.items()}
        self.drive = Drive.of(drive)
        self.current, self.pressure = self.drive.current, self.drive.pressure
        self.omega = params.lithium.molar_volume
        self.omega_atom = self.omega / AVOGADRO
        self.node_volume = grid.node_volume
        self.lateral_area = float(np.prod([whole.shape[a] * whole.spacing[a] for a in range(grid.ndim - 1)]))
        # the SSE surface: its height over the whole grid's lateral nodes, this grid's part, the flat level
        self.surface = surface_height(params.geometry, whole, seed)
        self.height = self.extent.local(self.surface)
        self.flat = params.geometry.electrolyte_thickness + grid.origin[-1]

    @property
    def checkpoint_names(self):
        return self.fields + self.state_names + ("ledger",)

    def new_ledger(self, **values):
        """A fresh ledger: zeros, no step diagnostics yet (NaN), `values` set."""
        ledger = self.xp.zeros(len(self.ledger_names), dtype=np.float64)
        for name, value in {**dict.fromkeys(STEP_DIAGNOSTICS, np.nan), **values}.items():
            if name in self.ledger_names:
                ledger[self.ledger_names.index(name)] = value
        return ledger

    def start(self, state, t):
        """Once before the first sample of a new run (not on resume): solve the potentials, the
        cell voltage and the step diagnostics of the initial state, nothing moved, so the t = 0
        sample and frame hold the solved state (not 0 V and a zero potential). An end state
        found here (e.g. no contact) is left to the first step, which ends the run with it."""
        try:
            self.solve_potentials(state, t)
        except StopRun:
            pass

    def solve_potentials(self, state, t):
        """The potentials, cell voltage and step diagnostics of `state` at t, nothing moved (each
        interface model gives it)."""
        raise NotImplementedError

    def failure_record(self, details, t):
        """The store's `failure` record of an end state the model reached at t: what the model
        gave (kind, reason, ...) completed with the time, the applied current and the cycle and
        half-cycle of the current protocol at t (a half-cycle: a run of one sign of current)."""
        half, sign = 0, 0
        for b in [0.0] + [x for x in self.current.breakpoints() if 0 < x <= t] + [t]:
            s = int(np.sign(self.current(b)))
            if s and s != sign:
                half, sign = half + 1, s
        return {"time": t, "current_density": self.current(t), "cycle": (half + 1) // 2, "half_cycle": half,
                **details}

    def events(self):
        """Protocol breakpoints: steps land on them so step changes happen exactly."""
        return [(t, lambda state: None) for t in self.drive.breakpoints()]

    def record_step(self, state, peak, overpotential):
        """Keep the step's diagnostics in the ledger (NaN: not defined, e.g. no contact)."""
        self._set(state, "peak_local_current_density", peak)
        self._set(state, "interface_overpotential", overpotential)

    def common_observables(self, state, t):
        """Cell voltage, the drive's values, nucleation events and the last step's diagnostics."""
        d = self.drive
        out = {"cell_voltage": self.ledger(state, "voltage"), "current_density": d.current(t), "stack_pressure": d.pressure(t),
               "temperature": d.temperature(t), "nucleation_events": self.ledger(state, "nucleation_events")}
        for name in STEP_DIAGNOSTICS:
            value = self.ledger(state, name)
            if not np.isnan(value):
                out[name] = value
        return out
