"""Li plating at a Li | solid-electrolyte interface: filament growth into a polycrystalline SSE
with current focusing, grain boundaries, electronic leakage and fracture ("crack then fill").

Nonlinear Butler-Volmer phase-field electrodeposition (the structure of Chen et al. 2015 and
Hong & Viswanathan 2018) adapted to a single-ion-conducting ceramic. The derivation, the
assumptions and the parameter table are in docs/plating.md. One time step, in this order:
  1. electrons: the electron potential phi_e over the whole cell (conductivity interpolated
     between Li and the SSE's electronic conductivity map), lagged by one step; only when the
     SSE conducts electrons anywhere (otherwise the metal is at V);
  2. ions: the Li+ potential phi (conductivity interpolated between the SSE map and ~0 in the
     metal) with the Butler-Volmer source w i(eta), eta = phi_e - phi, at the interface
     delta w = |grad xi|; V (the cell voltage) found so that the reaction current is the
     applied one (Newton with superposition in V);
  3. metal: xi moves by the reaction (d xi/dt = -(Omega/F) w i) where the SSE has opened or
     gives way (the gate), and keeps its profile by a curvature-free Allen-Cahn term; plated
     Li that the intact SSE holds back thickens the anode;
  4. damage: the SSE ahead of a Li-filled flaw opens when the flaw's stress intensity
     Y p sqrt(pi a), with the Li pressure p = F |eta| / Omega, exceeds the local toughness;
  5. nucleation: Li nuclei inside the SSE where electrons leak in and eta is cathodic
     (classical nucleation theory, a counter-based random stream keyed by (seed, step));
  6. short circuit: metal connected from the anode to the counter electrode ends the run
     (or is recorded, if the config says continue).
Sign convention as the stripping model: current density > 0 strips, < 0 plates.
"""

from typing import Literal

import numpy as np
from pydantic import Field

from .. import stencil
from ..errors import StopRun
from ..kernels import plating as pk
from ..physics.constants import BOLTZMANN, ELEMENTARY_CHARGE, FARADAY
from ..physics.geometry import GeometryConfig, electrolyte_mask, face_dilation, periodic_labels
from ..physics.kinetics import ButlerVolmer
from ..physics.microstructure import MicrostructureConfig, boundary_map
from ..physics.parameters import KineticsConfig, LithiumConfig
from ..schema import Length, Section, quantity
from ..solvers.elliptic import face_conductivities
from .interface import InterfaceModel

NEWTON_STEP = 0.05  # V: the largest change of the cell voltage per Newton iteration
ION_FLOOR = 1e-10  # ionic conductivity of the metal relative to the SSE (the ionic potential
#                    in the metal is a harmless harmonic extension; the solver converges at this contrast)


class PlatingElectrolyte(Section):
    conductivity: quantity("conductivity", gt=0) = Field(0.04, description="Li+ conductivity of the grains; LLZO 0.4 mS/cm (seed 001; Roy 2021)")
    electronic_conductivity: quantity("conductivity", ge=0) = Field(
        0.0, description="electronic conductivity of the grains; LLZO 1e-9 to 1e-7 S/cm [memory] Han 2019; 0 = no leakage")
    toughness: quantity("fracture toughness", gt=0) = Field(1.25e6, description="K_IC; LLZO 1.25 MPa m^1/2 [checked] Singh 2022 (LPSCl 0.23)")
    youngs_modulus: quantity("pressure", gt=0) = Field(175e9, description="E; LLZO 175 GPa [checked] Singh 2022 (LPSCl 22): reported with G_c = K_IC^2/E")


class PlatingInterface(Section):
    width: Length = Field(description="diffuse-interface width delta of the metal (>= 2 grid spacings)")
    relaxation_time: quantity("time", gt=0) | None = Field(
        None, description="time over which the metal's interface profile is restored (numerical; default: a tenth of "
                          "the time a planar front at the largest applied current needs to cross the width)")


class MechanicsConfig(Section):
    enabled: bool = Field(True, description="false: the SSE gives way wherever Li plates (the liquid-electrolyte limit)")
    geometry_factor: float = Field(1.12, gt=0, description="Y in K = Y p sqrt(pi a) (edge crack)")
    lateral_factor: float = Field(0.5, ge=0, le=1, description="K on the flanks of a flaw relative to its tip")
    damage_time: quantity("time", gt=0) = Field(1.0, description="time for the SSE to open at twice the critical G (numerical: fast)")
    surface_flaw_size: quantity("length", ge=0) = Field(
        0.0, description="a0: depth of the unresolved flaws every SSE surface carries (polishing, grain-boundary grooves); "
                         "a flaw below the flat surface at depth d is taken as d + a0 deep (0: resolved flaws only)")


class PlatingNucleation(Section):
    enabled: bool = True
    prefactor: quantity("rate", gt=0) = Field(1e13, description="attempt frequency per Li site [memory: atomic vibration]")
    contact_angle: float = Field(90.0, gt=0, le=180, description="Li on SSE grains (deg) [estimate]")
    boundary_contact_angle: float = Field(30.0, gt=0, le=180, description="Li at grain boundaries (deg) [estimate]")
    electron_mobility: quantity("diffusivity", gt=0) = Field(
        1e-6, description="mobility of electrons in the SSE, m^2/(V s) (sets the electron site fraction "
                          "sigma_e / (e n_Li mu_e) that scales the rate) [estimate]")


class InterfaceVoid(Section):
    """A void at the interface left from before (e.g. by stripping): Li side, no metal."""

    center: list[quantity("length")] = Field(min_length=1, max_length=2, description="lateral position (m)")
    width: Length
    height: Length = Field(description="extent into the metal from the SSE surface (m)")


class LiPlatingParams(Section):
    kind: Literal["li_plating"]
    geometry: GeometryConfig
    voids: list[InterfaceVoid] = Field(default_factory=list, description="pre-existing voids at the interface")
    initial_metal: str | None = Field(
        None, description="start from the metal of the last frame of this run store (e.g. a stripping run: its voids "
                          "and lost contact carry over); same grid and electrolyte required")
    microstructure: MicrostructureConfig | None = Field(None, description="polycrystalline SSE (none: uniform)")
    lithium: LithiumConfig = LithiumConfig()
    electrolyte: PlatingElectrolyte = PlatingElectrolyte()
    kinetics: KineticsConfig = KineticsConfig()
    interface: PlatingInterface
    mechanics: MechanicsConfig = MechanicsConfig()
    nucleation: PlatingNucleation = PlatingNucleation()
    noise: float = Field(0.0, ge=0, le=1, description="relative amplitude of the noise on the local plating rate (symmetry breaking)")
    short_circuit: Literal["stop", "continue"] = Field("stop", description="what a short circuit does to the run")
    potential_tolerance: float = Field(1e-9, gt=0, le=1e-3, description="relative residual of the elliptic solves (at least 1e-5 in float32 runs)")
    voltage_limit: quantity("voltage", gt=0) = Field(2.0, description="the run ends when |cell voltage| exceeds this")
    operator_refresh: float = Field(0.02, gt=0, le=0.5, description="rebuild the potential operators when h(xi) moved by this")


class LiPlating(InterfaceModel):
    fields = ("xi", "potential", "electron_potential", "damage")
    field_units = {"xi": "1", "potential": "V", "electron_potential": "V", "damage": "1"}
    observable_units = {
        "cell_voltage": "V", "interface_overpotential": "V", "current_density": "A/m^2", "stack_pressure": "Pa", "temperature": "K",
        "penetration_depth_max": "m", "penetration_depth_mean": "m", "li_volume_in_sse": "m^3",
        "isolated_nuclei": "1", "damaged_volume": "m^3", "peak_local_current_density": "A/m^2",
        "time_to_short_circuit": "s", "li_thickness": "m", "charge_passed": "C/m^2",
        "li_site_balance_error": "1", "charge_balance_error": "1", "nucleation_events": "1",
    }
    ledger_names = InterfaceModel.ledger_names + ("faradaic_charge", "ionic_charge", "nucleated_charge", "short_time",
                                                  "initial_sse_li")
    state_names = ("xi_operator",)  # the xi the potential operators were built from

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None, front_current=None, initial_metal=None):
        """front_current: the largest current density the metal front moves at (default: the
        largest |current| of the drive); it sets the step limit and the default relaxation time
        of the profile. initial_metal: (xi, electrolyte mask or None) of the store named by
        `model.initial_metal` (pfsim.io.frames.last_frame), read here if not given."""
        super().__init__(params, grid, backend, drive, seed, extent, width=params.interface.width)
        whole, local = self.extent.whole, self.extent.local  # grid: this process's rows of the whole grid
        xp, be = self.xp, backend
        self.set_temperature(self.drive.temperature(0.0))
        # geometry and microstructure: built on the whole grid (grains, distances and metal read
        # from a store are not local), then this grid's rows taken
        sse_whole = electrolyte_mask(whole, self.surface)
        sse = self.sse_host = local(sse_whole)
        voids = self._void_mask(params.voids, grid)
        gb = (local(boundary_map(params.microstructure, whole, sse_whole, seed)) if params.microstructure is not None
              else np.zeros(grid.shape))
        self.gb_host = gb
        self._build_maps(sse, gb)
        self.sse = xp.asarray(sse)
        # Li+ lives in the SSE; the first node layer beyond it carries the Li side of the diffuse
        # contact. Voids and the anode beyond that layer hold no ions.
        self.ion_space = be.asarray(face_dilation(sse))
        self.metal0 = ~sse & ~voids
        if params.initial_metal is not None:
            if initial_metal is None:  # the runner does not pass it in yet
                from ..io.frames import last_frame

                try:
                    initial_metal = last_frame(params.initial_metal)
                except ValueError as err:
                    raise ValueError(f"model.initial_metal: {err}") from None
            self.metal0 &= local(_metal_of(*initial_metal, whole, sse_whole, params.initial_metal))
        z = grid.coords(grid.ndim - 1).reshape([1] * (grid.ndim - 1) + [-1])
        self.depth = be.asarray(np.broadcast_to(np.maximum(self.flat - z, 0.0), grid.shape))  # below the flat surface
        self.sigma_e_top = self.extent.peak(self.sigma_e_host)
        self.leakage = self.sigma_e_top > 0
        self.bottom = xp.asarray(self._wall(0))
        self.top = xp.asarray(self._wall(-1))
        if front_current is None:
            front_current = max(abs(self.current(t)) for t in [0.0] + self.current.breakpoints())
        self.j_max = front_current
        self.tau = params.interface.relaxation_time or (
            0.1 * params.interface.width * FARADAY / (self.omega * front_current) if front_current > 0 else 10.0)
        self.first_node = self.extent.row_offset * int(np.prod(grid.shape[1:]))  # of the noise streams
        self._ops_xi = None

    def set_temperature(self, T):
        """The Butler-Volmer thermal voltage and kT of nucleation (i0 and the conductivities are
        taken as given)."""
        k = self.params.kinetics
        self.temperature, self.kT = T, BOLTZMANN * T
        self.kinetics = ButlerVolmer(k.exchange_current_density, k.alpha_anodic, k.alpha_cathodic, T)

    # --- set-up helpers ---------------------------------------------------------------------
    def _wall(self, index):
        m = np.zeros(self.grid.shape, bool)
        m[..., index] = True
        return m

    def _void_mask(self, voids, grid):
        lat = grid.ndim - 1
        coords = np.meshgrid(*[grid.coords(a) for a in range(grid.ndim)], indexing="ij")
        out = np.zeros(grid.shape, bool)
        for i, v in enumerate(voids):
            if len(v.center) != lat:
                raise ValueError(f"model.voids.{i}.center: expected {lat} lateral coordinate(s)")
            r2 = np.zeros(grid.shape)
            for a, c in enumerate(v.center):
                L = self.extent.whole.shape[a] * grid.spacing[a]
                d = (coords[a] - c + L / 2) % L - L / 2
                r2 += (d / (v.width / 2)) ** 2
            above = coords[-1] - self.height[..., None]
            r2 += ((above) / v.height) ** 2
            out |= (r2 < 1) & (above > 0)
        return out

    def _build_maps(self, sse, gb):
        p, be = self.params, self.backend
        e, b = p.electrolyte, (p.microstructure.boundaries if p.microstructure is not None else None)

        def mix(grain, key):
            val = getattr(b, key) if b is not None else None
            return grain if val is None else grain * (1 - gb) + val * gb

        kappa = mix(e.conductivity, "ionic_conductivity") * np.ones(self.grid.shape)
        sigma_e = np.where(sse, mix(e.electronic_conductivity, "electronic_conductivity"), 0.0)
        i0 = mix(p.kinetics.exchange_current_density, "exchange_current_density") * np.ones(self.grid.shape)
        kic = mix(e.toughness, "toughness") * np.ones(self.grid.shape)
        self.sigma_e_host = sigma_e
        self.kappa_map = be.asarray(kappa)
        self.sigma_e_map = be.asarray(sigma_e)
        self.i0_ratio = be.asarray(i0 / p.kinetics.exchange_current_density)
        self.toughness_map = be.asarray(kic)
        theta = np.where(gb > 0.5, p.nucleation.boundary_contact_angle, p.nucleation.contact_angle)
        c = np.cos(np.radians(theta))
        self.wetting = be.asarray((2 + c) * (1 - c) ** 2 / 4)

    def static_fields(self):
        out = {"electrolyte": self.sse_host.astype(np.int8)}
        if self.params.microstructure is not None:
            out["grain_boundaries"] = (self.gb_host > 0.5).astype(np.int8)
        return out

    # --- initial state ----------------------------------------------------------------------
    def initial_state(self):
        g, be, xp = self.grid, self.backend, self.xp
        # distances are not local: the profile of the whole grid's metal, this grid's rows of it
        metal0 = self.extent.gather(self.metal0)
        xi = self.extent.local(metal_profile(metal0, self.extent.whole, self.params.interface.width))
        state = {
            "xi": be.asarray(xi),
            "potential": be.asarray(np.zeros(g.shape)),
            "electron_potential": be.asarray(np.zeros(g.shape)),
            "damage": be.asarray(np.zeros(g.shape)),
            "xi_operator": be.asarray(xi.copy()),
            "ledger": self.new_ledger(short_time=-1.0),
        }
        self._set(state, "initial_li", self.li_content(state))
        self._set(state, "initial_sse_li", self.extent.total(state["xi"] * self.sse) * self.node_volume)
        return state

    def li_content(self, state):
        """Metal volume in the cell plus what plating has added to the anode (m^3; per unit depth in 2D)."""
        return self.extent.total(state["xi"]) * self.node_volume + self.ledger(state, "displaced_volume")

    def gate(self, state):
        """Where the metal may change: 1 off the SSE, the damage inside it (1 everywhere without mechanics)."""
        if not self.params.mechanics.enabled:
            return self.xp.ones(self.grid.shape, dtype=state["xi"].dtype)
        return self.xp.where(self.sse, state["damage"], 1.0)

    # --- operators ---------------------------------------------------------------------------
    def restart_operators(self, state):
        """Build the potential operators from the state's xi at the next step (after the metal was
        replaced from outside, e.g. handed over from another representation)."""
        state["xi_operator"][...] = state["xi"]
        self._ops_xi = None

    def _operators(self, state):
        """Ionic (and electronic) problems, rebuilt when h(xi) has moved by operator_refresh."""
        xp = self.xp
        ref = state["xi_operator"]  # checkpointed: a resumed run rebuilds exactly when this one does
        moved = self.extent.peak(xp.abs(pk.h_of(state["xi"]) - pk.h_of(ref)))
        if moved > self.params.operator_refresh:
            ref[...] = state["xi"]
            self._ops_xi = None
        if self._ops_xi is None:
            h = pk.h_of(ref)
            kappa = self.kappa_map * ((1 - h) * self.ion_space + ION_FLOOR)
            self.ionic = self.extent.elliptic(k=kappa, c=0.0, mask=~self.bottom)
            # k_face / h^2 between the counter electrode's row and the next (the solver's faces)
            self.counter_faces = face_conductivities(self.grid, kappa, xp)[-1][..., 0].astype(self.backend.dtype)
            if self.leakage:
                # metal joined to the anode is at V (Li conducts ~1e15 times better than the SSE);
                # isolated metal is a conductor 1e6 times the SSE's best, floating
                labels, anode = self.metal_components(ref, threshold=0.01)  # with its diffuse rim
                held = np.isin(labels, list(anode)) if anode else np.zeros(labels.shape, bool)
                self.anode_metal = xp.asarray(self.extent.local(held))
                top = self.sigma_e_top
                sig = 1e6 * top * h + self.sigma_e_map * (1 - h) + 1e-6 * top
                self.electronic = self.extent.elliptic(k=sig, c=0.0, mask=~(self.bottom | self.top | self.anode_metal))
            self._ops_xi = True

    # --- 1-2. potentials ---------------------------------------------------------------------
    def reaction_current(self, eta):
        bv = self.kinetics
        return self.i0_ratio * bv.current(eta, self.xp)

    def solve_electrons(self, state, w, stress):
        """phi_e with the previous step's reaction as its source; V lagged on the collector.
        stress: the step's Monroe-Newman shift Omega p / F of eta (V)."""
        xp, bv = self.xp, self.kinetics
        V = self.ledger(state, "voltage")
        phi_e0 = state["electron_potential"]
        eta = phi_e0 - state["potential"] + stress
        # electrons released by the anodic reaction, linearised in phi_e (stable for any sigma_e)
        slope = w * self.i0_ratio * bv.slope(eta, xp)
        source = -w * self.reaction_current(eta) + slope * phi_e0
        held = self.top | self.anode_metal
        self.electronic.set_diagonal(xp.where(held | self.bottom, 0.0, slope))
        b = xp.where(held, V, xp.where(self.bottom, 0.0, source))
        phi_e, _ = self.electronic.solve(b, x0=phi_e0, rtol=self.params.potential_tolerance)
        state["electron_potential"][...] = phi_e
        # the anode and its rim follow V within the step; elsewhere phi_e is as solved
        return xp.where(held, 0.0, phi_e), held.astype(phi_e.dtype)

    def solve_ions(self, state, w, E, coupled, j_applied, stress):
        """Newton on the Butler-Volmer source with the galvanostatic constraint. The slope (the
        operator's diagonal, and V's response phi_b) is kept while V converges fast (chord
        steps, one solve each) and refreshed when it does not. stress: as in solve_electrons."""
        xp, bv, prob = self.xp, self.kinetics, self.ionic
        phi, V = state["potential"], self.ledger(state, "voltage")
        active = ~self.bottom
        shift = E + stress
        tol = self.params.potential_tolerance
        change, refresh = np.inf, True
        for _ in range(200):
            eta0 = shift + coupled * V - phi
            if refresh:
                slope = self.i0_ratio * bv.slope(eta0, xp)
                c = xp.where(active, w * slope, 0.0)
                prob.set_diagonal(c)
                phi_b, _ = prob.solve(c * coupled, rtol=tol)
                per_volt = self.extent.total(c * coupled - c * phi_b) * self.node_volume
                if per_volt <= 0:
                    raise StopRun("the anode gets no Li+ (no contact, or metal spans the electrolyte)")
            i_k = self.i0_ratio * bv.current(eta0, xp)
            b_a = xp.where(active, w * (i_k + slope * (shift - eta0)), 0.0)
            phi_a, _ = prob.solve(b_a, x0=phi - V * phi_b, rtol=tol)
            base = self.extent.total(b_a - c * phi_a) * self.node_volume
            V_new = (j_applied * self.lateral_area - base) / per_volt
            damped = abs(V_new - V) > NEWTON_STEP
            if damped:  # far from the root of an exponential: small steps, fresh slopes
                V_new = V + np.copysign(NEWTON_STEP, V_new - V)
                phi_a, _ = prob.solve(b_a + c * coupled * V_new, x0=phi, rtol=tol)
                phi, phi_a = phi_a, None
            else:
                phi = phi_a + V_new * phi_b
            done = not damped and abs(V_new - V) <= 1e-10 + 1e-8 * abs(V_new)
            refresh = damped or abs(V_new - V) > 0.25 * change
            change, V = abs(V_new - V), V_new
            if done:
                break
        if abs(V) > self.params.voltage_limit:
            raise StopRun(f"cell voltage {V:.3g} V beyond the limit {self.params.voltage_limit:g} V")
        state["potential"][...] = phi
        self._set(state, "voltage", V)
        return V

    def ionic_flux_to_counter(self, phi):
        """Ionic current from the counter electrode into the SSE (A; per unit depth in 2D), with the
        sign of the Faradaic current: the flux through the faces of the Dirichlet row."""
        return self.extent.total(self.counter_faces * (phi[..., 1] - phi[..., 0])) * self.node_volume

    # --- one step ------------------------------------------------------------------------------
    def euler_step(self, state, t, dt):
        xp, p, be = self.xp, self.params, self.backend
        if self.ledger(state, "short_time") >= 0 and p.short_circuit == "stop":
            raise StopRun(f"short circuit at t = {self.ledger(state, 'short_time'):.6g} s")
        stress = self.omega * self.pressure(t) / FARADAY  # Monroe-Newman: Li under pressure strips easier
        if self.drive.temperature(t) != self.temperature:
            self.set_temperature(self.drive.temperature(t))
        j_app = self.current(t)
        self._operators(state)
        xi = state["xi"]
        delta, tau = p.interface.width, self.tau
        w, relax = pk.interface_terms(be, self.grid, xi, delta, tau)
        w = xp.where(self.bottom, 0.0, w)  # the counter electrode's row is held: no reaction there

        # 1-2. potentials
        E, coupled = self.solve_electrons(state, w, stress) if self.leakage else (0.0, 1.0)
        V = self.solve_ions(state, w, E, coupled, j_app, stress)
        eta = E + coupled * V - state["potential"] + stress
        current = self.reaction_current(eta)
        self._add(state, "ionic_charge", self.ionic_flux_to_counter(state["potential"]) * dt / self.lateral_area)

        # 3. metal: noise with zero current-weighted mean keeps the total current
        gate = self.gate(state)
        if p.noise > 0:
            zeta = pk.uniform_noise(be, 2 * self.seed, int(self.ledger(state, "steps")), self.grid.shape, self.first_node)
            wi = xp.abs(w * current)
            wz, wsum = self.extent.total(wi * zeta, wi)
            mean = wz / max(wsum, 1e-300)
            noise = 1 + p.noise * (zeta - mean)
        else:
            noise = xp.ones_like(xi)
        # the reaction acts with the step's interface weight (so the Faradaic current is the
        # applied one); the profile-restoring term is sub-cycled within its stability limit
        scale = self.omega / FARADAY
        n_sub = max(1, int(np.ceil(dt / self.relax_limit())))
        new, moved = xi, 0.0
        for k in range(n_sub):
            if k:
                _, relax = pk.interface_terms(be, self.grid, new, delta, tau)
            gr, gq = self.extent.total(gate * relax, gate * pk.q_of(new))
            new, displaced = pk.metal_update(be, new, w, relax, gr / max(gq, 1e-300), current, gate, noise, scale, dt / n_sub)
            self.extent.exchange(new)  # the next sub-step's and the damage's stencils read the ghosts
            moved += self.extent.total(displaced)
        faradaic = self.extent.total(w * current * noise) * self.node_volume
        self._add(state, "faradaic_charge", faradaic * dt / self.lateral_area)
        self._add(state, "displaced_volume", moved * self.node_volume)
        state["xi"][...] = new
        self._record_diagnostics(state, w, current, eta - stress)  # eta's electrical part

        # 4. damage
        if p.mechanics.enabled:
            self.grow_damage(state, eta, gate, dt)
        # 5. nucleation
        if self.leakage and p.nucleation.enabled:
            self.nucleate(state, eta, dt)
        self._add(state, "steps", 1)
        # 6. short circuit (the run stops at the next step, with this state written)
        if self.ledger(state, "short_time") < 0 and self.shorted(state["xi"]):
            self._set(state, "short_time", t + dt)
            if p.short_circuit == "stop":  # the cell voltage collapses onto the Li bridge
                self._set(state, "voltage", self.short_voltage(state["xi"], j_app))

    def _record_diagnostics(self, state, w, current, eta):
        """The reaction-weighted mean overpotential, the peak |i| in the interface band; the
        step's arrays are kept in `last_step` for analysis (not checkpointed)."""
        xp, ext = self.xp, self.extent
        self.last_step = {"w": w, "current": current, "eta": eta}
        wi = w * xp.abs(current)
        wsum, weta = ext.total(wi, wi * eta)
        if wsum > 0:
            band = w * max(ext.whole.spacing) > 0.1
            self.record_step(state, ext.peak(xp.abs(current) * band), weta / wsum)
        else:
            self.record_step(state, np.nan, np.nan)

    # --- 4. damage -----------------------------------------------------------------------------
    def grow_damage(self, state, eta, gate, dt):
        xp, g, m = self.xp, self.grid, self.params.mechanics
        # metal in open space: against an intact wall the profile's last open node sits near
        # xi = 0.4 (the wall holds the tail of the diffuse interface), so 0.3 marks the surface
        metal = ((state["xi"] > 0.3) & (gate > 0.5)).astype(state["xi"].dtype)
        nz = g.ndim - 1
        tip = stencil.shifted(metal, g, nz, +1, xp)  # metal right above: ahead of a downward flaw
        flank = self._neighbour_max(metal, range(nz), xp.zeros_like(metal))
        flaw = self.depth + m.surface_flaw_size
        reach = xp.maximum(tip, m.lateral_factor * flank) * (flaw > 0) * self.sse * (state["damage"] < 1)
        pressure = xp.maximum(-eta, 0.0) * (FARADAY / self.omega)
        K = m.geometry_factor * pressure * xp.sqrt(np.pi * flaw) * reach
        rate = xp.maximum((K / self.toughness_map) ** 2 - 1, 0.0) / m.damage_time
        state["damage"][...] = xp.minimum(state["damage"] + rate * dt, 1.0)
        self.extent.exchange(state["damage"])  # the flank stencil leaves the ghost rows stale

    def _neighbour_max(self, f, axes, start):
        """max(start, f at the two neighbours along each of `axes`)."""
        xp, g = self.xp, self.grid
        out = start
        for a in axes:
            out = xp.maximum(out, xp.maximum(stencil.shifted(f, g, a, +1, xp), stencil.shifted(f, g, a, -1, xp)))
        return out

    # --- 5. nucleation -------------------------------------------------------------------------
    def nucleate(self, state, eta, dt):
        xp, g, p = self.xp, self.grid, self.params.nucleation
        xi = state["xi"]
        metal = (xi > 0.01).astype(xi.dtype)  # metal with its diffuse rim: nuclei form away from it
        near = self._neighbour_max(metal, range(g.ndim), metal)
        drive = xp.maximum(-eta, 0.0) * (FARADAY / self.omega)  # J/m^3
        gamma = self.params.lithium.surface_energy
        barrier = 16 * np.pi * gamma**3 * self.wetting / (3 * xp.maximum(drive, 1e-30) ** 2)
        n_sites = 1 / self.omega_atom
        electrons = self.sigma_e_map / (ELEMENTARY_CHARGE * n_sites * p.electron_mobility)
        depth = g.spacing[0] if g.ndim == 2 else 1.0  # a 2D cell is a slab one spacing thick
        rate = p.prefactor * electrons * n_sites * xp.exp(-xp.minimum(barrier / self.kT, 700.0))
        prob = -xp.expm1(-rate * self.node_volume * depth * dt)
        u = 0.5 * (1 + pk.uniform_noise(self.backend, 2 * self.seed + 1, int(self.ledger(state, "steps")), g.shape,
                                        self.first_node))
        hit = self.sse & (near < 0.5) & (drive > 0) & (u < prob)
        n, added = self.extent.total(hit, (1 - xi) * hit)
        if n == 0:
            return
        n, added = round(n), added * self.node_volume
        xi[...] = xp.where(hit, 1.0, xi)
        state["damage"][...] = xp.where(hit, 1.0, state["damage"])
        self.extent.exchange(xi, state["damage"])
        charge = -added * FARADAY / self.omega / self.lateral_area
        self._add(state, "faradaic_charge", charge)
        self._add(state, "nucleated_charge", charge)
        self._add(state, "nucleation_events", n)

    # --- 6. connectivity ----------------------------------------------------------------------
    def metal_components(self, xi, threshold=0.5):
        """(labels, ids connected to the anode) of the metal (xi > threshold), lateral walls joined."""
        labels = periodic_labels(self.extent.gather(xi > threshold))  # the whole grid's
        anode = set(np.unique(labels[..., -1])) - {0}
        return labels, anode

    def shorted(self, xi):
        if not self.extent.any(bool((self.extent.owned_rows(xi)[..., :2] > 0.5).any())):
            return False
        labels, anode = self.metal_components(xi)
        return bool(anode & (set(np.unique(labels[..., :2])) - {0}))

    def short_voltage(self, xi, j):
        """Cell voltage once metal bridges the SSE: the applied current flows electronically through
        the bridge (Li's conductivity), its rows in series, each row's metal in parallel."""
        g = self.extent.whole
        labels, anode = self.metal_components(xi)
        ids = anode & (set(np.unique(labels[..., :2])) - {0})
        bridge = np.isin(labels, list(ids))
        per_row = bridge.sum(axis=tuple(range(g.ndim - 1))).astype(float)
        rows = (g.coords(g.ndim - 1) < self.flat) & (per_row > 0)
        face = g.spacing[0] if g.ndim == 2 else float(np.prod(g.spacing[:-1]))  # 2D: per unit depth
        resistance = float(np.sum(g.spacing[-1] / (self.params.lithium.electronic_conductivity * per_row[rows] * face)))
        return j * self.lateral_area * resistance

    # --- diagnostics ---------------------------------------------------------------------------
    def penetration(self, xi):
        """(depth below the flat SSE surface reached by metal joined to the anode, per lateral
        column (m); the number of isolated metal bodies)."""
        g = self.extent.whole
        labels, anode = self.metal_components(xi)
        connected = np.isin(labels, list(anode)) if anode else np.zeros(labels.shape, bool)
        z = g.coords(g.ndim - 1)
        lowest = np.where(connected.any(axis=-1), z[np.argmax(connected, axis=-1)], np.inf)
        pen = np.clip(self.flat - lowest, 0, None)
        return np.where(np.isfinite(pen), pen, 0.0), len(set(np.unique(labels)) - anode - {0})

    def observables(self, state, t):
        ext, xi = self.extent, state["xi"]
        pen, nuclei = self.penetration(xi)
        faradaic = self.ledger(state, "faradaic_charge")
        ionic = self.ledger(state, "ionic_charge") + self.ledger(state, "nucleated_charge")
        gained = self.li_content(state) - self.ledger(state, "initial_li")
        expected = -faradaic * self.lateral_area * self.omega / FARADAY
        ref = max(abs(expected), 1e-300)
        sse = self.sse
        short = self.ledger(state, "short_time")
        in_sse, damaged = ext.total(xi * sse, state["damage"] * sse)
        return self.common_observables(state, t) | {
            "penetration_depth_max": float(pen.max()),
            "penetration_depth_mean": float(pen.mean()),
            "li_volume_in_sse": in_sse * self.node_volume - self.ledger(state, "initial_sse_li"),
            "isolated_nuclei": float(nuclei),
            "damaged_volume": damaged * self.node_volume,
            "time_to_short_circuit": short if short >= 0 else float("nan"),
            "li_thickness": self.li_content(state) / self.lateral_area,
            "charge_passed": faradaic,
            "li_site_balance_error": abs(gained - expected) / ref if faradaic != 0 else 0.0,
            "charge_balance_error": abs(ionic - faradaic) / max(abs(faradaic), 1e-300) if faradaic != 0 else 0.0,
        }

    def relax_limit(self):
        """Half the forward-Euler limit of the profile-restoring term (it is sub-cycled)."""
        return self.tau / (self.params.interface.width**2 * self.laplacian_eigen_max() + 4)

    def stability_limit(self):
        # a front under up to 5x current focusing crosses at most a fifth of a cell per step
        v = 5 * self.j_max * self.omega / FARADAY
        return 0.2 * min(self.grid.spacing) / v if v > 0 else 100 * self.relax_limit()


def metal_profile(metal, grid, width, solid=None):
    """The diffuse metal field of a metal mask: tanh of the signed distance to its surface (the
    interface half a cell from each node). Nodes of `solid` (if given) are neither metal nor
    space: they bound nothing, so metal against them stays at 1."""
    from scipy import ndimage

    space = ~metal if solid is None else ~metal & ~solid
    if not space.any():
        return metal.astype(float)
    inside = ndimage.distance_transform_edt(~space, sampling=grid.spacing)
    outside = ndimage.distance_transform_edt(~metal, sampling=grid.spacing) if metal.any() else np.full(metal.shape, np.inf)
    hn = grid.spacing[-1] / 2
    s = np.where(metal, inside - hn, -(outside - hn))
    xi = 0.5 * (1 + np.tanh(s / width))
    return xi if solid is None else np.where(solid, 0.0, xi)


def _metal_of(xi, electrolyte, grid, sse, path, key="model.initial_metal"):
    """Metal (xi > 1/2) of another run's xi frame (and its electrolyte mask, if it has one), checked
    against this cell."""
    if xi.shape != tuple(grid.shape):
        raise ValueError(f"{key}: '{path}' has a grid of {xi.shape}, this run {tuple(grid.shape)}")
    if electrolyte is not None and not np.array_equal(electrolyte, sse):
        raise ValueError(f"{key}: the electrolyte of '{path}' differs from this run's geometry")
    return xi > 0.5
