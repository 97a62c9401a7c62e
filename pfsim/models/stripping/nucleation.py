"""Stripping step 5, docs/stripping.md section 5: classical nucleation of voids at the interface
sites and their sub-grid growth until they are resolved.

    dg = (kT / Omega_a) ln S - sigma_c,  dG* = 16 pi gamma^3 f(theta) / (3 dg^2),
    rate per site J0 A_site exp(-dG*/kT), drawn from a Philox stream keyed by (seed, step, sub-step).

A nucleus is born as a spherical cap just past the critical radius r* = 2 gamma / dg (one kT down
the barrier) and holds the vacancies of that volume, taken from its site. It grows or shrinks
sub-grid by vacancy condensation (diffusion-limited, with the Gibbs-Thomson equilibrium
S_r = exp((2 gamma / r + sigma_c) Omega_a / kT) of its curvature), a sink term of the vacancy solve
(vacancies.py). Once its volume reaches that of a resolved seed (a diffuse void of radius
`seed_radius`, default the interface width), it becomes that resolved xi void, volume for volume:
Li sites are conserved exactly and nothing is displaced.

Per-column state (whole-grid lateral columns, in the model's ledger tail, the same on every
process): the sub-grid void volume v (m^3 in 3D, m^2 per unit depth in 2D, like node volumes)."""

import logging

import numpy as np

from ...physics.constants import BOLTZMANN
from . import subgrid as blocking

log = logging.getLogger("pfsim")


def wetting(theta_deg):
    """f(theta) = (2 + cos)(1 - cos)^2 / 4 (volume and barrier factor of a cap) and the exposed
    fraction (1 - cos) / 2 of the sphere's surface (its share of the diffusion-limited flux)."""
    c = np.cos(np.radians(theta_deg))
    return (2 + c) * (1 - c) ** 2 / 4, (1 - c) / 2


# --- classical nucleation ------------------------------------------------------------------------
def driving_pressure(m, S_site, stress):
    """(kT / Omega_a) ln S - sigma_c at each site (Pa)."""
    return m.kT_per_volume * np.log(np.maximum(S_site, 1e-300)) - stress


def rates(m, S_site, stress):
    """Nucleation rate (1/s) of each interface site (whole-grid columns, ravelled)."""
    g = m.grid
    drive = driving_pressure(m, S_site, stress)
    gamma = m.params.lithium.surface_energy
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        barrier = np.where(drive > 0, 16 * np.pi * gamma**3 * m.wetting_whole / (3 * drive**2), np.inf)
    site_area = float(np.prod(g.spacing[:-1])) * (g.spacing[0] if g.ndim == 2 else 1.0)
    attempts = m.params.nucleation.prefactor / m.omega_atom ** (2 / 3) * site_area
    return attempts * np.exp(-barrier / (BOLTZMANN * m.temperature))


def nucleus_volume(m, S_site, stress, sites=slice(None)):
    """Volume (model units) of a nucleus born at each site: a cap of radius r* + sqrt(kT / (4 pi
    gamma f)), past the barrier's top by kT."""
    gamma = m.params.lithium.surface_energy
    drive = np.maximum(driving_pressure(m, S_site, stress), 1e-30)
    f = m.wetting_whole[sites]
    r = 2 * gamma / drive + np.sqrt(BOLTZMANN * m.temperature / (4 * np.pi * gamma * f))
    return 4 * np.pi / 3 * r**3 * f / m.depth


def draw(m, state, S_site, xi_site, stress, dt, substep):
    """Nucleate within a (sub-)step of length dt at the sites' supersaturation S_site: returns
    the chosen whole-grid columns (earliest waiting times first) and whether the cap cut some."""
    p = m.params.nucleation
    rate = rates(m, S_site, stress)
    v = m.subgrid(state)
    step = int(m.ledger(state, "steps"))
    stream = np.random.Generator(np.random.Philox(key=[m.seed, 2], counter=[0, 0, substep, step]))
    draws = stream.uniform(size=rate.size)  # one per column of the whole grid
    with np.errstate(divide="ignore"):
        wait = np.where((rate > 0) & open_sites(m, xi_site, v), -np.log(draws) / rate, np.inf)
    order = np.argsort(wait, kind="stable")
    due = order[wait[order] < dt]
    return due[: p.max_seeds_per_step], len(due) > p.max_seeds_per_step


def expected_events(m, state, S_site, xi_site, stress, dt):
    """Expected number of nucleation events in dt at S_site (the sites that may nucleate)."""
    open_ = open_sites(m, xi_site, m.subgrid(state))
    return float(dt * rates(m, S_site, stress)[open_].sum())


def open_sites(m, xi_site, v):
    """The sites that may nucleate: metal, no sub-grid void there, not under a blocking footprint."""
    open_ = (xi_site > 0.5) & (v <= 0)
    if m.params.nucleation.subgrid_contact == "blocked":
        open_ &= blocking.blocked_fraction(m, v) < 0.5
    return open_


def plant_nuclei(m, state, chosen, S_site, stress, capped):
    """Plant sub-grid nuclei at the chosen columns; their vacancies come from the site nodes."""
    if len(chosen) == 0:
        return
    v = m.subgrid(state)
    vol = nucleus_volume(m, S_site[chosen], stress, chosen)
    v[chosen] += vol
    m.set_subgrid(state, v)
    take_vacancies(m, state, float(vol.sum()))
    book(m, state, float(vol.sum()))
    m._add(state, "nucleation_events", len(chosen))
    if capped:
        m._add(state, "nucleation_cap_hits", 1)
        if not getattr(m, "_cap_logged", False):
            m._cap_logged = True
            log.warning("li_stripping: more nuclei were due in one sub-step than nucleation.max_seeds_per_step "
                        f"({m.params.nucleation.max_seeds_per_step}); the run is not converged in its nucleation "
                        "(observable nucleation_cap_hits counts such sub-steps)")


# --- sub-grid growth -----------------------------------------------------------------------------
def subgrid_sink(m, state, stress, dt=None):
    """(k, S_r) per whole-grid column: the sink coefficient (1/s, on the site node's S) and the
    Gibbs-Thomson supersaturation of each sub-grid void (k = 0 where there is none):
    dV/dt = 4 pi r psi D_v x_v0 (S - S_r) with V = (4 pi / 3) r^3 f; with blocking footprints,
    subgrid.sink's terms over the covered columns (kept for `grow`). dt (a sub-step): a void of at
    most `dump_volume` that would emit more than its volume within it at the present S dissolves
    at once (its volume goes to the vacancies): the solve would otherwise emit the excess, which
    `grow` takes back from the whole field (a void of a few atoms has S_r of order e^100). A larger
    void is left to the solve, and the sub-step to `largest_loss` (vacancies.step): handing its
    volume to the vacancies at once raised S everywhere by up to hundreds and nucleated a void at
    every open site."""
    v = m.subgrid(state)
    terms = _sink_terms(m, v, stress)
    if dt is not None and (v > 0).any():
        emitted = _emission(terms, m.sites_of(state["supersaturation"]))
        doomed = (v > 0) & (v <= dump_volume(m)) & (emitted * dt * m.x_v0 * m.node_volume >= v)
        if doomed.any():
            take_vacancies(m, state, -float(v[doomed].sum()))
            book(m, state, -float(v[doomed].sum()))
            v = np.where(doomed, 0.0, v)
            m.set_subgrid(state, v)
            terms = _sink_terms(m, v, stress)
    k, Sr, m.subgrid_voids = terms
    return k, Sr


def _sink_terms(m, v, stress):
    """(k, S_r) per column and, with blocking footprints, subgrid.sink's terms per void (else None)."""
    if m.params.nucleation.subgrid_contact == "blocked":
        return blocking.sink(m, v, stress)
    k, Sr = np.zeros(v.size), np.ones(v.size)
    on = v > 0
    if on.any():
        f, psi = m.wetting_whole[on], m.exposed_whole[on]
        r = (3 * v[on] * m.depth / (4 * np.pi * f)) ** (1 / 3)
        k[on] = 4 * np.pi * r * psi * m.d_vac / (m.depth * m.node_volume)
        gamma = m.params.lithium.surface_energy
        Sr[on] = np.exp(np.minimum((2 * gamma / r + stress) / m.kT_per_volume, 700.0))
    return k, Sr, None


def _emission(terms, S_site):
    """Each sub-grid void's emission rate k (S_r - S) at the sites' S, at its column."""
    k, Sr, per_void = terms
    if per_void is None:
        return k * (Sr - S_site)
    emitted = np.zeros(len(k))
    for c, (cols, kj, Sr_c) in per_void.items():
        emitted[c] = float((kj * (Sr_c - S_site[cols])).sum())
    return emitted


def dump_volume(m):
    """The largest sub-grid void volume that may go to the vacancies at once: spread over the Li
    side it raises S by at most a tenth of nucleation.max_supersaturation_change."""
    return 0.1 * m.params.nucleation.max_supersaturation_change * m.x_v0 * m.node_volume * m.li_nodes


def volume_change(m, k, Sr, S_site, dt):
    """Volume change of each sub-grid void over a sub-step whose solve gave S_site at the sites."""
    if m.params.nucleation.subgrid_contact == "blocked":
        return blocking.growth(m, m.subgrid_voids, S_site, dt)
    return dt * m.x_v0 * m.node_volume * k * (S_site - Sr)


def largest_loss(m, state, dv):
    """The largest share of its volume a sub-grid void above `dump_volume` loses by dv."""
    v = m.subgrid(state)
    big = v > dump_volume(m)
    if not big.any():
        return 0.0
    return float(np.max(-dv[big] / v[big]))


def grow(m, state, dv):
    """Sub-grid void volumes after a sub-step, changed by its `volume_change` dv: exactly what
    the sink term took from the vacancies. A void that dissolves gives back at most its volume:
    the rest is taken back from its site's vacancies."""
    v = m.subgrid(state)
    new = v + dv
    over = np.where(new < 0, -new, 0.0)
    new = clear_tiny(m, state, np.maximum(new, 0.0))
    m.set_subgrid(state, new)
    book(m, state, float((new - v).sum()))
    if over.any():
        take_vacancies(m, state, float(over.sum()))


def book(m, state, change):
    """Ledger: the sub-grid voids' total, and the Li sites held outside the fields (sink_volume:
    bulk sinks, the unresolved foil and the sub-grid voids), both changed by `change`."""
    m._add(state, "subgrid_void_volume", change)
    m._add(state, "sink_volume", change)


def clear_tiny(m, state, v):
    """A sub-grid void under one atomic volume has dissolved: its volume goes back to the vacancies."""
    tiny = (v > 0) & (v < m.omega_atom / m.depth)
    if tiny.any():
        take_vacancies(m, state, -float(v[tiny].sum()))
        v = np.where(tiny, 0.0, v)
    return v


def take_vacancies(m, state, volume):
    """Take `volume` (model units) of vacancies from the Li side, evenly (D_v spreads them over
    the cell within microseconds either way)."""
    S = state["supersaturation"]
    S -= m.li_side * (volume / (m.x_v0 * m.node_volume * m.li_nodes))


# --- sub-grid to resolved ------------------------------------------------------------------------
def resolve(m, state):
    """Turn the sub-grid voids that hold a resolved seed's volume into that xi void (volume for
    volume); a sub-grid void that a resolved void has reached joins it (merge)."""
    v = m.subgrid(state)
    if not (v > 0).any():
        return
    blocked = m.params.nucleation.subgrid_contact == "blocked"
    if blocked:
        v = blocking.merge_overlapping(m, v)
    xi_site = m.sites_of(state["xi"])
    normal = m.extent.lateral_sites(m.column_height_index)
    whole_lateral = m.extent.whole.shape[:-1]
    for k in np.flatnonzero(v > 0):
        center = np.unravel_index(int(k), whole_lateral) + (int(normal[k]),)
        if xi_site[k] < 0.5:
            v[k] -= merge(m, state, center, v[k])
            continue
        if blocked:
            theta = float(blocking.angles(m)[k])
            if v[k] < blocking.cap_volume(m, blocking.resolve_height(m), theta):
                continue
            planted = blocking.plant_cap(m, state["xi"], center, v[k], theta)
            if planted is not None:
                state["xi"][...] = planted[0]
                v[k] -= planted[1]
            continue
        if v[k] < m.resolvable_volume.get(int(k), m.flat_resolvable_volume):
            continue
        removed = plant_resolved(m, state, center, v[k])
        if removed is None:  # the seed would remove more than the void holds: wait for it
            continue
        v[k] -= removed
    v = clear_tiny(m, state, v)
    m.set_subgrid(state, v)
    book(m, state, float(v.sum()) - m.ledger(state, "subgrid_void_volume"))


def seed_profile(m, center, radius=None):
    """xi of a diffuse void of the given radius (default `seed_radius` or the interface width)
    centred on the node of whole-grid index `center`, on this grid's nodes."""
    xp, whole = m.xp, m.extent.whole
    r = radius or m.params.nucleation.seed_radius or m.params.interface.width
    dist2 = 0
    for a, x in enumerate(m.grid.mesh(xp)):  # the whole grid's coordinates of this grid's nodes
        d = x - whole.coords(a)[center[a]]
        if whole.periodic[a]:
            L = whole.shape[a] * whole.spacing[a]
            d = (d + L / 2) % L - L / 2
        dist2 = dist2 + d * d
    return 0.5 * (1 + xp.tanh((xp.sqrt(dist2) - r) / (m.params.interface.width / 2)))


def plant_resolved(m, state, center, available):
    """Plant a resolved seed at `center` if it removes no more than `available` (m^3 of void,
    model units); returns the volume removed, or None (too little yet; the column's threshold is
    kept)."""
    xp = m.xp
    xi = state["xi"]
    new = xp.where(m.li_side, xp.minimum(xi, seed_profile(m, center)), 0.0)
    removed = m.extent.total(xi - new) * m.node_volume
    k = int(np.ravel_multi_index(center[:-1], m.extent.whole.shape[:-1]))
    if removed > available:
        m.resolvable_volume[k] = removed
        return None
    xi[...] = new
    return removed


def merge(m, state, center, volume):
    """Add `volume` (model units) to the resolved void surface near `center` (within two seed
    radii; anywhere on void surfaces if there is none), weighted by the interface indicator;
    returns the volume added (all of it unless xi ran out)."""
    xp = m.xp
    xi = state["xi"]
    q = 16 * xi**2 * (1 - xi) ** 2 * m.li_side
    r = m.params.nucleation.seed_radius or m.params.interface.width
    w = q * (seed_profile(m, center, 2 * r) < 0.5)
    total = m.extent.total(w)
    if total <= 0:
        w, total = q, m.extent.total(q)
    if total <= 0:
        return 0.0
    new = xp.maximum(xi - w * (volume / (m.node_volume * total)), 0.0)
    taken = m.extent.total(xi - new) * m.node_volume
    xi[...] = new
    return taken


def close_by_creep(m, state, eps_dot, dt):
    """Creep closes the sub-grid voids as it closes the resolved ones in the closure band
    (voids.py, reduced model): dv/dt = -1.5 eps_dot v, exactly integrated; the metal that fills
    them came in by creep (ledger creep_volume), so the Li sites balance."""
    if eps_dot <= 0:
        return
    v = m.subgrid(state)
    if not (v > 0).any():
        return
    shrunk = v * np.exp(-1.5 * eps_dot * dt)
    new = clear_tiny(m, state, shrunk)  # what dissolves under an atom goes to the vacancies
    m.set_subgrid(state, new)
    book(m, state, float(new.sum() - v.sum()))
    m._add(state, "creep_volume", float((v - shrunk).sum()))
