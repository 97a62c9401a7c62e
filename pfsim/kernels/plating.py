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
"""

import numpy as np

from ..stencil import shifted
from . import grid_args, twin

KERNELS = "plating.cu"
GRAD_FLOOR = 1e-2  # |grad xi| delta under this blends d2/dn2 into the Laplacian
XI_MIN = 1e-3  # no reaction in the far tail of the profile, 3.5 widths from the metal: there are
#                no electrons there (without the cut, the tail grows where eta is large, far from Li)

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLD, _STEP = 0x9E3779B97F4A7C15, 0xD1B54A32D192ED03


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
def interface_terms_numpy(backend, grid, xi, delta, tau):
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
    return w, relax


def interface_terms_cuda(backend, grid, xi, delta, tau):
    xp, s = backend.xp, backend.scalar
    w, relax = xp.empty_like(xi), xp.empty_like(xi)
    args = (xi, w, relax) + grid_args(backend, grid) + _spacing(backend, grid) + (s(delta), s(tau))
    backend.launch(KERNELS, "plating_interface_terms", xi.size, args)
    return w, relax


def _spacing(backend, grid):
    h = list(grid.spacing) + [1.0] * (3 - grid.ndim)
    return tuple(backend.scalar(v) for v in h)


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
