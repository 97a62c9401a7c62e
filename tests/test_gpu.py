"""The CuPy backend against the NumPy one on a real CUDA device (select with -m gpu).

The same comparisons as tests/test_kernels_cpu.py's end-to-end tests, with NVRTC-compiled
kernels; tolerances allow for the GPU's fused multiply-adds.
"""

import pytest

from cuda_shim.cases import (
    GRIDS, PRECISIONS, SOURCE_GRIDS, allen_cahn, assert_close, cahn_hilliard, grid, numpy_backend, random_field,
)
from pfsim.backend import cuda_status, select_backend

_OK, _WHY = cuda_status()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _OK, reason=_WHY)]

RTOL = {"float64": 1e-12, "float32": 1e-4}


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", ["2d-periodic", "2d-mixed", "3d-noflux", "3d-mixed"])
def test_cahn_hilliard(name, precision):
    g = grid(GRIDS[name])
    gpu = select_backend("cupy", precision)
    ref, dev = cahn_hilliard(g, numpy_backend(precision)), cahn_hilliard(g, gpu)
    c = random_field(g, precision, seed=11)
    rtol = RTOL[precision]
    assert_close(gpu.to_host(dev.chemical_potential(gpu.asarray(c))), ref.chemical_potential(c), rtol)

    dt = 0.5 * ref.stability_limit()
    host, device = {"c": c.copy()}, {"c": gpu.asarray(c)}
    for _ in range(100):
        for model, state in ((ref, host), (dev, device)):
            model.euler_step(state, 0.0, dt)
            model.enforce(state, 0.0)
    assert_close(gpu.to_host(device["c"]) - c, host["c"] - c, 10 * rtol)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("name", "tilt", "source"), [
    ("bm7", 0.0, True), ("bm7-shifted", 0.2, True), ("3d-mixed", -0.15, False),
])
def test_allen_cahn_rate(name, tilt, source, precision):
    g = grid((SOURCE_GRIDS if source else GRIDS)[name])
    gpu = select_backend("cupy", precision)
    ref, dev = allen_cahn(g, numpy_backend(precision), tilt, source), allen_cahn(g, gpu, tilt, source)
    eta = random_field(g, precision, seed=12, spread=0.3)
    got = gpu.to_host(dev.rate({"eta": gpu.asarray(eta)}, 1.7)["eta"])
    assert_close(got, ref.rate({"eta": eta}, 1.7)["eta"], RTOL[precision])


@pytest.mark.parametrize("precision", PRECISIONS)
def test_ensemble_and_fused_steps(precision):
    """Three members stacked (pfsim.ensemble), stepped by the fused kernels on the device, against
    each member's NumPy step; Allen-Cahn with a tilt on a Dirichlet-walled grid."""
    import numpy as np

    from pfsim.ensemble import EnsembleModel

    g = grid(GRIDS["2d-mixed"])
    gpu = select_backend("cupy", precision)
    for make, field in ((cahn_hilliard, "c"), (lambda g_, b: allen_cahn(g_, b, -0.15, False), "eta")):
        ref, dev = make(g, numpy_backend(precision)), EnsembleModel([make(g, gpu)] * 3)
        start = np.stack([random_field(g, precision, seed=s) for s in range(3)])
        dt, device = 0.4 * ref.stability_limit(), {field: gpu.asarray(start)}
        for _ in range(50):
            dev.euler_step(device, 0.0, dt)
            dev.enforce(device, 0.0)
        got = gpu.to_host(device[field])
        for i in range(3):
            host = {field: start[i].copy()}
            for _ in range(50):
                ref.euler_step(host, 0.0, dt)
                ref.enforce(host, 0.0)
            assert_close(got[i] - start[i], host[field] - start[i], 10 * RTOL[precision])


@pytest.mark.parametrize("scenario,overrides,stop", [
    # the reduced creep model: host and device then run the same arithmetic; the solved flow (direct
    # on the host, multigrid on the device, equal to their tolerance): test_solved_creep_on_the_device
    ("void_stripping.yaml", ["grid.shape=[40,30]", "model.creep.model=reduced"], 60.0),
    ("filament_plating.yaml", ["grid.shape=[24,40]"], 20.0),
    ("cycling.yaml", ["grid.shape=[32,40]"], 500.0),
])
def test_interface_models_on_the_device(scenario, overrides, stop):
    """The stripping, plating and cycling models, a few steps on CuPy against NumPy (float64)."""
    import numpy as np

    from conftest import CONFIGS
    from pfsim.config import load_config
    from pfsim.grid import Grid
    from pfsim.models import build_model

    cfg, _ = load_config(CONFIGS / scenario, overrides)
    out = []
    for be in (numpy_backend("float64"), select_backend("cupy", "float64")):
        m = build_model(cfg.model, Grid.from_config(cfg.grid), be, drive=cfg.drive, seed=cfg.seed)
        s, t, dt = m.initial_state(), 0.0, 0.5 * m.stability_limit()
        while t < stop - 1e-9:
            h = min(dt, stop - t)
            m.euler_step(s, t, h)
            t += h
        out.append(({k: be.to_host(s[k]) for k in m.fields}, m.observables(s, t)))
    (f_np, o_np), (f_cu, o_cu) = out
    for name in f_np:
        scale = max(float(np.abs(f_np[name]).max()), 1e-30)
        assert float(np.abs(f_cu[name] - f_np[name]).max()) <= 1e-7 * scale, name
    for key, value in o_np.items():
        assert o_cu[key] == pytest.approx(value, rel=1e-6, abs=1e-12, nan_ok=True), key


@pytest.mark.parametrize("ndim", [2, 3])
def test_creep_flow_multigrid_on_the_device(ndim):
    """The solved creep flow's matrix-free multigrid method on CuPy against the same method on
    NumPy (and against SuperLU on the host): a rigid base with a step, a void with a
    phase-field rim, the collector a traction wall, m = 5."""
    import numpy as np

    from pfsim.grid import Grid
    from pfsim.solvers.creep_flow import CreepFlow, CreepSolver, Material, Wall, to_host

    shape = (24, 16) if ndim == 2 else (10, 8, 12)
    h, p = 0.25e-6, 2e5
    periodic = [True] + [False] * (ndim - 1)
    sides = tuple(("periodic", "periodic") if q else ("no_flux", "no_flux") for q in periodic)
    g = Grid(shape, (h,) * ndim, (0.0,) * ndim, sides)
    solid = np.zeros(shape, bool)
    solid[..., :4] = True
    solid[(slice(2, 5),) + (slice(None),) * (ndim - 2) + (4,)] = True
    X = np.meshgrid(*[np.arange(n) * h for n in shape], indexing="ij")
    centre = [n * h / 2 for n in shape[:-1]] + [7.5 * h]
    r = np.sqrt(sum((x - c) ** 2 for x, c in zip(X, centre)))
    xi = np.clip((r - 2.2 * h) / (1.5 * h), 0.0, 1.0)
    walls = {(ndim - 1, 0): Wall("noslip"), (ndim - 1, 1): Wall("traction", -p)}
    for a in range(1, ndim - 1):
        walls[(a, 0)] = walls[(a, 1)] = Wall("freeslip")
    flow, mat = CreepFlow(g, walls, solid=solid), Material(5, 1e6, 0.01)
    device = CreepSolver(flow, mat, stress_scale=p, regularisation=1e-5, backend=select_backend("cupy", "float32"))
    assert device.method == "multigrid"  # auto on a GPU backend, in float64 whatever the fields use
    got = device.solve(xi, rtol=1e-8)
    assert got.converged, got.history
    for method in ("multigrid", "direct"):
        ref = CreepSolver(flow, mat, stress_scale=p, regularisation=1e-5, method=method).solve(xi, rtol=1e-8)
        umax = max(float(np.abs(v).max()) for v in ref.velocity)
        for a in range(ndim):
            assert float(np.abs(to_host(got.velocity[a]) - ref.velocity[a]).max()) <= 1e-6 * umax, (method, a)
        assert float(np.abs(to_host(got.pressure) - ref.pressure)[~solid].max()) <= 1e-6 * p, method


def test_solved_creep_on_the_device():
    """The stripping model with the solved flow (`auto`: multigrid on the device, SuperLU on the
    host) and a planted void at 3 MPa, three steps on CuPy against NumPy."""
    import numpy as np

    from conftest import CONFIGS, advance
    from pfsim.config import load_config
    from pfsim.grid import Grid
    from pfsim.models import build_model

    cfg, _ = load_config(CONFIGS / "void_stripping.yaml", ["grid.shape=[40,30]", "model.geometry.pits=[]",
                                                           "model.creep.model=solved", "drive.stack_pressure=3 MPa",
                                                           "model.nucleation.enabled=false"])
    out = []
    for be in (numpy_backend("float64"), select_backend("cupy", "float64")):
        m = build_model(cfg.model, Grid.from_config(cfg.grid), be, drive=cfg.drive, seed=cfg.seed)
        s = m.initial_state()
        X, Y = m.grid.mesh()
        void = ((X - 5e-6) ** 2 + (Y - 4.6e-6) ** 2) < (0.8e-6) ** 2
        xi = be.to_host(s["xi"])
        xi[void & be.to_host(m.li_side)] = 0.0
        s["xi"][...] = be.asarray(xi)
        m._set(s, "initial_li", m.li_content(s))
        t = advance(m, s, 1.0, 3)
        out.append((be.to_host(s["xi"]), m.observables(s, t), m._creep["solver"].method))
    (xi_np, o_np, method_np), (xi_cu, o_cu, method_cu) = out
    assert (method_np, method_cu) == ("direct", "multigrid")
    assert float(np.abs(xi_cu - xi_np).max()) <= 1e-6
    for key in ("void_volume_fraction", "contact_fraction", "cell_voltage"):
        assert o_cu[key] == pytest.approx(o_np[key], rel=1e-6), key
    assert o_cu["li_site_balance_error"] < 1e-8
