"""Grids, models and random fields shared by the kernel tests (CPU shim and real GPU)."""

import numpy as np

from pfsim.backend import Backend
from pfsim.grid import Grid, GridConfig
from pfsim.models.allen_cahn import AllenCahn, AllenCahnParams
from pfsim.models.cahn_hilliard import CahnHilliard, CahnHilliardParams

# Unequal spacings everywhere; node counts on purpose not multiples of 256 except the 512s,
# so the kernels' bounds check on the last block is exercised.
GRIDS = {
    "2d-periodic": dict(shape=[37, 23], spacing=[0.7, 1.3]),
    "2d-noflux": dict(shape=[32, 16], spacing=[1.0, 0.6], boundaries={"x": "no_flux", "y": "no_flux"}),
    "2d-mixed": dict(shape=[20, 13], spacing=[0.9, 1.2],
                     boundaries={"y": {"low": {"dirichlet": 0.4}, "high": {"dirichlet": 0.6}}}),
    "3d-periodic": dict(shape=[9, 7, 5], spacing=[0.9, 1.1, 1.3]),
    "3d-noflux": dict(shape=[8, 8, 8], spacing=[1.0, 0.8, 1.2],
                      boundaries={"x": "no_flux", "y": "no_flux", "z": "no_flux"}),
    # two 3D mixes: every pair of axes differs in periodicity in one of them
    "3d-mixed": dict(shape=[10, 7, 6], spacing=[1.1, 0.9, 1.0],
                     boundaries={"y": {"dirichlet": 0.5}, "z": "no_flux"}),
    "3d-mixed-y-periodic": dict(shape=[6, 9, 7], spacing=[0.8, 1.0, 1.2],
                                boundaries={"x": "no_flux", "z": {"dirichlet": 0.45}}),
}

# PFHub BM7's domain [0, 1] x [0, 0.5] (x periodic, y Dirichlet), where its source is not
# negligible, and a shifted no-flux box to exercise the origin arguments.
SOURCE_GRIDS = {
    "bm7": dict(shape=[41, 27], spacing=[1 / 41, 0.5 / 26],
                boundaries={"y": {"low": {"dirichlet": 1.0}, "high": {"dirichlet": 0.0}}}),
    "bm7-shifted": dict(shape=[24, 30], spacing=[0.045, 0.02], origin=[0.1, -0.05],
                        boundaries={"x": "no_flux", "y": "no_flux"}),
}

PRECISIONS = ["float64", "float32"]


def grid(cfg: dict) -> Grid:
    return Grid.from_config(GridConfig(**cfg))


def numpy_backend(precision) -> Backend:
    return Backend("numpy", np.dtype(precision), "cpu")


def cahn_hilliard(g, backend):
    params = CahnHilliardParams(kind="cahn_hilliard", mobility=5.0, gradient_coefficient=2.0, barrier=5.0)
    return CahnHilliard(params, g, backend)


def allen_cahn(g, backend, tilt=0.0, source=False):
    params = AllenCahnParams(kind="allen_cahn", mobility=1.3, gradient_coefficient=4e-4 if source else 0.5,
                             barrier=1.1, tilt=tilt, source={"kind": "pfhub_bm7"} if source else None)
    return AllenCahn(params, g, backend)


def random_field(g, precision, seed, mean=0.5, spread=0.05):
    rng = np.random.default_rng(seed)
    f = mean + spread * rng.standard_normal(g.shape)
    g.apply_dirichlet(f)
    return f.astype(precision)


def assert_close(actual, expected, rtol):
    """Agreement to rtol relative to the largest |expected| (pointwise relative error is
    meaningless where a stencil sum cancels to near zero)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)
