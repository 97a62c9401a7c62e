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


def phase_jump(p, c):
    """f_b - f_a = rho2 ((c_beta - c)^2 - (c - c_alpha)^2)."""
    a, b = p.c_beta - c, c - p.c_alpha
    return p.rho2 * (a * a - b * b)


def local_slope(p, cross, jump, e, sq):
    """df/deta_k without its gradient term: (f_b - f_a) h'(eta_k) + w (...); sq: sum of eta_j^2."""
    return jump * interpolation_slope(e) + p.w * (2 * e * (1 - e) * (1 - 2 * e) + cross * e * (sq - e * e))


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
    jump = phase_jump(p, c)
    out = []
    for e in etas:
        dfde = local_slope(p, cross, jump, e, sq) - p.kappa_eta * stencil.laplacian(e, grid)
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


# --- the semi-implicit (IMEX) Fourier step: written with backend.xp, the same on NumPy and CuPy ---
# the eta solves stop at this largest |residual| (eta is of order 1), or after SOLVE_MAX_ITERATIONS
SOLVE_RESIDUAL = 1e-10
SOLVE_MAX_ITERATIONS = 100


def local_curvature(p, cross, jump, e, sq):
    """d2f/deta_k2, the others held:
    (f_b - f_a) h''(eta_k) + w (2 - 12 eta_k + 12 eta_k^2 + cross sum_{j != k} eta_j^2)."""
    return jump * (60 * e * (1 - e) * (1 - 2 * e)) + p.w * (2 - 12 * e + 12 * (e * e) + cross * (sq - e * e))


def conjugate_gradient(xp, diagonal, gradient_symbol, mean_denominator, forward, inverse, rhs):
    """x with max |rhs - A x| <= SOLVE_RESIDUAL, A x = diagonal x + inverse(gradient_symbol forward(x))
    (symmetric positive definite), preconditioned by the same operator with the diagonal at its
    mean (mean_denominator = mean + gradient_symbol, exact in Fourier space), from the
    preconditioned right-hand side; returns (x, iterations). The search direction is also kept
    in Fourier space (the preconditioned residual is a Fourier quotient, and the direction a sum
    of those), so an iteration costs three transforms, not four."""
    z_hat = forward(rhs) / mean_denominator
    x = inverse(z_hat)
    r = rhs - (diagonal * x + inverse(gradient_symbol * z_hat))
    z_hat = forward(r) / mean_denominator
    d, d_hat = inverse(z_hat), z_hat
    rz = float(xp.vdot(r, d))
    for it in range(SOLVE_MAX_ITERATIONS):
        if float(xp.abs(r).max()) <= SOLVE_RESIDUAL:
            return x, it
        q = diagonal * d + inverse(gradient_symbol * d_hat)
        dq = float(xp.vdot(d, q))
        if not dq > 0:  # r is at rounding level
            return x, it
        step = rz / dq
        x, r = x + step * d, r - step * q
        z_hat = forward(r) / mean_denominator
        z = inverse(z_hat)
        rz, rz_old = float(xp.vdot(r, z)), rz
        beta = rz / rz_old
        d, d_hat = z + beta * d, z_hat + beta * d_hat
    return x, SOLVE_MAX_ITERATIONS


def semi_implicit_step(backend, p, cross, c, etas, dt, k2, iterations=None):
    """(c, [eta_k]) one IMEX Euler step of dt later, new arrays; fully periodic grids.

    k2: -(the symbol of the discrete Laplacian) in rfftn layout (pfsim.stencil.minus_laplacian_symbol).
    eta_k first, from c and eta at the old time: kappa_eta lap(eta_k) implicit, the local slope
    explicit with S (eta_k^new - eta_k) added to both sides, S = max(d2f/deta_k2, 0) node by node:
        (1 + dt L S) eta_k^new - dt L kappa_eta lap(eta_k^new) = (1 + dt L S) eta_k - dt L slope_k
    solved by conjugate gradients preconditioned by the same operator with S at its mean (exact in
    Fourier space); then c with the new eta: f_c = 2 rho2 c - g(eta), g = 2 rho2 (c_alpha (1 - h) +
    c_beta h), so, exactly in Fourier space,
        (1 + dt M k2 (2 rho2 + kappa_c k2)) c^new = FT[c] + dt M k2 FT[g(eta^new)]
    At k = 0 the c solve keeps the mean of c, so the mass is kept to rounding.
    iterations: a list that receives each eta solve's number of iterations."""
    xp, shape, axes = backend.xp, c.shape, tuple(range(c.ndim))

    def forward(f):
        return xp.fft.rfftn(f, axes=axes)

    def inverse(f_hat):
        return xp.fft.irfftn(f_hat, s=shape, axes=axes).astype(c.dtype, copy=False)

    _, sq = sums(etas)
    jump = phase_jump(p, c)
    dl = dt * p.relaxation
    gradient_symbol = (dl * p.kappa_eta) * k2
    new_etas = []
    for e in etas:
        diagonal = 1 + dl * xp.maximum(local_curvature(p, cross, jump, e, sq), 0.0)
        rhs = diagonal * e - dl * local_slope(p, cross, jump, e, sq)
        eta, its = conjugate_gradient(xp, diagonal, gradient_symbol, float(diagonal.mean()) + gradient_symbol,
                                      forward, inverse, rhs)
        new_etas.append(eta)
        if iterations is not None:
            iterations.append(its)
    h, _ = sums(new_etas)
    g = (2 * p.rho2) * (p.c_alpha + (p.c_beta - p.c_alpha) * h)
    c_denominator = 1 + (dt * p.mobility) * k2 * (2 * p.rho2 + p.kappa_c * k2)
    return inverse((forward(c) + (dt * p.mobility) * k2 * forward(g)) / c_denominator), new_etas
