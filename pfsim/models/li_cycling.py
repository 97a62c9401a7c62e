"""Strip/plate cycling of a Li | solid-electrolyte interface: one run through alternating
stripping and plating, where the voids and lost contact of a stripping half-cycle decide where
the next plating half-cycle focuses its current and starts filaments, and filaments plated into
the SSE are stripped again from the next stripping half-cycle.

The model holds the stripping physics (vacancies, voids, creep: models/stripping/) and the
plating physics (filaments, damage, leakage: models/plating/) over one grid, one geometry
and one set of fields. The sign of the applied current picks the physics of a step: > 0 strips,
< 0 plates, 0 (rest) lets vacancies relax and creep close voids (the stripping physics at zero
current). Where the sign changes, the metal is handed over between the two representations:

  stripping: xi = 1 in the metal up to the SSE surface (contact through the faces of SSE nodes),
             diffuse only at void surfaces, 0 on SSE nodes;
  plating:   xi is the tanh profile of the signed distance to the metal surface everywhere,
             SSE surface included (the interface straddles it, half a cell from each node).

The metal itself (xi > 1/2) is what is handed over; the profile is rebuilt on the other side.
The small volume the two profiles differ by (a fraction of a node per interface column) moves
to or from the bulk anode and is booked in the ledger as `conversion_volume`, so the Li-site
balance over the whole protocol stays exact and the size of the hand-over is reported. Metal
that plating put into the SSE joins the Li side of the stripping physics (it strips from
there). The vacancy field is held while plating. Derivation and checks: docs/cycling.md.
"""

from typing import Literal

import numpy as np
from pydantic import Field

from ..errors import StopRun
from ..physics.constants import FARADAY
from ..physics.geometry import GeometryConfig, face_dilation
from ..physics.microstructure import MicrostructureConfig
from ..physics.parameters import ElectrolyteConfig, KineticsConfig, LithiumConfig
from ..schema import Section, quantity
from .interface import InterfaceModel
from .plating import LiPlating, LiPlatingParams, PlatingElectrolyte, PlatingPhysics, connectivity, metal_profile
from .stripping import LiStripping, LiStrippingParams, StrippingPhysics

FAILURE_KINDS = {1: "contact", 2: "short_circuit", 3: "voltage"}


class LiCyclingParams(Section):
    kind: Literal["li_cycling"]
    geometry: GeometryConfig
    microstructure: MicrostructureConfig | None = Field(
        None, description="polycrystalline SSE for the plating physics (stripping sees the grains' conductivity)")
    lithium: LithiumConfig = LithiumConfig()
    electrolyte: PlatingElectrolyte = PlatingElectrolyte()
    kinetics: KineticsConfig = KineticsConfig()
    stripping: StrippingPhysics
    plating: PlatingPhysics
    potential_tolerance: float = Field(1e-9, gt=0, le=1e-3, description="relative residual of the elliptic solves (at least 1e-5 in float32 runs)")
    voltage_limit: quantity("voltage", gt=0) = Field(1.0, description="the run ends when |cell voltage| exceeds this")


def _sub_params(p):
    common = dict(geometry=p.geometry, lithium=p.lithium, kinetics=p.kinetics,
                  potential_tolerance=p.potential_tolerance, voltage_limit=p.voltage_limit)
    strip = LiStrippingParams(kind="li_stripping", electrolyte=ElectrolyteConfig(conductivity=p.electrolyte.conductivity),
                              **dict(p.stripping), **common)
    plate = LiPlatingParams(kind="li_plating", microstructure=p.microstructure, electrolyte=dict(p.electrolyte),
                            **dict(p.plating), **common)
    return strip, plate


def _built(cls, section, params, grid, backend, drive, seed, extent, **options):
    """A sub-model; its errors name the keys as this model's config spells them."""
    try:
        return cls(params, grid, backend, drive=drive, seed=seed, extent=extent, **options)
    except ValueError as err:
        raise ValueError(str(err).replace("model.interface", f"model.{section}.interface")) from None


class LiCycling(InterfaceModel):
    fields = ("xi", "supersaturation", "potential", "electron_potential", "damage")
    field_units = {"xi": "1", "supersaturation": "1", "potential": "V", "electron_potential": "V", "damage": "1"}
    observable_units = {
        "cell_voltage": "V", "current_density": "A/m^2", "stack_pressure": "Pa", "temperature": "K", "cycle": "1", "half_cycle": "1",
        "half_cycle_capacity": "C/m^2", "contact_fraction": "1", "void_volume_fraction": "1",
        "penetration_depth_max": "m", "li_volume_in_sse": "m^3", "damaged_volume": "m^3",
        "peak_local_current_density": "A/m^2", "interface_overpotential": "V", "charge_passed": "C/m^2",
        "charge_throughput": "C/m^2", "li_site_balance_error": "1", "charge_balance_error": "1",
        "conversion_thickness": "m", "nucleation_events": "1", "time_to_short_circuit": "s",
        "failure_current_density": "A/m^2",
    }
    # the cell voltage and the step diagnostics are in the active block's ledger
    ledger_names = ("mode", "applied_charge", "throughput", "conversion_volume", "geometry_version", "half_cycle",
                    "last_sign", "half_cycle_charge", "initial_inventory", "failure_current")
    STRIP, PLATE = 0, 1
    _cfl = 1.0

    @property
    def state_names(self):
        # with the solved creep flow, the stripping block's memory of it (models/stripping/creep.py)
        flow = ("strip_creep_flow",) if "creep_flow" in self.strip.state_names else ()
        return ("xi_operator", "li_side", "strip_ledger", "plate_ledger") + flow

    def missing_state(self, name):
        if name == "strip_creep_flow":
            return self.strip.missing_state("creep_flow")
        raise KeyError(name)

    @property
    def cfl(self):
        return self._cfl

    @cfl.setter
    def cfl(self, value):  # the blocks sub-cycle their explicit parts at the run's time.cfl
        self._cfl = self.strip.cfl = self.plate.cfl = value

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None):
        super().__init__(params, grid, backend, drive, seed, extent)
        strip, plate = _sub_params(params)
        # the plating physics' time scales follow the largest plating current, not stripping's
        lowest = min(self.current.samples())
        self.strip = _built(LiStripping, "stripping", strip, grid, backend, self.drive, seed, self.extent)
        self.plate = _built(LiPlating, "plating", plate, grid, backend, self.drive, seed, self.extent,
                            front_current=-lowest if lowest < 0 else None)
        self.sse0 = self.plate.sse_host  # the SSE as built (the plating physics keeps it)
        self.sse0_whole = self.extent.gather(self.sse0)  # hand-overs compute distances over the whole grid
        self._geometry_version = 0

    # --- state ---------------------------------------------------------------------------------
    def initial_state(self):
        be, xp = self.backend, self.xp
        s = self.strip.initial_state()
        zeros = lambda: be.asarray(np.zeros(self.grid.shape))  # noqa: E731
        state = {
            "xi": s["xi"], "supersaturation": s["supersaturation"], "potential": s["potential"],
            "electron_potential": zeros(), "damage": zeros(), "xi_operator": zeros(),
            "li_side": xp.asarray((~self.sse0).astype(np.int8)),
            "strip_ledger": s["ledger"],
            "plate_ledger": self.plate.new_ledger(short_time=-1.0),
            "ledger": self.new_ledger(failure_current=np.nan),
        }
        if "creep_flow" in s:
            state["strip_creep_flow"] = s["creep_flow"]
        self._set(state, "initial_inventory", self.inventory(state))
        return state

    def static_fields(self):
        return self.plate.static_fields()

    def _strip_state(self, state):
        flow = {"creep_flow": state["strip_creep_flow"]} if "strip_creep_flow" in state else {}
        return {"xi": state["xi"], "supersaturation": state["supersaturation"], "potential": state["potential"],
                "ledger": state["strip_ledger"]} | flow

    def _plate_state(self, state):
        return {k: state[k] for k in ("xi", "potential", "electron_potential", "damage", "xi_operator")} | {
            "ledger": state["plate_ledger"]}

    def _strip_ledger(self, state, name):
        return self.strip.ledger({"ledger": state["strip_ledger"]}, name)

    def _plate_ledger(self, state, name):
        return self.plate.ledger({"ledger": state["plate_ledger"]}, name)

    # --- Li inventory ------------------------------------------------------------------------------
    def inventory(self, state):
        """Li volume (m^3; per unit depth in 2D): metal in the cell, less vacancies, plus what the
        ledgers moved across the domain's far boundary (creep, sinks, plating into the anode,
        hand-overs between the two representations)."""
        xi, S, li = state["xi"], state["supersaturation"], state["li_side"]
        metal = self.extent.total(xi - self.strip.x_v0 * (S - 1) * li) * self.node_volume
        strip = lambda name: self._strip_ledger(state, name)  # noqa: E731
        moved = (strip("displaced_volume") - strip("creep_volume") - strip("sink_volume")
                 + self._plate_ledger(state, "displaced_volume") + self.ledger(state, "conversion_volume"))
        return metal + moved

    def faradaic_charge(self, state):
        """Charge passed per area by the reaction (C/m^2, > 0 stripping)."""
        return self._strip_ledger(state, "charge") + self._plate_ledger(state, "faradaic_charge")

    # --- hand-over between the representations --------------------------------------------------
    def _as_plating(self, xi):
        """The plating profile of the metal. Inside the SSE the profile is that of the metal in
        contact with it: the SSE under a void holds none of the void ceiling's tail (which
        would otherwise carry reaction there)."""
        from scipy import ndimage

        g, width, sse = self.extent.whole, self.params.plating.interface.width, self.sse0_whole
        metal = self.extent.gather(xi) > 0.5
        out = metal_profile(metal, g, width)
        contact = metal & face_dilation(sse)
        if contact.any():
            d = ndimage.distance_transform_edt(~contact, sampling=g.spacing)
            inside = 0.5 * (1 + np.tanh(-(d - g.spacing[-1] / 2) / width))
        else:
            inside = 0.0
        return self.extent.local(np.where(sse & ~metal, inside, out))

    def _as_stripping(self, xi):
        """(the stripping profile of the metal, the Li side) on this grid's rows."""
        metal = self.extent.gather(xi) > 0.5
        li = ~self.sse0_whole | metal
        out = metal_profile(metal & li, self.extent.whole, self.params.stripping.interface.width, solid=~li)
        return self.extent.local(out), self.extent.local(li)

    def _hand_over(self, state, to):
        be, xp = self.backend, self.xp
        before = self.inventory(state)
        if to == self.PLATE:
            state["xi"][...] = be.asarray(self._as_plating(state["xi"]))
            self.plate.restart_operators(self._plate_state(state))
        else:
            xi, li = self._as_stripping(state["xi"])
            old = self.backend.to_host(state["li_side"]).astype(bool)
            state["xi"][...] = be.asarray(xi)
            if self.extent.any(not np.array_equal(self.extent.owned_rows(li), self.extent.owned_rows(old))):
                lix = xp.asarray(li)
                S = state["supersaturation"]
                S[...] = xp.where(lix, xp.where(xp.asarray(old), S, 1.0), 0.0)  # new Li side at equilibrium
                state["li_side"][...] = lix.astype(np.int8)
                self._add(state, "geometry_version", 1)
        self._add(state, "conversion_volume", before - self.inventory(state))
        self._set(state, "mode", to)

    def _sync_geometry(self, state):
        """The stripping physics sees the Li side of the state (after a hand-over or a resume)."""
        version = int(self.ledger(state, "geometry_version"))
        if version != self._geometry_version:
            self.strip.set_electrolyte(~self.backend.to_host(state["li_side"]).astype(bool))
            self._geometry_version = version

    # --- one step --------------------------------------------------------------------------------
    def euler_step(self, state, t, dt):
        j = self.current(t)
        sign = int(np.sign(j))
        if sign and sign != self.ledger(state, "last_sign"):
            self._add(state, "half_cycle", 1)
            self._set(state, "last_sign", sign)
            self._set(state, "half_cycle_charge", 0.0)
        short = self._plate_ledger(state, "short_time")
        if short >= 0 and self.params.plating.short_circuit == "stop":
            self._fail(state, t, 2, f"short circuit at t = {short:.6g} s")
        mode = self.PLATE if j < 0 else self.STRIP
        if mode != self.ledger(state, "mode"):
            self._hand_over(state, mode)
        q0, taken = self.faradaic_charge(state), dt
        try:
            if mode == self.PLATE:  # sub-cycled to the plating block's own limit
                n = max(1, int(np.ceil(dt / (self.cfl * self.plate.stability_limit()) * (1 - 1e-9))))
                sub = self._plate_state(state)
                for k in range(n):
                    self.plate.euler_step(sub, t + k * dt / n, dt / n)
                    if self.plate.ledger(sub, "short_time") >= 0 and self.params.plating.short_circuit == "stop":
                        taken = (k + 1) * dt / n
                        break  # the run ends at the next step, with this state (and the short's voltage)
            else:
                self._sync_geometry(state)
                self.strip.euler_step(self._strip_state(state), t, dt)
        except StopRun as end:
            shorted = self._plate_ledger(state, "short_time") >= 0
            self._fail(state, t, 1 if mode == self.STRIP else 2 if shorted else 3, end.reason)
        self._add(state, "applied_charge", j * taken)
        self._add(state, "throughput", abs(j) * taken)
        self._add(state, "half_cycle_charge", abs(self.faradaic_charge(state) - q0))

    def solve_potentials(self, state, t):
        """The active block's potentials and cell voltage at t, nothing moved (a new run's t = 0
        sample: InterfaceModel.start); a protocol that starts by plating hands the metal over to
        the plating representation first, as its first step would."""
        mode = self.PLATE if self.current(t) < 0 else self.STRIP
        if mode != self.ledger(state, "mode"):
            self._hand_over(state, mode)
        if mode == self.PLATE:
            self.plate.solve_potentials(self._plate_state(state), t)
        else:
            self._sync_geometry(state)
            self.strip.solve_potentials(self._strip_state(state), t)

    def _fail(self, state, t, kind, reason):
        """Record the failure (kind, time, current, cycle, capacity) and end the run."""
        j = self.current(t)
        self._set(state, "failure_current", j)  # the rest of the record goes with the StopRun
        half = int(self.ledger(state, "half_cycle"))
        capacity = self.ledger(state, "half_cycle_charge") / 3.6e4  # C/m^2 -> mAh/cm^2
        details = {"kind": FAILURE_KINDS[kind], "time": t, "current_density": j, "cycle": (half + 1) // 2,
                   "half_cycle": half, "half_cycle_capacity": self.ledger(state, "half_cycle_charge"), "reason": reason}
        raise StopRun(f"{reason} (cycle {(half + 1) // 2}, half-cycle {half}, {capacity:.4g} mAh/cm^2 into it, "
                      f"at {j / 10:.4g} mA/cm^2)", details)

    # --- observables -------------------------------------------------------------------------------
    def observables(self, state, t):
        mode = self.ledger(state, "mode")
        xi, li, ext = state["xi"], state["li_side"], self.extent
        xi_s = xi if mode == self.STRIP else self.backend.asarray(self._as_stripping(xi)[0])
        faradaic = self.faradaic_charge(state)
        throughput = max(self.ledger(state, "throughput"), 1e-300)
        expected = -faradaic * self.lateral_area * self.omega / FARADAY
        gained = self.inventory(state) - self.ledger(state, "initial_inventory")
        scale = throughput * self.lateral_area * self.omega / FARADAY
        pen, _ = connectivity.penetration(self.plate, xi)
        sse = self.plate.sse
        half = self.ledger(state, "half_cycle")
        short = self._plate_ledger(state, "short_time")
        void_volume, li_volume, in_sse, damaged = ext.total((1 - xi_s) * li, li, (xi > 0.5) & sse, state["damage"] * sse)
        active, sub = (self.strip, self._strip_state(state)) if mode == self.STRIP else (self.plate, self._plate_state(state))
        # the active block's cell voltage, drive values and step diagnostics
        return active.common_observables(sub, t) | {
            "cycle": float((half + 1) // 2),
            "half_cycle": half,
            "half_cycle_capacity": self.ledger(state, "half_cycle_charge"),
            "contact_fraction": self.strip.contact_fraction(xi_s),
            "void_volume_fraction": void_volume / li_volume,
            "penetration_depth_max": float(pen.max()),
            "li_volume_in_sse": in_sse * self.node_volume,
            "damaged_volume": damaged * self.node_volume,
            "charge_passed": faradaic,
            "charge_throughput": self.ledger(state, "throughput"),
            "li_site_balance_error": abs(gained - expected) / scale if scale > 0 else 0.0,
            "charge_balance_error": abs(faradaic - self.ledger(state, "applied_charge")) / throughput,
            "conversion_thickness": self.ledger(state, "conversion_volume") / self.lateral_area,
            "nucleation_events": self._strip_ledger(state, "nucleation_events") + self._plate_ledger(state, "nucleation_events"),
            "time_to_short_circuit": short if short >= 0 else float("nan"),
            "failure_current_density": self.ledger(state, "failure_current"),
        }

    def stability_limit(self):
        # plating steps are sub-cycled to the plating limit (euler_step): the run's step is the
        # stripping block's, which rests and slow stripping can use in full
        return self.strip.stability_limit()
