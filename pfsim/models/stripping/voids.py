"""Stripping step 4, docs/stripping.md section 4 (kernels in pfsim/kernels/voids.py): the metal
order parameter xi loses what condensed, relaxes its shape at fixed void volume (Allen-Cahn with
Li's surface energy and a Lagrange multiplier, or surface diffusion: Cahn-Hilliard with a
degenerate mobility), gains what creep closed (section 2), is clipped."""

import numpy as np

from ...kernels import voids as vk
from ...physics.geometry import periodic_labels
from . import nucleation
from .creep import closure_band


def step(m, state, dt, S_new, eps_dot, S_mean=None):
    """Condensation (at S_mean, the time mean of the sub-steps' solved S, which is what the
    vacancy solves condensed; default S_new), relaxation M [kappa lap(xi) - W g'(xi)] less its interface-weighted mean, closure
    d(1 - xi)/dt = -1.5 eps_dot (1 - xi) in the band (exact), clipping; what clipping trades with the
    vacancies is spread over the Li side (D_v dt >> cell size^2). Updates xi and returns S.
    Where dt exceeds the relaxation's explicit limit (grids finer than the interface width
    relaxation_length / 2 sets the step for), the relaxation is sub-cycled after the rest."""
    S = S_new if S_mean is None else S_mean
    if m.params.nucleation.subgrid_contact == "blocked":
        nucleation.close_by_creep(m, state, eps_dot, dt)
    n = relaxation_substeps(m, dt)
    if n == 1:
        exchanged = _update(m, state, dt, S, eps_dot, relaxation=True)
    else:
        exchanged = _update(m, state, dt, S, eps_dot, relaxation=False)
        S_eq = m.xp.ones_like(state["xi"])  # no condensation in the relaxation sub-steps
        exchanged += sum(_update(m, state, dt / n, S_eq, 0.0, relaxation=True) for _ in range(n))
    return S_new + exchanged / (m.x_v0 * m.li_nodes)


def relaxation_substeps(m, dt):
    """Sub-steps of the shape relaxation within dt: each at most cfl of its explicit limit."""
    return max(1, int(np.ceil(dt / (m.cfl * m.relaxation_limit()) * (1 - 1e-9))))


def _update(m, state, dt, S, eps_dot, relaxation):
    """One explicit update of xi over dt (with or without the relaxation term); returns the
    sites that clipping handed to the vacancies."""
    be, li, xi = m.backend, m.li_float, state["xi"]
    if relaxation and m.surface_diffusion():  # flux form: every void keeps its volume, no multiplier
        m.extent.exchange(xi)
        mu = vk.void_chemical_potential(be, m.grid, xi, li, m.wall_density, m.kappa, m.barrier, m.wall_energy)
        m.extent.exchange(mu)
        relax, lagrange = vk.void_surface_diffusion(be, m.grid, xi, mu, li, m.surface_mobility), 0.0
        del mu
    elif relaxation:
        relax, q = vk.void_rates(be, m.grid, xi, li, m.kappa, m.barrier, m.mobility)
        if m.wetting_rate != 0:  # the contact angle at the SSE (wall energy of xi), in the shape relaxation
            relax += m.wetting_rate * xi * (1 - xi) * m.wall_density
        if m.params.interface.conserve_volume == "per_void":
            relax -= q * per_void_multiplier(m, xi, relax, q)
            lagrange = 0.0
        else:
            relax_sum, q_sum = m.extent.total(relax, q)
            lagrange = relax_sum / max(q_sum, vk.LAGRANGE_FLOOR)
        del q
    else:
        relax, lagrange = m.xp.zeros_like(xi), 0.0
    clipped, exchange, closed = vk.void_update(
        be, xi, S, li, closure_band(m), m.x_v0, m.condensation_rate, relax, lagrange, eps_dot, dt)
    del relax
    closed, exchanged = m.extent.total(closed, exchange)
    del exchange
    m._add(state, "creep_volume", closed * m.node_volume)
    xi[...] = clipped
    return exchanged


VOID_REGION = 0.99  # a void and its diffuse rim (about 2.5 widths across its xi = 1/2 contour): xi under this


def per_void_multiplier(m, xi, relax, q):
    """Lagrange multiplier field of the shape relaxation, one value per void, so that the
    relaxation keeps every void's volume: sum(relax) / sum(q) over each connected region of
    xi < VOID_REGION (periodic walls joined). The nodes outside all regions (the rims' far tails,
    where q is tiny) take the domain's multiplier, and what that leaves of their relaxation is
    shared among the voids by their sum(q), so the total is kept exactly as with one multiplier.
    Labelled on the host, whole grid."""
    whole_xi, whole_relax, whole_q, li = (m.extent.gather(a) for a in (xi, relax, q, m.li_float))
    raw = periodic_labels((whole_xi < VOID_REGION) & (li > 0))
    _, labels = np.unique(raw, return_inverse=True)  # consecutive, 0 (outside) stays first
    labels = labels.reshape(whole_xi.shape)
    R, Q = np.bincount(labels.ravel(), whole_relax.ravel()), np.bincount(labels.ravel(), whole_q.ravel())
    domain = R.sum() / max(Q.sum(), vk.LAGRANGE_FLOOR)
    if (raw == 0).any() and len(R) > 1:
        left = R[0] - domain * Q[0]  # the tails' relaxation that their domain multiplier does not remove
        R[1:] += left * Q[1:] / max(Q[1:].sum(), vk.LAGRANGE_FLOOR)
        R[0] = domain * Q[0]
    multiplier = R / np.maximum(Q, vk.LAGRANGE_FLOOR)
    return m.backend.asarray(m.extent.local(multiplier[labels]))


def statistics(m, xi):
    """(number of voids, largest void's equivalent diameter) from connected void nodes."""
    void = m.extent.gather((xi < 0.5) & m.li_side)
    if not void.any():
        return 0, 0.0
    labels = periodic_labels(void)
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    measure = counts.max() * m.node_volume  # an area in 2D (per unit depth), a volume in 3D
    if m.grid.ndim == 2:  # diameter of the disc of the same area
        return len(ids), float(2 * np.sqrt(measure / np.pi))
    return len(ids), float((6 * measure / np.pi) ** (1 / 3))
