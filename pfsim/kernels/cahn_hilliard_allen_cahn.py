"""Cahn-Hilliard + N Allen-Cahn order parameters, PFHub BM2 free energy
(pfsim.models.cahn_hilliard_allen_cahn; kernels/cahn_hilliard_allen_cahn.cu):

    mu        = 2 rho2 (c - c_alpha)(1 - h) - 2 rho2 (c_beta - c) h - kappa_c lap(c)
    dc/dt     = M lap(mu)
    deta_k/dt = -L [(f_b - f_a) h'(eta_k) + w (2 eta_k (1 - eta_k)(1 - 2 eta_k)
                    + cross eta_k sum_{j != k} eta_j^2) - kappa_eta lap(eta_k)]

cross: 2 alpha (each pair once) or 4 alpha (each pair twice). etas: the list of the N order
parameters. The NumPy forms are the kernels' operations in the kernels' order; the CUDA forms
stack the order parameters into one array (kept in scratch) for two launches per step.
"""

import numpy as np

from .. import stencil
from . import grid_args, twin

KERNELS = "cahn_hilliard_allen_cahn.cu"


def interpolation(e):
    """h(eta) = eta^3 (6 eta^2 - 15 eta + 10)."""
    return e * e * e * (6 * (e * e) - 15 * e + 10)


def interpolation_slope(e):
    """h'(eta) = 30 eta^2 (1 - eta)^2."""
    return 30 * (e * e) * ((1 - e) * (1 - e))


def sums(etas):
    """(h, sum of eta_k^2)."""
    h, sq = 0.0, 0.0
    for e in etas:
        h = h + interpolation(e)
        sq = sq + e * e
    return h, sq


def chemical_potential_numpy(backend, grid, p, c, etas, scratch=None):
    h, _ = sums(etas)
    fa = 2 * p.rho2 * (c - p.c_alpha)
    fb = -2 * p.rho2 * (p.c_beta - c)
    return fa * (1 - h) + fb * h - p.kappa_c * stencil.laplacian(c, grid)


def rate_numpy(backend, grid, p, cross, c, etas, scratch=None):
    """(dc/dt, [deta_k/dt])."""
    mu = chemical_potential_numpy(backend, grid, p, c, etas)
    dc = p.mobility * stencil.laplacian(mu, grid)
    _, sq = sums(etas)
    a, b = p.c_beta - c, c - p.c_alpha
    jump = p.rho2 * (a * a - b * b)
    out = []
    for e in etas:
        dfde = (jump * interpolation_slope(e) + p.w * (2 * e * (1 - e) * (1 - 2 * e) + cross * e * (sq - e * e))
                - p.kappa_eta * stencil.laplacian(e, grid))
        out.append(-p.relaxation * dfde)
    return dc, out


def euler_step_numpy(backend, grid, p, cross, c, etas, dt, scratch):
    """(c + dt dc/dt, [eta_k + dt deta_k/dt]), new arrays."""
    dc, detas = rate_numpy(backend, grid, p, cross, c, etas)
    return c + dt * dc, [e + dt * d for e, d in zip(etas, detas)]


def _stacked(backend, etas, scratch):
    xp = backend.xp
    buf = scratch.get("etas")
    shape = (len(etas),) + etas[0].shape
    if buf is None or buf.shape != shape or buf.dtype != etas[0].dtype:
        buf = scratch["etas"] = xp.empty(shape, etas[0].dtype)
    for k, e in enumerate(etas):
        buf[k][...] = e
    return buf


def _mu_cuda(backend, grid, p, c, eta):
    s = backend.scalar
    mu = backend.xp.empty_like(c)
    backend.launch(KERNELS, "chac_chemical_potential", c.size, (c, eta, mu, np.int32(len(eta)))
                   + grid_args(backend, grid) + (s(p.rho2), s(p.c_alpha), s(p.c_beta), s(p.kappa_c)))
    return mu


def chemical_potential_cuda(backend, grid, p, c, etas, scratch=None):
    return _mu_cuda(backend, grid, p, c, _stacked(backend, etas, {} if scratch is None else scratch))


def _step_cuda(backend, grid, p, cross, c, etas, base, dt, scratch):
    s, xp = backend.scalar, backend.xp
    eta = _stacked(backend, etas, scratch)
    mu = _mu_cuda(backend, grid, p, c, eta)
    c_new, eta_new = xp.empty_like(c), xp.empty_like(eta)
    backend.launch(KERNELS, "chac_euler_step", c.size, (c, eta, mu, c_new, eta_new, np.int32(len(etas)))
                   + grid_args(backend, grid) + (s(p.rho2), s(p.c_alpha), s(p.c_beta), s(p.kappa_eta),
                                                 s(p.mobility), s(p.relaxation), s(p.w), s(cross), s(base), s(dt)))
    return c_new, [eta_new[k] for k in range(len(etas))]


def rate_cuda(backend, grid, p, cross, c, etas, scratch):
    """The step kernel with base = 0 and dt = 1: the rates themselves (RK4's stages)."""
    return _step_cuda(backend, grid, p, cross, c, etas, 0.0, 1.0, scratch)


def euler_step_cuda(backend, grid, p, cross, c, etas, dt, scratch):
    return _step_cuda(backend, grid, p, cross, c, etas, 1.0, dt, scratch)


# --- each op as the model calls it: the backend picks the form --------------------------------
chemical_potential = twin(chemical_potential_numpy, chemical_potential_cuda)
rate = twin(rate_numpy, rate_cuda)
euler_step = twin(euler_step_numpy, euler_step_cuda)
