"""The finest grid's operator and smoothers of pfsim.solvers.elliptic (kernels/elliptic.cu):
apply (A u, identity rows on inactive nodes), smooth_rb (Gauss-Seidel on one colour, in place)
and smooth_jacobi (one weighted-Jacobi sweep). `level` is the solver's _FineLevel: faces, cdiag
(c, -1 on inactive nodes) and, for the NumPy forms, faces_down, c, diag, active and colours.
"""

import numpy as np

from ..stencil import along
from . import twin

KERNELS = "elliptic.cu"


def level_args(level):
    """The kernels' arguments after (u, ...): kx, ky, kz, cdiag, nx, ny, nz (kz unread in 2D)."""
    f, nd = level.faces, len(level.shape)
    shape = list(level.shape) + [1] * (3 - nd)
    kz = f[2] if nd == 3 else f[0]
    return (f[0], f[1], kz, level.cdiag, np.int32(shape[0]), np.int32(shape[1]), np.int32(shape[2]))


def _wrapped(u, a, step, out):
    """u at node i + step along axis a, wrapping round (np.roll's values), into out by slices.
    The faces across a bounded wall are 0, so the wrapped value there is never weighed."""
    n, nd = u.shape[a], u.ndim
    if step > 0:
        out[along(nd, a, slice(0, n - 1))] = u[along(nd, a, slice(1, n))]
        out[along(nd, a, n - 1)] = u[along(nd, a, 0)]
    else:
        out[along(nd, a, slice(1, n))] = u[along(nd, a, slice(0, n - 1))]
        out[along(nd, a, 0)] = u[along(nd, a, n - 1)]
    return out


def apply_numpy(backend, level, u):
    xp = backend.xp
    out, nb = level.c * u, xp.empty_like(u)
    for a, (up, down) in enumerate(zip(level.faces, level.faces_down)):
        out += up * xp.subtract(u, _wrapped(u, a, +1, nb), out=nb)
        out += down * xp.subtract(u, _wrapped(u, a, -1, nb), out=nb)
    return xp.where(level.active, out, u)


def apply_cuda(backend, level, u):
    out = backend.xp.empty_like(u)
    backend.launch(KERNELS, "elliptic_apply", u.size, (u, out) + level_args(level))
    return out


def _relaxed_numpy(xp, level, u, b):
    ku, nb = None, xp.empty_like(u)
    for a, (up, down) in enumerate(zip(level.faces, level.faces_down)):
        t = up * _wrapped(u, a, +1, nb)
        ku = t if ku is None else ku + t
        ku = ku + down * _wrapped(u, a, -1, nb)
    return (b + ku) / level.diag


def smooth_rb_numpy(backend, level, u, b, colour):
    """Gauss-Seidel on the nodes of one colour, in place."""
    on = level.colours[colour]
    new = backend.xp.where(level.active, _relaxed_numpy(backend.xp, level, u, b), b)
    u[on] = new[on]


def smooth_rb_cuda(backend, level, u, b, colour):
    backend.launch(KERNELS, "elliptic_smooth_rb", u.size, (u, b) + level_args(level) + (np.int32(colour),))


def smooth_jacobi_numpy(backend, level, u, b, omega):
    new = u + omega * (_relaxed_numpy(backend.xp, level, u, b) - u)
    return backend.xp.where(level.active, new, b)


def smooth_jacobi_cuda(backend, level, u, b, omega):
    out = backend.xp.empty_like(u)
    args = (u, b, out) + level_args(level) + (backend.scalar(omega),)
    backend.launch(KERNELS, "elliptic_smooth_jacobi", u.size, args)
    return out


# --- each op as the models and solvers call it: the backend picks the form -------------------
apply = twin(apply_numpy, apply_cuda)
smooth_rb = twin(smooth_rb_numpy, smooth_rb_cuda)
smooth_jacobi = twin(smooth_jacobi_numpy, smooth_jacobi_cuda)
