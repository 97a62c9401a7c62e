"""The CUDA kernels, run on the CPU through tests/cuda_shim, against their NumPy twins.

Two levels: each kernel launched directly with the arguments the model passes, and the
models' own CUDA code paths (ShimBackend) against their NumPy paths, end to end.
"""

import shutil

import numpy as np
import pytest

from cuda_shim import harness
from cuda_shim.cases import (
    GRIDS, PRECISIONS, SOURCE_GRIDS, allen_cahn, assert_close, cahn_hilliard, grid, numpy_backend, random_field,
)
from pfsim.backend import kernel_dir
from pfsim import kernels
from pfsim.kernels import allen_cahn as ac
from pfsim.kernels import cahn_hilliard as ch
from pfsim.models.allen_cahn import ManufacturedSource

harness.require_gxx()

RTOL = {"float64": 1e-12, "float32": 1e-5}
REAL = {"float64": "double", "float32": "float"}
# (tilt, source) variants of Allen-Cahn
AC_CASES = [(0.0, False), (-0.15, False)]
AC_SOURCE_CASES = [(0.0, True), (0.2, True)]


def _ac_params():
    return [pytest.param(g, tilt, src, id=f"{g}-tilt{tilt}-{'src' if src else 'nosrc'}")
            for g in GRIDS for tilt, src in AC_CASES] + [
        pytest.param(g, tilt, src, id=f"{g}-tilt{tilt}-src") for g in SOURCE_GRIDS for tilt, src in AC_SOURCE_CASES
    ]


# --- kernels launched directly -----------------------------------------------------------
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", GRIDS)
def test_cahn_hilliard_kernels(name, precision):
    g = grid(GRIDS[name])
    model = cahn_hilliard(g, numpy_backend(precision))
    p, s, real, n = model.params, model.backend.scalar, REAL[precision], g.size
    c = random_field(g, precision, seed=1)
    grid_args = kernels.grid_args(model.backend, model.grid)

    mu = np.full_like(c, np.nan)
    args = (c, mu) + grid_args + (s(p.barrier), s(p.c_alpha), s(p.c_beta), s(p.gradient_coefficient))
    harness.launch("cahn_hilliard.cu", "ch_chemical_potential", n, args, real)
    mu_ref = ch.chemical_potential_numpy(model.backend, g, p, c, {})
    assert_close(mu, mu_ref, RTOL[precision])

    rate = np.full_like(c, np.nan)
    harness.launch("cahn_hilliard.cu", "ch_rate", n, (mu_ref, rate) + grid_args + (s(p.mobility),), real)
    assert_close(rate, model.rate({"c": c}, 0.0)["c"], RTOL[precision])

    dt = 0.5 * model.stability_limit()
    c_new, state = c.copy(), {"c": c.copy()}
    harness.launch("cahn_hilliard.cu", "ch_euler_update", n, (c_new, mu_ref) + grid_args + (s(p.mobility), s(dt)), real)
    model.euler_step(state, 0.0, dt)
    assert_close(c_new - c, state["c"] - c, RTOL[precision])  # the increments, not swamped by c

    # the fused step: the same operations as ch_chemical_potential + ch_euler_update, so the same bits
    two = c.copy()
    mu = np.full_like(c, np.nan)
    harness.launch("cahn_hilliard.cu", "ch_chemical_potential", n, (two, mu) + grid_args + (
        s(p.barrier), s(p.c_alpha), s(p.c_beta), s(p.gradient_coefficient)), real)
    harness.launch("cahn_hilliard.cu", "ch_euler_update", n, (two, mu) + grid_args + (s(p.mobility), s(dt)), real)
    fused = np.full_like(c, np.nan)
    harness.launch("cahn_hilliard.cu", "ch_step_fused", n, (c, fused) + grid_args + (
        s(p.barrier), s(p.c_alpha), s(p.c_beta), s(p.gradient_coefficient), s(p.mobility), s(dt)), real)
    np.testing.assert_array_equal(fused, two)
    assert_close(fused - c, state["c"] - c, RTOL[precision])


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("name", "tilt", "source"), _ac_params())
def test_allen_cahn_kernel(name, tilt, source, precision):
    g = grid((SOURCE_GRIDS if source else GRIDS)[name])
    model = allen_cahn(g, numpy_backend(precision), tilt, source)
    p, s, t = model.params, model.backend.scalar, 2.5
    src = p.source or ManufacturedSource(kind="pfhub_bm7")  # the kernel takes the constants regardless
    eta = random_field(g, precision, seed=2, spread=0.3)

    rate = np.full_like(eta, np.nan)
    args = (eta, rate) + kernels.grid_args(model.backend, model.grid) + (
        s(p.mobility), s(p.barrier), s(p.tilt), s(p.gradient_coefficient), np.int32(source),
        s(g.origin[0]), s(g.origin[1]), s(g.spacing[0]), s(g.spacing[1]), s(t),
        s(src.A1), s(src.B1), s(src.A2), s(src.B2), s(src.C2),
    )
    harness.launch("allen_cahn.cu", "ac_rate", g.size, args, REAL[precision])
    assert_close(rate, ac.rate_numpy(model.backend, g, p, eta, t), RTOL[precision])

    dt = 0.5 * model.stability_limit()
    eta_new = np.full_like(eta, np.nan)
    harness.launch("allen_cahn.cu", "ac_euler_update", g.size, (eta, eta_new) + args[2:] + (s(dt),), REAL[precision])
    np.testing.assert_array_equal(eta_new, eta + dt * rate)  # eta + (dt rate), as the NumPy step


def test_harness_rejects_wrong_argument_types():
    """CuPy would pass these with the wrong width; the shim refuses them."""
    g = grid(GRIDS["2d-periodic"])
    model = cahn_hilliard(g, numpy_backend("float64"))
    c = random_field(g, "float64", seed=3)
    good = (c, np.empty_like(c)) + kernels.grid_args(model.backend, model.grid) + (np.float64(5.0),)
    harness.launch("cahn_hilliard.cu", "ch_rate", g.size, good)
    for i, bad in [(2, 37), (6, 1.0), (9, np.float32(5.0)), (1, c.astype(np.float32))]:
        with pytest.raises(TypeError):
            harness.launch("cahn_hilliard.cu", "ch_rate", g.size, good[:i] + (bad,) + good[i + 1:])
    with pytest.raises(TypeError):
        harness.launch("cahn_hilliard.cu", "ch_rate", g.size, good[:-1])


def test_harness_catches_a_missing_bounds_check(tmp_path, monkeypatch):
    shutil.copy(kernel_dir() / "stencil.cuh", tmp_path)
    (tmp_path / "no_bounds_check.cu").write_text(
        '#include "stencil.cuh"\n'
        'extern "C" __global__ void fill(real* f, real v) { f[blockIdx.x * blockDim.x + threadIdx.x] = v; }\n'
    )
    monkeypatch.setenv("PFSIM_KERNEL_DIR", str(tmp_path))
    f = np.zeros(300)
    with pytest.raises(AssertionError, match="bounds check"):
        harness.launch("no_bounds_check.cu", "fill", f.size, (f, np.float64(1.0)))
    assert (f == 0).all()  # nothing copied back from a failed launch


# --- the models' CUDA code paths, end to end ---------------------------------------------
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", GRIDS)
def test_cahn_hilliard_cuda_path(name, precision):
    g = grid(GRIDS[name])
    ref, shim = (cahn_hilliard(g, b) for b in (numpy_backend(precision), harness.ShimBackend(precision)))
    c = random_field(g, precision, seed=4)
    rtol = RTOL[precision]
    assert_close(*(ch.chemical_potential(m.backend, g, m.params, c, m.scratch) for m in (shim, ref)), rtol)
    assert_close(shim.rate({"c": c}, 0.0)["c"], ref.rate({"c": c}, 0.0)["c"], rtol)

    dt = 0.5 * ref.stability_limit()
    states = [{"c": c.copy()}, {"c": c.copy()}]
    for _ in range(200):
        for model, state in zip((ref, shim), states):
            model.euler_step(state, 0.0, dt)
            model.enforce(state, 0.0)
    assert_close(states[1]["c"] - c, states[0]["c"] - c, 10 * rtol)  # 200 steps of rounding
    assert not np.allclose(states[0]["c"], c)  # the run did evolve


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("name", "tilt", "source"), _ac_params())
def test_allen_cahn_cuda_path(name, tilt, source, precision):
    g = grid((SOURCE_GRIDS if source else GRIDS)[name])
    ref, shim = (allen_cahn(g, b, tilt, source) for b in (numpy_backend(precision), harness.ShimBackend(precision)))
    eta = random_field(g, precision, seed=5, spread=0.3)
    rtol = RTOL[precision]
    assert_close(shim.rate({"eta": eta}, 1.7)["eta"], ref.rate({"eta": eta}, 1.7)["eta"], rtol)

    dt, t = 0.5 * ref.stability_limit(), 0.0
    states = [{"eta": eta.copy()}, {"eta": eta.copy()}]
    for _ in range(50):
        for model, state in zip((ref, shim), states):
            model.euler_step(state, t, dt)
            model.enforce(state, t + dt)
        t += dt
    assert_close(states[1]["eta"] - eta, states[0]["eta"] - eta, 10 * rtol)
