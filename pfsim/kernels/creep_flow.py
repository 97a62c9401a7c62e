"""Pointwise work of the creep-flow solver (pfsim/solvers/creep_flow.py), kernels/creep_flow.cu.

    cell_viscosity(backend, II, xi, solid, coef, rate, expo, reg2, mu_void) -> (mu, fluidity)
        mu_metal = coef (sqrt(II + reg2) rate)^expo, w = clip(1 - 2 xi, 0, 1),
        mu = (1 - w) mu_metal + w mu_void, fluidity = 1/mu (0 where solid != 0)

Arrays of any shape (a grid's cells), in the backend's dtype; `solid` a 0/1 array. The NumPy
form (`*_numpy`, also runs on CuPy arrays) and the CUDA form (`*_cuda`) do the same operations
in the same order; `cell_viscosity` picks by the backend (pfsim.kernels.twin).
"""

import numpy as np

from . import twin

KERNELS = "creep_flow.cu"


def _field(backend, a):
    return backend.xp.ascontiguousarray(backend.xp.asarray(a, dtype=backend.dtype))


def cell_viscosity_numpy(backend, II, xi, solid, coef, rate, expo, reg2, mu_void):
    xp, s = backend.xp, backend.scalar
    II, xi, solid = (_field(backend, a) for a in (II, xi, solid))
    metal = s(coef) * (xp.sqrt(II + s(reg2)) * s(rate)) ** s(expo)
    w = xp.clip(1 - 2 * xi, 0, 1)
    mu = (1 - w) * metal + w * s(mu_void)
    fluidity = xp.where(solid != 0, s(0), 1 / mu)
    return mu, fluidity


def cell_viscosity_cuda(backend, II, xi, solid, coef, rate, expo, reg2, mu_void):
    xp, s = backend.xp, backend.scalar
    II, xi, solid = (_field(backend, a) for a in (II, xi, solid))
    mu, fluidity = xp.empty_like(II), xp.empty_like(II)
    nx, ny, nz = (list(II.shape) + [1, 1])[:3] if II.ndim <= 3 else (II.size, 1, 1)
    pointwise = (np.int32(nx), np.int32(ny), np.int32(nz), np.int32(0), s(0), s(0), s(0))
    args = (II, xi, solid, mu, fluidity) + pointwise + tuple(s(v) for v in (coef, rate, expo, reg2, mu_void))
    backend.launch(KERNELS, "creep_cell_viscosity", II.size, args)
    return mu, fluidity


cell_viscosity = twin(cell_viscosity_numpy, cell_viscosity_cuda)
