"""Plating step 3, docs/plating.md section 2 (Metal, the gate, Noise, Capillarity and
anisotropy; kernels in pfsim/kernels/plating.py): d xi/dt = gate [-(Omega/F) w i noise +
(delta^2 d2xi/dn2 - 2 g'(xi)) / tau + C - lambda q(xi)], C the capillary term (0 unless
model.interface.capillarity), the restoring and capillary terms sub-cycled within their
stability limit, lambda keeping both volume-conserving."""

import numpy as np

from ...kernels import plating as pk
from ...physics.constants import FARADAY


def gate(m, state):
    """Where the metal may change: 1 off the SSE, the damage inside it (1 everywhere without mechanics)."""
    if not m.params.mechanics.enabled:
        return m.xp.ones(m.grid.shape, dtype=state["xi"].dtype)
    return m.xp.where(m.sse, state["damage"], 1.0)


def reaction_noise(m, state, w, current):
    """The factor 1 + A (zeta - <zeta>) on the local plating rate (ones without noise), its
    current-weighted mean removed so that the total current stays the applied one."""
    xp, p = m.xp, m.params
    if p.noise > 0:
        zeta = pk.uniform_noise(m.backend, 2 * m.seed, int(m.ledger(state, "steps")), m.grid.shape, m.first_node)
        wi = xp.abs(w * current)
        wz, wsum = m.extent.total(wi * zeta, wi)
        mean = wz / max(wsum, 1e-300)
        return 1 + p.noise * (zeta - mean)
    return xp.ones_like(state["xi"])


def step(m, state, w, relax, current, dt, noise=None):
    """Moves xi by the reaction with the step's interface weight w (so the Faradaic current is
    the applied one), times the noise factor (reaction_noise, drawn here if not given); books
    the Faradaic charge and what the gate or clipping displaced. Returns the gate."""
    p, be, xi = m.params, m.backend, state["xi"]
    delta, tau = p.interface.width, m.tau
    g = gate(m, state)
    if noise is None:
        noise = reaction_noise(m, state, w, current)
    scale = m.omega / FARADAY
    n_sub = max(1, int(np.ceil(dt / m.relax_limit())))
    new, moved = xi, 0.0
    for k in range(n_sub):
        if k:
            _, relax = pk.interface_terms(be, m.grid, new, delta, tau)
        if m.cap_coeff > 0:
            relax = relax + pk.capillary_term(be, m.grid, new, m.cap_coeff, delta, m.aniso)
        gr, gq = m.extent.total(g * relax, g * pk.q_of(new))
        new, displaced = pk.metal_update(be, new, w, relax, gr / max(gq, 1e-300), current, g, noise, scale, dt / n_sub)
        m.extent.exchange(new)  # the next sub-step's and the damage's stencils read the ghosts
        moved += m.extent.total(displaced)
    faradaic = m.extent.total(w * current * noise) * m.node_volume
    m._add(state, "faradaic_charge", faradaic * dt / m.lateral_area)
    m._add(state, "displaced_volume", moved * m.node_volume)
    state["xi"][...] = new
    return g
