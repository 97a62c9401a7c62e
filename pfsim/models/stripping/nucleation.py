"""Stripping step 5, docs/stripping.md section 5: classical nucleation of voids at the interface
sites, dg = (kT / Omega_a) ln S - sigma_c, dG* = 16 pi gamma^3 f(theta) / (3 dg^2), rate
J0 A_site exp(-dG*/kT), drawn from a Philox stream keyed by (seed, step counter)."""

import numpy as np

from ...physics.constants import BOLTZMANN


def nucleate(m, state, t, dt, pressure, contact):
    p, g = m.params.nucleation, m.grid
    S = state["supersaturation"].ravel()
    xi = state["xi"].ravel()
    sites = m.column_interface.ravel()
    S_site = m.backend.to_host(S[sites]).astype(float)
    xi_site = m.backend.to_host(xi[sites]).astype(float)
    stress = pressure / max(contact, 1e-3)
    drive = m.kT_per_volume * np.log(np.maximum(S_site, 1e-300)) - stress
    gamma = m.params.lithium.surface_energy
    f_wet = m.wetting_factor.ravel()
    with np.errstate(divide="ignore", over="ignore"):
        barrier = np.where(drive > 0, 16 * np.pi * gamma**3 * f_wet / (3 * drive**2), np.inf)
    site_area = float(np.prod(g.spacing[:-1])) * (g.spacing[0] if g.ndim == 2 else 1.0)
    attempts = p.prefactor / m.omega_atom ** (2 / 3) * site_area
    rate = attempts * np.exp(-barrier / (BOLTZMANN * m.temperature))
    step = int(m.ledger(state, "steps"))
    stream = np.random.Generator(np.random.Philox(key=[m.seed, 2], counter=[0, 0, 0, step]))
    draws = m.extent.local(stream.uniform(size=m.extent.whole.shape[:-1])).ravel()  # one per column
    # each site's waiting time to its first nucleation event; the earliest ones within the
    # step nucleate, so likelier sites (defects) win when many could
    with np.errstate(divide="ignore"):
        wait = np.where((rate > 0) & (xi_site > 0.5), -np.log(draws) / rate, np.inf)
    lateral = m.column_height_index.shape
    wait = m.extent.lateral_sites(wait.reshape(lateral))  # every column of the whole grid
    normal = m.extent.lateral_sites(m.column_height_index)
    order = np.argsort(wait, kind="stable")
    chosen = order[wait[order] < dt][: p.max_seeds_per_step]
    whole_lateral = m.extent.whole.shape[:-1]
    planted = sum(plant_void(m, state, np.unravel_index(k, whole_lateral) + (int(normal[k]),)) for k in chosen)
    m._add(state, "nucleation_events", planted)


def plant_void(m, state, center):
    """Plant a void seed at the node of whole-grid index `center`."""
    xp, whole = m.xp, m.extent.whole
    r = m.params.nucleation.seed_radius or m.params.interface.width
    dist2 = 0
    for a, x in enumerate(m.grid.mesh(xp)):  # the whole grid's coordinates of this grid's nodes
        d = x - whole.coords(a)[center[a]]
        if whole.periodic[a]:
            L = whole.shape[a] * whole.spacing[a]
            d = (d + L / 2) % L - L / 2
        dist2 = dist2 + d * d
    profile = 0.5 * (1 + xp.tanh((xp.sqrt(dist2) - r) / (m.params.interface.width / 2)))
    xi, S = state["xi"], state["supersaturation"]
    new = xp.where(m.li_side, xp.minimum(xi, profile), 0.0)
    removed, available = m.extent.total(xi - new, xp.maximum(S - 1, 0) * m.li_side)
    removed *= m.node_volume  # m^3 of metal lattice turned to void
    available *= m.x_v0 * m.node_volume
    if removed <= 0:
        return False
    # A grid-sized seed holds more sites than the vacancies near a real (nm) nucleus: it takes
    # up to half of the vacancy excess and displaces the rest of its Li into the bulk
    # (booked in the ledger, so Li sites stay conserved).
    from_vacancies = min(removed, 0.5 * available)
    if available > 0:
        S -= xp.maximum(S - 1, 0) * m.li_side * (from_vacancies / available)
    m._add(state, "displaced_volume", removed - from_vacancies)
    xi[...] = new
    return True
