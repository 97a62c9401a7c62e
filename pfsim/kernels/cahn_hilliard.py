"""Cahn-Hilliard (pfsim.models.cahn_hilliard; kernels/cahn_hilliard.cu):

    mu    = 2 rho (c - c_alpha)(c_beta - c)(c_alpha + c_beta - 2 c) - kappa lap(c)
    dc/dt = M lap(mu)

p: the model's parameters; scratch: a dict the caller keeps between calls (work arrays, the
spare output buffer, the compiled CPU stepper). The NumPy forms work in place, one block of
rows at a time (stencil.row_blocks), into work arrays kept between steps: the same operations
in the same order as the plain expressions, bit for bit, with the intermediate passes in cache
instead of main memory. The observables' "CUDA" form is the plain CuPy expression.
"""

import numpy as np

from .. import stencil
from . import grid_args, numba_stepper, spare, twin

KERNELS = "cahn_hilliard.cu"


def _work(xp, c, scratch):
    """(mu, two scratch blocks) for fields like c."""
    w = scratch.get("work")
    if w is None or w[0].shape != c.shape or w[0].dtype != c.dtype:
        i0, i1 = stencil.row_blocks(c.shape)[0]
        block = (i1 - i0,) + c.shape[1:]
        w = scratch["work"] = [xp.empty_like(c), xp.empty(block, c.dtype), xp.empty(block, c.dtype)]
    return w


def _double_well_slope_into(p, xp, c, out, tmp):
    """2 rho (c - ca) (cb - c) (ca + cb - 2 c), evaluated left to right."""
    xp.subtract(c, p.c_alpha, out=out)
    out *= 2 * p.barrier
    out *= xp.subtract(p.c_beta, c, out=tmp)
    xp.multiply(c, 2, out=tmp)
    out *= xp.subtract(p.c_alpha + p.c_beta, tmp, out=tmp)
    return out


def chemical_potential_numpy(backend, grid, p, c, scratch, out=None):
    _, w1, w2 = _work(backend.xp, c, scratch)
    mu = backend.xp.empty_like(c) if out is None else out
    for i0, i1 in stencil.row_blocks(c.shape):
        m, block = i1 - i0, mu[i0:i1]
        stencil.laplacian_rows(c, grid, i0, i1, block, w1[:m])
        block *= -p.gradient_coefficient
        block += _double_well_slope_into(p, backend.xp, c[i0:i1], w1[:m], w2[:m])
    return mu


def chemical_potential_cuda(backend, grid, p, c, scratch=None, out=None):
    s = backend.scalar
    mu = backend.xp.empty_like(c) if out is None else out
    args = (c, mu) + grid_args(backend, grid) + (s(p.barrier), s(p.c_alpha), s(p.c_beta), s(p.gradient_coefficient))
    backend.launch(KERNELS, "ch_chemical_potential", c.size, args)
    return mu


def rate_numpy(backend, grid, p, c, scratch):
    out = stencil.laplacian(chemical_potential_numpy(backend, grid, p, c, scratch), grid)
    out *= p.mobility
    return out


def rate_cuda(backend, grid, p, c, scratch):
    mu = chemical_potential_cuda(backend, grid, p, c)
    out = backend.xp.empty_like(mu)
    backend.launch(KERNELS, "ch_rate", mu.size, (mu, out) + grid_args(backend, grid) + (backend.scalar(p.mobility),))
    return out


def euler_step_numpy(backend, grid, p, c, dt, scratch):
    """c + dt M lap(mu): in place on the CPU (returns c), out of place in one launch on a GPU
    (ch_step_fused: returns the new c; the old array is kept as the next step's output)."""
    mu, lap, work = _work(backend.xp, c, scratch)
    chemical_potential_numpy(backend, grid, p, c, scratch, mu)
    for i0, i1 in stencil.row_blocks(c.shape):
        m = i1 - i0
        stencil.laplacian_rows(mu, grid, i0, i1, lap[:m], work[:m])
        lap[:m] *= p.mobility
        lap[:m] *= dt
        c[i0:i1] += lap[:m]
    return c


def euler_step_numba(backend, grid, p, c, dt, scratch):
    stepper = numba_stepper(grid, c, scratch)
    if stepper is None:
        return euler_step_numpy(backend, grid, p, c, dt, scratch)
    stepper.cahn_hilliard(c, _work(backend.xp, c, scratch)[0], p, dt)
    return c


def euler_step_cuda(backend, grid, p, c, dt, scratch):
    s = backend.scalar
    out = spare(backend, c, scratch)
    args = (c, out) + grid_args(backend, grid) + (s(p.barrier), s(p.c_alpha), s(p.c_beta),
                                                  s(p.gradient_coefficient), s(p.mobility), s(dt))
    backend.launch(KERNELS, "ch_step_fused", c.size, args)
    scratch["spare"] = c
    return out


def observables_numpy(backend, grid, p, c, scratch, extent=None):
    """free_energy (central differences for |grad c|^2) and mass, integrated over the domain
    (over the whole grid through `extent` where given: a decomposed run's slab)."""
    def density_rows(i0, i1, out, w1, w2, w3):
        # the CUDA form's expression, node by node, through scratch blocks
        block = c[i0:i1]
        stencil.gradient_squared_rows(c, grid, i0, i1, out, w1)
        out *= 0.5 * p.gradient_coefficient
        np.square(np.subtract(block, p.c_alpha, out=w1), out=w1)
        w1 *= p.barrier
        w1 *= np.square(np.subtract(p.c_beta, block, out=w2), out=w2)
        out += w1
        return out

    def c_rows(i0, i1, out, *work):
        out[...] = c[i0:i1]
        return out

    blocks = scratch.setdefault("observable_blocks", [])
    if extent is not None:
        return {"free_energy": extent.integral_rows(density_rows, c.dtype, blocks),
                "mass": extent.integral_rows(c_rows, c.dtype, blocks)}
    return {"free_energy": stencil.integrate_rows(density_rows, grid, c.shape, c.dtype, blocks),
            "mass": stencil.integrate_rows(c_rows, grid, c.shape, c.dtype, blocks)}


def observables_cuda(backend, grid, p, c, scratch, extent=None):
    xp = backend.xp
    # rho (c - c_alpha)^2 (c_beta - c)^2 + kappa/2 |grad c|^2
    density = (p.barrier * (c - p.c_alpha) ** 2 * (p.c_beta - c) ** 2
               + 0.5 * p.gradient_coefficient * stencil.gradient_squared(c, grid, xp))
    if extent is not None:
        return {"free_energy": extent.integral(density), "mass": extent.integral(c)}
    return {"free_energy": stencil.integrate(density, grid, xp), "mass": stencil.integrate(c, grid, xp)}


# --- each op as the models and solvers call it: the backend picks the form -------------------
chemical_potential = twin(chemical_potential_numpy, chemical_potential_cuda)
rate = twin(rate_numpy, rate_cuda)
euler_step = twin(euler_step_numpy, euler_step_cuda, euler_step_numba)
observables = twin(observables_numpy, observables_cuda)
