"""Li stripping at a Li | solid-electrolyte interface: vacancy accumulation, void nucleation and
growth, Li creep under stack pressure, and current focusing on the remaining contact.

The derivation, assumptions and parameter table are in docs/stripping.md. One time step,
operator split in this order:
  1. potential: the ionic potential phi in the SSE (quasi-static, Butler-Volmer contact with the
     equipotential metal at V), V found so that the total current is the applied one;
  2. creep: the metal flows toward the contact at l_c * eps_dot(p / contact), replacing
     stripped Li up to that rate and closing voids near the interface;
  3. vacancies: backward-Euler diffusion of the supersaturation S = x_v / x_v0 with the
     Faradaic injection, bulk sinks and condensation on void surfaces;
  4. voids: the metal order parameter xi loses what condensed, relaxes its shape (Allen-Cahn
     with Li's surface energy), gains what creep closed; every change of xi is exchanged with
     the vacancy field so Li sites are conserved;
  5. nucleation: classical nucleation theory at interface nodes, drawn from a counter-based
     random stream keyed by (seed, step).
"""

from typing import Literal

import numpy as np
from pydantic import Field

from .. import stencil
from ..physics.constants import BOLTZMANN, FARADAY, GAS
from ..physics.geometry import GeometryConfig, electrolyte_mask, periodic_labels
from ..kernels import voids
from ..physics.kinetics import ButlerVolmer
from ..physics.parameters import CreepConfig, ElectrolyteConfig, KineticsConfig, LithiumConfig
from ..errors import StopRun
from ..schema import Section, quantity
from .interface import InterfaceModel


class InterfaceConfig(Section):
    width: quantity("length", gt=0) = Field(description="diffuse-interface width delta of the void surfaces (>= 2 grid spacings)")
    relaxation_time: quantity("time", gt=0) = Field(
        1.0, description="time for a void-surface bump of size delta to relax (sets the Allen-Cahn mobility)")


class NucleationConfig(Section):
    enabled: bool = True
    prefactor: quantity("rate", gt=0) = Field(
        1e13, description="attempt frequency per interface site, J0 = prefactor / (site area) [memory: atomic vibration]")
    defect_contact_angle: float = Field(
        40.0, gt=0, le=180, description="contact angle at surface defects (pits, scratches, deep roughness): easier nucleation [memory]")
    contact_angle: float = Field(60.0, gt=0, le=180, description="void contact angle on the SSE (deg): heterogeneous factor f = (2 + cos)(1 - cos)^2 / 4 [memory]")
    seed_radius: quantity("length", gt=0) | None = Field(None, description="radius of a planted void (default: the interface width)")
    max_seeds_per_step: int = Field(8, ge=1)


class LiStrippingParams(Section):
    kind: Literal["li_stripping"]
    geometry: GeometryConfig
    lithium: LithiumConfig = LithiumConfig()
    creep: CreepConfig = CreepConfig()
    electrolyte: ElectrolyteConfig = ElectrolyteConfig()
    kinetics: KineticsConfig = KineticsConfig()
    interface: InterfaceConfig
    nucleation: NucleationConfig = NucleationConfig()
    potential_tolerance: float = Field(1e-9, gt=0, le=1e-3, description="relative residual of the elliptic solves (at least 1e-5 in float32 runs)")
    voltage_limit: quantity("voltage", gt=0) = Field(1.0, description="the run ends (contact failure) when |cell voltage| exceeds this")
    failure_contact_fraction: float = Field(0.02, ge=0, lt=1, description="the run ends (contact failure) under this contact fraction")


class LiStripping(InterfaceModel):
    fields = ("xi", "supersaturation", "potential")
    field_units = {"xi": "1", "supersaturation": "1", "potential": "V"}
    observable_units = {
        "cell_voltage": "V", "interface_overpotential": "V", "current_density": "A/m^2",
        "stack_pressure": "Pa", "temperature": "K", "contact_fraction": "1", "void_volume_fraction": "1", "void_count": "1",
        "largest_void_size": "m", "mean_interface_supersaturation": "1", "peak_interface_supersaturation": "1",
        "li_thickness": "m", "peak_local_current_density": "A/m^2", "charge_passed": "C/m^2",
        "li_site_balance_error": "1", "nucleation_events": "1",
    }
    ledger_names = InterfaceModel.ledger_names + ("charge", "creep_volume", "sink_volume", "temperature")

    def __init__(self, params, grid, backend, drive=None, seed=0, extent=None):
        super().__init__(params, grid, backend, drive, seed, extent, width=params.interface.width)
        xp, li = self.xp, params.lithium
        self.sink_k2 = 0.0 if li.sink_length is None else 1.0 / li.sink_length**2
        # double well and gradient energy from gamma and delta: kappa = 3 gamma delta, W = 6 gamma / delta
        delta = params.interface.width
        self.kappa = 3 * li.surface_energy * delta
        self.barrier = 6 * li.surface_energy / delta
        self.mobility = delta**2 / (self.kappa * params.interface.relaxation_time)
        self.set_temperature(self.drive.temperature(0.0))
        self.set_electrolyte(electrolyte_mask(grid, self.height))
        self.full_contact = self.extent.total(self.contact_weight(xp.ones(grid.shape)))  # of the pristine surface
        # heterogeneous nucleation factor per interface site: lower on defects (surface below flat)
        def f(theta):
            c = np.cos(np.radians(theta))
            return (2 + c) * (1 - c) ** 2 / 4
        on_defect = self.height < self.flat - 0.5 * grid.spacing[-1]
        self.wetting_factor = np.where(on_defect, f(params.nucleation.defect_contact_angle),
                                       f(params.nucleation.contact_angle))

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
        self.creep_rate0 = float(c.reference_strain_rate) * np.exp(-c.activation_energy / GAS * (1 / T - 1 / c.reference_temperature))
        self.kinetics = ButlerVolmer(p.kinetics.exchange_current_density, p.kinetics.alpha_anodic,
                                     p.kinetics.alpha_cathodic, T)
        if hasattr(self, "vacancy_problem"):  # D_v sets the vacancy operator
            self._build_operators(self.backend.to_host(self.sse))

    def follow_temperature(self, state, t):
        """Step the temperature to the protocol's value at t. The vacancy site fraction x_v = x_v0 S
        stays continuous across a temperature step, so S is rescaled with x_v0."""
        held = self.ledger(state, "temperature")
        if held != self.temperature:  # a resumed run: constants of the state's temperature
            self.set_temperature(held)
        T = self.drive.temperature(t)
        if T != held:
            x_v0 = self.x_v0
            self.set_temperature(T)
            state["supersaturation"][...] = state["supersaturation"] * (x_v0 / self.x_v0)
            self._set(state, "temperature", T)

    # --- geometry helpers --------------------------------------------------------------
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
        self._build_operators(sse)
        self.column_interface = self._column_interface_nodes(sse)

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

    def static_fields(self):
        return {"electrolyte": self.backend.to_host(self.sse).astype(np.int8)}

    # --- initial state -----------------------------------------------------------------
    def initial_state(self):
        xp = self.xp
        xi = xp.where(self.li_side, 1.0, 0.0)
        state = {
            "xi": self.backend.asarray(xi),
            "supersaturation": self.backend.asarray(xp.where(self.li_side, 1.0, 0.0)),
            "potential": self.backend.asarray(xp.zeros(self.grid.shape)),
            "ledger": self.new_ledger(temperature=self.temperature),
        }
        self._set(state, "initial_li", self.li_content(state))
        return state

    # --- 1. potential ------------------------------------------------------------------
    def contact_weight(self, xi):
        """Sum over contact faces of xi(Li-side neighbour) / h at each SSE node (1/m)."""
        return voids.contact_weight(self.backend, self.grid, xi, self.li_float)

    def solve_potential(self, state, j_applied):
        """Newton on the Butler-Volmer contact with the galvanostatic constraint (superposition in V)."""
        xp, bv, prob = self.xp, self.kinetics, self.potential_problem
        phi, V = state["potential"], self.ledger(state, "voltage")
        w = self.contact_weight(state["xi"])
        contact = self.extent.total(w) / self.full_contact
        if contact < self.params.failure_contact_fraction:
            raise StopRun(f"contact failure: contact fraction {contact:.3g} under {self.params.failure_contact_fraction:g}")
        # phi_b starts from zero every step, so a resumed run repeats the same iterations
        phi_b = None
        tol = self.params.potential_tolerance
        for _ in range(50):
            eta = V - phi
            j0, jp = bv.current(eta, xp), bv.slope(eta, xp)
            c = w * jp
            b0 = w * (j0 - jp * eta)
            del eta, j0, jp  # (dropped before the solves: the step's peak memory is in them)
            prob.set_diagonal(c)
            phi_a = None
            phi_a, _ = prob.solve(b0, x0=phi, rtol=tol)
            phi_b, _ = prob.solve(c, x0=phi_b, rtol=tol)
            base, per_volt = (v * self.node_volume for v in self.extent.total(b0 - c * phi_a, c - c * phi_b))
            V_new = (j_applied * self.lateral_area - base) / per_volt
            phi = phi_a + V_new * phi_b
            if abs(V_new) > self.params.voltage_limit:
                raise StopRun(f"contact failure: cell voltage {V_new:.3g} V beyond the limit {self.params.voltage_limit:g} V")
            done = abs(V_new - V) <= 1e-10 + 1e-8 * abs(V_new)
            V = V_new
            if done:
                break
        state["potential"][...] = phi
        state["ledger"][self.ledger_names.index("voltage")] = V
        return V, bv.current(V - phi, xp)

    def metal_side_current(self, j_sse, xi):
        """Faradaic current per volume (A/m^3) at each Li-side node from its contact faces."""
        r = self.xp.zeros(self.grid.shape, dtype=xi.dtype)
        for a, step, inv_h, m in self.faces:
            r += stencil.shifted(m * j_sse, self.grid, a, -step, self.xp) * inv_h
        return r * xi

    # --- one step ----------------------------------------------------------------------
    def euler_step(self, state, t, dt):
        # one helper per stage: what a stage leaves behind is freed before the next, which sets
        # the peak memory of the step
        xp = self.xp
        self.follow_temperature(state, t)
        _, j_sse = self.solve_potential(state, self.current(t))  # 1. potential, cell voltage, Faradaic current into the SSE
        contact, eps_dot, injection = self._creep_stage(state, t, dt, j_sse)
        S_new = self._vacancy_stage(state, dt, injection)
        del injection
        S_new = self._void_stage(state, dt, S_new, eps_dot)
        state["supersaturation"][...] = xp.where(self.li_side, S_new, 0.0)
        del S_new

        # 5. nucleation (at the contact of the step's start)
        if self.params.nucleation.enabled:
            self.nucleate(state, t, dt, self.pressure(t), contact)
        self._add(state, "steps", 1)
        self._record_diagnostics(state, j_sse)
        self.last_step = {"j_sse": j_sse}  # the step's Faradaic current density into the SSE, for analysis

    def _record_diagnostics(self, state, j_sse):
        """Peak |j| on a contact face, and the contact-weighted mean of V - phi at the contact."""
        ext, w = self.extent, self.contact_weight(state["xi"])
        w_sum, w_eta = ext.total(w, w * (self.ledger(state, "voltage") - state["potential"]))
        if w_sum > 0:
            self.record_step(state, ext.peak(self.xp.abs(j_sse * (w > 0))), w_eta / w_sum)
        else:
            self.record_step(state, np.nan, np.nan)

    def _creep_stage(self, state, t, dt, j_sse):
        """2. creep: the metal replaces stripped Li up to l_c * eps_dot; the rest leaves
        vacancies. Returns the contact fraction, eps_dot and the vacancy injection (S per s)."""
        xp, xi = self.xp, state["xi"]
        faradaic = self.metal_side_current(j_sse, xi)  # A/m^3, > 0 stripping
        contact = self.contact_fraction(xi)
        eps_dot = self.creep_strain_rate(self.pressure(t), contact)
        capacity = self.params.creep.length * eps_dot * FARADAY / self.omega * self.contact_area_density(xi)
        by_creep = xp.minimum(xp.maximum(faradaic, 0.0), capacity)
        del capacity
        stripped, crept = self.extent.total(faradaic, by_creep)
        self._add(state, "charge", stripped * self.node_volume / self.lateral_area * dt)
        self._add(state, "creep_volume", crept * self.node_volume * self.omega / FARADAY * dt)
        return contact, eps_dot, (faradaic - by_creep) * self.omega / FARADAY / self.x_v0

    def _vacancy_stage(self, state, dt, injection):
        """3. vacancies: (1/dt + k_s^2 D xi + k_c q(xi)) S - div(D grad S)
        = S/dt + (sinks + k_c q) 1 + injection. Returns the solved S."""
        xp, p = self.xp, self.params
        xi, S = state["xi"], state["supersaturation"]
        q = voids.interface_indicator(xi)
        sink = self.sink_k2 * self.d_vac * xi
        cond = self.condensation_rate * q
        del q
        self.vacancy_problem.set_diagonal(xp.where(self.li_side, 1 / dt + sink + cond, 1.0))
        rhs = xp.where(self.li_side, S / dt + sink + cond + injection, 0.0)
        del cond
        S_new, _ = self.vacancy_problem.solve(rhs, x0=S, rtol=p.potential_tolerance)
        del rhs
        self._add(state, "sink_volume", self.extent.total(sink * (S_new - 1.0)) * dt * self.x_v0 * self.node_volume)
        return S_new

    def _void_stage(self, state, dt, S_new, eps_dot):
        """4. voids (kernels in pfsim/kernels/voids.py): condensation of what left S in the
        solve; shape relaxation at fixed void volume (Allen-Cahn with a Lagrange multiplier
        on the interfaces: curved voids trade sites through the vacancy field, which
        equilibrates within a step); creep closure d(1 - xi)/dt = -1.5 eps_dot (1 - xi) in
        the band, integrated exactly; clipping to [0, 1]. What clipping trades with the
        vacancy field is spread uniformly over the Li side (D_v dt >> cell size^2). Updates
        xi and returns S."""
        be, li, xi = self.backend, self.li_float, state["xi"]
        relax, q = voids.void_rates(be, self.grid, xi, li, self.kappa, self.barrier, self.mobility)
        relax_sum, q_sum = self.extent.total(relax, q)
        del q
        lagrange = relax_sum / max(q_sum, voids.LAGRANGE_FLOOR)
        clipped, exchange, closed = voids.void_update(
            be, xi, S_new, li, self.closure_band(xi), self.x_v0, self.condensation_rate, relax, lagrange, eps_dot, dt)
        del relax
        closed, exchanged = self.extent.total(closed, exchange)
        del exchange
        self._add(state, "creep_volume", closed * self.node_volume)
        xi[...] = clipped
        return S_new + exchanged / (self.x_v0 * self.li_nodes)


    # --- creep and closure -------------------------------------------------------------
    def contact_fraction(self, xi):
        """Area fraction of the SSE surface wetted by metal (xi-weighted contact faces)."""
        return self.extent.total(self.contact_weight(xi)) / self.full_contact

    def contact_area_density(self, xi):
        """Contact area per volume at Li-side nodes (1/m), xi-weighted."""
        r = self.xp.zeros(self.grid.shape, dtype=xi.dtype)
        for a, step, inv_h, m in self.faces:
            r += stencil.shifted(m, self.grid, a, -step, self.xp) * inv_h
        return r * xi

    def creep_strain_rate(self, pressure, contact):
        c = self.params.creep
        if not c.enabled or pressure <= 0:
            return 0.0
        stress = pressure / max(contact, 1e-3)  # the load is carried by the remaining contact
        return float(self.creep_rate0 * (stress / c.reference_stress) ** c.exponent)

    def closure_band(self, xi):
        """Li-side nodes within one interface width of the SSE surface (where contacts creep)."""
        if not hasattr(self, "_band"):
            z = self.grid.coords(self.grid.ndim - 1)
            dist = z.reshape([1] * (self.grid.ndim - 1) + [-1]) - self.height[..., None]
            band = (dist > 0) & (dist <= self.params.interface.width + 1e-12)
            self._band = self.backend.asarray(band.astype(float))
        return self._band

    # --- nucleation --------------------------------------------------------------------
    def nucleate(self, state, t, dt, pressure, contact):
        p, g = self.params.nucleation, self.grid
        S = state["supersaturation"].ravel()
        xi = state["xi"].ravel()
        sites = self.column_interface.ravel()
        S_site = self.backend.to_host(S[sites]).astype(float)
        xi_site = self.backend.to_host(xi[sites]).astype(float)
        stress = pressure / max(contact, 1e-3)
        drive = self.kT_per_volume * np.log(np.maximum(S_site, 1e-300)) - stress
        gamma = self.params.lithium.surface_energy
        f_wet = self.wetting_factor.ravel()
        with np.errstate(divide="ignore", over="ignore"):
            barrier = np.where(drive > 0, 16 * np.pi * gamma**3 * f_wet / (3 * drive**2), np.inf)
        site_area = float(np.prod(g.spacing[:-1])) * (g.spacing[0] if g.ndim == 2 else 1.0)
        attempts = p.prefactor / self.omega_atom ** (2 / 3) * site_area
        rate = attempts * np.exp(-barrier / (BOLTZMANN * self.temperature))
        step = int(self.ledger(state, "steps"))
        stream = np.random.Generator(np.random.Philox(key=[self.seed, 2], counter=[0, 0, 0, step]))
        draws = self.extent.local(stream.uniform(size=self.extent.whole.shape[:-1])).ravel()  # one per column
        # each site's waiting time to its first nucleation event; the earliest ones within the
        # step nucleate, so likelier sites (defects) win when many could
        with np.errstate(divide="ignore"):
            wait = np.where((rate > 0) & (xi_site > 0.5), -np.log(draws) / rate, np.inf)
        lateral = self.column_height_index.shape
        wait = self.extent.lateral_sites(wait.reshape(lateral))  # every column of the whole grid
        normal = self.extent.lateral_sites(self.column_height_index)
        order = np.argsort(wait, kind="stable")
        chosen = order[wait[order] < dt][: p.max_seeds_per_step]
        whole_lateral = self.extent.whole.shape[:-1]
        planted = sum(self._plant_void(state, np.unravel_index(k, whole_lateral) + (int(normal[k]),)) for k in chosen)
        self._add(state, "nucleation_events", planted)

    def _plant_void(self, state, center):
        """Plant a void seed at the node of whole-grid index `center`."""
        xp, whole = self.xp, self.extent.whole
        r = self.params.nucleation.seed_radius or self.params.interface.width
        dist2 = 0
        for a, x in enumerate(self.grid.mesh(xp)):  # the whole grid's coordinates of this grid's nodes
            d = x - whole.coords(a)[center[a]]
            if whole.periodic[a]:
                L = whole.shape[a] * whole.spacing[a]
                d = (d + L / 2) % L - L / 2
            dist2 = dist2 + d * d
        profile = 0.5 * (1 + xp.tanh((xp.sqrt(dist2) - r) / (self.params.interface.width / 2)))
        xi, S = state["xi"], state["supersaturation"]
        new = xp.where(self.li_side, xp.minimum(xi, profile), 0.0)
        removed, available = self.extent.total(xi - new, xp.maximum(S - 1, 0) * self.li_side)
        removed *= self.node_volume  # m^3 of metal lattice turned to void
        available *= self.x_v0 * self.node_volume
        if removed <= 0:
            return False
        # A grid-sized seed holds more sites than the vacancies near a real (nm) nucleus: it takes
        # up to half of the vacancy excess and displaces the rest of its Li into the bulk
        # (booked in the ledger, so Li sites stay conserved).
        from_vacancies = min(removed, 0.5 * available)
        if available > 0:
            S -= xp.maximum(S - 1, 0) * self.li_side * (from_vacancies / available)
        self._add(state, "displaced_volume", removed - from_vacancies)
        xi[...] = new
        return True

    # --- observables -------------------------------------------------------------------
    def li_content(self, state):
        """Li volume on the Li side (m^3), dense equivalent: lattice minus vacancies, less what left by creep/sinks."""
        xi, S = state["xi"], state["supersaturation"]
        inside = self.extent.total(xi - self.x_v0 * (S - 1) * self.li_side) * self.node_volume
        return (inside - self.ledger(state, "creep_volume") - self.ledger(state, "sink_volume")
                + self.ledger(state, "displaced_volume"))

    def observables(self, state, t):
        xi, S = state["xi"], state["supersaturation"]
        charge = self.ledger(state, "charge")
        stripped = charge * self.omega / FARADAY * self.lateral_area
        initial = self.ledger(state, "initial_li")
        balance = abs(initial - self.li_content(state) - stripped) / stripped if stripped > 0 else 0.0
        ext = self.extent
        S_int = S.ravel()[self.column_interface.ravel()].reshape(self.column_interface.shape)
        void_volume, li_volume, S_sum = ext.total((1 - xi) * self.li_side, self.li_side, S_int)
        count, largest = self.void_statistics(xi)
        return self.common_observables(state, t) | {
            "contact_fraction": self.contact_fraction(xi),
            "void_volume_fraction": void_volume / li_volume,
            "void_count": count,
            "largest_void_size": largest,
            "mean_interface_supersaturation": S_sum / int(np.prod(ext.whole.shape[:-1])),
            "peak_interface_supersaturation": ext.peak(S_int),
            "li_thickness": self.li_content(state) / self.lateral_area,
            "charge_passed": charge,
            "li_site_balance_error": balance,
        }

    def void_statistics(self, xi):
        """(number of voids, largest void's equivalent diameter) from connected void nodes."""
        void = self.extent.gather((xi < 0.5) & self.li_side)
        if not void.any():
            return 0, 0.0
        labels = periodic_labels(void)
        ids, counts = np.unique(labels[labels > 0], return_counts=True)
        measure = counts.max() * self.node_volume  # an area in 2D (per unit depth), a volume in 3D
        if self.grid.ndim == 2:  # diameter of the disc of the same area
            return len(ids), float(2 * np.sqrt(measure / np.pi))
        return len(ids), float((6 * measure / np.pi) ** (1 / 3))

    def stability_limit(self):
        return 2.0 / (self.mobility * (self.kappa * self.laplacian_eigen_max() + 2 * self.barrier))

