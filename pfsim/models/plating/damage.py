"""Plating step 4, docs/plating.md section 2 (Damage, "crack then fill"): the SSE ahead of a Li-filled
flaw of depth a opens at dd/dt = max(0, (K / K_IC)^2 - 1) / t_d, K = Y p sqrt(pi a), p = F |eta| / Omega."""

import numpy as np

from ... import stencil
from ...physics.constants import FARADAY


def grow(m, state, eta, gate, dt):
    xp, g, mech = m.xp, m.grid, m.params.mechanics
    # metal in open space: against an intact wall the profile's last open node sits near
    # xi = 0.4 (the wall holds the tail of the diffuse interface), so 0.3 marks the surface
    metal = ((state["xi"] > 0.3) & (gate > 0.5)).astype(state["xi"].dtype)
    nz = g.ndim - 1
    tip = stencil.shifted(metal, g, nz, +1, xp)  # metal right above: ahead of a downward flaw
    flank = neighbour_max(m, metal, range(nz), xp.zeros_like(metal))
    flaw = m.depth + mech.surface_flaw_size
    reach = xp.maximum(tip, mech.lateral_factor * flank) * (flaw > 0) * m.sse * (state["damage"] < 1)
    pressure = xp.maximum(-eta, 0.0) * (FARADAY / m.omega)
    K = mech.geometry_factor * pressure * xp.sqrt(np.pi * flaw) * reach
    rate = xp.maximum((K / m.toughness_map) ** 2 - 1, 0.0) / mech.damage_time
    state["damage"][...] = xp.minimum(state["damage"] + rate * dt, 1.0)
    m.extent.exchange(state["damage"])  # the flank stencil leaves the ghost rows stale


def neighbour_max(m, f, axes, start):
    """max(start, f at the two neighbours along each of `axes`)."""
    xp, g = m.xp, m.grid
    out = start
    for a in axes:
        out = xp.maximum(out, xp.maximum(stencil.shifted(f, g, a, +1, xp), stencil.shifted(f, g, a, -1, xp)))
    return out
