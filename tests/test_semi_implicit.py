"""The adaptive semi-implicit Fourier integrator (time.integrator: semi_implicit) of
cahn_hilliard_allen_cahn (docs/generic_models.md section 2): mass and F, convergence to the
explicit result as the tolerance shrinks, the tolerance knob, the refusals, and resume.

The reference is RK4 at 0.9 of its stability limit on the same grid (forward Euler differs from
it by 3.5e-5 at t = 1): the same 5-point Laplacian, so the semi-implicit run converges to it.
"""

import numpy as np
import pytest

from conftest import CONFIGS, stop_and_resume
from pfsim.config import check_consistency, load_config
from pfsim.errors import ConfigError
from pfsim.simulation import DT_MIN_FRACTION, Simulation, TimeInterval

BM2A = CONFIGS / "pfhub" / "bm2a.yaml"
WINDOW = ["grid.shape=[32,32]"]  # a periodic 32 x 32 window of the BM2a initial condition


def window_run(integrator, stop, tolerance=None, every=None, sets=()):
    """(simulation, model, [(t, F, mass)] every `every`) of the window run to `stop`."""
    cfg, _ = load_config(BM2A, [*WINDOW, f"time.integrator={integrator}", "time.tolerance=null", *sets], check=False)
    _, m = check_consistency(cfg)
    limit = m.stability_limit()
    sim = Simulation(m, m.initial_state(), stop, 0.9 * limit * (1.39 if integrator == "rk4" else 1.0), integrator)
    if integrator == "semi_implicit":
        sim.set_step_control(tolerance, DT_MIN_FRACTION * limit)
    samples = []

    def sample(s):
        samples.append((s.clock.time, m.free_energy(s.state), m.extent.integral(s.state["c"])))

    sample(sim)
    if every:
        sim.add_callback("sample", TimeInterval(every), sample)
    sim.run()
    return sim, m, np.array(samples)


def largest_difference(a, b):
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def test_mass_kept_and_free_energy_falls():
    sim, _, samples = window_run("semi_implicit", 20.0, 1e-4, every=0.25)
    t, F, mass = samples.T
    drift = np.max(np.abs(mass - mass[0])) / mass[0]
    print(f"semi_implicit 32 x 32 to t = 20: {sim.clock.iteration} steps, {sim.rejected_steps} rejected, "
          f"mass drift {drift:.1e}, F {F[0]:.4g} -> {F[-1]:.4g}")
    assert drift <= 1e-12
    assert np.all(np.diff(F) <= 1e-12 * F[0])
    assert F[-1] < 0.7 * F[0]


def test_converges_to_the_explicit_result():
    """The largest difference from RK4 at t = 1 falls in proportion to the tolerance; against the
    mean step it falls as dt^2 (Richardson extrapolation of step doubling)."""
    ref_sim, _, _ = window_run("rk4", 1.0)
    rows = []
    for tolerance in (1e-4, 1e-5, 1e-6):
        sim, _, _ = window_run("semi_implicit", 1.0, tolerance)
        rows.append((tolerance, sim.clock.iteration, largest_difference(sim.state, ref_sim.state)))
    for (tol_a, steps_a, err_a), (tol_b, steps_b, err_b) in zip(rows, rows[1:]):
        order = np.log(err_a / err_b) / np.log(steps_b / steps_a)
        print(f"tolerance {tol_a:g} -> {tol_b:g}: steps {steps_a} -> {steps_b}, largest difference from RK4 "
              f"{err_a:.2e} -> {err_b:.2e}, observed order in the mean step {order:.2f}")
        assert err_b < err_a / 5 and order > 1.5
    assert rows[-1][2] < 2e-6


def test_halving_the_tolerance():
    """F(t) moves by under 1e-5 (relative) when the tolerance is halved from 1e-4."""
    runs = [window_run("semi_implicit", 5.0, tol, every=1.0)[2] for tol in (1e-4, 5e-5)]
    change = np.max(np.abs(runs[0][:, 1] / runs[1][:, 1] - 1))
    print(f"tolerance 1e-4 -> 5e-5: largest relative change of F(t), t = 0..5: {change:.1e}")
    assert change < 1e-5


def test_fourier_symbol_is_the_stencil():
    """The semi-implicit step's Laplacian is the 5-point (7-point) stencil's, on 2D and 3D grids."""
    from pfsim import stencil
    from pfsim.grid import Grid, GridConfig

    for shape, spacing in (([12, 9], [1.0, 0.7]), ([6, 8, 5], [1.0, 1.3, 0.8])):
        periodic = {a: "periodic" for a in "xyz"[:len(shape)]}
        g = Grid.from_config(GridConfig(shape=shape, spacing=spacing, boundaries=periodic))
        f = np.random.default_rng(1).uniform(size=g.shape)
        k2 = stencil.minus_laplacian_symbol(g, np)
        axes = tuple(range(f.ndim))
        spectral = np.fft.irfftn(-k2 * np.fft.rfftn(f, axes=axes), s=f.shape, axes=axes)
        assert np.abs(spectral - stencil.laplacian(f, g)).max() < 1e-12


def test_three_dimensional_step_keeps_mass():
    init = "{c: {kind: random, mean: 0.5, amplitude: 0.1}, " + ", ".join(
        f"eta{i}: {{kind: random, mean: 0.3, amplitude: 0.2}}" for i in (1, 2)) + "}"
    cfg, _ = load_config(BM2A, ["grid.shape=[10,8,6]", "grid.boundaries={x: periodic, y: periodic, z: periodic}",
                                "model.order_parameters=2", f"model.initial={init}", "output.fields=null"], check=False)
    _, m = check_consistency(cfg)
    state = m.initial_state()
    mass, F = m.extent.integral(state["c"]), m.free_energy(state)
    new = m.semi_implicit_step(state, 0.0, 0.5)
    assert abs(m.extent.integral(new["c"]) / mass - 1) <= 1e-13
    assert m.free_energy(new) < F


@pytest.mark.parametrize("sets, message", [
    (["grid.boundaries={x: periodic, y: no_flux}"], "time.integrator: 'semi_implicit' steps model.kind "
                                                     "cahn_hilliard_allen_cahn on a fully periodic grid"),
    (["time.integrator=euler"], "time.tolerance: applies to integrator semi_implicit only"),
])
def test_refusals(sets, message):
    with pytest.raises(ConfigError, match=message):
        load_config(BM2A, ["grid.shape=[16,16]", *sets])


def test_refused_for_other_models():
    with pytest.raises(ConfigError, match="time.integrator: 'semi_implicit' steps model.kind cahn_hilliard_allen_cahn"):
        load_config(CONFIGS / "pfhub" / "bm1a.yaml", ["grid.shape=[16,16]", "time.integrator=semi_implicit"])


def test_resume_is_exact(in_tmp):
    """Stopped after 25 steps and resumed, the run equals the uninterrupted one bit for bit: the
    checkpoint holds the adaptive step."""
    sets = ["--set", "grid.shape=[24,24]", "--set", "time.stop=6", "--set", "output.fields_every=2",
            "--set", "output.observables_every=0.5", "--set", "checkpoint.every=0.5"]
    a, b = stop_and_resume(BM2A, sets, 25)
    assert a.sizes["time"] == b.sizes["time"] == 4
    for name in ("c", "eta1", "eta4", "free_energy", "mass"):
        assert np.array_equal(a[name].values, b[name].values), name
