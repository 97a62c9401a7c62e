"""Li stripping at a Li | solid-electrolyte interface: vacancy accumulation, void nucleation and
growth, Li creep under stack pressure, and current focusing on the remaining contact (docs/stripping.md).
One time step, operator split, calls a stage module per section of the docs in this order:
potential (1), creep (2), vacancies (3), voids (4), nucleation (5)."""

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ... import stencil
from ...kernels import voids as vk
from ...physics.constants import BOLTZMANN, FARADAY
from ...physics.geometry import GeometryConfig, electrolyte_mask
from ...physics.kinetics import ButlerVolmer
from ...physics.parameters import CreepConfig, ElectrolyteConfig, KineticsConfig, LithiumConfig
from ...schema import Section, quantity
from ..interface import InterfaceModel
from . import cell, creep, nucleation, pores, potential, subgrid, vacancies, voids


class InterfaceConfig(Section):
    width: quantity("length", gt=0) = Field(description="diffuse-interface width delta of the void surfaces (>= 2 grid spacings)")
    relaxation_time: quantity("time", gt=0) = Field(
        1.0, description="time for a void-surface bump of size relaxation_length to relax by curvature flow; with "
                         "relaxation: surface_diffusion, the longest time scale the model step resolves (the step is "
                         "the curvature flow's with min(relaxation_time, relaxation_length^4 / B))")
    relaxation_length: quantity("length", gt=0) = Field(
        0.5e-6, description="with relaxation_time, the void surfaces' curvature-flow coefficient A = length^2 / time "
                            "(v_n = A (K - mean K)), independent of the interface width; the Allen-Cahn mobility is "
                            "M = A / kappa (docs/stripping.md section 4)")
    relaxation: Literal["curvature_flow", "surface_diffusion"] = Field(
        "curvature_flow", description="how void surfaces change shape at fixed volume. curvature_flow: v_n = A (K - mean K) "
                                      "with A = relaxation_length^2 / relaxation_time (a stand-in); surface_diffusion: "
                                      "Mullins' v_n = B d^2K/ds^2, B = D_s gamma Omega^2 nu / kT from lithium.surface_diffusivity "
                                      "(Cahn-Hilliard with a degenerate mobility; conserve_volume unused: every void keeps its "
                                      "volume; docs/stripping.md section 4)")
    conserve_volume: Literal["per_void", "domain"] = Field(
        "domain", description="the shape relaxation keeps the volume of each void (per_void: its own Lagrange multiplier, "
                              "voids exchange Li only through the vacancy field) or only the total (domain: one multiplier, "
                              "which ripens distant voids into one at the curvature-flow rate)")
    work_of_adhesion: quantity("surface energy", gt=0) = Field(
        0.25, description="W_ad of Li on the SSE; Young-Dupre: W_ad = gamma (1 + cos theta_Li), the void's contact angle on "
                          "the SSE is 180 deg - theta_Li; it sets both nucleation's wetting factor and the growing voids' "
                          "contact angle. 0.25 J/m^2 (theta_Li = 120 deg, void 60 deg): as-prepared LLZO is lithiophobic, "
                          "theta_Li 95-145 deg [memory]; at most 2 gamma (complete wetting)")


class NucleationConfig(Section):
    enabled: bool = True
    prefactor: quantity("rate", gt=0) = Field(
        1e13, description="attempt frequency per interface site, J0 = prefactor / (site area) [memory: atomic vibration]")
    defect_contact_angle: float = Field(
        40.0, gt=0, le=180, description="contact angle at surface defects (pits, scratches, deep roughness): easier nucleation [memory]")
    contact_angle: float | None = Field(
        None, gt=0, lt=180, description="void contact angle on the SSE (deg), in nucleation (f = (2 + cos)(1 - cos)^2 / 4) "
                                        "and growth; default: from interface.work_of_adhesion")
    seed_radius: quantity("length", gt=0) | None = Field(
        None, description="radius of the resolved void a sub-grid void becomes once it holds its volume (default: the interface width)")
    max_expected_events: float = Field(
        0.05, gt=0, le=1, description="event-limited sub-steps: at most this many expected nucleation events per sub-step")
    max_supersaturation_change: float = Field(
        0.1, gt=0, le=1, description="event-limited sub-steps: at most this relative change of the peak interface supersaturation per sub-step")
    subgrid_contact: Literal["open", "blocked"] = Field(
        "open", description="whether a sub-grid void's footprint blocks the Li|SSE contact (blocked: pores and voids "
                            "thinner than the interface are sub-grid caps whose footprints are laid out on the grid, "
                            "docs/stripping.md section 5) or not (open: a sub-grid void is a point sink)")
    resolve_height: quantity("length", gt=0) | None = Field(
        None, description="with subgrid_contact: blocked, a sub-grid void (or initial pore) becomes a resolved xi cap once "
                          "its cap is this high (default twice the interface width); for a grid study hold it in physical "
                          "units, else a finer grid resolves thinner pores (docs/validation.md, third grid)")
    max_seeds_per_step: int = Field(
        8, ge=1, description="safety cap on the nuclei planted in one sub-step; a converged run never reaches it "
                             "(a run that does says so in its log and in the observable nucleation_cap_hits)")


class InitialContactConfig(Section):
    """The Li's incomplete conformity to the SSE at the start: pores at the interface
    (docs/stripping.md, The initial interface)."""

    contact_fraction: float = Field(
        description="share of the SSE surface in contact with Li at the start (the pores' footprints cover the rest); "
                    "as-assembled Li|LLZO at low pressure: well below 1 (docs/validation.md)", gt=0, le=1)
    mean_radius: quantity("length", gt=0) = Field(description="mean pore radius (lognormal distribution)")
    radius_spread: float = Field(0.5, ge=0, le=2, description="standard deviation of ln(radius) (0: all pores of the mean radius)")
    resolve_radius: quantity("length", gt=0) | None = Field(
        None, description="pores at least this large are resolved voids in xi, smaller ones sub-grid voids (default 2 grid spacings)")


class StrippingPhysics(Section):
    """The stripping physics (docs/stripping.md)."""

    interface: InterfaceConfig
    creep: CreepConfig = CreepConfig()
    nucleation: NucleationConfig = NucleationConfig()
    failure_contact_fraction: float = Field(0.02, ge=0, lt=1, description="the run ends (contact failure) under this contact fraction")


class LiStrippingParams(StrippingPhysics):
    kind: Literal["li_stripping"]
    geometry: GeometryConfig
    lithium: LithiumConfig = LithiumConfig()
    electrolyte: ElectrolyteConfig = ElectrolyteConfig()
    kinetics: KineticsConfig = KineticsConfig()
    initial_contact: InitialContactConfig | None = Field(
        None, description="pores at the Li|SSE interface at the start (default none: full contact)")
    potential_tolerance: float = Field(1e-9, gt=0, le=1e-3, description="relative residual of the elliptic solves (at least 1e-5 in float32 runs)")
    voltage_limit: quantity("voltage", gt=0) = Field(
        1.0, description="the run ends (contact failure) when |cell voltage| of the resolved electrode exceeds this")
    symmetric_cell: cell.SymmetricCellConfig | None = Field(
        None, description="the SSE pellet and counter electrode of a symmetric cell around the resolved electrode: "
                          "adds the observable symmetric_cell_voltage (default none)")

    @model_validator(mode="after")
    def _pellet_holds_the_layer(self):
        cell.check(self)
        return self


class LiStripping(InterfaceModel):
    fields = ("xi", "supersaturation", "potential")
    field_units = {"xi": "1", "supersaturation": "1", "potential": "V"}
    observable_units = {
        "cell_voltage": "V", "interface_overpotential": "V", "current_density": "A/m^2",
        "stack_pressure": "Pa", "temperature": "K", "contact_fraction": "1", "void_volume_fraction": "1", "void_count": "1",
        "largest_void_size": "m", "mean_interface_supersaturation": "1", "peak_interface_supersaturation": "1",
        "li_thickness": "m", "peak_local_current_density": "A/m^2", "charge_passed": "C/m^2",
        "li_site_balance_error": "1", "nucleation_events": "1", "subgrid_void_count": "1", "subgrid_void_volume": "m^3",
        "nucleation_cap_hits": "1", "substeps": "1", "step_peak_supersaturation": "1", "displaced_volume": "m^3", "foil_supersaturation": "1",
        "symmetric_cell_voltage": "V", "counter_overpotential": "V", "pellet_ohmic_drop": "V",
        "contact_patch_size": "m", "creep_strength": "Pa",
    }
    # the ledger's scalars; after them (instance's ledger_names), per whole-grid lateral column, the
    # sub-grid void volume and the unresolved foil's mean supersaturation (sections 5 and 3)
    ledger_names = InterfaceModel.ledger_names + (
        "charge", "creep_volume", "sink_volume", "temperature", "subgrid_void_volume", "substep", "substeps",
        "nucleation_cap_hits", "step_peak_supersaturation")

    @property
    def state_names(self):
        # the solved flow's memory (creep.py): a resumed run re-solves where the uninterrupted one does
        return ("creep_flow",) if self.params.creep.model == "solved" else ()

    def missing_state(self, name):
        """A state entry that a checkpoint of an older pfsim lacks: the solved flow's memory starts
        empty (the resumed run solves the flow afresh at its first step)."""
        if name == "creep_flow":
            return creep.new_flow_state(self)
        raise KeyError(name)

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None):
        super().__init__(params, grid, backend, drive, seed, extent, width=params.interface.width)
        xp, li = self.xp, params.lithium
        self.open_columns, self._blocked_key = None, None  # contact share left by sub-grid voids (subgrid.py)
        self.sink_k2 = 0.0 if li.sink_length is None else 1.0 / li.sink_length**2
        # double well and gradient energy from gamma and delta: kappa = 3 gamma delta, W = 6 gamma / delta
        delta = params.interface.width
        self.kappa = 3 * li.surface_energy * delta
        self.barrier = 6 * li.surface_energy / delta
        # M kappa is the sharp-interface curvature-flow coefficient: held at relaxation_length^2 / relaxation_time
        # so that void shapes do not change with delta (M = delta^2 / (kappa tau) made them relax slower on finer grids)
        self.mobility = params.interface.relaxation_length**2 / (self.kappa * params.interface.relaxation_time)
        self.set_temperature(self.drive.temperature(0.0))
        self.set_electrolyte(electrolyte_mask(grid, self.height))
        self.full_contact = self.extent.total(self.contact_weight(xp.ones(grid.shape)))  # of the pristine surface
        # heterogeneous nucleation factor per interface site of the whole grid: lower on defects
        # (surface below flat); and the share of a cap's surface exposed to the vacancies
        whole = self.extent.whole
        self.columns = int(np.prod(whole.shape[:-1]))
        self.ledger_names = type(self).ledger_names + tuple(
            f"{name}[{k}]" for name in ("subgrid_void", "foil_supersaturation") for k in range(self.columns))
        self.depth = float(grid.spacing[0]) if grid.ndim == 2 else 1.0  # a 2D site is a cell of depth h
        on_defect = (self.surface < self.flat - 0.5 * grid.spacing[-1]).ravel()
        angles = np.where(on_defect, params.nucleation.defect_contact_angle, self.void_contact_angle())
        self.wetting_whole, self.exposed_whole = nucleation.wetting(angles)
        self.wetting_factor = self.extent.local(self.wetting_whole.reshape(whole.shape[:-1]))
        # growth: the wall energy gamma_w(xi) = gamma_SV + (gamma_SL - gamma_SV) h(xi), h = xi^2 (3 - 2 xi),
        # gamma_SL - gamma_SV = -gamma cos theta_Li = gamma cos theta_void, adds
        # -M gamma_w'(xi) (wall area per volume) = -M 6 gamma cos theta_void xi (1 - xi) a to the xi rate
        cos_void = float(np.cos(np.radians(self.void_contact_angle())))
        self.wall_energy = 6 * li.surface_energy * cos_void  # gamma_w'(xi) = wall_energy xi (1 - xi)
        self.wetting_rate = -self.mobility * self.wall_energy
        # the unresolved foil beyond the resolved Li layer (section 3)
        resolved = float(np.median(self.extent.lateral_sites((~self.backend.to_host(self.sse)).sum(axis=-1))))
        resolved *= grid.spacing[-1]
        self.foil_layer = 0.0 if li.foil_thickness is None else max(0.0, li.foil_thickness - resolved)

    solve_potentials = potential.solve_at  # before the first sample of a new run (InterfaceModel.start)

    def set_temperature(self, T):
        """Everything thermally activated: equilibrium vacancies, their diffusivity, creep, the
        Butler-Volmer thermal voltage (i0 and the SSE conductivity are taken as given)."""
        li, c, p = self.params.lithium, self.params.creep, self.params
        kT = BOLTZMANN * T
        self.temperature = T
        self.x_v0 = float(np.exp(-li.vacancy_formation_energy / kT))
        d_tracer = li.tracer_diffusivity_prefactor * np.exp(-li.tracer_activation_energy / kT)
        # Python floats, not NumPy scalars: a float64 scalar would promote float32 fields
        self.d_vac = float(d_tracer / (li.correlation_factor * self.x_v0))
        self.kT_per_volume = kT / self.omega_atom
        self.condensation_rate = float(self.d_vac / p.interface.width**2)  # diffusion-limited attachment within the interface
        self.creep_rate0 = c.strain_rate(T)
        if p.interface.relaxation == "surface_diffusion":
            # Mullins' B = D_s gamma Omega^2 nu / kT (nu = Omega^(-2/3) surface sites per area); the
            # degenerate mobility q(xi) = sech^4(n / delta) of the tanh profile integrates to 4 delta / 3
            # across the surface, so the sharp-interface limit of div(M0 q grad mu) is v_n = M0 gamma
            # (4 delta / 3) d^2K/ds^2: M0 = 3 B / (4 gamma delta)
            gamma = li.surface_energy
            self.surface_b = float(li.surface_diffusivity * gamma * self.omega_atom ** (4 / 3) / kT)
            self.surface_mobility = 3 * self.surface_b / (4 * gamma * p.interface.width)
        self.kinetics = ButlerVolmer(p.kinetics.exchange_current_density, p.kinetics.alpha_anodic,
                                     p.kinetics.alpha_cathodic, T, self.interphase_resistance(getattr(self, "interphase_time", 0.0)))
        if hasattr(self, "vacancy_problem"):  # D_v sets the vacancy operator
            self._build_operators(self.backend.to_host(self.sse))

    def follow_temperature(self, state, t):
        """Step the temperature to the protocol's value at t. The vacancy site fraction x_v = x_v0 S
        stays continuous across a temperature step, so S is rescaled with x_v0."""
        held = self.ledger(state, "temperature")
        if held != self.temperature:  # a resumed run: constants of the state's temperature
            self.set_temperature(held)
        self.interphase_time = t
        self.kinetics.resistance = self.interphase_resistance(t)
        T = self.drive.temperature(t)
        if T != held:
            x_v0 = self.x_v0
            self.set_temperature(T)
            state["supersaturation"][...] = state["supersaturation"] * (x_v0 / self.x_v0)
            self.set_foil(state, self.foil(state) * (x_v0 / self.x_v0))
            self._set(state, "temperature", T)

    def interphase_resistance(self, t):
        """Series ASR (Ohm m^2) of the interphase at t: ASR0 + k sqrt(t / 1 h), given in Ohm cm^2."""
        k = self.params.kinetics
        return 1e-4 * (k.interphase_resistance + k.interphase_growth * np.sqrt(max(t, 0.0) / 3600.0))

    def set_electrolyte(self, sse):
        """(Re)build what depends on the SSE mask: the Li side, its contact faces, the operators
        and the nucleation sites (the cycling model hands the Li side the metal that plating
        put into the SSE)."""
        xp = self.xp
        self.sse = xp.asarray(sse)
        self.li_side = xp.asarray(~sse)
        self.li_float = self.backend.asarray(~sse)
        self.li_nodes = round(self.extent.total(~sse))
        self.faces = self._contact_faces(sse)
        wall = xp.zeros(self.grid.shape)  # SSE face area per volume at Li-side nodes (1/m)
        for a, step, inv_h, mask in self.faces:
            wall += stencil.shifted(mask, self.grid, a, -step, xp) * inv_h
        self.wall_density = self.backend.asarray(wall)
        self._build_operators(sse)
        self.column_interface = self._column_interface_nodes(sse)
        self.resolvable_volume = {}  # per column, once a seed there was found to need more
        self.flat_resolvable_volume = self._flat_seed_volume()

    # --- per-column state in the ledger's tail and the sites ------------------------------------
    def _flat_seed_volume(self):
        """Volume a resolved seed removes at a column of the commonest surface height."""
        normal = self.extent.lateral_sites(self.column_height_index)
        level = int(np.bincount(normal).argmax())
        k = int(np.flatnonzero(normal == level)[0])
        center = np.unravel_index(k, self.extent.whole.shape[:-1]) + (level,)
        li, xp = self.li_float, self.xp
        new = xp.where(self.li_side, xp.minimum(li, nucleation.seed_profile(self, center)), 0.0)
        return self.extent.total(li - new) * self.node_volume

    def new_ledger(self, **values):
        ledger = super().new_ledger(**values)
        a, b = self._tail(1)
        ledger[a:b] = 1.0  # the foil starts at equilibrium
        return ledger

    def _tail(self, part):
        start = len(type(self).ledger_names) + part * self.columns
        return start, start + self.columns

    def subgrid(self, state):
        a, b = self._tail(0)
        return self.backend.to_host(state["ledger"][a:b]).astype(np.float64)

    def set_subgrid(self, state, v):
        a, b = self._tail(0)
        state["ledger"][a:b] = self.xp.asarray(v)

    def foil(self, state):
        a, b = self._tail(1)
        return self.backend.to_host(state["ledger"][a:b]).astype(np.float64)

    def set_foil(self, state, S_f):
        a, b = self._tail(1)
        state["ledger"][a:b] = self.xp.asarray(S_f)

    def sites_of(self, f):
        """f at the interface site of every whole-grid column (host, float64, ravelled)."""
        local = self.backend.to_host(f.reshape(-1)[self.xp.asarray(self.column_interface.ravel())])
        return self.extent.lateral_sites(local.reshape(self.column_interface.shape)).astype(np.float64)

    def top_of(self, f):
        """f at the collector-side node of every whole-grid column."""
        return self.extent.lateral_sites(self.backend.to_host(f[..., -1])).astype(np.float64)

    def _local_columns(self, v):
        return self.extent.local(np.asarray(v).reshape(self.extent.whole.shape[:-1]))

    def column_terms(self, site_diag, site_rhs, top_diag, top_rhs):
        """Full-grid arrays: per-column values at the interface sites plus values at the
        collector-side nodes (0 elsewhere)."""
        xp, g = self.xp, self.grid
        diag, rhs = xp.zeros(g.shape, dtype=self.backend.dtype), xp.zeros(g.shape, dtype=self.backend.dtype)
        if np.any(site_diag):
            idx = xp.asarray(self.column_interface.ravel())
            diag.reshape(-1)[idx] = xp.asarray(self._local_columns(site_diag).ravel())
            rhs.reshape(-1)[idx] = xp.asarray(self._local_columns(site_rhs).ravel())
        if np.any(top_diag):
            li_top = self.li_float[..., -1]
            diag[..., -1] += xp.asarray(self._local_columns(top_diag)) * li_top
            rhs[..., -1] += xp.asarray(self._local_columns(top_rhs)) * li_top
        return diag, rhs

    def _contact_faces(self, sse):
        """[(axis, step, 1/h, mask on SSE nodes whose neighbour at +step is on the Li side)]."""
        xp, g = self.xp, self.grid
        s = sse.astype(float)
        faces = []
        for a in range(g.ndim):
            for step in (+1, -1):
                nb = stencil.shifted(s, g, a, step, np)
                m = (s > 0.5) & (nb < 0.5)
                if g.periodic[a] is False:  # no contact across the normal walls
                    idx = [slice(None)] * g.ndim
                    idx[a] = -1 if step > 0 else 0
                    m[tuple(idx)] = False
                if m.any():
                    faces.append((a, step, 1.0 / g.spacing[a], xp.asarray(m)))  # bool: 1 byte per node
        return faces

    def _column_interface_nodes(self, sse):
        """Flat index of the lowest Li-side node of each lateral column (nucleation sites);
        keeps that node's index along the normal axis too."""
        first = self.column_height_index = np.argmax(~sse, axis=-1)
        idx = np.indices(first.shape)
        return np.ravel_multi_index(tuple(idx) + (first,), sse.shape)

    def _build_operators(self, sse):
        xp, g, p = self.xp, self.grid, self.params
        ssex = xp.asarray(sse)
        bottom = np.zeros(g.shape, bool)
        bottom[..., 0] = True
        self.potential_problem = self.extent.elliptic(
            k=xp.where(ssex, p.electrolyte.conductivity, 0.0), c=xp.zeros(g.shape), mask=xp.asarray(sse & ~bottom))
        # vacancies diffuse with D_v over the whole Li side, voids included: D_v is so large that
        # S is uniform across a cell either way, and a fixed operator serves the whole run
        self.vacancy_problem = self.extent.elliptic(k=xp.where(ssex, 0.0, self.d_vac), c=xp.ones(g.shape),
                                                    mask=xp.asarray(~sse))

    def void_contact_angle(self):
        """The void's contact angle on the SSE (deg): nucleation.contact_angle, or from the work of
        adhesion (Young-Dupre, cos theta_void = 1 - W_ad / gamma)."""
        p = self.params
        if p.nucleation.contact_angle is not None:
            return p.nucleation.contact_angle
        c = 1 - p.interface.work_of_adhesion / p.lithium.surface_energy
        return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))

    def static_fields(self):
        return {"electrolyte": self.backend.to_host(self.sse).astype(np.int8)}

    def initial_state(self):
        xp = self.xp
        xi = xp.where(self.li_side, 1.0, 0.0)
        state = {
            "xi": self.backend.asarray(xi),
            "supersaturation": self.backend.asarray(xp.where(self.li_side, 1.0, 0.0)),
            "potential": self.backend.asarray(xp.zeros(self.grid.shape)),
            "ledger": self.new_ledger(temperature=self.temperature),
        }
        if "creep_flow" in self.state_names:
            state["creep_flow"] = creep.new_flow_state(self)
        if self.params.initial_contact is not None:
            pores.place(self, state, self.params.initial_contact)
        self._set(state, "initial_li", self.li_content(state))
        return state

    def contact_weight(self, xi):
        """Sum over contact faces of xi(Li-side neighbour) / h at each SSE node (1/m), less the
        footprints of sub-grid voids where they block the contact (`refresh_contact`)."""
        w = vk.contact_weight(self.backend, self.grid, xi, self.li_float)
        return w if self.open_columns is None else w * self.open_columns

    def refresh_contact(self, state):
        """The contact share that the sub-grid voids of `state` leave open per column
        (subgrid_contact: blocked; nothing otherwise)."""
        if self.params.nucleation.subgrid_contact != "blocked":
            return
        v = self.subgrid(state)
        key = v.tobytes()
        if key == self._blocked_key:
            return
        self._blocked_key = key
        self.open_columns = self.backend.asarray(self._local_columns(1.0 - subgrid.blocked_fraction(self, v))[..., None])

    def contact_fraction(self, xi):
        """Area fraction of the SSE surface wetted by metal (xi-weighted contact faces)."""
        return self.extent.total(self.contact_weight(xi)) / self.full_contact

    def euler_step(self, state, t, dt):
        # what a stage leaves behind is freed before the next, which sets the peak memory of the step
        xp = self.xp
        self.refresh_contact(state)
        self.follow_temperature(state, t)
        _, j_sse = potential.solve(self, state, self.current(t))  # cell voltage, Faradaic current into the SSE
        contact, eps_dot, injection = creep.step(self, state, t, dt, j_sse)
        stress = self.pressure(t) / max(contact, 1e-3)  # on the contact of the step's start
        S_mean = vacancies.step(self, state, dt, injection, stress)  # with sub-grid voids and nucleation
        del injection
        S_new = voids.step(self, state, dt, state["supersaturation"], eps_dot, S_mean)
        del S_mean
        state["supersaturation"][...] = xp.where(self.li_side, S_new, 0.0)
        del S_new
        nucleation.resolve(self, state)
        self._add(state, "steps", 1)
        potential.record_diagnostics(self, state, j_sse)
        self.last_step = {"j_sse": j_sse}  # the step's Faradaic current density into the SSE, for analysis

    def li_content(self, state):
        """Li volume on the Li side (m^3), dense equivalent: lattice minus vacancies, less what left by creep/sinks."""
        xi, S = state["xi"], state["supersaturation"]
        inside = self.extent.total(xi - self.x_v0 * (S - 1) * self.li_side) * self.node_volume
        # sink_volume: Li sites held outside the fields (bulk sinks, the unresolved foil, sub-grid voids)
        return (inside - self.ledger(state, "creep_volume") - self.ledger(state, "sink_volume")
                + self.ledger(state, "displaced_volume"))

    def observables(self, state, t):
        self.refresh_contact(state)
        xi, S = state["xi"], state["supersaturation"]
        charge = self.ledger(state, "charge")
        stripped = charge * self.omega / FARADAY * self.lateral_area
        initial = self.ledger(state, "initial_li")
        balance = abs(initial - self.li_content(state) - stripped) / stripped if stripped > 0 else 0.0
        ext = self.extent
        S_int = S.ravel()[self.column_interface.ravel()].reshape(self.column_interface.shape)
        void_volume, li_volume, S_sum = ext.total((1 - xi) * self.li_side, self.li_side, S_int)
        count, largest = voids.statistics(self, xi)
        patch = creep.contact_size(self, xi)
        return self.common_observables(state, t) | {
            "contact_fraction": self.contact_fraction(xi),
            "void_volume_fraction": (void_volume + self.ledger(state, "subgrid_void_volume") / self.node_volume) / li_volume,
            "void_count": count,
            "largest_void_size": largest,
            "mean_interface_supersaturation": S_sum / int(np.prod(ext.whole.shape[:-1])),
            "peak_interface_supersaturation": ext.peak(S_int),
            "li_thickness": self.li_content(state) / self.lateral_area,
            "charge_passed": charge,
            "li_site_balance_error": balance,
            "subgrid_void_count": int((self.subgrid(state) > 0).sum()),
            "subgrid_void_volume": self.ledger(state, "subgrid_void_volume"),
            "nucleation_cap_hits": self.ledger(state, "nucleation_cap_hits"),
            "substeps": self.ledger(state, "substeps"),
            "step_peak_supersaturation": self.ledger(state, "step_peak_supersaturation"),
            "displaced_volume": self.ledger(state, "displaced_volume"),
            "foil_supersaturation": float(self.foil(state).mean()),
            "contact_patch_size": patch,
            "creep_strength": creep.creep_strength(self, xi, patch),
        } | cell.observables(self, state, t)

    def surface_diffusion(self):
        return self.params.interface.relaxation == "surface_diffusion"

    def relaxation_limit(self):
        """Explicit limit of the void-shape relaxation on this grid (surface diffusion: the
        Cahn-Hilliard operator's, M0 (kappa L^2 + 2 W L) with q <= 1 and |g''| <= 2)."""
        L = self.laplacian_eigen_max()
        if self.surface_diffusion():
            return 2.0 / (self.surface_mobility * L * (self.kappa * L + 2 * self.barrier))
        return 2.0 / (self.mobility * (self.kappa * L + 2 * self.barrier))

    def relaxation_time(self):
        """The time in which a void-surface bump of size relaxation_length l relaxes: tau (curvature
        flow), or l^4 / B (surface diffusion; stability_limit bounds its step by tau's, since a
        slow surface diffusion would otherwise lengthen it past what the growth of the voids needs)."""
        if self.surface_diffusion():
            return self.params.interface.relaxation_length**4 / self.surface_b
        return self.params.interface.relaxation_time

    def stability_limit(self):
        """The model step's limit: the relaxation's on this grid or, where that is shorter, on the
        grid of spacing relaxation_length / 2 with the width relaxation_length (the step that resolves
        the relaxation of bumps of that size); finer grids sub-cycle the relaxation within the step
        (voids.step), so the step and the number of solves per unit time do not depend on the grid.
        On that grid M kappa L = 16 d / tau and 2 M W = 4 / tau (d dimensions), whatever the length.
        Surface diffusion takes the same rule with tau = l^4 / B, bounded by relaxation_time's
        step: where its own explicit limit (fourth order) is shorter it is sub-cycled."""
        def step_of(tau):
            return 2.0 * tau / (16 * self.grid.ndim + 4)

        limit = max(self.relaxation_limit(), step_of(self.relaxation_time()))
        if self.surface_diffusion():  # never past relaxation_time's step, however slow the diffusion
            return min(limit, step_of(self.params.interface.relaxation_time))
        return limit
