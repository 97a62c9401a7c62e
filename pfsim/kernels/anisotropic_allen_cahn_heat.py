"""Anisotropic Allen-Cahn + heat (pfsim.models.anisotropic_allen_cahn_heat; kernels/anisotropic_allen_cahn_heat.cu):

    tau(n) dphi/dt = [phi - lambda U (1 - phi^2)](1 - phi^2) + div(J)
    J              = W^2 grad(phi) + W W_theta (-phi_y, phi_x)
    dU/dt          = D lap(U) + dphi/dt / 2

J on the faces between nodes from each face's own gradient (the model's doc); 2D. The NumPy
forms pad phi with one ghost layer (pfsim.stencil's boundary rules) and compute every face once;
the CUDA kernels compute a node's four faces per thread, the same operations per face.
p: the model's parameters; scratch: a dict the caller keeps between calls (the spare outputs).
"""

import numpy as np

from .. import stencil
from . import grid_args, twin

KERNELS = "anisotropic_allen_cahn_heat.cu"


def w_and_slope(p, xp, gx, gy):
    """(W, W_theta) for gradient components gx, gy: cos and sin of m theta from the unit vector
    (gx, gy) / |g| by m complex products (no atan2); a zero gradient has a = 1, W_theta = 0."""
    r2 = gx * gx + gy * gy
    inv = xp.where(r2 > 0, 1 / xp.sqrt(xp.where(r2 > 0, r2, 1.0)), 0.0)
    c1, s1 = gx * inv, gy * inv
    c, s = c1, s1
    for _ in range(p.fold - 1):
        c, s = c * c1 - s * s1, s * c1 + c * s1
    if p.orientation:
        cm, sm = float(np.cos(p.fold * p.orientation)), float(np.sin(p.fold * p.orientation))
        c, s = c * cm + s * sm, s * cm - c * sm
    w = p.interface_width * (1 + p.anisotropy * c)
    return w, (-p.interface_width * p.anisotropy * p.fold) * s


def face_flux(p, xp, gn, gt, sign):
    """W^2 g_n - sign W W_theta g_t (x faces: sign +1, theta from (g_n, g_t); y faces: sign -1,
    theta from (g_t, g_n))."""
    w, ws = w_and_slope(p, xp, gn, gt) if sign > 0 else w_and_slope(p, xp, gt, gn)
    return w * w * gn - sign * w * ws * gt


def padded(grid, xp, f):
    """f with one ghost layer: wrapped on periodic axes, mirrored (ghost = f[1]) on bounded ones."""
    for a, periodic in enumerate(grid.periodic):
        width = [(0, 0)] * f.ndim
        width[a] = (1, 1)
        f = xp.pad(f, width, mode="wrap" if periodic else "reflect")
    return f


def divergence_numpy(backend, grid, p, phi):
    """div(J), each face once."""
    xp = backend.xp
    hx, hy = grid.spacing
    P = padded(grid, xp, phi)
    fx = face_flux(p, xp, (P[1:, 1:-1] - P[:-1, 1:-1]) / hx,
                   (P[1:, 2:] - P[1:, :-2] + P[:-1, 2:] - P[:-1, :-2]) / (4 * hy), +1)  # x faces
    fy = face_flux(p, xp, (P[1:-1, 1:] - P[1:-1, :-1]) / hy,
                   (P[2:, 1:] - P[:-2, 1:] + P[2:, :-1] - P[:-2, :-1]) / (4 * hx), -1)  # y faces
    return (fx[1:] - fx[:-1]) / hx + (fy[:, 1:] - fy[:, :-1]) / hy


def central_gradient(grid, xp, f):
    hx, hy = grid.spacing
    P = padded(grid, xp, f)
    return (P[2:, 1:-1] - P[:-2, 1:-1]) / (2 * hx), (P[1:-1, 2:] - P[1:-1, :-2]) / (2 * hy)


def rate_numpy(backend, grid, p, phi, u, scratch=None):
    """(dphi/dt, dU/dt)."""
    xp = backend.xp
    gx, gy = central_gradient(grid, xp, phi)
    w, _ = w_and_slope(p, xp, gx, gy)
    r = w / p.interface_width
    tau = p.relaxation_time * (r * r)
    one = 1 - phi * phi
    dphi = ((phi - p.lam * u * one) * one + divergence_numpy(backend, grid, p, phi)) / tau
    du = p.diffusivity * stencil.laplacian(u, grid) + 0.5 * dphi
    return dphi, du


def _args(backend, grid, p):
    s = backend.scalar
    m0 = p.fold * p.orientation
    return grid_args(backend, grid) + (
        s(grid.spacing[0]), s(grid.spacing[1]), s(p.interface_width), s(p.relaxation_time), s(p.lam),
        s(p.diffusivity), s(p.anisotropy), np.int32(p.fold), np.int32(p.orientation != 0),
        s(np.cos(m0)), s(np.sin(m0)),
    )


def rate_cuda(backend, grid, p, phi, u, scratch=None):
    xp = backend.xp
    dphi, du = xp.empty_like(phi), xp.empty_like(u)
    backend.launch(KERNELS, "aach_rate", phi.size, (phi, u, dphi, du) + _args(backend, grid, p))
    return dphi, du


def euler_step_numpy(backend, grid, p, phi, u, dt, scratch):
    """(phi + dt dphi/dt, U + dt dU/dt), new arrays."""
    dphi, du = rate_numpy(backend, grid, p, phi, u)
    dphi *= dt
    du *= dt
    return phi + dphi, u + du


def euler_step_cuda(backend, grid, p, phi, u, dt, scratch):
    """One launch, out of place into the arrays the previous step left over (kept in scratch)."""
    xp = backend.xp
    spare = scratch.get("spare_pair")
    if spare is None or spare[0].shape != phi.shape or spare[0].dtype != phi.dtype or spare[0] is phi:
        spare = (xp.empty_like(phi), xp.empty_like(u))
    phi_new, u_new = spare
    backend.launch(KERNELS, "aach_euler_step", phi.size,
                   (phi, u, phi_new, u_new) + _args(backend, grid, p) + (backend.scalar(dt),))
    scratch["spare_pair"] = (phi, u)
    return phi_new, u_new


# --- each op as the model calls it: the backend picks the form --------------------------------
rate = twin(rate_numpy, rate_cuda)
euler_step = twin(euler_step_numpy, euler_step_cuda)
