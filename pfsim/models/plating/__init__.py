"""Li plating at a Li | solid-electrolyte interface: filament growth into a polycrystalline SSE
with current focusing, grain boundaries, electronic leakage and fracture ("crack then fill"):
Butler-Volmer phase-field electrodeposition (after Chen et al. 2015, Hong & Viswanathan 2018) in
a single-ion-conducting ceramic (docs/plating.md). One time step calls a stage module per equation
of the docs in this order: potentials (1-2: electrons, lagged by one step, only where the SSE
conducts them; ions, V from the applied current), salt (2b: the Li+ concentration of a liquid
electrolyte, `electrolyte.salt`, off by default), front (3: the metal), damage (4), nucleation
(5: leakage), connectivity (6: short circuit). Current density > 0 strips, < 0 plates."""

from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ...errors import StopRun
from ...kernels import plating as pk
from ...physics.constants import BOLTZMANN, FARADAY, GAS
from ...physics.geometry import GeometryConfig, electrolyte_mask, face_dilation
from ...physics.kinetics import ButlerVolmer
from ...physics.microstructure import MicrostructureConfig, boundary_map
from ...physics.parameters import CreepConfig, KineticsConfig, LithiumConfig
from ...schema import Length, Section, quantity
from ...units import to_si
from ..interface import InterfaceModel
from . import connectivity, damage, front, nucleation, potentials, salt


class PlatingElectrolyte(Section):
    conductivity: quantity("conductivity", gt=0) = Field(0.04, description="Li+ conductivity of the grains; LLZO 0.4 mS/cm (seed 001; Roy 2021)")
    electronic_conductivity: quantity("conductivity", ge=0) = Field(
        0.0, description="electronic conductivity of the grains; LLZO 1e-9 to 1e-7 S/cm [memory] Han 2019; 0 = no leakage")
    toughness: quantity("fracture toughness", gt=0) = Field(1.25e6, description="K_IC; LLZO 1.25 MPa m^1/2 [checked] Singh 2022 (LPSCl 0.23)")
    youngs_modulus: quantity("pressure", gt=0) = Field(175e9, description="E; LLZO 175 GPa [checked] Singh 2022 (LPSCl 22): reported with G_c = K_IC^2/E")


class Salt(Section):
    """The Li salt of a liquid (binary, electroneutral) electrolyte.

    Its concentration c (Li+ = anion) diffuses, is consumed by plating at (1 - t+) i / F and
    scales the cathodic Butler-Volmer branch by c / c0 (docs/plating.md, Salt)."""

    concentration: quantity("concentration", gt=0) = Field(
        1000.0, description="c0: the initial concentration and the reference of the kinetics; 1 mol/L LiPF6 in EC/DMC, "
                            "the usual liquid electrolyte and Hong & Viswanathan 2018's [memory]")
    diffusivity: quantity("diffusivity", gt=0) = Field(
        3e-10, description="ambipolar salt diffusivity D = 2 D+ D- / (D+ + D-); LiPF6 in EC/DMC 2-4e-10 m^2/s near "
                           "1 mol/L [memory] (Valoen & Reimers 2005)")
    transference_number: float = Field(
        0.38, ge=0, lt=1, description="t+ of Li+ in the salt; LiPF6 in EC/DMC 0.3-0.4 [memory] (Valoen & Reimers 2005); "
                                      "1 would be the single-ion conductor (no salt: leave the block out)")


class LiPlatingElectrolyte(PlatingElectrolyte):
    salt: Salt | None = Field(
        None, description="the Li+ concentration of a liquid electrolyte (binary salt); none (default): a single-ion "
                          "conductor, the ionic potential only")


class InterfaceAnisotropy(Section):
    """a(n) = 1 + strength cos(fold (theta - theta0)) of the metal's outward normal (2D): it scales
    the exchange current density (kinetics) and, with capillarity, the interface energy
    (Karma-Rappel W(n) = W0 a(n), tau(n) = tau0 a(n)^2)."""

    strength: float = Field(ge=0, lt=1, description="eps; Hong & Viswanathan 2018 used 0.044 with fold 4 [memory]")
    fold: int = Field(4, ge=1, le=12, description="m: the symmetry of the anisotropy (4: a cubic crystal such as bcc Li in a section)")
    orientation: float | Literal["grains"] = Field(
        0.0, description="theta0, degrees from the x axis to a preferred direction; 'grains': a random theta0 per grain "
                         "of model.microstructure (seeded; metal outside the SSE takes the nearest grain's)")


class PlatingInterface(Section):
    width: Length = Field(description="diffuse-interface width delta of the metal (>= 2 grid spacings)")
    relaxation_time: quantity("time", gt=0) | None = Field(
        None, description="time over which the metal's interface profile is restored (numerical; default: a tenth of "
                          "the time a planar front at the largest applied current needs to cross the width)")
    capillarity: bool | float | str = Field(
        False, description="the interface energy in the growth equation (gradient energy + double well): true takes "
                           "lithium.surface_energy, a value (J/m^2) another (e.g. the Li|SSE interfacial energy); "
                           "false (default): its Gibbs-Thomson shift, 67 uV at 1 um radius, is small against the overpotentials")
    mobility: float | None = Field(
        None, gt=0, description="interfacial mobility L_sigma of the capillary term, m^3/(J s) (default: the Butler-Volmer "
                                "value Omega^2 i0 (alpha_a + alpha_c) / (3 delta F R T): the linearised Gibbs-Thomson shift)")
    anisotropy: InterfaceAnisotropy | None = Field(None, description="anisotropic interface kinetics and energy (2D)")

    @field_validator("capillarity", mode="before")
    @classmethod
    def _energy(cls, v):
        if isinstance(v, bool):
            return v
        value = to_si(v, "surface energy")
        if not value > 0:
            raise ValueError(f"expected true, false or a positive interfacial energy, got {v!r}")
        return value

    @model_validator(mode="after")
    def _stiffness(self):
        a = self.anisotropy
        if self.capillarity is not False and a is not None and a.strength * (a.fold**2 - 1) >= 1:
            raise ValueError(f"anisotropy.strength: {a.strength:g} is at or beyond 1 / (fold^2 - 1) = "
                             f"{1 / (a.fold**2 - 1):.4g}: the interface stiffness turns negative")
        return self


class MechanicsConfig(Section):
    enabled: bool = Field(True, description="false: the SSE gives way wherever Li plates (the liquid-electrolyte limit)")
    geometry_factor: float = Field(1.12, gt=0, description="Y in K = Y p sqrt(pi a) (edge crack)")
    crack_speed: quantity("velocity", gt=0) = Field(
        5e-7, description="speed of an opening front at G = 2 G_c (v (G/G_c - 1)); numerical: fast against the Faradaic "
                          "fill (0.014 um/s at 10 mA/cm^2); 0.5 um/s")
    surface_flaw_size: quantity("length", ge=0) = Field(
        0.0, description="a0: depth of the unresolved flaws every SSE surface carries (polishing, grain-boundary grooves); "
                         "a flaw below the flat surface at depth d is taken as d + a0 deep, and a flaw's walls open "
                         "under K = Y p sqrt(pi a0) (0: resolved flaws only, walls never open)")
    flaw_pressure: Literal["faradaic", "extrusion"] = Field(
        "extrusion", description="the Li pressure in a flaw: extrusion, the least of F |eta| / Omega (the largest the "
                                 "overpotential sustains) and the pressure that extrudes the Li plated in the flaw back "
                                 "out through its mouth by power-law creep; faradaic, F |eta| / Omega alone (Li cannot "
                                 "flow out) (docs/plating.md, Damage)")
    creep: CreepConfig = Field(
        CreepConfig(size_effect=True), description="power-law creep of the Li in flaws (flaw_pressure: extrusion); "
                                                   "size_effect on by default: the flaw's width sets the strength; the "
                                                   "stripping model's keys (length, closure_depth, enabled, model, "
                                                   "resolve_change, solver, size_length, surface_tension) are refused here")

    @field_validator("creep")
    @classmethod
    def _flaw_creep_only(cls, creep):
        # the flaw-extrusion law reads the strength and the rate law; the rest belongs to stripping
        # (compared with the defaults, not the keys given: a resumed run's stored config lists every key)
        ignored = sorted(k for k in STRIPPING_CREEP_KEYS if getattr(creep, k) != CreepConfig.model_fields[k].default)
        if ignored:
            raise ValueError(f"{ignored[0]}: a setting of the stripping model's creep, not used by plating (the flaw's "
                             f"width sets the size and the strength, docs/plating.md, Damage); leave it out")
        return creep


# CreepConfig keys that only the stripping model reads
STRIPPING_CREEP_KEYS = {"length", "closure_depth", "enabled", "model", "resolve_change", "solver", "size_length",
                        "surface_tension"}


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


class PlatingPhysics(Section):
    """The plating physics (docs/plating.md)."""

    interface: PlatingInterface
    mechanics: MechanicsConfig = MechanicsConfig()
    nucleation: PlatingNucleation = PlatingNucleation()
    noise: float = Field(0.0, ge=0, le=1, description="relative amplitude of the noise on the local plating rate (symmetry breaking)")
    short_circuit: Literal["stop", "continue"] = Field("stop", description="what a short circuit does to the run")
    operator_refresh: float = Field(0.02, gt=0, le=0.5, description="rebuild the potential operators when h(xi) moved by this")


class LiPlatingParams(PlatingPhysics):
    kind: Literal["li_plating"]
    geometry: GeometryConfig
    voids: list[InterfaceVoid] = Field(default_factory=list, description="pre-existing voids at the interface")
    initial_metal: str | None = Field(
        None, description="start from the metal of the last frame of this run store (e.g. a stripping run: its voids "
                          "and lost contact carry over); same grid and electrolyte required")
    microstructure: MicrostructureConfig | None = Field(None, description="polycrystalline SSE (none: uniform)")
    lithium: LithiumConfig = LithiumConfig()
    electrolyte: LiPlatingElectrolyte = LiPlatingElectrolyte()
    kinetics: KineticsConfig = KineticsConfig()
    potential_tolerance: float = Field(1e-9, gt=0, le=1e-3, description="relative residual of the elliptic solves (at least 1e-5 in float32 runs)")
    voltage_limit: quantity("voltage", gt=0) = Field(2.0, description="the run ends when |cell voltage| exceeds this")


class LiPlating(InterfaceModel):
    fields = ("xi", "potential", "electron_potential", "damage")
    optional_fields = {salt.FIELD: "electrolyte.salt"}  # a field only with that section
    field_units = {"xi": "1", "potential": "V", "electron_potential": "V", "damage": "1", salt.FIELD: "mol/m^3"}
    observable_units = {
        "cell_voltage": "V", "interface_overpotential": "V", "current_density": "A/m^2", "stack_pressure": "Pa", "temperature": "K",
        "penetration_depth_max": "m", "penetration_depth_mean": "m", "li_volume_in_sse": "m^3",
        "isolated_nuclei": "1", "damaged_volume": "m^3", "peak_local_current_density": "A/m^2",
        "time_to_short_circuit": "s", "li_thickness": "m", "charge_passed": "C/m^2",
        "li_site_balance_error": "1", "charge_balance_error": "1", "nucleation_events": "1",
    }
    ledger_names = InterfaceModel.ledger_names + ("faradaic_charge", "ionic_charge", "nucleated_charge", "short_time",
                                                  "initial_sse_li")
    # (initial_sse_li: no longer read, kept so that checkpoints of earlier runs resume)
    state_names = ("xi_operator",)  # the xi the potential operators were built from

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None, front_current=None):
        """front_current: the largest current density the metal front moves at (default: the
        largest |current| of the drive); it sets the step limit and the default relaxation time
        of the profile. With `model.initial_metal`, the builder hands that store's last frame
        to `start_from_metal` before the initial state (pfsim.build: models open no store)."""
        super().__init__(params, grid, backend, drive, seed, extent, width=params.interface.width)
        if params.electrolyte.salt is not None:  # the Li+ concentration: a field, its ledger and observables
            self.fields = type(self).fields + (salt.FIELD,)
            self.ledger_names = type(self).ledger_names + salt.LEDGER
            self.observable_units = {**self.observable_units, **salt.UNITS}
        self.cathodic = None  # c / c0 of the step's kinetics (salt.cathodic_factor)
        whole, local = self.extent.whole, self.extent.local  # grid: this process's rows of the whole grid
        xp, be = self.xp, backend
        self.set_temperature(self.drive.temperature(0.0))
        # geometry and microstructure: built on the whole grid (grains, distances and metal read
        # from a store are not local), then this grid's rows taken
        sse_whole = electrolyte_mask(whole, self.surface)
        sse = self.sse_host = local(sse_whole)
        voids = self._void_mask(params.voids, grid)
        gb_whole = (boundary_map(params.microstructure, whole, sse_whole, seed) if params.microstructure is not None
                    else np.zeros(whole.shape))
        gb = local(gb_whole)
        self.gb_host = gb
        self._build_maps(sse, gb)
        self.sse = xp.asarray(sse)
        # Li+ lives in the SSE; the first node layer beyond it carries the Li side of the diffuse
        # contact. Voids and the anode beyond that layer hold no ions.
        self.ion_space = be.asarray(face_dilation(sse))
        self.metal0 = ~sse & ~voids
        self.awaits_metal = params.initial_metal is not None  # until start_from_metal
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
        self.gamma, self.cap_coeff = self._capillarity()
        self.aniso = self._anisotropy(gb_whole, sse_whole, seed)

    def _capillarity(self):
        """(gamma, L_sigma kappa0): the interface energy and the speed of a front per unit
        curvature (m^2/s); kappa0 = 3 gamma delta makes the tanh profile of width delta carry gamma."""
        p = self.params
        cap = p.interface.capillarity
        if cap is False:
            return None, 0.0
        gamma = p.lithium.surface_energy if cap is True else float(cap)
        delta, k = p.interface.width, p.kinetics
        mobility = p.interface.mobility or (self.omega**2 * k.exchange_current_density * (k.alpha_anodic + k.alpha_cathodic)
                                            / (3 * delta * FARADAY * GAS * self.temperature))
        return gamma, mobility * 3 * gamma * delta

    def _anisotropy(self, gb_whole, sse_whole, seed):
        """pk.Anisotropy with cos and sin of theta0 per node (None without anisotropy)."""
        a = self.params.interface.anisotropy
        if a is None:
            return None
        if self.grid.ndim != 2:
            raise ValueError("model.interface.anisotropy: defined on 2D grids only")
        whole = self.extent.whole
        if a.orientation == "grains":
            if self.params.microstructure is None:
                raise ValueError("model.interface.anisotropy.orientation: 'grains' needs model.microstructure")
            theta = grain_orientations(gb_whole, sse_whole, a.fold, seed)
        else:
            theta = np.full(whole.shape, np.radians(a.orientation))
        be, local = self.backend, self.extent.local
        return pk.Anisotropy(a.strength, a.fold, be.asarray(local(np.cos(theta))), be.asarray(local(np.sin(theta))))

    def set_temperature(self, T):
        """The Butler-Volmer thermal voltage and kT of nucleation (i0 and the conductivities are
        taken as given)."""
        k = self.params.kinetics
        self.temperature, self.kT = T, BOLTZMANN * T
        self.kinetics = ButlerVolmer(k.exchange_current_density, k.alpha_anodic, k.alpha_cathodic, T)

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

    def start_from_metal(self, xi, electrolyte=None):
        """`model.initial_metal`: start from the metal (xi > 1/2) of another run's last xi frame of
        the whole grid (and its electrolyte mask, if it has one), checked against this cell."""
        whole = self.extent.whole
        metal = _metal_of(xi, electrolyte, whole, electrolyte_mask(whole, self.surface), self.params.initial_metal)
        self.metal0 &= self.extent.local(metal)
        self.awaits_metal = False

    def initial_state(self):
        if self.awaits_metal:
            raise RuntimeError("model.initial_metal: the store's metal was not given (pfsim.build.build_model reads it)")
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
        if self.params.electrolyte.salt is not None:
            state[salt.FIELD] = be.asarray(np.full(g.shape, self.params.electrolyte.salt.concentration))
            self._set(state, "initial_salt", salt.total(self, state))
        self._set(state, "initial_li", self.li_content(state))
        self._set(state, "initial_sse_li", self.extent.total(state["xi"] * self.sse) * self.node_volume)
        return state

    def li_content(self, state):
        """Metal volume in the cell plus what plating has added to the anode (m^3; per unit depth in 2D)."""
        return self.extent.total(state["xi"]) * self.node_volume + self.ledger(state, "displaced_volume")

    def restart_operators(self, state):
        """Build the potential operators from the state's xi at the next step (after the metal was
        replaced from outside, e.g. handed over from another representation)."""
        state["xi_operator"][...] = state["xi"]
        self._ops_xi = None

    def euler_step(self, state, t, dt):
        p = self.params
        if self.ledger(state, "short_time") >= 0 and p.short_circuit == "stop":
            raise StopRun(f"short circuit at t = {self.ledger(state, 'short_time'):.6g} s", self.short_record(state))
        share = salt.share(self, state["xi_operator"]) if p.electrolyte.salt is not None else None  # before the refresh
        w, relax, eta, current, stress = self._solve(state, t)
        noise = front.reaction_noise(self, state, w, current)
        if p.electrolyte.salt is not None:  # first: Sand's time ends the run with this step unwritten
            salt.step(self, state, w, current, noise, share, t, dt)
        self._add(state, "ionic_charge", potentials.ionic_flux_to_counter(self, state["potential"]) * dt / self.lateral_area)
        gate = front.step(self, state, w, relax, current, dt, noise)
        potentials.record_diagnostics(self, state, w, current, eta - stress)  # eta's electrical part
        if p.mechanics.enabled:
            damage.grow(self, state, eta, current, gate, dt)
        if self.leakage and p.nucleation.enabled:
            nucleation.nucleate(self, state, eta, dt)
        self._add(state, "steps", 1)
        # the short circuit: the run stops at the next step, with this state written
        if self.ledger(state, "short_time") < 0 and connectivity.shorted(self, state["xi"]):
            self._set(state, "short_time", t + dt)
            if p.short_circuit == "stop":  # the cell voltage collapses onto the Li bridge
                self._set(state, "voltage", connectivity.short_voltage(self, state["xi"], self.current(t)))

    def _solve(self, state, t):
        """The step's potentials (1-2) at t: (w, relax, eta, reaction current, Monroe-Newman shift)."""
        xp, p, be = self.xp, self.params, self.backend
        stress = self.omega * self.pressure(t) / FARADAY  # Monroe-Newman: Li under pressure strips easier
        if self.drive.temperature(t) != self.temperature:
            self.set_temperature(self.drive.temperature(t))
        j_app = self.current(t)
        self.cathodic = salt.cathodic_factor(self, state)
        potentials.operators(self, state)
        w, relax = pk.interface_terms(be, self.grid, state["xi"], p.interface.width, self.tau, self.aniso)
        w = xp.where(self.bottom, 0.0, w)  # the counter electrode's row is held: no reaction there
        if p.electrolyte.salt is not None:  # the reaction takes its Li+ from the salt: only where the salt is
            w = w * self.ion_space
        E, coupled = potentials.solve_electrons(self, state, w, stress) if self.leakage else (0.0, 1.0)
        V = potentials.solve_ions(self, state, w, E, coupled, j_app, stress)
        eta = E + coupled * V - state["potential"] + stress
        return w, relax, eta, potentials.reaction_current(self, eta), stress

    def solve_potentials(self, state, t):
        """The potentials, cell voltage and diagnostics of the state at t, nothing moved (a new
        run's t = 0 sample is the solved state: InterfaceModel.start)."""
        w, _, eta, current, stress = self._solve(state, t)
        potentials.record_diagnostics(self, state, w, current, eta - stress)

    def short_record(self, state):
        """The store's `failure` record of a short circuit (kind, time, the current that drove it,
        the capacity plated until then: C/m^2, as the cycling model's half_cycle_capacity)."""
        short = self.ledger(state, "short_time")
        return {"kind": "short_circuit", "time": short, "current_density": self.current(short * (1 - 1e-12)),
                "capacity": abs(self.ledger(state, "faradaic_charge")), "reason": f"short circuit at t = {short:.6g} s"}

    def observables(self, state, t):
        ext, xi = self.extent, state["xi"]
        pen, nuclei = connectivity.penetration(self, xi)
        faradaic = self.ledger(state, "faradaic_charge")
        ionic = self.ledger(state, "ionic_charge") + self.ledger(state, "nucleated_charge")
        gained = self.li_content(state) - self.ledger(state, "initial_li")
        expected = -faradaic * self.lateral_area * self.omega / FARADAY
        ref = max(abs(expected), 1e-300)
        sse = self.sse
        short = self.ledger(state, "short_time")
        # metal in the SSE: the SSE nodes it fills (xi > 1/2), as the penetration depth counts it;
        # the profile's tail on SSE nodes (xi < 1/2, there from the start) is no Li in the SSE
        in_sse, damaged = ext.total((xi > 0.5) & sse, state["damage"] * sse)
        extra = salt.observables(self, state) if self.params.electrolyte.salt is not None else {}
        return self.common_observables(state, t) | extra | {
            "penetration_depth_max": float(pen.max()),
            "penetration_depth_mean": float(pen.mean()),
            "li_volume_in_sse": in_sse * self.node_volume,
            "isolated_nuclei": float(nuclei),
            "damaged_volume": damaged * self.node_volume,
            "time_to_short_circuit": short if short >= 0 else float("nan"),
            "li_thickness": self.li_content(state) / self.lateral_area,
            "charge_passed": faradaic,
            "li_site_balance_error": abs(gained - expected) / ref if faradaic != 0 else 0.0,
            "charge_balance_error": abs(ionic - faradaic) / max(abs(faradaic), 1e-300) if faradaic != 0 else 0.0,
        }

    def relax_limit(self):
        """Half the forward-Euler limit of the profile-restoring term and the capillary term
        (both sub-cycled); the anisotropic stencil's stiffness bound as in the Karma-Rappel model."""
        delta, lam, M = self.params.interface.width, self.laplacian_eigen_max(), self.cap_coeff
        a = self.params.interface.anisotropy
        stiff = 1.0 if a is None else (1 + a.strength) * (1 + a.strength + a.strength * a.fold) / (1 - a.strength) ** 2
        return 1.0 / (lam * (delta**2 / self.tau + M * stiff) + 4 / self.tau + 4 * M * stiff / delta**2)

    def stability_limit(self):
        # a front under up to 5x current focusing crosses at most a fifth of a cell per step
        v = 5 * self.j_max * self.omega / FARADAY
        return 0.2 * min(self.grid.spacing) / v if v > 0 else 100 * self.relax_limit()


def grain_orientations(gb, sse, fold, seed):
    """theta0 per node: a random angle in [0, 2 pi / fold) for each grain (a connected region
    of SSE nodes off the boundaries; seeded), the nearest grain's on the other nodes."""
    from scipy import ndimage

    from ...initial import random_stream

    labels, n = ndimage.label((gb < 0.5) & sse)
    angles = random_stream(seed, 7).uniform(0, 2 * np.pi / fold, n + 1)
    if n == 0:
        return np.zeros(gb.shape)
    _, idx = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return angles[labels[tuple(idx)]]


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
