"""Seeds during a run of the generic Allen-Cahn model (pfsim.models.seeding): drawn from the stream
of (run seed, draw index), so that a resumed run and an ensemble's members draw what an
uninterrupted run alone draws; the nucleation-and-growth observables and the Avrami fit
(pfsim.analysis) against the KJMA theory; tanh seeds on every edge and corner of a periodic box."""

import shutil

import numpy as np
import pytest
import xarray as xr

from conftest import CONFIGS
from pfsim.analysis import jmak_fit, main as analysis_main
from pfsim.config import check_consistency, load_config
from pfsim.ensemble import batch_problem, run_together
from pfsim.errors import ConfigError
from pfsim.initial import initial_field
from pfsim.models import seeding
from pfsim.runner import Run
from pfsim.simulation import IterationInterval

SCENARIO = CONFIGS / "nucleation_growth.yaml"
# a small, quick nucleation run: 64^2 nodes, about 12 seeds drawn by t = 20
SMALL = ["grid.shape=[64,64]", "time.stop=20.0", "output.fields_every=5.0", "output.observables_every=1.0",
         "checkpoint.every=10.0", "model.nucleation.rate=1.5e-4", "model.nucleation.every=0.4"]


def quiet(msg):
    pass


def _same_stores(a, b):
    da, db = xr.open_zarr(a), xr.open_zarr(b)
    assert list(da.data_vars) == list(db.data_vars)
    for name in da.data_vars:
        assert da[name].shape == db[name].shape, name
        np.testing.assert_array_equal(da[name].values, db[name].values, err_msg=name)  # to the bit


def test_every_draw_lands_in_exactly_one_step():
    """Whatever the steps, each draw index k falls in one step (t, t + dt], and its centres depend
    on (seed, k) alone."""
    cfg = seeding.Nucleation(rate=1e-3, radius=2.0, every=0.3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        edges = np.concatenate([[0.0], np.cumsum(rng.uniform(0.01, 0.7, size=200))])
        ks = [k for a, b in zip(edges[:-1], edges[1:]) for k in seeding.draws_due(cfg, a, b - a)]
        assert ks == list(range(1, int(edges[-1] / 0.3 * (1 + 1e-12) + 1e-9) + 1))
    until = seeding.Nucleation(rate=1e-3, radius=2.0, every=0.3, until=1.0)
    assert list(seeding.draws_due(until, 0.0, 5.0)) == [1, 2, 3]
    cfg_run, _ = load_config(SCENARIO, ["grid.shape=[32,32]"])
    grid = check_consistency(cfg_run)[1].grid
    many = seeding.Nucleation(rate=0.05, radius=2.0, every=0.3)  # 15 seeds a draw
    a, b, c, d = (seeding.centres(many, grid, s, k) for s, k in ((3, 7), (3, 7), (4, 7), (3, 8)))
    assert np.array_equal(a, b) and len(a) > 3 and not np.array_equal(a, c) and not np.array_equal(a, d)
    # Poisson counts with mean rate * area * every over many draws
    often = seeding.Nucleation(rate=1e-2, radius=2.0, every=0.3)
    counts = [len(seeding.centres(often, grid, 3, k)) for k in range(1, 2001)]
    assert np.mean(counts) == pytest.approx(1e-2 * 32 * 32 * 0.3, rel=0.05)  # 3.9 standard errors


def test_resumed_run_draws_the_same_seeds(tmp_path):
    """Stopped at step 97 (between two checkpoints) and resumed: the store equals the
    uninterrupted run's bit for bit, nucleated particles included."""
    cfg, raw = load_config(SCENARIO, SMALL)
    assert Run.new(cfg, raw, store_path=tmp_path / "whole.zarr", say=quiet).execute() == "finished"
    run = Run.new(cfg, raw, store_path=tmp_path / "cut.zarr", say=quiet)
    run.sim.add_callback("kill", IterationInterval(97), lambda s: s.request_stop("SIGTERM"))
    assert run.execute() == "interrupted"
    assert Run.resume(tmp_path / "cut.zarr", say=quiet).execute() == "finished"
    _same_stores(tmp_path / "whole.zarr", tmp_path / "cut.zarr")
    ds = xr.open_zarr(tmp_path / "whole.zarr")
    assert ds.particle_count.max() >= 3 and ds.transformed_fraction[-1] > 0.2
    # another seed draws other seeds
    other, raw = load_config(SCENARIO, SMALL + ["seed=2"])
    Run.new(other, raw, store_path=tmp_path / "other.zarr", say=quiet).execute()
    assert not np.array_equal(xr.open_zarr(tmp_path / "other.zarr").eta[-1].values, ds.eta[-1].values)


def test_ensemble_members_vary_nucleation_and_equal_their_runs_alone(tmp_path):
    """model.nucleation is a key members may vary: realisations (seeds) and rates of one study in
    one stacked ensemble, each member's store equal to its run alone."""
    sets = [SMALL + ["seed=1"], SMALL + ["seed=2"], SMALL + ["seed=2", "model.nucleation.rate=3e-4",
                                                              "model.nucleation.combine=clipped_sum"]]
    members = [load_config(SCENARIO, s) + (tmp_path / f"member-{i}.zarr", False) for i, s in enumerate(sets)]
    assert batch_problem([m[0] for m in members]) is None
    assert run_together(members, say=quiet).execute() == "finished"
    for i, (cfg, raw, path, _) in enumerate(members):
        alone = tmp_path / f"alone-{i}.zarr"
        assert Run.new(cfg, raw, store_path=alone, say=quiet).execute() == "finished"
        _same_stores(path, alone)
    ends = [xr.open_zarr(m[2]).eta[-1].values for m in members]
    assert not np.array_equal(ends[0], ends[1]) and not np.array_equal(ends[1], ends[2])
    # the other parameters of the model stay common
    other = load_config(SCENARIO, SMALL + ["model.tilt=-0.2"])[0]
    assert batch_problem([members[0][0], other]).startswith("model.tilt: differs")


def _model(sets=()):
    cfg, _ = load_config(SCENARIO, ["grid.shape=[40,30]", *sets])
    return check_consistency(cfg)[1]


def test_phantom_nuclei_and_the_combine_rules():
    """A seed centred in the transformed phase is skipped (KJMA's phantom nuclei); others
    combine by max or a sum clipped to 1, wrapping round periodic walls."""
    m = _model()
    eta = np.zeros(m.grid.shape)
    seeding.plant(m, eta, [0.2, 29.6], 3.0, "max")  # near the corner (0, 0) of the periodic box
    assert eta[0, 0] > 0.95 and eta[39, 29] > 0.9 and eta[20, 15] < 1e-9
    assert seeding.transformed_at(m, eta, [39.7, 0.1]) and not seeding.transformed_at(m, eta, [20.0, 15.0])
    a, b = eta.copy(), eta.copy()
    seeding.plant(m, a, [3.0, 0.0], 3.0, "max")
    seeding.plant(m, b, [3.0, 0.0], 3.0, "clipped_sum")
    assert b.max() == 1.0 and (b >= a).all() and (b > a + 0.1).any()


@pytest.mark.parametrize("boundaries", ["{x: periodic, y: periodic}", "{x: no_flux, y: periodic}"])
def test_a_seed_planted_on_its_window_equals_it_planted_everywhere(boundaries):
    """plant() works on the nodes near the seed only: the same field to the bit as the profile
    over the whole grid, near walls and corners and for seeds wider than the box."""
    shape = (300, 90)
    m = _model([f"grid.shape={list(shape)}", f"grid.boundaries={boundaries}"])
    rng = np.random.default_rng(2)
    start = rng.uniform(0.0, 0.3, size=shape)
    for centre, radius in (([1.0, 2.0], 3.0), ([299.4, 45.0], 2.0), ([150.0, 89.9], 30.0), ([-5.0, 0.0], 4.0),
                           ([100.0, 40.0], 60.0)):
        for combine in ("max", "clipped_sum"):
            a = start.copy()
            seeding.plant(m, a, centre, radius, combine)
            full = seeding.profile(m, centre, radius, np)
            b = np.maximum(start, full) if combine == "max" else np.minimum(start + full, 1.0)
            assert np.array_equal(a, b), (centre, radius, combine)
            assert (a > start).any()
    assert len(seeding.window(m.grid, [150.0, 45.0], 10.0)[0]) < 30


def test_particles_are_counted_across_periodic_walls():
    m = _model()
    eta = np.zeros(m.grid.shape)
    for centre in ([0.0, 0.0], [20.0, 15.0], [20.0, 0.0]):
        seeding.plant(m, eta, centre, 3.0, "max")
    obs = seeding.observables(m, eta)
    assert obs["particle_count"] == 3
    assert obs["transformed_fraction"] == pytest.approx(np.mean(eta > 0.5))
    bounded = _model(["grid.boundaries={x: no_flux, y: no_flux}"])
    assert seeding.observables(bounded, eta)["particle_count"] == 4 + 1 + 2
    # the same count as pfsim.physics.geometry.periodic_labels (which joins across every axis but the last)
    from pfsim.physics.geometry import periodic_labels

    rng = np.random.default_rng(4)
    for _ in range(20):
        mask = rng.uniform(size=(17, 13)) > 0.55
        assert seeding.particle_count(mask, (True, False)) == len(np.unique(periodic_labels(mask))) - 1
    assert seeding.particle_count(np.zeros((5, 5), bool), (True, True)) == 0


def test_nucleation_is_checked_with_the_model():
    with pytest.raises(ConfigError, match="time.integrator"):
        load_config(SCENARIO, ["time.integrator=rk4"])
    with pytest.raises(ConfigError, match="model.nucleation: rate \\* volume \\* every"):
        load_config(SCENARIO, ["model.nucleation.rate=1.0"])
    with pytest.raises(ConfigError, match="model.nucleation.radius"):
        load_config(SCENARIO, ["model.nucleation.radius=-1.0"])


def test_jmak_fit_recovers_k_and_n():
    t = np.linspace(0.0, 10.0, 400)
    for k, n in ((2e-3, 3.0), (0.05, 2.0), (1.3, 1.0)):
        x = 1 - np.exp(-k * t**n)
        fit = jmak_fit(t, x)
        assert fit.n == pytest.approx(n, rel=1e-9) and fit.k == pytest.approx(k, rel=1e-8)
        assert fit.r2 == pytest.approx(1.0, abs=1e-12) and 3 <= fit.samples < 400
        kk, nn, r2 = fit
        assert (kk, nn, r2) == (fit.k, fit.n, fit.r2)
    # the window: samples outside 5-95 % do not count
    x = 1 - np.exp(-2e-3 * t**3)
    x[x > 0.95] = 0.2  # garbage after the window is ignored
    assert jmak_fit(t, np.where(t > 8, 0.999, 1 - np.exp(-2e-3 * t**3))).n == pytest.approx(3.0, rel=1e-9)
    with pytest.raises(ValueError, match="at least 3"):
        jmak_fit([1.0, 2.0], [0.1, 0.2])


def test_avrami_exponent_of_the_scenario(tmp_path, capsys):
    """The scenario (constant rate, constant speed, 2D): the Avrami exponent of 3 realisations is
    the KJMA theory's 3 to within 0.4 (each) and 0.25 (their mean); a fourth member of the same
    ensemble nucleates all its seeds in one draw at t = 0.5 (site saturation): 2 to within 0.3."""
    runs = [[f"seed={s}"] for s in (1, 2, 3)] + [["seed=1", "model.nucleation.rate=9.2e-4", "model.nucleation.until=0.5"]]
    members = [load_config(SCENARIO, sets + ["output.fields_every=110.0"]) + (tmp_path / f"r{i}.zarr", False)
               for i, sets in enumerate(runs)]
    assert run_together(members, say=quiet).execute() == "finished"
    fits = []
    for cfg, _, path, _ in members:
        ds = xr.open_zarr(path)
        fits.append(jmak_fit(ds.obs_time.values, ds.transformed_fraction.values))
        assert fits[-1].r2 > 0.99 and ds.transformed_fraction[-1] > 0.99 and ds.particle_count.max() >= 15
    constant, saturated = fits[:3], fits[3]
    assert all(f.n == pytest.approx(3.0, abs=0.4) for f in constant), [f.n for f in constant]
    assert np.mean([f.n for f in constant]) == pytest.approx(3.0, abs=0.25)
    assert saturated.n == pytest.approx(2.0, abs=0.3)
    assert analysis_main([str(m[2]) for m in members[:3]]) == 0
    out = capsys.readouterr().out
    assert "n = " in out and "n over 3 stores" in out


SIDES = [(x, y) for x in ("low", "mid", "high") for y in ("low", "mid", "high")]


@pytest.mark.parametrize("where", SIDES, ids=[f"{x}-{y}" for x, y in SIDES])
@pytest.mark.parametrize("combine", ["max", "clipped_sum"])
def test_seeds_on_every_edge_and_corner_of_a_periodic_box(where, combine):
    """A sphere (disc) centred on an edge or a corner of a periodic box is the one centred in the
    middle, shifted round: the same shape on both sides of the walls. Also for the 3D box."""
    shape, h = (20, 16), 0.5
    lengths = [n * h for n in shape]
    spot = {"low": lambda L: 0.0, "mid": lambda L: L / 2, "high": lambda L: L}  # high: the far wall = node 0
    centre = [spot[w](L) for w, L in zip(where, lengths)]
    sets = [f"grid.shape={list(shape)}", f"grid.spacing={h}", "grid.origin=[0.0,0.0]", "time.dt=auto"]

    def disc(c):
        cfg, _ = load_config(CONFIGS / "pfhub" / "bm1a.yaml", [*sets, "initial={kind: spheres, spheres: [{centre: "
                                                                  f"{c}, radius: 2.2}}], width: 0.4, combine: {combine}}}"])
        return initial_field(cfg.initial, check_consistency(cfg)[1], 0)

    middle = disc([L / 2 for L in lengths])
    shift = [int(round((c - L / 2) / h)) for c, L in zip(centre, lengths)]
    np.testing.assert_allclose(disc(centre), np.roll(middle, shift, axis=(0, 1)), rtol=0, atol=1e-12)
    # the nucleation seeds of the Allen-Cahn model use the same periodic distances
    m = _model(["grid.shape=[20,16]", "grid.spacing=0.5"])
    a, b = np.zeros(shape), np.zeros(shape)
    seeding.plant(m, a, centre, 2.2, combine)
    seeding.plant(m, b, [L / 2 for L in lengths], 2.2, combine)
    np.testing.assert_allclose(a, np.roll(b, shift, axis=(0, 1)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("corner", [(0, 0, 0), (1, 0, 1), (1, 1, 1), (0, 1, 0)])
def test_spheres_on_the_corners_of_a_periodic_cube(corner):
    shape, h = (12, 10, 8), 1.0
    lengths = [n * h for n in shape]
    sets = [f"grid.shape={list(shape)}", f"grid.spacing={h}", "grid.origin=[0.0,0.0,0.0]", "time.dt=auto",
            "grid.boundaries={x: periodic, y: periodic, z: periodic}"]

    def ball(c):
        cfg, _ = load_config(CONFIGS / "pfhub" / "bm1a.yaml",
                             [*sets, f"initial={{kind: spheres, spheres: [{{centre: {c}, radius: 2.5}}], width: 0.5}}"])
        return initial_field(cfg.initial, check_consistency(cfg)[1], 0)

    centre = [c * L for c, L in zip(corner, lengths)]
    middle = ball([L / 2 for L in lengths])
    shift = [int(round(c - L / 2)) for c, L in zip(centre, lengths)]
    np.testing.assert_allclose(ball(centre), np.roll(middle, shift, axis=(0, 1, 2)), rtol=0, atol=1e-12)


def test_a_slab_plants_its_rows_of_a_seed():
    """What a rank of a decomposed run plants (on its padded slab, ghost rows wrapped round) is
    its rows of the seed planted on the whole grid."""
    from types import SimpleNamespace

    from pfsim.parallel.decomp import LocalGrid

    m = _model()
    for combine in ("max", "clipped_sum"):
        whole = np.full(m.grid.shape, 0.1)
        seeding.plant(m, whole, [1.0, 29.0], 4.0, combine)
        for rows in ([39, 0, 1, 2, 3], [3, 4, 5, 6, 7, 8], [36, 37, 38, 39, 0, 1], [15, 16, 17, 18]):
            slab = LocalGrid.slab(m.grid, np.array(rows))
            part = SimpleNamespace(grid=slab, xp=np, interface_width=m.interface_width)
            eta = np.full(slab.shape, 0.1)
            seeding.plant(part, eta, [1.0, 29.0], 4.0, combine)
            np.testing.assert_array_equal(eta, whole[rows])


NUCLEATION_MPI = """
name: mpi-nucleation
backend: numpy
seed: 4
grid: {shape: [48, 40], spacing: 1.0, boundaries: {x: periodic, y: periodic}}
model:
  kind: allen_cahn
  gradient_coefficient: 1.0
  tilt: -0.15
  nucleation: {rate: 4.0e-4, radius: 3.0, every: 0.5}
initial: {kind: constant, value: 0.0}
time: {stop: 12.0}
output: {fields_every: 4.0, observables_every: 1.0}
"""


@pytest.mark.mpi
def test_nucleation_decomposed_equals_single_process(tmp_path):
    from test_mpi import _mpi_problem, _mpirun, assert_same_run, mpi_run

    problem = _mpi_problem()
    if problem:
        pytest.skip(problem)
    (tmp_path / "n.yaml").write_text(NUCLEATION_MPI)
    cfg, raw = load_config(tmp_path / "n.yaml", [])
    assert Run.new(cfg, raw, store_path=tmp_path / "serial.zarr", say=quiet).execute() == "finished"
    mpi_run(_mpirun, 3, "run", "n.yaml", "-o", "decomposed.zarr", cwd=tmp_path)
    assert_same_run(tmp_path / "serial.zarr", tmp_path / "decomposed.zarr")
    ds = xr.open_zarr(tmp_path / "decomposed.zarr")
    assert ds.particle_count.max() >= 3 and ds.transformed_fraction[-1] > 0.1

