"""Grids, models and fields shared by the benchmark sections (never all zeros: random data of
the ranges the models see)."""

import numpy as np

from ..backend import Backend
from ..grid import Grid
from ..models.allen_cahn import AllenCahn, AllenCahnParams
from ..models.cahn_hilliard import CahnHilliard, CahnHilliardParams
from ..solvers import EllipticProblem

BM1A = dict(kind="cahn_hilliard", mobility=5.0, gradient_coefficient=2.0, barrier=5.0, c_alpha=0.3, c_beta=0.7)


def with_precision(backend, precision):
    return Backend(backend.name, np.dtype(precision), backend.device)


def grid(shape, spacing=None, bounded_last=False):
    """Periodic on every axis, or on every axis but the last (the stripping model's layout)."""
    nd = len(shape)
    sides = [("periodic", "periodic")] * nd
    if bounded_last:
        sides[-1] = ("no_flux", "no_flux")
    spacing = spacing or (1.0,) * nd
    return Grid(tuple(shape), tuple(spacing), (1.0,) * nd, tuple(sides))


def random_field(backend, shape, lo, hi, seed):
    rng = np.random.default_rng(seed)
    return backend.asarray(rng.uniform(lo, hi, shape))


def stepper(model, state, dt=None):
    """fn() of one explicit step of `model` in place (dt: a fifth of its stability limit by default)."""
    dt = 0.2 * model.stability_limit() if dt is None else dt
    return lambda: model.euler_step(state, 0.0, dt)


def cahn_hilliard(backend, shape):
    """BM1a's model on a periodic grid with dx = 1, and a state near c = 0.5."""
    model = CahnHilliard(CahnHilliardParams(**BM1A), grid(shape), backend)
    return model, {"c": random_field(backend, shape, 0.45, 0.55, 1)}


def allen_cahn(backend, shape):
    params = AllenCahnParams(kind="allen_cahn", gradient_coefficient=2.0, tilt=-0.1)
    model = AllenCahn(params, grid(shape), backend)
    return model, {"eta": random_field(backend, shape, 0.0, 1.0, 2)}


def void_fields(backend, shape):
    """The void kernels' inputs: electrolyte below a quarter of the last axis, Li above; xi in
    (0, 1] on the Li side, S near 1, the closure band a few nodes above the interface."""
    z = np.arange(shape[-1]).reshape((1,) * (len(shape) - 1) + (-1,))
    top = shape[-1] // 4
    li = np.broadcast_to(z >= top, shape)
    band = li & (z < top + 4)
    rng = np.random.default_rng(3)
    xi = np.where(li, rng.uniform(0.05, 1.0, shape), 0.0)
    f = backend.asarray
    return {
        "xi": f(xi), "li": f(li), "band": f(band), "S": f(np.where(li, rng.uniform(0.99, 1.2, shape), 0.0)),
        "relax": f(np.where(li, rng.uniform(-1e-3, 1e-3, shape), 0.0)),
        "grid": grid(shape, spacing=(2.5e-7,) * len(shape), bounded_last=True),
    }


def contrast_problem(shape, contrast=1e10):
    """A wavy metal layer (k = 1) under an electrolyte (k = 1 / contrast) on the unit square or
    cube: periodic lateral axes, u = 0 and 1 held on the walls of the last axis (as in
    tests/test_elliptic.py). Returns (grid, k, mask, b) as host arrays."""
    nd = len(shape)
    spacing = tuple(1.0 / n for n in shape[:-1]) + (1.0 / (shape[-1] - 1),)
    sides = (("periodic", "periodic"),) * (nd - 1) + (("no_flux", "no_flux"),)
    g = Grid(tuple(shape), spacing, (0.0,) * nd, sides)
    mesh = np.broadcast_arrays(*g.mesh())
    wave = 0.1 * np.sin(2 * np.pi * mesh[0])
    if nd == 3:
        wave = wave * np.cos(2 * np.pi * mesh[1])
    metal = mesh[-1] < 0.37 + wave
    k = np.where(metal, 1.0, 1.0 / contrast)
    mask = np.ones(shape, bool)
    mask[..., [0, -1]] = False
    b = np.zeros(shape)
    b[..., -1] = 1.0
    return g, k, mask, b


def elliptic(backend, shape, preconditioner="multigrid"):
    g, k, mask, b = contrast_problem(shape)
    xp = backend.xp
    return EllipticProblem(g, backend, xp.asarray(k), 0.0, xp.asarray(mask), preconditioner=preconditioner), b
