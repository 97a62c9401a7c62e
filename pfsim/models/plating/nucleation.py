"""Plating step 5, docs/plating.md section 2 (Nucleation inside the SSE, electronic leakage):
dG* = 16 pi gamma^3 f(theta) / (3 (F |eta| / Omega)^2), J = nu c_e n_Li exp(-dG*/kT),
c_e = sigma_e / (e n_Li mu_e); a node nucleates with probability 1 - exp(-J V dt)."""

import numpy as np

from ...kernels import plating as pk
from ...physics.constants import ELEMENTARY_CHARGE, FARADAY
from .damage import neighbour_max


def nucleate(m, state, eta, dt):
    xp, g, p = m.xp, m.grid, m.params.nucleation
    xi = state["xi"]
    metal = (xi > 0.01).astype(xi.dtype)  # metal with its diffuse rim: nuclei form away from it
    near = neighbour_max(m, metal, range(g.ndim), metal)
    drive = xp.maximum(-eta, 0.0) * (FARADAY / m.omega)  # J/m^3
    gamma = m.params.lithium.surface_energy
    barrier = 16 * np.pi * gamma**3 * m.wetting / (3 * xp.maximum(drive, 1e-30) ** 2)
    n_sites = 1 / m.omega_atom
    electrons = m.sigma_e_map / (ELEMENTARY_CHARGE * n_sites * p.electron_mobility)
    depth = g.spacing[0] if g.ndim == 2 else 1.0  # a 2D cell is a slab one spacing thick
    rate = p.prefactor * electrons * n_sites * xp.exp(-xp.minimum(barrier / m.kT, 700.0))
    prob = -xp.expm1(-rate * m.node_volume * depth * dt)
    u = 0.5 * (1 + pk.uniform_noise(m.backend, 2 * m.seed + 1, int(m.ledger(state, "steps")), g.shape,
                                    m.first_node))
    hit = m.sse & (near < 0.5) & (drive > 0) & (u < prob)
    n, added = m.extent.total(hit, (1 - xi) * hit)
    if n == 0:
        return
    n, added = round(n), added * m.node_volume
    xi[...] = xp.where(hit, 1.0, xi)
    state["damage"][...] = xp.where(hit, 1.0, state["damage"])
    m.extent.exchange(xi, state["damage"])
    charge = -added * FARADAY / m.omega / m.lateral_area
    m._add(state, "faradaic_charge", charge)
    m._add(state, "nucleated_charge", charge)
    m._add(state, "nucleation_events", n)
