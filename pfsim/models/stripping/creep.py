"""Stripping step 2: creep of Li under the stack pressure, `model.creep.model`:

- reduced (docs/stripping.md section 2): power-law creep under the stack pressure carried by the
  contact, eps_dot = eps0 (sigma_c / sigma0)^m; the metal replaces stripped Li up to
  v_c = l_c eps_dot (the closure of voids near the SSE is in voids.py);
- solved (docs/stripping.md, "Solved mechanics"): the power-law creep flow of the Li is solved on
  the grid (pfsim.solvers.creep_flow) with the SSE rigid and bonded, the void surfaces loaded by
  the Li surface tension alone (`creep.surface_tension`, pfsim.solvers.capillary) and the stack
  pressure on the current collector, and carries xi; every stripped atom leaves a
  vacancy, and the closure band does nothing (eps_dot = 0). `model.creep.solver` picks the
  linear algebra (the matrix-free multigrid on the run's backend, or SuperLU / block AMG on the
  host); xi is gathered to the host, and the flow's velocities come back to it for the advection."""

import numpy as np

from ... import stencil
from ...physics.constants import FARADAY
from ...solvers import creep_flow as cf
from ...solvers.capillary import capillary_force
from .potential import metal_side_current


def step(m, state, t, dt, j_sse):
    """R_F split into creep, min(R_F, v_c F / Omega x contact area density), and the rest, which
    leaves vacancies (reduced), or the solved flow's step (solved). Returns the contact fraction,
    eps_dot and the injection R_v (S per s)."""
    if m.params.creep.model == "solved":
        return solved_step(m, state, t, dt, j_sse)
    xp, xi = m.xp, state["xi"]
    faradaic = metal_side_current(m, j_sse, xi)  # A/m^3, > 0 stripping
    contact = m.contact_fraction(xi)
    eps_dot = strain_rate(m, m.pressure(t), contact, creep_strength(m, xi))
    capacity = m.params.creep.length * eps_dot * FARADAY / m.omega * contact_area_density(m, xi)
    by_creep = xp.minimum(xp.maximum(faradaic, 0.0), capacity)
    del capacity
    stripped, crept = m.extent.total(faradaic, by_creep)
    m._add(state, "charge", stripped * m.node_volume / m.lateral_area * dt)
    m._add(state, "creep_volume", crept * m.node_volume * m.omega / FARADAY * dt)
    return contact, eps_dot, (faradaic - by_creep) * m.omega / FARADAY / m.x_v0


def contact_area_density(m, xi):
    """Contact area per volume at Li-side nodes (1/m), xi-weighted."""
    r = m.xp.zeros(m.grid.shape, dtype=xi.dtype)
    for a, step, inv_h, mask in m.faces:
        r += stencil.shifted(mask, m.grid, a, -step, m.xp) * inv_h
    return r * xi


def strain_rate(m, pressure, contact, strength):
    c = m.params.creep
    if not c.enabled or pressure <= 0:
        return 0.0
    stress = pressure / max(contact, 1e-3)  # the load is carried by the remaining contact
    return float(m.creep_rate0 * (stress / strength) ** c.exponent)


def reference_stress(c, size=None):
    """sigma0, or with `size_effect` the micropillar strength at `size_length`, or at `size` (m)
    where size_length is "contacts" (CreepConfig.strength)."""
    return float(c.strength(c.size_length if size is None else size))


def creep_strength(m, xi, size=None):
    """The creep law's sigma0 for the present contact: with size_length "contacts" the micropillar
    strength at the mean contact-patch size (`size`, or contact_size of xi), else reference_stress."""
    c = m.params.creep
    if c.size_effect and c.size_length == "contacts":
        return reference_stress(c, contact_size(m, xi) if size is None else size)
    return reference_stress(c)


def contact_size(m, xi):
    """Mean size of the contact patches (m): a column of the interface is in contact where its
    contact share (contact faces weighted by xi, over those of the pristine surface) is at least
    one half; patches are connected contacting columns (periodic axes wrap); the size is the mean
    patch width in 2D and the equivalent diameter 2 sqrt(A / pi) of the mean patch area in 3D,
    at least one grid spacing (narrower patches are not resolved). Full contact: the interface's
    length (2D) or the equivalent diameter of its area (3D)."""
    from scipy import ndimage

    if not hasattr(m, "_full_columns"):
        m._full_columns = m.xp.maximum(m.contact_weight(m.xp.ones(m.grid.shape, dtype=xi.dtype)).sum(axis=-1), 1e-300)
    share = m.backend.to_host(m.contact_weight(xi).sum(axis=-1) / m._full_columns)
    whole = m.extent.whole
    lateral = whole.shape[:-1]
    touching = m.extent.lateral_sites(share).reshape(lateral) >= 0.5
    h = whole.spacing[:-1]
    periodic = whole.periodic[:-1]
    if not touching.any():
        return float(min(h))
    labels, n = ndimage.label(touching)
    if n > 1:
        n = _periodic_patches(labels, n, periodic)
    area = touching.sum() * float(np.prod(h)) / n
    size = area if len(lateral) == 1 else 2.0 * np.sqrt(area / np.pi)
    return float(max(size, min(h)))


def _periodic_patches(labels, n, periodic):
    """The number of patches once labels that meet across a periodic wall are joined."""
    root = list(range(n + 1))

    def find(k):
        while root[k] != k:
            root[k] = root[root[k]]
            k = root[k]
        return k

    for a, wraps in enumerate(periodic):
        if not wraps:
            continue
        first, last = np.take(labels, 0, axis=a).ravel(), np.take(labels, -1, axis=a).ravel()
        for p, q in zip(first, last):
            if p and q:
                root[find(p)] = find(q)
    return len({find(k) for k in range(1, n + 1)})


def closure_band(m):
    """Li-side nodes within `creep.closure_depth` of the SSE surface (where contacts creep)."""
    if not hasattr(m, "_band"):
        z = m.grid.coords(m.grid.ndim - 1)
        dist = z.reshape([1] * (m.grid.ndim - 1) + [-1]) - m.height[..., None]
        band = (dist > 0) & (dist <= m.params.creep.closure_depth + 1e-12)
        m._band = m.backend.asarray(band.astype(float))
    return m._band


# --- solved mechanics ----------------------------------------------------------------------------
MAX_SOLVES_PER_STEP = 8  # flow solves within one step as void cells fill (the rest of the step without flow)
REGULARISATION = 1e-5  # eps_reg / eps0 (p/sigma0)^m: changes the collector inflow of configs/void_stripping.yaml (three planted voids) by 1e-5 relative to 1e-6
RTOL = 1e-6  # relative residual of the flow solves (the velocities to about as much)


def solved_step(m, state, t, dt, j_sse):
    """Every stripped atom leaves a vacancy; the creep flow, solved from xi (again once xi has
    changed by `resolve_change` somewhere since the last solve, a void cell has filled, or the
    pressure or temperature changed), carries xi over dt; where a void cell fills before the end
    of the step the flow of the new xi takes over (at most MAX_SOLVES_PER_STEP solves). What
    enters through the current collector is booked in "creep_volume" (the Li layer behind the
    collector thins by as much)."""
    xi = state["xi"]
    faradaic = metal_side_current(m, j_sse, xi)
    stripped = m.extent.total(faradaic)
    m._add(state, "charge", stripped * m.node_volume / m.lateral_area * dt)
    contact = m.contact_fraction(xi)
    injection = faradaic * (m.omega / FARADAY / m.x_v0)
    del faradaic
    pressure = m.pressure(t)
    c = m.params.creep
    if c.enabled and (pressure > 0 or c.surface_tension):
        left = dt
        for _ in range(MAX_SOLVES_PER_STEP):
            flow = creep_flow(m, state, pressure)
            if flow is None:
                break
            velocity = [cf.to_host(v) for v in flow.velocity]  # the multigrid path leaves them on the device
            whole, entered, used = cf.advect(m._creep["geometry"], m.extent.gather(xi), velocity, left)
            xi[...] = m.backend.asarray(m.extent.local(whole))
            m._add(state, "creep_volume", entered)
            left -= used
            if left <= 1e-9 * dt:
                break
            m._creep["stale"] = True  # a void cell filled: the flow of the new xi for the rest of the step
        save(m, state)
    return contact, 0.0, injection


def creep_flow(m, state, pressure):
    """The flow for the present xi (a FlowSolution over the whole grid), or None where the Li has
    no void (incompressible metal held by the SSE and the collector: at rest) or nothing loads it.
    Loads: the stack pressure on the collector and, with `creep.surface_tension`, the capillary
    force of the void surfaces (pfsim.solvers.capillary); the solve's stress scale is the pressure,
    or the capillary stress rounded up to a power of 2 where that is larger (a solver per scale)."""
    c = m.params.creep
    cache = getattr(m, "_creep", None)
    sse = m.extent.gather(m.sse).astype(bool)
    if cache is None or not np.array_equal(cache["sse"], sse):
        first = cache is None
        cache = m._creep = {"sse": sse, "geometry": _geometry(m, sse), "key": None,
                            "solution": None, "xi": None, "solves": 0}
        if first and "creep_flow" in state:
            restore(m, state["creep_flow"])  # a resumed run: the flow and factor it stopped with
    xi = m.extent.gather(state["xi"]).astype(float)
    if not (cf.void_weight(xi[~sse]) > 0).any():
        cache["solution"] = None
        return None
    strength = creep_strength(m, state["xi"])  # changes with the contact patches where size_length is contacts
    load = (float(pressure), float(m.creep_rate0), strength)
    stale = (cache["solution"] is None or cache.get("stale") or cache["key"][:3] != load
             or float(np.abs(xi - cache["xi"]).max()) > c.resolve_change)
    if not stale:
        return cache["solution"]
    geometry = cache["geometry"]
    force, capillary = None, 0.0
    if c.surface_tension:
        force, capillary = capillary_force(geometry, xi, m.params.lithium.surface_energy)
    if pressure <= 0 and capillary <= 0:
        cache["solution"] = None
        return None
    # the stress scale: the pressure, or where the capillary stress is larger, that to a factor 2
    scale = float(pressure) if pressure >= capillary else 2.0 ** np.ceil(np.log2(capillary))
    key = (*load, scale)
    if cache["key"] != key:
        _new_solver(m, cache, key)
        cache["solution"] = None
    cache["solution"] = cache["solver"].solve(xi, body_force=force, x0=cache["solution"], rtol=RTOL)
    cache["key"], cache["xi"], cache["stale"] = key, xi, False
    cache["solves"] += 1
    return cache["solution"]


def _geometry(m, sse):
    whole = m.extent.whole
    nd = whole.ndim
    walls = {}
    for a in range(nd - 1):  # lateral walls that are not periodic: symmetry planes
        walls[(a, 0)] = walls[(a, 1)] = cf.Wall("freeslip")
    walls[(nd - 1, 0)] = cf.Wall("noslip")  # the counter-electrode side (inside the SSE)
    walls[(nd - 1, 1)] = cf.Wall("traction", 0.0)  # the current collector, its stress set per solve
    return cf.CreepFlow(whole, walls, solid=sse)


def _new_solver(m, cache, key):
    """The solver of the load key (pressure, eps0, sigma0, stress scale)."""
    c, geometry = m.params.creep, cache["geometry"]
    pressure, rate0, strength, scale = key
    geometry.walls[(geometry.nd - 1, 1)].stress = -float(pressure)
    cache["solver"] = cf.CreepSolver(geometry, cf.Material(c.exponent, strength, rate0), stress_scale=scale,
                                     regularisation=REGULARISATION, backend=m.backend, method=c.solver)


# --- the flow's memory in the checkpoint ------------------------------------------------------------
# A resumed run must take the steps the uninterrupted one takes: the flow is re-solved only once xi
# has moved by resolve_change since the last solve, from the last flow as first guess, with the
# factor kept from earlier solves as preconditioner; all three are kept in the state entry
# "creep_flow" (host float64): a header, then the last flow (scaled face velocities, cell
# pressures), the xi it was solved for, and the inputs of the kept factor (pfsim.solvers.creep_flow,
# CreepSolver.saved), from which the resumed run rebuilds the same factor.
HEADER = 16  # solver, key (4), solution, stale, SSE cells, solves, factor, refactor_after, pins, pin (4), SSE digest


def _slots(nf, nc):
    """Where the vectors lie in the "creep_flow" entry, after the header: the last flow's face
    velocities and cell pressures, the xi it was solved for, the kept factor's velocities and xi."""
    ends = np.cumsum([HEADER, nf, nc, nc, nf, nc])
    names = ("velocity", "pressure", "xi", "factor_velocity", "factor_xi")
    return {name: slice(a, b) for name, a, b in zip(names, ends[:-1], ends[1:])}


def new_flow_state(m):
    """An empty "creep_flow" entry for the whole grid (nothing kept)."""
    return np.zeros(_slots(*cf.unknown_counts(m.extent.whole))["factor_xi"].stop)


def save(m, state):
    """Write the flow's memory into state["creep_flow"] (in place; where it changed)."""
    cache, dest = getattr(m, "_creep", None), state.get("creep_flow")
    if cache is None or dest is None:
        return
    mark = (cache["solves"], bool(cache.get("stale")), cache["key"], cache["solution"] is None)
    if cache.get("saved_as") == mark:
        return
    cache["saved_as"] = mark
    out = np.zeros(dest.shape)
    _pack(cache, out)
    dest[...] = m.xp.asarray(out)


def _pack(cache, out):
    geometry = cache["geometry"]
    nf, nc = geometry.nface, geometry.ncell
    solver = cache.get("solver")
    if solver is None or cache["key"] is None:
        return
    at = _slots(nf, nc)
    out[0], out[1:5] = 1.0, cache["key"]
    out[7], out[15] = _digest(cache["sse"])
    sol = cache["solution"]
    out[8] = cache["solves"]
    if sol is not None:
        out[5], out[6] = 1.0, float(bool(cache.get("stale")))
        out[at["velocity"]] = cf.to_host(sol.velocity_scaled)
        out[at["pressure"]] = cf.to_host(sol.pressure_scaled)
        out[at["xi"]] = cache["xi"].ravel()
    kept = solver.saved()
    if kept:
        out[9], out[10] = 1.0, kept["refactor_after"]
        pins = kept["factor_pin"]
        out[11] = len(pins)
        out[12:12 + len(pins)] = pins
        out[at["factor_velocity"]] = kept["factor_velocity"]
        out[at["factor_xi"]] = kept["factor_xi"]


def _digest(sse):
    """(count, sum of flat indices) of the SSE cells: the geometry the memory was kept for."""
    idx = np.flatnonzero(sse)
    return float(idx.size), float(idx.sum())


def restore(m, saved):
    """The flow's memory from a checkpoint's "creep_flow" (m._creep holds the geometry)."""
    saved = m.backend.to_host(saved)
    cache = m._creep
    if not saved[0] or tuple(saved[[7, 15]]) != _digest(cache["sse"]):  # nothing kept, or kept for another SSE
        return
    geometry = cache["geometry"]
    at = _slots(geometry.nface, geometry.ncell)
    cache["key"] = tuple(float(v) for v in saved[1:5])
    _new_solver(m, cache, cache["key"])
    cache["solves"] = int(saved[8])
    if saved[5]:
        cache["solution"] = cache["solver"].solution(saved[at["velocity"]].copy(), saved[at["pressure"]].copy())
        cache["xi"] = saved[at["xi"]].reshape(geometry.shape).copy()
        cache["stale"] = bool(saved[6])
    if saved[9]:
        pins = int(saved[11])
        cache["solver"].restore({"refactor_after": saved[10], "factor_pin": saved[12:12 + pins],
                                 "factor_velocity": saved[at["factor_velocity"]].copy(),
                                 "factor_xi": saved[at["factor_xi"]].copy()})
