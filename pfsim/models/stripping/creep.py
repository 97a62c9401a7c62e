"""Stripping step 2, docs/stripping.md section 2: power-law creep of Li under the stack pressure
carried by the contact, eps_dot = eps0 (sigma_c / sigma0)^m; the metal replaces stripped Li up to
v_c = l_c eps_dot (the closure of voids near the SSE is in voids.py)."""

from ... import stencil
from ...physics.constants import FARADAY
from .potential import metal_side_current


def step(m, state, t, dt, j_sse):
    """R_F split into creep, min(R_F, v_c F / Omega x contact area density), and the rest, which
    leaves vacancies. Returns the contact fraction, eps_dot and the injection R_v (S per s)."""
    xp, xi = m.xp, state["xi"]
    faradaic = metal_side_current(m, j_sse, xi)  # A/m^3, > 0 stripping
    contact = m.contact_fraction(xi)
    eps_dot = strain_rate(m, m.pressure(t), contact)
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


def strain_rate(m, pressure, contact):
    c = m.params.creep
    if not c.enabled or pressure <= 0:
        return 0.0
    stress = pressure / max(contact, 1e-3)  # the load is carried by the remaining contact
    return float(m.creep_rate0 * (stress / c.reference_stress) ** c.exponent)


def closure_band(m):
    """Li-side nodes within one interface width of the SSE surface (where contacts creep)."""
    if not hasattr(m, "_band"):
        z = m.grid.coords(m.grid.ndim - 1)
        dist = z.reshape([1] * (m.grid.ndim - 1) + [-1]) - m.height[..., None]
        band = (dist > 0) & (dist <= m.params.interface.width + 1e-12)
        m._band = m.backend.asarray(band.astype(float))
    return m._band
