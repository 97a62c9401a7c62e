"""Sub-grid voids that block the contact (`model.nucleation.subgrid_contact: blocked`),
docs/stripping.md section 5, "Pores and voids thinner than the interface".

A void at the interface is a cap with the site's contact angle theta. With the angles of a
lithiophobic SSE (theta_void about 35 deg) a cap of footprint radius a is only
a tan(theta / 2) = 0.32 a high: micrometre pores are thinner than any diffuse interface a run
can afford, and a resolved xi void of that height dissolves within a minute (the double well
pushes a film thinner than the interface back to metal). Their footprints, which set the contact,
are wider than a cell. So such voids are kept as sub-grid voids (the per-column volume v of
nucleation.py) whose footprint is laid out on the grid:

- shape: a spherical cap of volume v (3D; in 2D a cap in the slab of depth h while its footprint
  is narrower than h, then a cylindrical cap, a trench, of area v per unit depth), always at the
  contact angle (relaxed: a micrometre cap relaxes in minutes);
- contact: its footprint (a disc of radius a, in 2D an interval of length 2a, or pi a^2 / h for a
  cap in the slab) blocks the contact faces of the columns it covers, in proportion to the
  covered share of each column (clipped at full cover where footprints overlap);
- growth: vacancy condensation at the Gibbs-Thomson supersaturation of its curvature,
  S_r = exp((gamma K + sigma_c) Omega_a / kT) (K = 2 / r for a cap, 1 / r for a trench), with
  the conductance of the larger of two limits: diffusion-limited to a cap within the cell,
  4 pi psi D_v r (nucleation.py), and diffusion across the half cell between the site nodes and
  the void surface above them once the cap is wider than the cell, 2 D_v A_s / h (A_s the cap's
  free surface); it is shared among the covered columns' site nodes by their covered share;
- resolution: once the cap is `resolve_height` high (default twice the interface width) it
  becomes a resolved xi cap of its volume and angle (nucleation.resolve).
Two sub-grid voids whose footprints overlap merge into one (the larger keeps its column)."""

import numpy as np


def angles(m):
    """The void contact angle (rad) at every whole-grid column: the growing void's (the defect
    angle of nucleation.py enters only the nucleation barrier)."""
    return np.full(m.columns, np.radians(m.void_contact_angle()))


def shape(m, v, theta):
    """(radius r, footprint radius a, blocked length or area, free surface A_s, curvature,
    is_trench) of sub-grid voids of volume v (model units) at angles theta (rad)."""
    v = np.asarray(v, float)
    s, c = np.sin(theta), np.cos(theta)
    f = (2 + c) * (1 - c) ** 2 / 4
    r_cap = (3 * v * m.depth / (4 * np.pi * f)) ** (1 / 3)
    if m.grid.ndim == 3:
        a = r_cap * s
        return r_cap, a, np.pi * a * a, 2 * np.pi * r_cap**2 * (1 - c), 2 / np.maximum(r_cap, 1e-300), \
            np.zeros(v.shape, bool)
    trench = r_cap * s > 0.5 * m.depth
    r_tr = np.sqrt(v / (theta - s * c))
    r = np.where(trench, r_tr, r_cap)
    a = r * s
    blocked = np.where(trench, 2 * a, np.pi * a * a / m.depth)  # per unit depth
    area = np.where(trench, 2 * theta * r, 2 * np.pi * r**2 * (1 - c) / m.depth)
    curvature = np.where(trench, 1.0, 2.0) / np.maximum(r, 1e-300)
    return r, a, blocked, area, curvature, trench


def volume(m, r, theta):
    """Volume (model units) of the sub-grid void of radius r at angle theta: the inverse of
    `shape` (a cap, or in 2D a trench once its footprint is wider than the slab's depth)."""
    s, c = np.sin(theta), np.cos(theta)
    if m.grid.ndim == 2 and r * s > 0.5 * m.depth:
        return r * r * (theta - s * c)
    return 4 * np.pi / 3 * r**3 * (2 + c) * (1 - c) ** 2 / 4 / m.depth


def cap_volume(m, height, theta):
    """Volume (model units) of the sub-grid void of the given height at angle theta: the
    threshold at which it becomes a resolved void."""
    return volume(m, height / (1 - np.cos(theta)), theta)


def resolve_height(m):
    p = m.params.nucleation
    return p.resolve_height if p.resolve_height is not None else 2 * m.params.interface.width


def footprints(m, v):
    """{column: (covered columns, covered share of each)} of every sub-grid void (whole grid);
    kept for the last v (the sink, the nucleation sites and the contact ask for the same)."""
    key = np.asarray(v, float).tobytes()
    cached = getattr(m, "_footprint_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    out = _footprints(m, v)
    m._footprint_cache = (key, out)
    return out


def _footprints(m, v):
    whole = m.extent.whole
    lat = whole.ndim - 1
    shape_lat = whole.shape[:lat]
    on = np.flatnonzero(v > 0)
    if len(on) == 0:
        return {}
    theta = angles(m)[on]
    _, a, blocked, *_ = shape(m, v[on], theta)
    h = whole.spacing[:lat]
    out = {}
    for k, ak, bk in zip(on, a, blocked):
        centre = np.unravel_index(int(k), shape_lat)
        if lat == 1:
            half = 0.5 * bk  # the blocked length, centred on the column
            reach = int(np.ceil(half / h[0] + 0.5))
            offs = np.arange(-reach, reach + 1)
            x = offs * h[0]
            share = np.clip(np.minimum(x + h[0] / 2, half) - np.maximum(x - h[0] / 2, -half), 0.0, None) / h[0]
            cols = (centre[0] + offs) % shape_lat[0]
        else:
            reach = [int(np.ceil(ak / h[d] + 1)) for d in range(2)]
            o0, o1 = np.meshgrid(np.arange(-reach[0], reach[0] + 1), np.arange(-reach[1], reach[1] + 1), indexing="ij")
            dist = np.hypot(o0 * h[0], o1 * h[1])
            share = np.clip(0.5 + (ak - dist) / np.sqrt(h[0] * h[1]), 0.0, 1.0)  # a one-cell ramp at the rim
            total = share.sum()
            if total > 0:  # exactly the disc's area
                share = np.minimum(share * bk / (total * h[0] * h[1]), 1.0)
            cols = np.ravel_multi_index(((centre[0] + o0) % shape_lat[0], (centre[1] + o1) % shape_lat[1]),
                                        shape_lat).ravel()
            share = share.ravel()
        keep = share > 0
        # a footprint wider than the periodic cell wraps onto itself: sum the shares per column
        cols, inverse = np.unique(np.asarray(cols)[keep], return_inverse=True)
        out[int(k)] = (cols, np.minimum(np.bincount(inverse, share[keep]), 1.0))
    return out


def blocked_fraction(m, v):
    """Blocked share (0-1) of every whole-grid column's contact."""
    b = np.zeros(m.columns)
    for cols, share in footprints(m, v).values():
        b[cols] += share
    return np.minimum(b, 1.0)


def sink(m, v, stress):
    """(k, S_r) per whole-grid column for the vacancy solve (k = 0 where no footprint lies; S_r the
    k-weighted Gibbs-Thomson value of the voids covering it) and {column: (columns, k per column,
    S_r)} per void for the growth."""
    k_col, kS_col = np.zeros(m.columns), np.zeros(m.columns)
    per_void = {}
    fp = footprints(m, v)
    if not fp:
        return k_col, np.ones(m.columns), per_void
    on = np.array(sorted(fp))
    theta = angles(m)[on]
    r, _, _, area, curvature, trench = shape(m, v[on], theta)
    psi = (1 - np.cos(theta)) / 2
    D, h = m.d_vac, m.grid.spacing[-1]
    sphere = np.where(trench, 0.0, 4 * np.pi * psi * D * r / m.depth)
    layer = 2 * D * area / h
    conductance = np.maximum(sphere, layer)  # model units per unit S and x_v0 (m^3/s; m^2/s in 2D)
    gamma = m.params.lithium.surface_energy
    S_r = np.exp(np.minimum((gamma * curvature + stress) / m.kT_per_volume, 700.0))
    for k, K, Sr in zip(on, conductance, S_r):
        cols, share = fp[int(k)]
        kj = K * share / (share.sum() * m.node_volume)
        per_void[int(k)] = (cols, kj, Sr)
        np.add.at(k_col, cols, kj)
        np.add.at(kS_col, cols, kj * Sr)
    S_eff = np.where(k_col > 0, kS_col / np.where(k_col > 0, k_col, 1.0), 1.0)
    return k_col, S_eff, per_void


def growth(m, per_void, S_site, dt):
    """Volume change (model units) of each sub-grid void over dt at the solved site values."""
    dv = np.zeros(m.columns)
    for k, (cols, kj, Sr) in per_void.items():
        dv[k] = dt * m.x_v0 * m.node_volume * float((kj * (S_site[cols] - Sr)).sum())
    return dv


def merge_overlapping(m, v):
    """Join sub-grid voids whose footprints overlap (the larger keeps its column); returns v."""
    v = v.copy()
    while True:
        fp = footprints(m, v)
        owner = {}
        joined = False
        for k in sorted(fp, key=lambda k: -v[k]):
            cols = fp[k][0]
            hit = next((owner[c] for c in cols if c in owner), None)
            if hit is not None:
                v[hit] += v[k]
                v[k] = 0.0
                joined = True
                break
            owner.update((int(c), k) for c in cols)
        if not joined:
            return v


def plant_cap(m, xi, center, volume, theta):
    """A resolved cap of the given volume (model units) and angle on the site `center` (whole-grid
    index): (new xi, volume removed), the radius bisected so that the diffuse cap removes what the
    sub-grid void held to 1 % and never more; None if even a small cap would remove more."""
    xp, whole = m.xp, m.extent.whole
    lat = whole.ndim - 1
    mesh = m.grid.mesh(xp)
    z0 = float(whole.coords(lat)[center[lat]])
    delta = m.params.interface.width

    def planted(r):
        zc = z0 - r * np.cos(theta)
        d2 = (mesh[lat] - zc) ** 2
        for a in range(lat):
            L = whole.shape[a] * whole.spacing[a]
            d = (mesh[a] - whole.coords(a)[center[a]] + L / 2) % L - L / 2
            d2 = d2 + d * d
        new = xp.where(m.li_side, xp.minimum(xi, 0.5 * (1 + xp.tanh((xp.sqrt(d2) - r) / (delta / 2)))), 0.0)
        return new, m.extent.total(xi - new) * m.node_volume

    s, c = np.sin(theta), np.cos(theta)
    if lat == 1:
        r = np.sqrt(volume / (theta - s * c))
    else:
        r = (3 * volume / (np.pi * (2 + c) * (1 - c) ** 2)) ** (1 / 3)
    lo, hi, best = 0.0, 2 * r, None
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        new, removed = planted(mid)
        if removed <= volume:
            lo, best = mid, (new, removed)
            if removed >= 0.99 * volume:
                break
        else:
            hi = mid
    return best

