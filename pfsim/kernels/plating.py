"""Fused pointwise / stencil work of the plating model's metal update (models/plating/front.py).

NumPy forms (also run on CuPy arrays) beside CUDA forms (kernels/plating.cu) with the same
operations in the same order; each op's name picks by the backend (pfsim.kernels.twin). All
arrays are full-grid arrays of the
backend's dtype. Neighbours follow pfsim.stencil's rules (periodic wrap, mirror at bounded
walls: zero normal gradient).

    interface_terms(backend, grid, xi, delta, tau) -> (w, relax)
        w     = 2 (1 - h(xi)) |grad xi| (central differences), h(xi) = xi^3 (6 xi^2 - 15 xi + 10):
                the interface delta function, weighted to the side of the diffuse interface
                where Li+ conducts (the ionic conductivity goes as 1 - h); its integral across
                any monotone profile is 1, so w * i is a current per volume that sums to i per
                unit interface area (0.2 % of it, the tail xi < 1e-3, is cut off: no
                electrons there);
        relax = (delta^2 d2xi/dn2 - 2 g'(xi)) / tau, the Allen-Cahn restoring term without
                its curvature part (d2/dn2 is the second derivative along grad xi, blended
                into the Laplacian where |grad xi| -> 0), so fronts move only by reaction.
    metal_update(backend, xi, w, relax, lagrange, current, gate, noise, scale, dt)
        -> (xi_new, displaced)
        d xi = dt gate (relax - lagrange q(xi) - scale w current noise);
        what the gate holds back (intact SSE) and what clipping to [0, 1] removes goes to
        `displaced` (volume fraction of a node): plated Li that thickens the anode.
    uniform_noise(backend, seed, step, shape) -> values in [-1, 1): a counter-based hash of
        (seed, step, node index), identical in NumPy and CUDA (splitmix64 finalizer).
    capillary_term(backend, grid, xi, coeff, delta, aniso) -> cap
        cap = coeff [div(J) - 2 g'(xi) / delta^2] / a(n)^2, the Allen-Cahn motion of the
                interface energy (gradient energy + double well; coeff = L_sigma kappa0 in
                m^2/s, the speed of a front per unit curvature), with the Karma-Rappel
                anisotropic flux J = a^2 grad xi + a a_theta (-xi_y, xi_x) on the faces between
                nodes (pfsim.kernels.anisotropic_allen_cahn_heat's stencil, 2D) and the
                Karma-Rappel kinetics tau(n) ~ a^2; without anisotropy (and in 3D) div(J) is the
                Laplacian.

Anisotropy (`aniso`, an `Anisotropy` or None): a(n) = 1 + eps cos(m (theta - theta0)), theta the
angle of the metal's outward normal n = -grad xi / |grad xi| (2D), theta0 per node (cos0 =
cos theta0, sin0 = sin theta0: a grain's orientation); a_theta = da/dtheta. It scales the
interface delta w (anisotropic exchange current density: the kinetics) and enters the
capillary flux (the energy). On faces theta0 is the mean of the two nodes' (cos, sin).
"""

from types import SimpleNamespace
from typing import NamedTuple

import numpy as np

from ..stencil import laplacian, shifted
from . import grid_args, twin
from .anisotropic_allen_cahn_heat import padded, w_and_slope

KERNELS = "plating.cu"
GRAD_FLOOR = 1e-2  # |grad xi| delta under this blends d2/dn2 into the Laplacian
XI_MIN = 1e-3  # no reaction in the far tail of the profile, 3.5 widths from the metal: there are
#                no electrons there (without the cut, the tail grows where eta is large, far from Li)

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLD, _STEP = 0x9E3779B97F4A7C15, 0xD1B54A32D192ED03


class Anisotropy(NamedTuple):
    """a(n) = 1 + strength cos(fold (theta - theta0)); cos0, sin0: cos and sin of theta0 per node
    (backend arrays of the grid's shape)."""

    strength: float
    fold: int
    cos0: object
    sin0: object


def a_and_slope(xp, gx, gy, aniso, cos0, sin0):
    """(a, da/dtheta) for the outward normal of a metal whose gradient is (gx, gy): the normal
    -(gx, gy) turned by -theta0, then the Karma-Rappel W(n) / W0 of
    pfsim.kernels.anisotropic_allen_cahn_heat.w_and_slope (a zero gradient: a = 1)."""
    nx = -(gx * cos0 + gy * sin0)
    ny = -(gy * cos0 - gx * sin0)
    unit = SimpleNamespace(interface_width=1.0, anisotropy=aniso.strength, fold=aniso.fold, orientation=0.0)
    return w_and_slope(unit, xp, nx, ny)


ION_FLOOR = 1e-10  # ionic conductivity of the metal relative to the SSE (the ionic potential
#                    in the metal is a harmless harmonic extension; the solver converges at this contrast)
#                    and the salt's share of a metal node (models/plating/salt.py)


def h_of(xi):
    """h(xi) = xi^3 (6 xi^2 - 15 xi + 10): 0 off the metal, 1 in it."""
    return xi * xi * xi * (xi * (6 * xi - 15) + 10)


def q_of(xi, xp=np):
    """16 xi^2 (1 - xi)^2: where the volume-conserving correction acts (1 at xi = 1/2)."""
    a = xi * (1 - xi)
    return 16 * a * a


# --- noise -----------------------------------------------------------------------------------
def uniform_noise_numpy(backend, seed, step, shape, first=0):
    """Uniform numbers in [-1, 1), one per node, hashed from (seed, step, flat index of the node);
    first: the flat index of the array's first node in the whole grid (a slab of a decomposed
    run draws the same numbers as the whole grid's rows)."""
    xp, n = backend.xp, int(np.prod(shape))
    idx = (xp.arange(n, dtype=np.int64) + np.int64(first)).astype(np.uint64)  # wraps as the kernel's cast
    key = ((int(seed) * _GOLD) ^ (int(step) * _STEP)) & 0xFFFFFFFFFFFFFFFF
    z = idx ^ np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * (2.0**-53)
    return (2 * u - 1).astype(backend.dtype).reshape(shape)


def uniform_noise_cuda(backend, seed, step, shape, first=0):
    n = int(np.prod(shape))
    out = backend.xp.empty(n, dtype=backend.dtype)
    backend.launch(KERNELS, "plating_noise", n, (out, np.uint64(seed), np.uint64(step), np.int64(n), np.int64(first)))
    return out.reshape(shape)


# --- interface terms ---------------------------------------------------------------------------
def interface_terms_numpy(backend, grid, xi, delta, tau, aniso=None):
    xp, nd = backend.xp, grid.ndim
    up = [shifted(xi, grid, a, +1, xp) for a in range(nd)]
    dn = [shifted(xi, grid, a, -1, xp) for a in range(nd)]
    g = [(up[a] - dn[a]) * (0.5 / grid.spacing[a]) for a in range(nd)]
    g2 = g[0] * g[0]
    for a in range(1, nd):
        g2 = g2 + g[a] * g[a]
    lap = None
    nn = None
    for a in range(nd):
        haa = (up[a] - 2 * xi + dn[a]) * (1.0 / grid.spacing[a] ** 2)
        lap = haa if lap is None else lap + haa
        t = g[a] * g[a] * haa
        nn = t if nn is None else nn + t
    for a in range(nd):
        for b in range(a + 1, nd):
            pp = shifted(up[a], grid, b, +1, xp)
            pm = shifted(up[a], grid, b, -1, xp)
            mp = shifted(dn[a], grid, b, +1, xp)
            mm = shifted(dn[a], grid, b, -1, xp)
            hab = (pp - pm - mp + mm) * (0.25 / (grid.spacing[a] * grid.spacing[b]))
            nn = nn + 2 * g[a] * g[b] * hab
    eps2 = (GRAD_FLOOR / delta) ** 2
    d2n = (nn + eps2 * lap) / (g2 + eps2)
    gp = 2 * xi * (1 - xi) * (1 - 2 * xi)
    relax = (delta * delta * d2n - 2 * gp) * (1.0 / tau)
    w = xp.where(xi >= XI_MIN, 2 * xp.maximum(1 - h_of(xi), 0) * xp.sqrt(g2), 0)
    if aniso is not None and nd == 2:
        a, _ = a_and_slope(xp, g[0], g[1], aniso, aniso.cos0, aniso.sin0)
        w = w * a
    return w, relax


def interface_terms_cuda(backend, grid, xi, delta, tau, aniso=None):
    xp, s = backend.xp, backend.scalar
    w, relax = xp.empty_like(xi), xp.empty_like(xi)
    args = (xi, w, relax) + grid_args(backend, grid) + _spacing(backend, grid) + (s(delta), s(tau)) + _aniso_args(
        backend, grid, xi, aniso)
    backend.launch(KERNELS, "plating_interface_terms", xi.size, args)
    return w, relax


def _aniso_args(backend, grid, xi, aniso):
    """(eps, fold, cos0, sin0) of the kernels; eps = 0 (and xi in place of the maps, unread)
    without anisotropy or in 3D."""
    if aniso is None or grid.ndim != 2:
        return (backend.scalar(0.0), np.int32(1), xi, xi)
    return (backend.scalar(aniso.strength), np.int32(aniso.fold), aniso.cos0, aniso.sin0)


def _spacing(backend, grid):
    h = list(grid.spacing) + [1.0] * (3 - grid.ndim)
    return tuple(backend.scalar(v) for v in h)


# --- capillarity -------------------------------------------------------------------------------
def capillary_term_numpy(backend, grid, xi, coeff, delta, aniso=None):
    xp = backend.xp
    gp = 2 * xi * (1 - xi) * (1 - 2 * xi)
    if aniso is None or grid.ndim != 2:
        return coeff * (laplacian(xi, grid) - (2.0 / (delta * delta)) * gp)
    hx, hy = grid.spacing
    P, C, S = (padded(grid, xp, f) for f in (xi, aniso.cos0, aniso.sin0))
    # x faces: normal gradient along x, tangential the mean of both nodes' central y differences
    gn = (P[1:, 1:-1] - P[:-1, 1:-1]) * (1.0 / hx)
    gt = (P[1:, 2:] - P[1:, :-2] + P[:-1, 2:] - P[:-1, :-2]) * (0.25 / hy)
    a, at = a_and_slope(xp, gn, gt, aniso, 0.5 * (C[1:, 1:-1] + C[:-1, 1:-1]), 0.5 * (S[1:, 1:-1] + S[:-1, 1:-1]))
    fx = a * a * gn - a * at * gt
    # y faces: (gx, gy) = (tangential, normal)
    gn = (P[1:-1, 1:] - P[1:-1, :-1]) * (1.0 / hy)
    gt = (P[2:, 1:] - P[:-2, 1:] + P[2:, :-1] - P[:-2, :-1]) * (0.25 / hx)
    a, at = a_and_slope(xp, gt, gn, aniso, 0.5 * (C[1:-1, 1:] + C[1:-1, :-1]), 0.5 * (S[1:-1, 1:] + S[1:-1, :-1]))
    fy = a * a * gn + a * at * gt
    div = (fx[1:] - fx[:-1]) * (1.0 / hx) + (fy[:, 1:] - fy[:, :-1]) * (1.0 / hy)
    cx = (P[2:, 1:-1] - P[:-2, 1:-1]) * (0.5 / hx)
    cy = (P[1:-1, 2:] - P[1:-1, :-2]) * (0.5 / hy)
    a, _ = a_and_slope(xp, cx, cy, aniso, aniso.cos0, aniso.sin0)
    return coeff * (div - (2.0 / (delta * delta)) * gp) / (a * a)


def capillary_term_cuda(backend, grid, xi, coeff, delta, aniso=None):
    xp, s = backend.xp, backend.scalar
    cap = xp.empty_like(xi)
    args = ((xi, cap) + grid_args(backend, grid) + _spacing(backend, grid) + (s(coeff), s(delta))
            + _aniso_args(backend, grid, xi, aniso))
    backend.launch(KERNELS, "plating_capillary", xi.size, args)
    return cap


# --- metal update ------------------------------------------------------------------------------
def metal_update_numpy(backend, xi, w, relax, lagrange, current, gate, noise, scale, dt):
    xp = backend.xp
    react = scale * w * current * noise  # d xi/dt of the reaction (> 0 dissolves)
    trial = xi + dt * gate * (relax - lagrange * q_of(xi) - react)
    new = xp.clip(trial, 0, 1)
    displaced = -dt * (1 - gate) * react + (trial - new)
    return new, displaced


def metal_update_cuda(backend, xi, w, relax, lagrange, current, gate, noise, scale, dt):
    xp, s = backend.xp, backend.scalar
    out, displaced = xp.empty_like(xi), xp.empty_like(xi)
    args = (xi, w, relax, current, gate, noise, out, displaced, s(lagrange), s(scale), s(dt), np.int64(xi.size))
    backend.launch(KERNELS, "plating_metal_update", xi.size, args)
    return out, displaced


# --- each op as the models and solvers call it: the backend picks the form -------------------
uniform_noise = twin(uniform_noise_numpy, uniform_noise_cuda)
interface_terms = twin(interface_terms_numpy, interface_terms_cuda)
metal_update = twin(metal_update_numpy, metal_update_cuda)
capillary_term = twin(capillary_term_numpy, capillary_term_cuda)
