"""Grid, stencil, schedules and models on small problems: conservation, boundaries, 3D, float32."""

import numpy as np
import pytest

from pfsim.backend import Backend
from pfsim.config import validate
from pfsim.grid import Grid, GridConfig
from pfsim.models import build_model
from pfsim.simulation import Simulation, TimeInterval
from pfsim import stencil


def numpy_backend(precision="float64"):
    return Backend("numpy", np.dtype(precision), "cpu")


def grid(shape, boundaries=None, spacing=1.0):
    return Grid.from_config(GridConfig(shape=shape, spacing=spacing, boundaries=boundaries or {}))


@pytest.mark.parametrize("shape", [(24, 20), (12, 10, 8)])
@pytest.mark.parametrize("bc", ["periodic", "no_flux"])
def test_laplacian_second_order_and_boundaries(shape, bc):
    # f = cos(k x) has zero slope at x = 0 and x = L for both node layouts used below
    errs = []
    for refine in (1, 2):
        n = [s * refine for s in shape]
        L = 2 * np.pi
        h = L / n[0] if bc == "periodic" else L / (n[0] - 1)
        g = grid(list(n), {a: bc for a in "xyz"[: len(n)]}, spacing=h)
        x = g.mesh()[0]
        f = np.cos(x) + np.zeros(g.shape)
        lap = stencil.laplacian(f, g)
        errs.append(np.max(np.abs(lap + f)))
    assert errs[1] < errs[0] / 3.5  # second order


def test_no_flux_mass_conservation_3d():
    g = grid([10, 9, 8], {"x": "no_flux", "y": "no_flux", "z": "periodic"})
    p = validate_model({"kind": "cahn_hilliard", "mobility": 1.0, "gradient_coefficient": 1.0, "barrier": 1.0})
    m = build_model(p, g, numpy_backend())
    rng = np.random.default_rng(1)
    state = {"c": 0.5 + 0.1 * rng.standard_normal(g.shape)}
    m0 = m.observables(state, 0)["mass"]
    Simulation(m, state, 2.0, 0.5 * m.stability_limit()).run()
    assert abs(m.observables(state, 2.0)["mass"] - m0) / m0 < 1e-13


def validate_model(model):
    cfg = validate({
        "name": "t", "grid": {"shape": [8, 8], "spacing": 1.0}, "model": model,
        "initial": {"kind": "constant", "value": 0.5}, "time": {"stop": 1.0},
    })
    return cfg.model


def test_dirichlet_walls_are_held():
    g = grid([16, 12], {"x": "periodic", "y": {"low": {"dirichlet": 1.0}, "high": {"dirichlet": 0.0}}})
    p = validate_model({"kind": "allen_cahn", "gradient_coefficient": 0.5})
    m = build_model(p, g, numpy_backend())
    state = {"eta": np.full(g.shape, 0.5)}
    m.enforce(state, 0)
    Simulation(m, state, 1.0, 0.5 * m.stability_limit()).run()
    assert np.all(state["eta"][:, 0] == 1.0) and np.all(state["eta"][:, -1] == 0.0)
    assert np.all(np.diff(state["eta"], axis=1) <= 1e-12)  # monotone profile between the walls


def test_allen_cahn_seed_and_tilt_grow_a_disc():
    g = grid([40, 40], spacing=1.0)
    p = validate_model({"kind": "allen_cahn", "gradient_coefficient": 2.0, "tilt": -0.2,
                        "seeds": [{"position": [20.0, 20.0], "radius": 6.0, "time": 1.0}]})
    m = build_model(p, g, numpy_backend())
    state = {"eta": np.zeros(g.shape)}
    sim = Simulation(m, state, 30.0, 0.5 * m.stability_limit())
    for t_event, action in m.events():
        from pfsim.simulation import SpecifiedTimes
        sim.add_callback("seed", SpecifiedTimes([t_event]), lambda s, a=action: a(s.state))
    samples = []
    sim.add_callback("mean", TimeInterval(5.0), lambda s: samples.append(float(s.state["eta"].mean())))
    sim.run()
    assert samples[0] > 0.05  # planted at t = 1
    assert samples[-1] > samples[0]  # the negative tilt makes eta = 1 grow


def test_steps_land_on_schedule_times():
    g = grid([8, 8])
    p = validate_model({"kind": "allen_cahn", "gradient_coefficient": 1.0})
    m = build_model(p, g, numpy_backend())
    state = {"eta": np.full(g.shape, 0.3)}
    times = []
    sim = Simulation(m, state, 1.0, 0.03)
    sim.add_callback("out", TimeInterval(0.1), lambda s: times.append(s.clock.time))
    sim.run()
    assert np.allclose(times, np.arange(1, 11) * 0.1, rtol=0, atol=1e-15)
    assert sim.clock.time == 1.0


def test_float32_runs_and_tracks_float64():
    g = grid([32, 32])
    p = validate_model({"kind": "cahn_hilliard", "mobility": 5.0, "gradient_coefficient": 2.0, "barrier": 5.0})
    results = {}
    for prec in ("float64", "float32"):
        be = numpy_backend(prec)
        m = build_model(p, g, be)
        rng = np.random.default_rng(3)
        state = {"c": be.asarray(0.5 + 0.01 * rng.standard_normal(g.shape))}
        Simulation(m, state, 1.0, 1e-3).run()
        assert state["c"].dtype == np.dtype(prec)
        results[prec] = m.observables(state, 1.0)["free_energy"]
    assert abs(results["float32"] - results["float64"]) / results["float64"] < 1e-4


def test_package_version():
    from pfsim.info import package_version

    assert package_version("numpy") == np.__version__
    assert package_version("pfsim_no_such_package") == "not installed"


def test_failures_end_in_one_line_and_a_documented_exit_code(monkeypatch, capsys):
    """An I/O error (4) and a bug (5) print one line, no traceback; --debug, before or after the
    subcommand, adds the traceback."""
    from pfsim import cli

    def io_error(args):
        raise PermissionError(13, "Permission denied", "/read-only/run.zarr")

    def bug(args):
        raise RuntimeError("unexpected")

    for failing, code, text in ((io_error, 4, "pfsim: I/O error: /read-only/run.zarr: Permission denied"),
                                (bug, 5, "pfsim: internal error: RuntimeError: unexpected")):
        monkeypatch.setattr(cli, "cmd_status", failing)
        assert cli.main(["status", "x"]) == code
        err = capsys.readouterr().err
        assert err.strip().startswith(text) and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        for argv in (["--debug", "status", "x"], ["status", "x", "--debug"]):
            assert cli.main(argv) == code
            assert "Traceback" in capsys.readouterr().err
