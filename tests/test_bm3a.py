"""PFHub BM3a (dendritic growth, Karma-Rappel anisotropic Allen-Cahn + heat) with
pfsim.models.anisotropic_allen_cahn_heat and configs/pfhub/bm3a.yaml.

configs/pfhub/bm3a.yaml is the dx = 0.4 run of the converged criteria (2401^2 nodes, 750 000
steps): a GPU-sized run, only validated here. What a CPU checks:
- the anisotropic stencil: the 5-point Laplacian when eps_4 = 0, second-order convergence of
  div(J) to the continuum, and the x <-> y mirror symmetry of the quarter dendrite;
- the same-discretisation sanity check of shared/pfhub/README.md (explicit Euler, dx = 1,
  dt = 0.01, against MEMPHIS) at early times on a smaller box: [0, 120]^2 to t = 30 (default)
  and [0, 200]^2 to t = 150 (slow). The far field of U has not moved at the box's walls by
  then, so F of the full [0, 960]^2 box is the box's F plus the uniform liquid's density times
  the missing area, and the solid fraction is the solid area / 960^2 (the uploads' normalisation);
- the CUDA kernel through the CPU shim against its NumPy twin: the rates, and 1000 steps
  (PFHub's NumPy/CUDA criterion: 1e-9 relative).
"""

import csv

import numpy as np
import pytest

from conftest import CONFIGS
from pfsim.config import check_consistency, load_config
from pfsim.kernels import anisotropic_allen_cahn_heat as aah

BM3A = CONFIGS / "pfhub" / "bm3a.yaml"
BOX = 960.0


def model(sets=()):
    cfg, _ = load_config(BM3A, list(sets), check=False)
    return check_consistency(cfg)[1]


def small(n, h=1.0, sets=()):
    return model([f"grid.shape=[{n},{n}]", f"grid.spacing={h}", *sets])


def test_config_is_the_dx_04_run():
    cfg, _ = load_config(BM3A)
    assert cfg.grid.shape == [2401, 2401] and cfg.grid.spacing == 0.4 and cfg.time.stop == 1500.0
    assert cfg.model.kind == "anisotropic_allen_cahn_heat" and cfg.model.fold == 4 and cfg.model.anisotropy == 0.05
    assert abs(cfg.model.lam - 10 / 0.6267) < 1e-12


def test_uniform_liquid_free_energy():
    """A uniform liquid at U = -0.3 has f = 2.3030 per unit area: F = 2 122 496 on 960^2 (the spec's numbers)."""
    m = small(9)
    phi, u = np.full(m.grid.shape, -1.0), np.full(m.grid.shape, -0.3)
    f = m.free_energy_density(phi, u)
    assert np.allclose(f, 2.3030, atol=1e-4)
    assert abs(f[0, 0] * BOX**2 - 2122496) < 1.0


def test_isotropic_limit_is_the_5_point_laplacian():
    from pfsim import stencil

    m = small(24, sets=["model.anisotropy=0.0"])
    phi = np.random.default_rng(0).uniform(-1, 1, m.grid.shape)
    assert np.allclose(divergence(m, phi), stencil.laplacian(phi, m.grid), rtol=0, atol=1e-12)


def smooth_phi(x, y):
    """A wavy front whose gradient vanishes nowhere (at a zero gradient theta, and with it div J, is undefined)."""
    return np.tanh(0.3 * (x - 8) + 0.15 * (y - 8) + 0.4 * np.sin(0.4 * y))


def divergence(m, phi):
    """div(J) by the face fluxes (pfsim/kernels/anisotropic_allen_cahn_heat.py)."""
    return aah.divergence_numpy(m.backend, m.grid, m.params, phi)


def continuum_divergence(m, x, y, d=1e-4):
    """div(J) from the analytic gradient of smooth_phi, differentiated by central differences of step d."""
    def grad(x, y):
        s = 1 - smooth_phi(x, y) ** 2
        return 0.3 * s, (0.15 + 0.16 * np.cos(0.4 * y)) * s

    def flux(x, y):
        gx, gy = grad(x, y)
        theta = np.arctan2(gy, gx)
        p = m.params
        w = p.interface_width * (1 + p.anisotropy * np.cos(p.fold * theta))
        ws = -p.interface_width * p.anisotropy * p.fold * np.sin(p.fold * theta)
        return w * w * gx - w * ws * gy, w * w * gy + w * ws * gx

    return (flux(x + d, y)[0] - flux(x - d, y)[0]) / (2 * d) + (flux(x, y + d)[1] - flux(x, y - d)[1]) / (2 * d)


def test_anisotropic_divergence_is_second_order():
    """On [0, 16]^2, at the nodes of [4, 12]^2 (away from the walls' mirror rule)."""
    errors = []
    for n in (17, 33, 65):
        h = 16.0 / (n - 1)
        m = small(n, h)
        x, y = np.broadcast_arrays(*m.grid.mesh())
        inner = (x >= 4) & (x <= 12) & (y >= 4) & (y <= 12)
        errors.append(np.abs(divergence(m, smooth_phi(x, y)) - continuum_divergence(m, x, y))[inner].max())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print(f"BM3a stencil: max |div J - continuum| = {errors[0]:.3e} (h = 1), {errors[1]:.3e} (h = 0.5), "
          f"{errors[2]:.3e} (h = 0.25): orders {orders[0]:.2f}, {orders[1]:.2f}")
    assert np.all(np.abs(orders - 2) < 0.2), errors


def test_quarter_dendrite_is_mirror_symmetric():
    m = small(48)
    state = m.initial_state()
    for _ in range(200):
        m.euler_step(state, 0.0, 0.01)
    for name in ("phi", "u"):
        assert np.abs(state[name] - state[name].T).max() < 1e-12


def memphis(pfhub_data):
    def read(name, column):
        with open(pfhub_data / f"bm3a_{name}_memphis.csv") as f:
            return {float(r["time"]): float(r[column]) for r in csv.DictReader(f)}

    return read("tip_position", "tip_position"), read("solid_fraction", "solid_fraction"), read("free_energy", "free_energy")


def sanity_check(pfhub_data, n, stop, times):
    """dx = 1, dt = 0.01 on [0, n - 1]^2 against MEMPHIS: (relative differences of tip, fraction and
    excess free energy over the uniform liquid) at `times`."""
    m = small(n)
    state = m.initial_state()
    dt = 0.01
    steps = {int(round(t / dt)): t for t in times}
    tip_ref, fraction_ref, energy_ref = memphis(pfhub_data)
    side = (n - 1) * m.grid.spacing[0]
    liquid = float(m.free_energy_density(np.full((3, 3), -1.0), np.full((3, 3), -0.3))[1, 1])
    out = {}
    for k in range(1, int(round(stop / dt)) + 1):
        m.euler_step(state, 0.0, dt)
        if k in steps:
            t = steps[k]
            obs = m.observables(state, t)
            F = obs["free_energy"] + liquid * (BOX**2 - side**2)
            excess, excess_ref = F - liquid * BOX**2, energy_ref[t] - liquid * BOX**2
            out[t] = (obs["tip_position"] / tip_ref[t] - 1 if t in tip_ref else float("nan"),
                      obs["solid_area"] / BOX**2 / fraction_ref[t] - 1,
                      excess / excess_ref - 1, F / energy_ref[t] - 1)
    # the far field has hardly moved at the box's walls
    moved = max(np.abs(state["u"][-1, :] + 0.3).max(), np.abs(state["u"][:, -1] + 0.3).max())
    print(f"BM3a box [0, {side:g}]^2: U at its far walls moved by {moved:.1e} at t = {stop:g}")
    assert moved < 1e-3
    return out


def report(out):
    for t, (tip, fraction, excess, F) in sorted(out.items()):
        print(f"BM3a dx = 1 vs MEMPHIS, t = {t:g}: tip {tip:+.2e}, solid fraction {fraction:+.2e}, "
              f"F - F_liquid {excess:+.2e}, F {F:+.2e}")


def test_bm3a_dx1_sanity_check_to_t30(pfhub_data):
    out = sanity_check(pfhub_data, 121, 30.0, [15.0, 30.0])
    report(out)
    tip, fraction, excess, _ = out[30.0]
    assert abs(tip) < 0.05 and abs(fraction) < 0.05 and abs(excess) < 0.05


@pytest.mark.slow
def test_bm3a_dx1_sanity_check_to_t150(pfhub_data):
    out = sanity_check(pfhub_data, 201, 150.0, [30.0, 60.0, 90.0, 120.0, 150.0])
    report(out)
    for t in (60.0, 90.0, 120.0, 150.0):
        tip, fraction, excess, _ = out[t]
        assert abs(tip) < 0.05 and abs(fraction) < 0.05 and abs(excess) < 0.05, (t, out[t])


def test_bad_settings_are_refused():
    from pfsim.errors import ConfigError

    with pytest.raises(ConfigError, match="the interface stiffness turns negative"):
        load_config(BM3A, ["model.anisotropy=0.07"])
    with pytest.raises(ConfigError, match="defined on 2D grids only"):
        load_config(BM3A, ["grid.shape=[8,8,8]", "model.initial.phi={kind: constant, value: -1}"])
    with pytest.raises(ConfigError, match="model.initial: no initial condition for u"):
        load_config(BM3A, ["model.initial={phi: {kind: constant, value: -1}}"])


# --- the CUDA kernels (kernels/anisotropic_allen_cahn_heat.cu) through the CPU shim -------------
SHIM_GRIDS = {
    "noflux": dict(shape=[32, 21], spacing=[1.0, 0.8], boundaries={"x": "no_flux", "y": "no_flux"}),
    "periodic": dict(shape=[19, 26], spacing=[0.9, 1.1]),
}
SHIM_PARAMS = {"bm3a": [], "fold6-rotated": ["model.fold=6", "model.anisotropy=0.02", "model.orientation=0.3"]}


def shim_models(name, variant, precision):
    import shutil

    from cuda_shim import harness
    from pfsim.backend import Backend
    from pfsim.grid import Grid, GridConfig

    if shutil.which("g++") is None:
        pytest.skip("g++ is not on PATH")
    cfg, _ = load_config(BM3A, SHIM_PARAMS[variant], check=False)
    g = Grid.from_config(GridConfig(**SHIM_GRIDS[name]))
    make = lambda be: type(model())(cfg.model, g, be)  # noqa: E731
    return make(Backend("numpy", np.dtype(precision), "cpu")), make(harness.ShimBackend(precision))


def disc_state(m, precision, seed):
    """A tanh disc of phi with noise, U noisy about -0.3."""
    rng = np.random.default_rng(seed)
    x, y = m.grid.mesh()
    r = np.sqrt((x - 5.0) ** 2 + (y - 3.0) ** 2)
    phi = -np.tanh((r - 6.0) / np.sqrt(2)) + 0.05 * rng.standard_normal(m.grid.shape)
    u = -0.3 + 0.05 * rng.standard_normal(m.grid.shape)
    return {"phi": phi.astype(precision), "u": u.astype(precision)}


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("variant", SHIM_PARAMS)
@pytest.mark.parametrize("name", SHIM_GRIDS)
def test_cuda_rate_matches_numpy(name, variant, precision):
    from cuda_shim.cases import assert_close

    ref, shim = shim_models(name, variant, precision)
    state = disc_state(ref, precision, 3)
    rtol = {"float64": 1e-12, "float32": 2e-5}[precision]
    a, b = shim.rate(state, 0.0), ref.rate(state, 0.0)
    for field in ("phi", "u"):
        assert_close(a[field], b[field], rtol)


@pytest.mark.parametrize("name", SHIM_GRIDS)
def test_cuda_path_matches_numpy_over_1000_steps(name):
    """PFHub's criterion: NumPy and CUDA agree to 1e-9 relative over the first 1000 steps."""
    ref, shim = shim_models(name, "bm3a", "float64")
    start = disc_state(ref, "float64", 4)
    states = [{k: v.copy() for k, v in start.items()} for _ in range(2)]
    dt = 0.5 * ref.stability_limit()
    for _ in range(1000):
        for m, state in zip((ref, shim), states):
            m.euler_step(state, 0.0, dt)
    for field in ("phi", "u"):
        scale = np.abs(states[0][field]).max()
        diff = np.abs(states[1][field] - states[0][field]).max() / scale
        print(f"BM3a CUDA path (shim) vs NumPy after 1000 steps, {name}: {field} {diff:.1e}")
        assert diff <= 1e-9
    assert np.abs(states[0]["phi"] - start["phi"]).max() > 0.01  # it evolved


def test_resume_is_exact(in_tmp):
    import xarray as xr

    from conftest import run_cli

    sets = ["--set", "grid.shape=[41,41]", "--set", "grid.spacing=1.0", "--set", "time.stop=1.0",
            "--set", "output.fields_every=0.25", "--set", "output.observables_every=0.05",
            "--set", "checkpoint.every=0.25"]
    assert run_cli("run", BM3A, "-o", "full.zarr", *sets) == 0
    assert run_cli("run", BM3A, "-o", "part.zarr", *sets, "--set", "time.max_steps=50") == 0
    assert run_cli("run", "--resume", "part.zarr", "--set", "time.max_steps=null") == 0
    a, b = xr.open_zarr("full.zarr"), xr.open_zarr("part.zarr")
    assert a.sizes["time"] == b.sizes["time"] == 5
    for name in ("phi", "u", "free_energy", "tip_position"):
        assert np.array_equal(a[name].values, b[name].values), name


def test_time_integrators_converge_at_their_orders():
    """Forward Euler (order 1) and RK4 (order 4) on a growing disc, against RK4 at a quarter step."""
    from pfsim.simulation import Simulation

    def run(integrator, dt):
        m = small(32, sets=["model.initial.phi={kind: spheres, spheres: [{centre: [0.0, 0.0], radius: 6.0}], "
                            "width: 1.4142135623730951, inside: 1.0, outside: -1.0}"])
        state = m.initial_state()
        Simulation(m, state, 1.0, dt, integrator).run()
        return state["phi"]

    reference = run("rk4", 0.0025)
    euler = [np.abs(run("euler", dt) - reference).max() for dt in (0.02, 0.01)]
    rk4 = [np.abs(run("rk4", dt) - reference).max() for dt in (0.02, 0.01)]
    orders = np.log2(euler[0] / euler[1]), np.log2(rk4[0] / rk4[1])
    print(f"BM3a time orders: Euler {orders[0]:.2f} ({euler}), RK4 {orders[1]:.2f} ({rk4})")
    assert abs(orders[0] - 1) < 0.1 and abs(orders[1] - 4) < 0.3
