"""pfsim.kernels.numba_steps (the optional `cpu_kernels: numba` steps) against the NumPy forms, the
reference: the same bits in float64 (the loops keep the NumPy order of operations), within a
unit of rounding in float32 (Numba evaluates the float32 steps' constants in float64)."""

import numpy as np
import pytest

from pfsim.kernels import numba_steps as numba_kernels
from pfsim.backend import Backend
from pfsim.bench import cases

pytestmark = pytest.mark.skipif(not numba_kernels.available(), reason="Numba is not installed (pfsim[cpu-fast])")

SHAPES = [(64, 48), (9, 7), (20, 30, 17), (6, 5, 4)]
MODELS = {"allen_cahn": cases.allen_cahn, "cahn_hilliard": cases.cahn_hilliard}


def bounded(make):
    """The model of `make` on a grid bounded on its last axis, spacings not 1 (so every
    neighbour table and coefficient is exercised)."""
    def build(be, shape):
        model, state = make(be, shape)
        model.grid = cases.grid(shape, spacing=tuple(0.7 + 0.2 * a for a in range(len(shape))), bounded_last=True)
        return model, state
    return build


MODELS |= {f"{name}-bounded": bounded(make) for name, make in MODELS.items()}


def steps(make, shape, precision, kernels, n=4):
    be = Backend("numpy", np.dtype(precision), "cpu", cpu_kernels=kernels)
    model, state = make(be, shape)
    dt = 0.2 * model.stability_limit()
    for _ in range(n):
        model.euler_step(state, 0.0, dt)
    return state[model.fields[0]]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("model", MODELS)
def test_float64_steps_equal_numpy_to_the_bit(model, shape):
    assert np.array_equal(steps(MODELS[model], shape, "float64", "numba"), steps(MODELS[model], shape, "float64", "numpy"))


@pytest.mark.parametrize("model", MODELS)
def test_float32_steps_within_rounding(model):
    a = steps(MODELS[model], (40, 36), "float32", "numba")
    b = steps(MODELS[model], (40, 36), "float32", "numpy")
    assert np.abs(a - b).max() <= 4 * np.finfo(np.float32).eps


def test_bounded_axes_follow_the_mirror_rule():
    """Neighbour tables: wrap on periodic axes, the first interior node on bounded ones."""
    up, down = numba_kernels._neighbours(5, periodic=False)
    assert list(up) == [1, 2, 3, 4, 3] and list(down) == [1, 0, 1, 2, 3]
    up, down = numba_kernels._neighbours(5, periodic=True)
    assert list(up) == [1, 2, 3, 4, 0] and list(down) == [4, 0, 1, 2, 3]
