"""Plating step 4, docs/plating.md section 2 (Damage, "crack then fill").

An intact SSE node next to Li in open space opens as the front of a crack running at
v = crack_speed (G/G_c - 1), G/G_c = (K/K_IC)^2: dd/dt = v / h, h the spacing towards the metal,
so the opening front moves at v on any grid. Ahead of a flaw (metal above the node) K = Y p
sqrt(pi (a + a0)), a its depth below the flat surface; on a flaw's walls (metal beside the node)
K = Y p sqrt(pi a0), the unresolved flaws a0 of the wall, whatever the depth. The Li pressure p is
F |eta| / Omega, or with flaw_pressure: extrusion at most the pressure that pushes the Li plated in
the flaw back out through its mouth (extrusion_pressure).
"""

import numpy as np

from ... import stencil
from ...physics.constants import FARADAY


def grow(m, state, eta, current, gate, dt):
    xp, g, mech = m.xp, m.grid, m.params.mechanics
    # metal in open space: against an intact wall the profile's last open node sits near
    # xi = 0.4 (the wall holds the tail of the diffuse interface), so 0.3 marks the surface
    metal = ((state["xi"] > 0.3) & (gate > 0.5)).astype(state["xi"].dtype)
    nz = g.ndim - 1
    pressure = xp.maximum(-eta, 0.0) * (FARADAY / m.omega)
    if mech.flaw_pressure == "extrusion":
        pressure = xp.minimum(pressure, extrusion_pressure(m, metal, current))
    intact = m.sse * (state["damage"] < 1)
    flaw = m.depth + mech.surface_flaw_size
    tip = stencil.shifted(metal, g, nz, +1, xp) * (flaw > 0)  # metal right above: ahead of a downward flaw
    rate = opening_rate(m, mech.geometry_factor * pressure * xp.sqrt(np.pi * flaw)) * (tip / g.spacing[nz])
    if mech.surface_flaw_size > 0:
        wall = opening_rate(m, mech.geometry_factor * pressure * np.sqrt(np.pi * mech.surface_flaw_size))
        beside = neighbour_max(m, metal, range(nz), xp.zeros_like(metal))
        rate = xp.maximum(rate, wall * beside / min(g.spacing[:nz]))
    state["damage"][...] = xp.minimum(state["damage"] + rate * intact * dt, 1.0)
    m.extent.exchange(state["damage"])  # the wall stencil leaves the ghost rows stale


def neighbour_max(m, f, axes, start):
    """max(start, f at the two neighbours along each of `axes`)."""
    xp, g = m.xp, m.grid
    out = start
    for a in axes:
        out = xp.maximum(out, xp.maximum(stencil.shifted(f, g, a, +1, xp), stencil.shifted(f, g, a, -1, xp)))
    return out


def opening_rate(m, K):
    """Speed of the opening front (m/s) under the stress intensity K."""
    return m.params.mechanics.crack_speed * m.xp.maximum((K / m.toughness_map) ** 2 - 1, 0.0)


def extrusion_pressure(m, metal, current):
    """The bound extrusion puts on the Li pressure that loads each node: the largest over its
    metal neighbours (above and beside) of the pressure that extrudes the Li plated in a resolved
    flaw back out through the flaw's mouth. Per metal node below the flat surface: plane power-law
    channel flow (strain rate eps0 (sigma_eq / sigma0)^n) of half-width H (half the metal's
    lateral run in its row, the narrower axis in 3D) and length a (from the node's lower face to
    the flat surface), at the mean speed v = Omega |j| / F of the plating there:

        p = (a / H) (sigma0 / sqrt3) ((n + 2) v / (sqrt3 eps0 H))^(1/n)

    (the mean of u(y) = sqrt3 eps0 (sqrt3 G / sigma0)^n (H^(n+1) - |y|^(n+1)) / (n + 1), G = p / a).
    With creep.size_effect, sigma0 is at least the strength of Li of the flaw's width 2 H. Metal at
    or above the flat surface fills only unresolved flaws (sharp, no mouth to flow through): no
    bound (inf) beside or under it."""
    xp, g, c = m.xp, m.grid, m.params.mechanics.creep
    nz = g.ndim - 1
    held, whole = metal > 0, m.extent.whole
    if m.extent.decomposed:  # a run crosses the slabs: measured on the whole grid (host), then this slab's rows
        held_whole = m.extent.gather(held)
        runs = [m.backend.asarray(m.extent.local(lateral_run(np, held_whole, a, whole.periodic[a]))) for a in range(nz)]
    else:
        runs = [lateral_run(xp, held, a, whole.periodic[a]) for a in range(nz)]
    width = None
    for a, run in enumerate(runs):
        run = run * g.spacing[a]
        width = run if width is None else xp.minimum(width, run)
    H = xp.maximum(width, g.spacing[0]) / 2
    sigma0, eps0 = c.strength(2 * H, xp), c.strain_rate(m.temperature)
    v = xp.maximum(xp.abs(current), 1e-300) * (m.omega / FARADAY)
    n = c.exponent
    length = m.depth + g.spacing[nz] / 2
    p = (length / H) * (sigma0 / np.sqrt(3)) * ((n + 2) * v / (np.sqrt(3) * eps0 * H)) ** (1 / n)
    p = xp.where(held, xp.where(m.depth > 0, p, np.inf), 0.0)
    return xp.where(held, np.inf, neighbour_max(m, p, range(nz), stencil.shifted(p, g, nz, +1, xp)))


def lateral_run(xp, mask, axis, periodic):
    """Length (in nodes) of the run of True along `axis` that holds each True node (0 elsewhere),
    by doubling: log2(n) shifted sums."""
    n = mask.shape[axis]
    runs = []
    for sign in (+1, -1):
        f = mask.astype(np.int64)
        span = 1
        while span < n:
            back = xp.roll(f, sign * span, axis=axis)
            if not periodic:  # nothing beyond a wall
                idx = [slice(None)] * f.ndim
                idx[axis] = slice(0, span) if sign > 0 else slice(n - span, n)
                back[tuple(idx)] = 0
            f = f + (f == span) * back
            span *= 2
        runs.append(xp.minimum(f, n))
    return xp.where(mask, xp.minimum(runs[0] + runs[1] - 1, n), 0)
