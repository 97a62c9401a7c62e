"""Fused pointwise / stencil work of the stripping model's void step (models/stripping/voids.py).

Each op has a NumPy form (`*_numpy`, also runs on CuPy arrays), a CUDA form (`*_cuda`,
kernels/voids.cu) with the same operations in the same order, and its name choosing by the
backend (pfsim.kernels.twin). Arrays are full-grid arrays of the backend's dtype; the masks `li_side`
(Li side of the interface) and `band` (closure band) are 0/1 arrays of that dtype (a bool or
other-dtype mask is converted, at the cost of a copy per call).

    void_rates(backend, grid, xi, li_side, kappa, barrier, mobility) -> (relax, q)
        relax = M (kappa lap_Li(xi) - W g'(xi)) li_side,  g'(xi) = 2 xi (1 - xi)(1 - 2 xi)
        q     = 16 xi^2 (1 - xi)^2
    void_update(backend, xi, S, li_side, band, x_v0, condensation_rate, relax, lagrange,
                eps_dot, dt) -> (xi_new, exchange, closed)
        the xi update and its exchange with the vacancy field; `lagrange` is
        sum(relax) / max(sum(q), 1e-300) from the caller's reductions
    void_chemical_potential(backend, grid, xi, li_side, wall_density, kappa, barrier, wall_energy) -> mu
        mu = (W g'(xi) - kappa lap_Li(xi) + wall_energy wall_density xi (1 - xi)) li_side
    void_surface_diffusion(backend, grid, xi, mu, li_side, mobility) -> relax
        relax = div_Li(mobility q(xi_face) grad mu): the flux form of the surface-diffusion
        relaxation (Cahn-Hilliard with the degenerate mobility q), over Li-Li faces only
    contact_weight(backend, grid, xi, li_side) -> w
        sum over the contact faces of xi(Li neighbour) / h at each electrolyte node (1/m)
    masked_laplacian_numpy(backend, grid, f, li_side) -> lap_Li(f)   (its CUDA form, the kernel
        void_masked_laplacian, is launched by the benchmark and tests only: pfsim.bench.kernels)

lap_Li is the model's shape operator, -EllipticProblem(grid, backend, k=li_side, c=0,
mask=li_side).apply(f): at a Li-side node, the sum over its faces whose neighbour is also on
the Li side of (f_nb - f) / h^2. Faces to electrolyte nodes are dropped (zero flux into the
SSE), and so are faces across a bounded wall: the finite-volume zero-flux rule of the elliptic
solver, not the mirror rule of pfsim.stencil / stencil.cuh (which would count the face to the
first interior node twice at a wall node). It is 0 off the Li side. One difference from the
elliptic operator: a Li-side node with no Li-side neighbour at all is inactive there, so
-apply gives -f at it, while lap_Li gives 0 (the zero-flux value); such a node is not
produced by the model's geometries.
"""

import numpy as np

from .. import stencil
from . import grid_args, twin

KERNELS = "voids.cu"
LAGRANGE_FLOOR = 1e-300  # the model's max(sum(q), 1e-300)


# --- shared helpers ------------------------------------------------------------------------
def _field(backend, a):
    """a as a C-contiguous array of the backend's dtype (no copy if it already is one)."""
    return backend.xp.ascontiguousarray(backend.xp.asarray(a, dtype=backend.dtype))


def _index(ndim, axis, i):
    key = [slice(None)] * ndim
    key[axis] = i
    return tuple(key)


def closure_factor(eps_dot, dt):
    """1 - exp(-1.5 eps_dot dt): the fraction of void closed by creep in a step, in float64."""
    return 1 - np.exp(-1.5 * eps_dot * dt)


# --- masked Laplacian ----------------------------------------------------------------------
def _li_faces(backend, grid, li):
    """[(K_up, K_down)] per axis: 1/h^2 on faces with both nodes on the Li side, else 0, in the
    layout of pfsim.solvers.elliptic (K_up[i] couples i and i+1; 0 across a bounded wall)."""
    xp, s = backend.xp, backend.scalar
    out = []
    for a, (h, periodic) in enumerate(zip(grid.spacing, grid.periodic)):
        both = li * stencil.shifted(li, grid, a, +1, xp)
        if not periodic:
            both[_index(grid.ndim, a, -1)] = 0
        up = both * s(1.0 / h**2)
        down = stencil.shifted(up, grid, a, -1, xp)
        if not periodic:
            down[_index(grid.ndim, a, 0)] = 0  # no face into the first node across the wall
        out.append((up, down))
    return out


def masked_laplacian_numpy(backend, grid, f, li_side):
    xp = backend.xp
    f, li = _field(backend, f), _field(backend, li_side)
    acc, nb = xp.zeros_like(f), xp.empty_like(f)
    for a, (up, down) in enumerate(_li_faces(backend, grid, li)):
        # a face across a bounded wall is 0, so the neighbour's boundary rule does not matter
        acc += up * xp.subtract(f, stencil.shifted(f, grid, a, +1, xp, out=nb), out=nb)
        acc += down * xp.subtract(f, stencil.shifted(f, grid, a, -1, xp, out=nb), out=nb)
    return -acc


# --- relaxation rate and interface indicator -----------------------------------------------
def interface_indicator(xi):
    """q(xi) = 16 xi^2 (1 - xi)^2, as the model writes it."""
    return 16 * xi**2 * (1 - xi) ** 2


def void_rates_numpy(backend, grid, xi, li_side, kappa, barrier, mobility):
    """(relax, q): the Allen-Cahn shape relaxation rate of xi (before the Lagrange multiplier)
    and the interface indicator q(xi)."""
    s = backend.scalar
    xi, li = _field(backend, xi), _field(backend, li_side)
    lap = masked_laplacian_numpy(backend, grid, xi, li)
    g_slope = 2 * xi * (1 - xi) * (1 - 2 * xi)
    relax = s(mobility) * (s(kappa) * lap - s(barrier) * g_slope) * li
    return relax, interface_indicator(xi)


def void_rates_cuda(backend, grid, xi, li_side, kappa, barrier, mobility):
    s = backend.scalar
    xi, li = _field(backend, xi), _field(backend, li_side)
    relax, q = backend.xp.empty_like(xi), backend.xp.empty_like(xi)
    args = (xi, li, relax, q) + grid_args(backend, grid) + (s(kappa), s(barrier), s(mobility))
    backend.launch(KERNELS, "void_rates", xi.size, args)
    return relax, q


# --- surface diffusion: Cahn-Hilliard with a degenerate mobility ----------------------------
def void_chemical_potential_numpy(backend, grid, xi, li_side, wall_density, kappa, barrier, wall_energy):
    """mu = (W g'(xi) - kappa lap_Li(xi) + wall_energy a xi (1 - xi)) on the Li side, 0 off it:
    the variation of the void surfaces' energy (the double well, the gradient energy and the
    SSE wall's, a = wall_density the SSE face area per volume), J/m^3 per unit xi."""
    s = backend.scalar
    xi, li, wall = (_field(backend, a) for a in (xi, li_side, wall_density))
    lap = masked_laplacian_numpy(backend, grid, xi, li)
    g_slope = 2 * xi * (1 - xi) * (1 - 2 * xi)
    return (s(barrier) * g_slope - s(kappa) * lap + s(wall_energy) * wall * xi * (1 - xi)) * li


def void_chemical_potential_cuda(backend, grid, xi, li_side, wall_density, kappa, barrier, wall_energy):
    s = backend.scalar
    xi, li, wall = (_field(backend, a) for a in (xi, li_side, wall_density))
    mu = backend.xp.empty_like(xi)
    args = (xi, li, wall, mu) + grid_args(backend, grid) + (s(kappa), s(barrier), s(wall_energy))
    backend.launch(KERNELS, "void_chemical_potential", xi.size, args)
    return mu


def void_surface_diffusion_numpy(backend, grid, xi, mu, li_side, mobility):
    """The surface-diffusion rate of xi: at a Li-side node, the sum over its faces to Li-side
    neighbours of mobility q((xi + xi_nb) / 2) (mu_nb - mu) / h^2, in the order x up, x down,
    y up, ... q vanishes in both phases, so the flux runs along the void surfaces only; faces to
    the SSE and across a bounded wall carry none. A face's two terms are exact negatives (here
    each face is evaluated once, as the flux F through it, and the node below takes -F: the same
    bits as the CUDA form's separate evaluation), so the rate sums to zero up to the summation's
    rounding: each void keeps its volume."""
    xp, s = backend.xp, backend.scalar
    xi, mu, li = (_field(backend, a) for a in (xi, mu, li_side))
    acc, nb_xi, nb_mu = xp.zeros_like(xi), xp.empty_like(xi), xp.empty_like(xi)
    nd = grid.ndim
    for a, (up, _) in enumerate(_li_faces(backend, grid, li)):
        stencil.shifted(xi, grid, a, +1, xp, out=nb_xi)
        stencil.shifted(mu, grid, a, +1, xp, out=nb_mu)
        flux = up * interface_indicator((xi + nb_xi) * s(0.5)) * (nb_mu - mu)  # 0 across a bounded wall
        acc += flux
        acc[_index(nd, a, slice(1, None))] -= flux[_index(nd, a, slice(None, -1))]
        if grid.periodic[a]:
            acc[_index(nd, a, 0)] -= flux[_index(nd, a, -1)]
    return s(mobility) * acc


def void_surface_diffusion_cuda(backend, grid, xi, mu, li_side, mobility):
    s = backend.scalar
    xi, mu, li = (_field(backend, a) for a in (xi, mu, li_side))
    relax = backend.xp.empty_like(xi)
    args = (xi, mu, li, relax) + grid_args(backend, grid) + (s(mobility),)
    backend.launch(KERNELS, "void_surface_diffusion", xi.size, args)
    return relax


# --- the xi update -------------------------------------------------------------------------
def void_update_numpy(backend, xi, S, li_side, band, x_v0, condensation_rate, relax, lagrange, eps_dot, dt):
    """(xi_new, exchange, closed) of one step (all pointwise):

        condensed = condensation_rate q(xi) (S - 1) dt            (S: the solved supersaturation)
        closed    = (1 - xi) (1 - exp(-1.5 eps_dot dt)) band li_side
        kept      = xi - x_v0 condensed
        xi_new    = clip(kept + dt (relax - lagrange q(xi)) + closed on the Li side, else 0; 0, 1)
        exchange  = xi_new - raw    (raw: the unclipped value)

    exchange is what clipping removed or added, the sites the model hands back to the vacancy
    field. The relaxation term is left out: it sums to zero by the choice of lagrange, and
    summing its rounded values would charge xi's rounding to the vacancies (eps / x_v0, about
    17 in S per node in float32, where x_v0 = 3.5e-9).

    relax is void_rates' first output, lagrange = sum(relax) / max(sum(q), LAGRANGE_FLOOR).
    """
    xp, s = backend.xp, backend.scalar
    xi, S, li, band, relax = (_field(backend, a) for a in (xi, S, li_side, band, relax))
    q = interface_indicator(xi)
    condensed = s(condensation_rate) * q * (S - 1) * s(dt)
    r = relax - q * s(lagrange)
    closed = (1 - xi) * s(closure_factor(eps_dot, dt)) * band * li
    kept = xi - s(x_v0) * condensed
    raw = kept + s(dt) * r + closed
    raw = xp.where(li != 0, raw, s(0))
    xi_new = xp.clip(raw, s(0), s(1))
    exchange = xi_new - raw
    return xi_new, exchange, closed


def void_update_cuda(backend, xi, S, li_side, band, x_v0, condensation_rate, relax, lagrange, eps_dot, dt):
    xp, s = backend.xp, backend.scalar
    xi, S, li, band, relax = (_field(backend, a) for a in (xi, S, li_side, band, relax))
    xi_new, exchange, closed = xp.empty_like(xi), xp.empty_like(xi), xp.empty_like(xi)
    nx, ny, nz = (list(xi.shape) + [1, 1])[:3]
    pointwise = (np.int32(nx), np.int32(ny), np.int32(nz), np.int32(0), s(0), s(0), s(0))  # no neighbours
    scalars = (s(x_v0), s(condensation_rate), s(lagrange), s(closure_factor(eps_dot, dt)), s(dt))
    args = (xi, S, li, band, relax, xi_new, exchange, closed) + pointwise + scalars
    backend.launch(KERNELS, "void_update", xi.size, args)
    return xi_new, exchange, closed


# --- contact weight ------------------------------------------------------------------------
def contact_weight_numpy(backend, grid, xi, li_side):
    """LiStripping.contact_weight(xi) from the Li-side mask: at each electrolyte node, the sum
    over its faces to Li-side nodes (none across a bounded wall) of xi(neighbour) / h (1/m).
    Reduce with w.sum() for the total contact and contact_fraction."""
    xp, s = backend.xp, backend.scalar
    xi, li = _field(backend, xi), _field(backend, li_side)
    sse = 1 - li
    w = xp.zeros_like(xi)
    for a in range(grid.ndim):
        for step in (+1, -1):
            m = sse * stencil.shifted(li, grid, a, step, xp)  # electrolyte node, Li-side neighbour
            if not grid.periodic[a]:  # no contact across a bounded wall
                m[_index(grid.ndim, a, -1 if step > 0 else 0)] = 0
            w += m * stencil.shifted(xi, grid, a, step, xp) * s(1.0 / grid.spacing[a])
    return w


def contact_weight_cuda(backend, grid, xi, li_side):
    s = backend.scalar
    xi, li = _field(backend, xi), _field(backend, li_side)
    w = backend.xp.empty_like(xi)
    inv_h = [1.0 / h for h in grid.spacing] + [0.0] * (3 - grid.ndim)
    args = (xi, li, w) + grid_args(backend, grid) + tuple(s(v) for v in inv_h)
    backend.launch(KERNELS, "void_contact_weight", xi.size, args)
    return w


# --- each op as the models and solvers call it: the backend picks the form -------------------
void_rates = twin(void_rates_numpy, void_rates_cuda)
void_update = twin(void_update_numpy, void_update_cuda)
contact_weight = twin(contact_weight_numpy, contact_weight_cuda)
void_chemical_potential = twin(void_chemical_potential_numpy, void_chemical_potential_cuda)
void_surface_diffusion = twin(void_surface_diffusion_numpy, void_surface_diffusion_cuda)
