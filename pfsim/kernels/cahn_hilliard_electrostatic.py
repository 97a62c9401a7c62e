"""Cahn-Hilliard with electrostatics, the step of c for a given potential
(pfsim.models.cahn_hilliard_electrostatic; kernels/cahn_hilliard_electrostatic.cu):

    mu    = 2 rho (c - c_alpha)(c_beta - c)(c_alpha + c_beta - 2 c) - kappa lap(c) + k Phi
    dc/dt = M lap(mu)

mu's Cahn-Hilliard part is pfsim.kernels.cahn_hilliard's (the same operations); the potential
is solved between steps by the model. scratch: a dict the caller keeps between calls.
"""

from .. import stencil
from . import cahn_hilliard as ch
from . import grid_args, spare, twin

KERNELS = "cahn_hilliard_electrostatic.cu"


def chemical_potential(backend, grid, p, c, phi, scratch):
    """mu (the Cahn-Hilliard kernels' form for the backend, plus k Phi)."""
    mu = ch.chemical_potential(backend, grid, p, c, scratch)
    mu += p.charge * phi
    return mu


def rate_numpy(backend, grid, p, c, phi, scratch):
    r = stencil.laplacian(chemical_potential(backend, grid, p, c, phi, scratch), grid)
    r *= p.mobility
    return r


def euler_step_numpy(backend, grid, p, c, phi, dt, scratch):
    """c + dt M lap(mu), in place (returns c)."""
    r = rate_numpy(backend, grid, p, c, phi, scratch)
    r *= dt
    c += r
    return c


def euler_step_cuda(backend, grid, p, c, phi, dt, scratch):
    """One launch, out of place: returns the new c (the old array is kept as the next step's output)."""
    s = backend.scalar
    out = spare(backend, c, scratch)
    args = (c, phi, out) + grid_args(backend, grid) + (s(p.barrier), s(p.c_alpha), s(p.c_beta),
                                                        s(p.gradient_coefficient), s(p.charge), s(p.mobility), s(dt))
    backend.launch(KERNELS, "chel_step_fused", c.size, args)
    scratch["spare"] = c
    return out


# --- each op as the model calls it: the backend picks the form --------------------------------
euler_step = twin(euler_step_numpy, euler_step_cuda)
