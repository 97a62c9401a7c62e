"""Allen-Cahn (pfsim.models.allen_cahn; kernels/allen_cahn.cu):

    deta/dt = -L [ 2 W eta (1 - eta)(1 - 2 eta) + tilt 30 eta^2 (1 - eta)^2 - kappa lap(eta) ] + S

S: the PFHub BM7 manufactured source when p.source is set (2D). p: the model's parameters;
scratch: a dict the caller keeps between calls (work blocks, the spare output buffer, the
compiled CPU stepper). The free energy's "CUDA" form is the plain CuPy expression.
"""

import numpy as np

from .. import stencil
from . import grid_args, numba_stepper, spare, twin

KERNELS = "allen_cahn.cu"


def _source(backend, grid, p, t):
    """S(x, y, t) on the grid's nodes that makes eta_sol an exact solution (PFHub BM7)."""
    xp, kappa, s = backend.xp, p.gradient_coefficient, p.source  # s: the ManufacturedSource
    x, y = grid.mesh(xp)
    alpha = 0.25 + s.A1 * t * xp.sin(s.B1 * x) + s.A2 * xp.sin(s.B2 * x + s.C2 * t)
    ax = s.A1 * s.B1 * t * xp.cos(s.B1 * x) + s.A2 * s.B2 * xp.cos(s.B2 * x + s.C2 * t)
    axx = -s.A1 * s.B1**2 * t * xp.sin(s.B1 * x) - s.A2 * s.B2**2 * xp.sin(s.B2 * x + s.C2 * t)
    at = s.A1 * xp.sin(s.B1 * x) + s.A2 * s.C2 * xp.cos(s.B2 * x + s.C2 * t)
    sk = np.sqrt(kappa)
    th = xp.tanh((y - alpha) / np.sqrt(2 * kappa))
    sech2 = 1 - th * th
    return sech2 / (4 * sk) * (-2 * sk * th * ax * ax + np.sqrt(2.0) * (at - kappa * axx))


def _slope_into(p, xp, eta, out, tmp, tilt):
    """2 W eta (1 - eta)(1 - 2 eta) + tilt 30 eta^2 (1 - eta)^2 into out, evaluated as rate_numpy
    writes it (left to right)."""
    xp.multiply(eta, 2 * p.barrier, out=out)
    out *= xp.subtract(1, eta, out=tmp)
    xp.multiply(eta, 2, out=tmp)
    out *= xp.subtract(1, tmp, out=tmp)
    if p.tilt:
        xp.square(eta, out=tilt)
        tilt *= p.tilt * 30
        tilt *= xp.square(xp.subtract(1, eta, out=tmp), out=tmp)
        out += tilt
    return out


def rate_numpy(backend, grid, p, eta, t):
    r = stencil.laplacian(eta, grid)
    r *= p.gradient_coefficient
    r -= 2 * p.barrier * eta * (1 - eta) * (1 - 2 * eta) + p.tilt * 30 * eta**2 * (1 - eta) ** 2
    r *= p.mobility
    if p.source is not None:
        r += _source(backend, grid, p, t)
    return r


def _rate_args(backend, grid, p, t):
    s, src = backend.scalar, p.source
    constants = (src.A1, src.B1, src.A2, src.B2, src.C2) if src is not None else (0.0,) * 5  # unread then
    return grid_args(backend, grid) + (
        s(p.mobility), s(p.barrier), s(p.tilt), s(p.gradient_coefficient),
        np.int32(src is not None), s(grid.origin[0]), s(grid.origin[1]),
        s(grid.spacing[0]), s(grid.spacing[1]), s(t),
    ) + tuple(s(v) for v in constants)


def rate_cuda(backend, grid, p, eta, t):
    out = backend.xp.empty_like(eta)
    backend.launch(KERNELS, "ac_rate", eta.size, (eta, out) + _rate_args(backend, grid, p, t))
    return out


def euler_step_numpy(backend, grid, p, eta, t, dt, scratch):
    """eta + dt rate(eta), out of place into the array the previous step left over (returned;
    eta is kept for the next step). NumPy: bit for bit rate_numpy's, one cache-sized block of
    rows at a time through three scratch blocks kept between steps, no grid-sized temporary
    (the BM7 source aside); CUDA: one launch (ac_euler_update)."""
    xp, new = backend.xp, spare(backend, eta, scratch)
    w = scratch.get("blocks")
    blocks = stencil.row_blocks(eta.shape)
    rows = blocks[0][1] - blocks[0][0]
    if w is None or w[0].shape[1:] != eta.shape[1:] or w[0].dtype != eta.dtype or len(w[0]) != rows:
        w = scratch["blocks"] = [xp.empty((rows,) + eta.shape[1:], eta.dtype) for _ in range(3)]
    source = _source(backend, grid, p, t) if p.source is not None else None
    for i0, i1 in blocks:
        m, e = i1 - i0, eta[i0:i1]
        r, w1, w2 = new[i0:i1], w[1][:m], w[2][:m]
        stencil.laplacian_rows(eta, grid, i0, i1, r, w[0][:m])
        r *= p.gradient_coefficient
        r -= _slope_into(p, xp, e, w1, w2, w[0][:m])
        r *= p.mobility
        if source is not None:
            r += source[i0:i1]
        r *= dt
        r += e
    scratch["spare"] = eta
    return new


def euler_step_numba(backend, grid, p, eta, t, dt, scratch):
    stepper = numba_stepper(grid, eta, scratch) if p.source is None else None
    if stepper is None:
        return euler_step_numpy(backend, grid, p, eta, t, dt, scratch)
    new = spare(backend, eta, scratch)
    stepper.allen_cahn(eta, new, p, dt)
    scratch["spare"] = eta
    return new


def euler_step_cuda(backend, grid, p, eta, t, dt, scratch):
    out = spare(backend, eta, scratch)
    args = (eta, out) + _rate_args(backend, grid, p, t) + (backend.scalar(dt),)
    backend.launch(KERNELS, "ac_euler_update", eta.size, args)
    scratch["spare"] = eta
    return out


def free_energy_numpy(backend, grid, p, eta, scratch, extent=None):
    """The integral of W eta^2 (1 - eta)^2 + kappa/2 |grad eta|^2 (+ tilt h(eta)) (over the
    whole grid through `extent` where given: a decomposed run's slab)."""
    def density_rows(i0, i1, out, w1, w2, w3):
        # the CUDA form's expressions, node by node, through scratch blocks
        e = eta[i0:i1]
        stencil.gradient_squared_rows(eta, grid, i0, i1, out, w1)
        out *= 0.5 * p.gradient_coefficient
        np.square(e, out=w1)
        w1 *= p.barrier
        w1 *= np.square(np.subtract(1, e, out=w2), out=w2)
        out += w1
        if p.tilt:
            np.power(e, 3, out=w1)
            w1 *= p.tilt
            np.square(e, out=w2)
            w2 *= 6
            w2 -= np.multiply(e, 15, out=w3)
            w2 += 10
            w1 *= w2
            out += w1
        return out

    blocks = scratch.setdefault("observable_blocks", [])
    if extent is not None:
        return extent.integral_rows(density_rows, eta.dtype, blocks)
    return stencil.integrate_rows(density_rows, grid, eta.shape, eta.dtype, blocks)


def free_energy_cuda(backend, grid, p, eta, scratch, extent=None):
    xp = backend.xp
    density = p.barrier * eta**2 * (1 - eta) ** 2 + 0.5 * p.gradient_coefficient * stencil.gradient_squared(eta, grid, xp)
    if p.tilt:
        density = density + p.tilt * eta**3 * (6 * eta**2 - 15 * eta + 10)
    return stencil.integrate(density, grid, xp) if extent is None else extent.integral(density)


# --- each op as the models and solvers call it: the backend picks the form -------------------
rate = twin(rate_numpy, rate_cuda)
euler_step = twin(euler_step_numpy, euler_step_cuda, euler_step_numba)
free_energy = twin(free_energy_numpy, free_energy_cuda)
