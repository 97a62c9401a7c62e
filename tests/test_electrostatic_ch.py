"""Cahn-Hilliard with electrostatics (pfsim.models.cahn_hilliard_electrostatic): the checks of
docs/generic_models.md, section 1.

- linear stability: a small Fourier mode of c about c0 = (c_alpha + c_beta)/2 on a periodic grid
  grows or decays at omega(q) = -M q^2 (f''(c0) + kappa q^2) - M k^2 / eps (derived there);
  the forward-Euler amplitude equals (1 + dt omega_h)^n with the 5-point eigenvalue q_h^2 to
  the solver's tolerance, and the measured rate is within 2 % of the continuum omega(q) (h = 0.5,
  q h <= 0.25);
- the Poisson solve with a Fourier mode on a Dirichlet wall against the exact sinh / cosh profiles;
- the energy bookkeeping: the derivative of the electrostatic energy along any dc is k Phi
  (which fixes the 1/2 on the charge's own energy);
- conservation of c to 1e-12 with mixed walls, and a free energy that never increases.
"""

import numpy as np
import pytest

from conftest import run_cli
from pfsim.backend import select_backend
from pfsim.grid import Grid, GridConfig
from pfsim.models import MODELS

Params, Model = MODELS["cahn_hilliard_electrostatic"]
KIND = "cahn_hilliard_electrostatic"


def grid(shape, h, x="periodic", y="periodic"):
    return Grid.from_config(GridConfig(shape=shape, spacing=h, boundaries={"x": x, "y": y}))


def model(g, **kw):
    base = dict(kind=KIND, mobility=1.0, gradient_coefficient=1.0, barrier=5.0, charge=0.1, permittivity=0.1)
    base.update(kw)
    return Model(Params(**base), g, select_backend("numpy"))


def mode_amplitude(m, mode, steps, amplitude=1e-6):
    """(amplitude after `steps` Euler steps / initial, dt) of cos(q x), q = 2 pi mode / L."""
    g = m.grid
    x, y = g.mesh()
    q = 2 * np.pi * mode / (g.shape[0] * g.spacing[0])
    state = {"c": 0.5 + amplitude * np.cos(q * x) + 0 * y, "potential": np.zeros(g.shape)}
    m.enforce(state, 0.0)
    dt = 0.5 * m.stability_limit()
    for _ in range(steps):
        m.euler_step(state, 0.0, dt)
        m.enforce(state, 0.0)
    return 2 * np.mean((state["c"] - 0.5) * np.cos(q * x)) / amplitude, dt


@pytest.mark.parametrize("mode", [1, 3, 5])
def test_growth_rate_of_a_fourier_mode(mode):
    # f''(0.5) = -0.16 rho = -0.8; k^2 / eps = 0.1. Mode 1 grows without the field (omega = +0.0076)
    # and decays with it; mode 5 grows with it.
    m, steps, L = model(grid([128, 4], 0.5)), 3200, 64.0
    ratio, dt = mode_amplitude(m, mode, steps)
    q = 2 * np.pi * mode / L
    fpp, screening = -0.16 * 5.0, 0.1**2 / 0.1
    q2h = 4 * np.sin(q * 0.5 / 2) ** 2 / 0.5**2
    discrete = (1 + dt * (-q2h * (fpp + q2h) - screening)) ** steps
    assert abs(ratio / discrete - 1) < 1e-8, (ratio, discrete)
    measured = np.log(ratio) / (steps * dt)
    omega = -q * q * (fpp + q * q) - screening
    assert abs(measured - omega) <= 0.02 * abs(omega), (measured, omega)
    print(f"mode {mode}: discrete {ratio / discrete - 1:.2e}, continuum {(measured - omega) / abs(omega):.2e}")
    if mode == 1:
        assert -q * q * (fpp + q * q) > 0 > measured  # the field stabilises the long wave
    if mode == 5:
        assert measured > 0


def wall_problem(n, far):
    """Phi on [0, 8] x periodic y with uniform c: Dirichlet V0 + A cos(q y) at x = 0, `far` at x = 8."""
    L = 8.0
    h = L / (n - 1)
    g = grid([n, 2 * (n - 1)], h, x="no_flux")
    q = 2 * np.pi * 2 / (2 * (n - 1) * h)
    V0, A, k, eps, c0 = 0.7, 0.3, 0.5, 2.0, 0.4
    walls = {"x": {"low": {"condition": "dirichlet", "value": V0, "modes": [{"amplitude": A, "wavevector": [0, q]}]},
                   "high": {"condition": far}}}
    m = model(g, charge=k, permittivity=eps, potential_walls=walls)
    phi = m.solve_potential(np.full(g.shape, c0))
    x, y = g.mesh()
    rho = k * c0

    def exact(kq):
        if far == "dirichlet":  # Phi = 0 at x = L
            return rho / (2 * eps) * x * (L - x) + V0 * (1 - x / L) + A * np.cos(q * y) * np.sinh(kq * (L - x)) / np.sinh(kq * L)
        return rho / (2 * eps) * x * (2 * L - x) + V0 + A * np.cos(q * y) * np.cosh(kq * (L - x)) / np.cosh(kq * L)

    # the 5-point scheme's decay rate of the mode: 2 (cosh(kh h) - 1) / h^2 = 4 sin^2(q h / 2) / h^2
    kh = np.arccosh(1 + 2 * np.sin(q * h / 2) ** 2) / h
    return np.abs(phi - exact(kh)).max(), np.abs(phi - exact(q)).max()


def test_dirichlet_wall_mode_matches_the_exact_profile():
    errors = [wall_problem(n, "dirichlet") for n in (33, 65)]
    assert all(discrete < 1e-11 for discrete, _ in errors), errors  # the scheme's own solution
    (_, e33), (_, e65) = errors
    assert e65 < 1e-4 and abs(np.log2(e33 / e65) - 2) < 0.1, errors  # second order to the continuum


def test_neumann_far_wall_converges_to_the_exact_profile():
    e33, e65 = (wall_problem(n, "neumann")[1] for n in (33, 65))
    assert e65 < 1e-4 and e65 < e33 / 3.5, (e33, e65)


def walled_model(neutral=False):
    g = grid([24, 16], 1.0, x="no_flux")
    walls = {} if neutral else {"x": {"low": {"condition": "dirichlet", "value": 0.2, "modes": [
        {"amplitude": 0.1, "wavevector": [0, 2 * np.pi / 16]}]}, "high": {"condition": "neumann"}}}
    return model(g, charge=0.02, potential_walls=walls)


@pytest.mark.parametrize("neutral", [False, True], ids=["walls", "neutral"])
def test_electrostatic_energy_varies_by_k_phi(neutral):
    m = walled_model(neutral)
    rng = np.random.default_rng(1)
    c = 0.5 + 0.05 * rng.standard_normal(m.grid.shape)
    dc = rng.standard_normal(m.grid.shape)
    s = 1e-3
    energy = [m.electrostatic_energy(c + sign * s * dc, m.solve_potential(c + sign * s * dc)) for sign in (1, -1)]
    slope = (energy[0] - energy[1]) / (2 * s)  # exact: the energy is quadratic in c
    phi = m.solve_potential(c)
    if neutral:
        dc = dc - (dc * m.weights).sum() / m.weights.sum()  # the background follows the mean
    expected = float((m.params.charge * phi * dc * m.weights).sum()) * m.grid.node_volume
    assert abs(slope - expected) <= 1e-9 * abs(expected), (slope, expected)


def test_mass_is_conserved_and_free_energy_falls():
    m = walled_model()
    rng = np.random.default_rng(2)
    state = {"c": 0.5 + 0.05 * rng.uniform(-1, 1, m.grid.shape), "potential": np.zeros(m.grid.shape)}
    m.enforce(state, 0.0)
    dt = 0.5 * m.stability_limit()
    obs = [m.observables(state, 0.0)]
    for i in range(300):
        m.euler_step(state, 0.0, dt)
        m.enforce(state, 0.0)
        if i % 10 == 9:
            obs.append(m.observables(state, 0.0))
    mass = np.array([o["mass"] for o in obs])
    F = np.array([o["free_energy"] for o in obs])
    assert np.max(np.abs(mass - mass[0])) / mass[0] <= 1e-12
    assert np.all(np.diff(F) <= 1e-12 * abs(F[0])), F
    assert F[-1] < F[0]
    assert obs[-1]["electrostatic_energy"] != 0.0


CONFIG = """\
name: ch-electrostatic
backend: numpy
grid:
  shape: [24, 16]
  spacing: 1.0
  boundaries: {x: no_flux, y: periodic}
model:
  kind: cahn_hilliard_electrostatic
  mobility: 1.0
  gradient_coefficient: 1.0
  barrier: 5.0
  charge: 0.1
  permittivity: 0.1
  potential_walls:
    x:
      low: {condition: dirichlet, value: 0.2, modes: [{amplitude: 0.1, wavevector: [0, 0.39269908169872414]}]}
initial: {kind: random, mean: 0.5, amplitude: 0.05}
time: {stop: 2.0}
"""


def test_a_run_writes_c_and_the_potential(in_tmp):
    import xarray as xr

    (in_tmp / "es.yaml").write_text(CONFIG)
    assert run_cli("run", "es.yaml", "-o", "es.zarr") == 0
    ds = xr.open_zarr("es.zarr")
    phi = ds.potential.values[-1]
    assert abs(phi[0, 0] - 0.3) < 1e-12 and np.isfinite(phi).all()
    mass = ds.mass.values
    assert np.max(np.abs(mass - mass[0])) / mass[0] <= 1e-12


def test_walls_are_checked():
    g = grid([8, 8], 1.0, x="no_flux")
    with pytest.raises(ValueError, match="potential_walls.y: the grid's axis y is periodic"):
        model(g, potential_walls={"y": {"low": {"condition": "dirichlet"}}})
    with pytest.raises(ValueError, match="value, modes and profile are read on dirichlet walls only"):
        Params(kind=KIND, mobility=1.0, gradient_coefficient=1.0, barrier=1.0, charge=1.0, permittivity=1.0,
               potential_walls={"x": {"low": {"condition": "neumann", "value": 1.0}}})


def test_cuda_path_matches_numpy():
    """The model on the CUDA path (the Cahn-Hilliard kernels through the CPU shim, the Poisson solve by
    the GPU's multigrid CG) against the NumPy path (SuperLU)."""
    import shutil

    if shutil.which("g++") is None:
        pytest.skip("g++ is not on PATH")
    from cuda_shim import harness

    g = grid([24, 16], 1.0, x="no_flux")
    walls = {"x": {"low": {"condition": "dirichlet", "value": 0.2, "modes": [
        {"amplitude": 0.1, "wavevector": [0, 2 * np.pi / 16]}]}, "high": {"condition": "neumann"}}}
    kw = dict(kind=KIND, mobility=1.0, gradient_coefficient=1.0, barrier=5.0, charge=0.02, permittivity=0.1,
              potential_walls=walls)
    ref, shim = (Model(Params(**kw), g, be) for be in (select_backend("numpy"), harness.ShimBackend("float64")))
    rng = np.random.default_rng(3)
    c0 = 0.5 + 0.05 * rng.uniform(-1, 1, g.shape)
    states = [{"c": c0.copy(), "potential": np.zeros(g.shape)} for _ in range(2)]
    dt = 0.5 * ref.stability_limit()
    for m, state in zip((ref, shim), states):
        m.enforce(state, 0.0)
        for _ in range(100):
            m.euler_step(state, 0.0, dt)
            m.enforce(state, 0.0)
    for f in ("c", "potential"):
        diff = np.abs(states[1][f] - states[0][f]).max() / np.abs(states[0][f]).max()
        print(f"electrostatic CH, CUDA path (shim) vs NumPy after 100 steps: {f} {diff:.1e}")
        assert diff < 1e-9


def test_resume_is_exact(in_tmp):
    import xarray as xr

    (in_tmp / "es.yaml").write_text(CONFIG)
    sets = ["--set", "output.fields_every=0.5", "--set", "checkpoint.every=0.5"]
    assert run_cli("run", "es.yaml", "-o", "full.zarr", *sets) == 0
    assert run_cli("run", "es.yaml", "-o", "part.zarr", *sets, "--set", "time.max_steps=100") == 0
    assert run_cli("run", "--resume", "part.zarr", "--set", "time.max_steps=null") == 0
    a, b = xr.open_zarr("full.zarr"), xr.open_zarr("part.zarr")
    assert a.sizes["time"] == b.sizes["time"] == 5
    for name in ("c", "potential", "free_energy", "electrostatic_energy"):
        assert np.array_equal(a[name].values, b[name].values), name


def test_sampled_wall_profile():
    """Samples spread evenly over the wall's nodes and linearly interpolated, added to value and modes."""
    g = grid([9, 7], 0.5, x="no_flux", y="no_flux")
    walls = {"x": {"high": {"condition": "dirichlet", "value": 0.1, "profile": [0.0, 1.0, -2.0],
                            "modes": [{"amplitude": 0.3, "wavevector": [0.0, 1.0]}]}}}
    m = model(g, potential_walls=walls)
    y = g.coords(1)  # 0 .. 3: samples at y = 0, 1.5, 3
    expected = 0.1 + 0.3 * np.cos(y) + np.interp(y, [0.0, 1.5, 3.0], [0.0, 1.0, -2.0])
    np.testing.assert_allclose(m.wall_values[-1], expected, rtol=0, atol=1e-15)
    assert m.held[-1].all() and not m.held[:-1].any()
    phi = m.solve_potential(np.full(g.shape, 0.5))
    np.testing.assert_allclose(phi[-1], expected, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="at least two samples"):
        Params(kind=KIND, mobility=1.0, gradient_coefficient=1.0, barrier=1.0, charge=1.0, permittivity=1.0,
               potential_walls={"x": {"low": {"condition": "dirichlet", "profile": [1.0]}}})


def test_3d_with_a_wall_mode_conserves_mass():
    g = Grid.from_config(GridConfig(shape=[10, 8, 6], spacing=1.0, boundaries={"x": "no_flux", "z": "no_flux"}))
    walls = {"x": {"high": {"condition": "dirichlet", "value": -0.1,
                            "modes": [{"amplitude": 0.2, "wavevector": [0, 2 * np.pi / 8, 0]}]}},
             "z": {"low": {"condition": "dirichlet", "value": 0.05}}}
    m = model(g, charge=0.02, potential_walls=walls)
    rng = np.random.default_rng(5)
    state = {"c": 0.5 + 0.05 * rng.uniform(-1, 1, g.shape), "potential": np.zeros(g.shape)}
    m.enforce(state, 0.0)
    assert abs(state["potential"][-1, 2, 3] - (-0.1 + 0.2 * np.cos(np.pi / 2))) < 1e-15  # x wall (y = 2)
    assert state["potential"][4, 4, 0] == 0.05  # z wall
    mass0 = m.observables(state, 0.0)["mass"]
    dt = 0.5 * m.stability_limit()
    for _ in range(100):
        m.euler_step(state, 0.0, dt)
        m.enforce(state, 0.0)
    assert abs(m.observables(state, 0.0)["mass"] - mass0) / mass0 <= 1e-12


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("shape, spacing, walls", [
    ([21, 13], [1.0, 0.8], {"x": "no_flux", "y": "periodic"}),
    ([7, 6, 9], [1.0, 1.2, 0.9], {"x": "periodic", "y": "no_flux", "z": "no_flux"}),
], ids=["2d", "3d"])
def test_fused_step_kernel_matches_numpy(shape, spacing, walls, precision):
    """kernels/cahn_hilliard_electrostatic.cu's step through the CPU shim against its NumPy twin."""
    import shutil

    if shutil.which("g++") is None:
        pytest.skip("g++ is not on PATH")
    from cuda_shim import harness
    from cuda_shim.cases import assert_close
    from pfsim.backend import Backend
    from pfsim.kernels import cahn_hilliard_electrostatic as chel

    g = Grid.from_config(GridConfig(shape=shape, spacing=spacing, boundaries=walls))
    p = Params(kind=KIND, mobility=1.3, gradient_coefficient=0.7, barrier=5.0, charge=0.4, permittivity=0.1)
    rng = np.random.default_rng(7)
    c = (0.5 + 0.05 * rng.standard_normal(g.shape)).astype(precision)
    phi = rng.standard_normal(g.shape).astype(precision)
    dt = 0.01
    ref = chel.euler_step(Backend("numpy", np.dtype(precision), "cpu"), g, p, c.copy(), phi, dt, {})
    new = chel.euler_step(harness.ShimBackend(precision), g, p, c, phi, dt, {})
    assert_close(new - c, ref - c, {"float64": 1e-12, "float32": 2e-5}[precision])
