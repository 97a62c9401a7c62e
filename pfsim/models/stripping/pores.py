"""The starting interface, docs/stripping.md "The initial interface": the Li does not conform
fully to the SSE surface, and the contact starts below 1 with pores at the interface.

Radii are drawn from a lognormal distribution (mean `mean_radius`, ln-spread `radius_spread`),
capped at half the resolved Li thickness, until the pores' footprints on the SSE cover at least
1 - contact_fraction of the surface; then all are scaled by one factor so they cover it exactly
(down with the last pore drawn, or up without it where that factor is nearer 1 and the pores
stay apart). Each pore goes to a lateral position drawn uniformly, moved to the lowest surface
within its footprint radius or, on a rough surface, the roughness correlation length (the
valleys, which a stiff foil bridges), or, where that valley is taken, kept at the drawn
position; it is drawn again where its footprint would touch another pore's there too. A pore is
a spherical cap on the SSE with the void's contact angle theta (section 4; a cylindrical cap, a
trench, in 2D) of footprint radius a = r sin(theta). All draws come from the counter-based
stream keyed (seed, PORE_STREAM), so the same seed gives the same pores on any number of
processes. Pores of radius at least `resolve_radius` (default 2 grid spacings) are resolved xi
voids; smaller ones are sub-grid voids of the same volume at their column (nucleation.py: they
grow where S exceeds their Gibbs-Thomson value and dissolve otherwise). With
`nucleation.subgrid_contact: blocked` the criterion is the cap's height instead (resolved from
`nucleation.resolve_height`), and a sub-grid pore keeps its footprint's contact blocked
(subgrid.py). The pores are part of
the initial state: a resumed run reads them from its checkpoint."""

import logging

import numpy as np

from . import nucleation, subgrid

log = logging.getLogger("pfsim")

PORE_STREAM = 11


def draw(m, cfg):
    """[(whole-grid column index tuple, lateral centre coordinates, radius)] of the pores."""
    whole, surface = m.extent.whole, m.surface
    lat = whole.ndim - 1
    lengths = [whole.shape[a] * whole.spacing[a] for a in range(lat)]
    area = float(np.prod(lengths))
    theta = np.radians(m.void_contact_angle())
    sin_t = np.sin(theta)
    z = whole.coords(lat)
    r_max = 0.5 * (z[-1] - float(surface.max()))
    target = (1 - cfg.contact_fraction) * area
    coords = [whole.coords(a) for a in range(lat)]
    stream = np.random.Generator(np.random.Philox(key=[m.seed, PORE_STREAM]))
    s = cfg.radius_spread
    rough = m.params.geometry.roughness
    reach = rough.correlation_length if rough is not None else 0.0  # how far a pore looks for a valley
    pores, covered = [], 0.0
    while covered < target * (1 - 1e-12):
        r = min(cfg.mean_radius * float(np.exp(s * stream.standard_normal() - s * s / 2)), r_max)
        a = r * sin_t
        foot = 2 * a if lat == 1 else np.pi * a * a
        for _ in range(1000):
            u = stream.uniform(size=lat)
            centre = [u[k] * lengths[k] + whole.origin[k] for k in range(lat)]
            # the valley, or where a pore already holds it, the drawn position itself
            for col in (_valley(whole, surface, coords, centre, max(a, reach)),
                        _valley(whole, surface, coords, centre, 0.0)):
                at = [coords[k][col[k]] for k in range(lat)]
                if all(_distance(whole, at, p[1]) >= a + p[2] * sin_t + whole.spacing[0] for p in pores):
                    break
            else:
                continue
            pores.append((col, at, r))
            covered += foot
            break
        else:
            raise ValueError(f"model.initial_contact.contact_fraction: pores of {cfg.mean_radius:.3g} m do not fit "
                             f"{1 - cfg.contact_fraction:.3g} of the interface without touching (a larger domain, "
                             "smaller pores or a higher contact fraction)")
    # all radii scaled by one factor so the footprints cover what was asked exactly: down with
    # the last pore, or up without it where that is nearer 1 and keeps the pores apart
    def scaled(ps):
        cover = sum(2 * r * sin_t if lat == 1 else np.pi * (r * sin_t) ** 2 for _, _, r in ps)
        f = target / cover if lat == 1 else np.sqrt(target / cover)
        return f, [(col, at, r * f) for col, at, r in ps]

    if not pores:
        return pores
    down, with_last = scaled(pores)
    if len(pores) > 1:
        up, without = scaled(pores[:-1])
        apart = all(_distance(whole, p[1], q[1]) >= (p[2] + q[2]) * sin_t + whole.spacing[0]
                    for i, p in enumerate(without) for q in without[:i])
        if apart and up < 1 / down and max(r for _, _, r in without) <= r_max:
            return without
    return with_last


def _distance(whole, x, y):
    d2 = 0.0
    for k, (p, q) in enumerate(zip(x, y)):
        L = whole.shape[k] * whole.spacing[k]
        d = (p - q + L / 2) % L - L / 2
        d2 += d * d
    return np.sqrt(d2)


def _valley(whole, surface, coords, centre, a):
    """The column of lowest surface within a of `centre` (the nearest column if none is)."""
    lat = len(coords)
    d2 = np.zeros(surface.shape)
    for k in range(lat):
        L = whole.shape[k] * whole.spacing[k]
        d = (coords[k] - centre[k] + L / 2) % L - L / 2
        d2 = d2 + (d * d).reshape([-1 if b == k else 1 for b in range(lat)])
    inside = d2 <= a * a
    if not inside.any():
        return np.unravel_index(int(np.argmin(d2)), surface.shape)
    return np.unravel_index(int(np.argmin(np.where(inside, surface, np.inf))), surface.shape)


def place(m, state, cfg):
    """Put the pores of `draw` into the initial state: resolved ones into xi, the others into the
    sub-grid void volume of their column (booked like grown sub-grid voids)."""
    xp, whole = m.xp, m.extent.whole
    lat = whole.ndim - 1
    pores = draw(m, cfg)
    theta = np.radians(m.void_contact_angle())
    delta = m.params.interface.width
    r_res = cfg.resolve_radius or 2 * whole.spacing[-1]
    xi = state["xi"]
    mesh = m.grid.mesh(xp)
    v = m.subgrid(state)
    resolved = 0
    z = whole.coords(lat)
    first = m.extent.lateral_sites(m.column_height_index)  # whole-grid normal index of each column's first Li node
    blocking = m.params.nucleation.subgrid_contact == "blocked"
    for col, at, r in pores:
        k = int(np.ravel_multi_index(col, whole.shape[:-1]))
        if blocking and r * (1 - np.cos(theta)) < subgrid.resolve_height(m):
            # thinner than a resolved void can be: a sub-grid cap (3D) or trench (2D) of its footprint
            v[k] += subgrid.volume(m, r, theta)
            continue
        if not blocking and r < r_res:
            v[k] += 4 * np.pi / 3 * r**3 * m.wetting_whole[k] / m.depth
            continue
        resolved += 1
        # the cap's centre: r cos(theta) below the first Li node (its footprint there, where the
        # contact is measured, is a = r sin theta); below the surface for theta < 90 deg
        zc = float(z[int(first[k])]) - r * np.cos(theta)
        d2 = (mesh[lat] - zc) ** 2
        for a in range(lat):
            L = whole.shape[a] * whole.spacing[a]
            d = (mesh[a] - at[a] + L / 2) % L - L / 2
            d2 = d2 + d * d
        pore = 0.5 * (1 + xp.tanh((xp.sqrt(d2) - r) / (delta / 2)))
        xi[...] = xp.where(m.li_side, xp.minimum(xi, pore), 0.0)
    m.set_subgrid(state, v)
    nucleation.book(m, state, float(v.sum()))
    m.refresh_contact(state)
    log.info(f"li_stripping: {len(pores)} initial pores ({resolved} resolved, {len(pores) - resolved} sub-grid), "
             f"contact fraction {m.contact_fraction(xi):.4f} (asked {cfg.contact_fraction:g})")
    return pores
