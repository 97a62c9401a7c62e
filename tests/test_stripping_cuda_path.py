"""The stripping model's CUDA code path (elliptic and void kernels, run on the CPU through the
shim in tests/cuda_shim) against its NumPy path, step by step. On a device the same comparison
runs with `-m gpu` in tests/test_gpu.py style; float64 agreement here is to round-off."""

import numpy as np
import pytest

from conftest import CONFIGS
from cuda_shim import harness
from pfsim.backend import Backend
from pfsim.config import load_config
from pfsim.grid import Grid
from pfsim.models import build_model


def run(backend, steps=12):
    cfg, _ = load_config(CONFIGS / "void_stripping.yaml", ["grid.shape=[40,30]", "model.geometry.pits=[]"])
    grid = Grid.from_config(cfg.grid)
    m = build_model(cfg.model, grid, backend, drive=cfg.drive, seed=cfg.seed)
    s = m.initial_state()
    t, dt = 0.0, 1.0
    for _ in range(steps):
        m.euler_step(s, t, dt)
        t += dt
    return m, s, m.observables(s, t)


def test_cuda_path_matches_numpy_path():
    harness.require_gxx()
    # the NumPy path solves with the CUDA path's multigrid CG: the kernels are what is compared
    m_np, s_np, o_np = run(Backend("numpy", np.dtype("float64"), "cpu", elliptic="multigrid"))
    m_cu, s_cu, o_cu = run(harness.ShimBackend("float64"))
    assert o_np["void_volume_fraction"] > 0  # voids in play
    for name in ("xi", "supersaturation", "potential"):
        scale = float(np.abs(s_np[name]).max())
        assert np.max(np.abs(s_cu[name] - s_np[name])) <= 1e-9 * scale, name
    for key, value in o_np.items():
        assert o_cu[key] == pytest.approx(value, rel=1e-8, abs=1e-12), key
