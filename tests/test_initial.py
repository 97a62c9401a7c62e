"""Initial conditions as data (pfsim.initial): sums of Fourier modes, tanh spheres and discs, arrays
from .npy files and zarr stores (a run store's last frame), checked for shape and dtype when the
config is validated; per-field conditions of the coupled models draw from their own streams."""

import numpy as np
import pytest
import xarray as xr

from conftest import CONFIGS, run_cli
from pfsim.config import check_consistency, load_config
from pfsim.errors import ConfigError
from pfsim.initial import initial_field

BM1A = CONFIGS / "pfhub" / "bm1a.yaml"
SMALL = ["grid.shape=[12,9]", "grid.spacing=0.5", "grid.origin=[1.0,-2.0]", "time.dt=auto"]


def field_of(initial, sets=()):
    cfg, _ = load_config(BM1A, [*SMALL, f"initial={initial}", *sets])
    _, m = check_consistency(cfg)
    return initial_field(cfg.initial, m, cfg.seed), m.grid


def test_fourier_modes():
    f, g = field_of("{kind: fourier, mean: 0.5, modes: [{amplitude: 0.1, wavevector: [0.3, -0.2], phase: 0.4},"
                    " {amplitude: 0.02, wavevector: [1.1, 0.0]}]}")
    x, y = g.mesh()
    expected = 0.5 + 0.1 * np.cos(0.3 * x - 0.2 * y + 0.4) + 0.02 * np.cos(1.1 * x)
    np.testing.assert_allclose(f, expected, rtol=0, atol=1e-15)
    with pytest.raises(ConfigError, match="initial.modes.0.wavevector: expected 2 components"):
        field_of("{kind: fourier, modes: [{amplitude: 1, wavevector: [1, 2, 3]}]}")


def test_tanh_spheres_combine_by_max():
    bounded = ["grid.boundaries={x: no_flux, y: no_flux}"]
    f, g = field_of("{kind: spheres, spheres: [{centre: [2.0, -1.0], radius: 1.5}, {centre: [5.0, 0.0], radius: 1.0}],"
                    " width: 0.7, inside: 1.0, outside: -1.0}", bounded)
    x, y = g.mesh()
    one = 0.5 * (1 - np.tanh((np.sqrt((x - 2) ** 2 + (y + 1) ** 2) - 1.5) / 0.7))
    two = 0.5 * (1 - np.tanh((np.sqrt((x - 5) ** 2 + y**2) - 1.0) / 0.7))
    np.testing.assert_allclose(f, -1 + 2 * np.maximum(one, two), rtol=0, atol=1e-15)
    # a node at the radius is half-way: node (2, 0) is at x = 2, y = -2, 1 from the first centre
    f, _ = field_of("{kind: spheres, spheres: [{centre: [2.0, -1.0], radius: 1.0}], width: 0.7, inside: 3.0, outside: 1.0}",
                    bounded)
    assert abs(f[2, 0] - 2.0) < 1e-15
    with pytest.raises(ConfigError, match="initial.spheres.0.centre: expected 2 coordinates"):
        field_of("{kind: spheres, spheres: [{centre: [1, 2, 3], radius: 1}], width: 1}")


def test_npy_file(tmp_path):
    a = np.random.default_rng(0).uniform(0.4, 0.6, (12, 9))
    np.save(tmp_path / "c.npy", a)
    f, _ = field_of(f"{{kind: npy, path: '{tmp_path / 'c.npy'}'}}")
    assert f.dtype == np.float64 and np.array_equal(f, a)
    np.save(tmp_path / "i.npy", np.arange(108, dtype=np.int32).reshape(12, 9))
    f, _ = field_of(f"{{kind: npy, path: '{tmp_path / 'i.npy'}'}}")
    assert f.dtype == np.float64 and f[11, 8] == 107.0


@pytest.mark.parametrize("array, fragment", [
    (np.zeros((9, 12)), "has shape (9, 12); the grid has (12, 9)"),
    (np.zeros((12, 9), complex), "has dtype complex128; expected real numbers"),
    (np.zeros((12, 9), bool), "has dtype bool; expected real numbers"),
    (np.zeros((12, 9), "U3"), "has dtype <U3; expected real numbers"),
], ids=["shape", "complex", "bool", "text"])
def test_npy_file_is_checked_when_validated(tmp_path, array, fragment):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ConfigError, match="initial: ") as exc:
        load_config(BM1A, [*SMALL, f"initial={{kind: npy, path: '{tmp_path / 'bad.npy'}'}}"])
    assert fragment in str(exc.value)


def test_npy_refuses_objects_nan_and_missing_files(tmp_path):
    np.save(tmp_path / "obj.npy", np.full((12, 9), None, object), allow_pickle=True)
    with pytest.raises(ConfigError, match="has dtype object; expected real numbers"):
        load_config(BM1A, [*SMALL, f"initial={{kind: npy, path: '{tmp_path / 'obj.npy'}'}}"])
    with pytest.raises(ConfigError, match="cannot read .*missing.npy as a .npy array"):
        load_config(BM1A, [*SMALL, f"initial={{kind: npy, path: '{tmp_path / 'missing.npy'}'}}"])
    a = np.zeros((12, 9))
    a[3, 4] = np.nan
    np.save(tmp_path / "nan.npy", a)
    with pytest.raises(ValueError, match="holds NaN or Inf"):
        field_of(f"{{kind: npy, path: '{tmp_path / 'nan.npy'}'}}")


def test_zarr_array_from_the_last_frame_of_a_run_store(in_tmp):
    assert run_cli("run", BM1A, "-o", "first.zarr", "--set", "grid.shape=[12,9]", "--set", "time.stop=0.5",
                   "--set", "output.fields_every=0.25", "--set", "checkpoint.every=0.25") == 0
    last = xr.open_zarr("first.zarr").c.values[-1]
    f, _ = field_of("{kind: zarr, path: first.zarr, array: c, index: -1}", ["grid.spacing=1.0", "grid.origin=[1.0,1.0]"])
    assert np.array_equal(f, last)
    # and a run continues from it
    assert run_cli("run", BM1A, "-o", "second.zarr", "--set", "grid.shape=[12,9]", "--set", "time.stop=0.25",
                   "--set", "initial={kind: zarr, path: first.zarr, array: c, index: -1}") == 0
    assert np.array_equal(xr.open_zarr("second.zarr").c.values[0], last)
    with pytest.raises(ConfigError, match="initial: first.zarr/c has shape \\(12, 9\\); the grid has \\(9, 12\\)"):
        load_config(BM1A, ["grid.shape=[9,12]", "initial={kind: zarr, path: first.zarr, array: c, index: -1}"])
    with pytest.raises(ConfigError, match="is a zarr group, not an array"):
        load_config(BM1A, ["grid.shape=[12,9]", "initial={kind: zarr, path: first.zarr}"])
    with pytest.raises(ConfigError, match="initial.index: 99 is outside the array's"):
        load_config(BM1A, ["grid.shape=[12,9]", "initial={kind: zarr, path: first.zarr, array: c, index: 99}"])
    with pytest.raises(ConfigError, match="cannot read first.zarr/nothing as a zarr array"):
        load_config(BM1A, ["grid.shape=[12,9]", "initial={kind: zarr, path: first.zarr, array: nothing}"])


def test_coupled_fields_draw_from_their_own_streams():
    init = ("{c: {kind: random, mean: 0.5, amplitude: 0.1}, eta1: {kind: random, mean: 0.5, amplitude: 0.1}, "
            "eta2: {kind: constant, value: 0.0}}")
    cfg, _ = load_config(CONFIGS / "pfhub" / "bm2a.yaml",
                         ["grid.shape=[10,10]", "model.order_parameters=2", f"model.initial={init}"])
    _, m = check_consistency(cfg)
    state = m.initial_state()
    assert not np.array_equal(state["c"], state["eta1"])
    assert np.array_equal(state["c"], m.initial_state()["c"])  # the same seed draws the same


def test_coupled_model_files_are_checked_when_validated(tmp_path):
    np.save(tmp_path / "eta.npy", np.zeros((8, 8)))
    with pytest.raises(ConfigError, match="model.initial.eta1: .*eta.npy has shape \\(8, 8\\); the grid has \\(10, 10\\)"):
        load_config(CONFIGS / "pfhub" / "bm2a.yaml",
                    ["grid.shape=[10,10]", f"model.initial.eta1={{kind: npy, path: '{tmp_path / 'eta.npy'}'}}"])


def test_spheres_wrap_on_periodic_axes():
    """A disc centred on a corner of a periodic grid shows in all four corners; on a bounded axis it does not wrap."""
    sets = ["grid.shape=[20,16]", "grid.spacing=1.0", "grid.origin=[0.0,0.0]", "time.dt=auto"]
    disc = "{kind: spheres, spheres: [{centre: [0.0, 0.0], radius: 3.0}], width: 0.5}"
    cfg, _ = load_config(BM1A, [*sets, f"initial={disc}"])
    f = initial_field(cfg.initial, check_consistency(cfg)[1], 0)
    for corner in [(0, 0), (19, 0), (0, 15), (19, 15)]:
        assert f[corner] > 0.99, corner
    assert f[10, 8] < 1e-6
    # by symmetry of the images: node (19, 15) is at distance sqrt(2) from the centre, as node (1, 1)
    assert f[19, 15] == f[1, 1]
    cfg, _ = load_config(BM1A, [*sets, f"initial={disc}", "grid.boundaries={x: no_flux, y: periodic}"])
    f = initial_field(cfg.initial, check_consistency(cfg)[1], 0)
    assert f[19, 0] < 1e-6 and f[0, 15] > 0.99  # x bounded: no image across it; y periodic
    # a centre outside the domain is an image of one inside
    moved = disc.replace("[0.0, 0.0]", "[-20.0, 32.0]")
    cfg, _ = load_config(BM1A, [*sets, f"initial={moved}"])
    g = initial_field(cfg.initial, check_consistency(cfg)[1], 0)
    cfg, _ = load_config(BM1A, [*sets, f"initial={disc}"])
    np.testing.assert_allclose(g, initial_field(cfg.initial, check_consistency(cfg)[1], 0), rtol=0, atol=1e-14)


def test_spheres_combine_by_clipped_sum():
    bounded = ["grid.boundaries={x: no_flux, y: no_flux}"]
    two = "spheres: [{centre: [2.0, -1.0], radius: 1.0}, {centre: [3.0, -1.0], radius: 1.0}], width: 0.5"
    f, g = field_of(f"{{kind: spheres, {two}, combine: clipped_sum}}", bounded)
    m, _ = field_of(f"{{kind: spheres, {two}}}", bounded)
    x, y = g.mesh()
    one = [0.5 * (1 - np.tanh((np.sqrt((x - cx) ** 2 + (y + 1) ** 2) - 1.0) / 0.5)) for cx in (2.0, 3.0)]
    np.testing.assert_allclose(f, np.minimum(one[0] + one[1], 1.0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(m, np.maximum(one[0], one[1]), rtol=0, atol=1e-15)
    assert f.max() == 1.0 and (f >= m).all() and (f > m + 0.1).any()


def test_random_spheres_are_drawn_from_the_run_stream():
    spec = "{kind: random_spheres, count: 5, radius: 0.8, width: 0.3}"
    a, g = field_of(spec)
    b, _ = field_of(spec)
    c, _ = field_of(spec, ["seed=7"])
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.max() > 0.9 and a.min() < 1e-3
    # the centres are those of the stream: rebuilt as explicit spheres they give the same field
    from pfsim.initial import random_stream

    u = random_stream(0, 0).uniform(0.0, 1.0, size=(5, 2))
    centres = np.array([1.0, -2.0]) + u * np.array([12 * 0.5, 9 * 0.5])
    listed = ", ".join(f"{{centre: [{float(x)!r}, {float(y)!r}], radius: 0.8}}" for x, y in centres)
    d, _ = field_of(f"{{kind: spheres, spheres: [{listed}], width: 0.3}}")
    np.testing.assert_allclose(a, d, rtol=0, atol=1e-14)


@pytest.mark.parametrize("spec", [
    "{kind: spheres, spheres: [{centre: [0.5, -1.0], radius: 1.5}, {centre: [6.5, 2.0], radius: 1.0}], width: 0.4}",
    "{kind: random_spheres, count: 6, radius: 0.7, width: 0.3, combine: clipped_sum}",
    "{kind: fourier, mean: 0.5, modes: [{amplitude: 0.1, wavevector: [1.0472, 0.0]}]}",
    "NPY",
    "{kind: random, mean: 0.5, amplitude: 0.1}",
], ids=["spheres", "random_spheres", "fourier", "npy", "random"])
@pytest.mark.parametrize("x", ["periodic", "no_flux"])
def test_a_slab_holds_its_rows_of_the_whole_field(tmp_path, spec, x):
    """What a rank of a decomposed run builds (pfsim.parallel.run.owned_initial: initial_field on its
    padded slab, ghost rows wrapped round) is its rows of the single-process field."""
    from types import SimpleNamespace

    from pfsim.parallel.decomp import LocalGrid

    if spec == "NPY":
        np.save(tmp_path / "a.npy", np.random.default_rng(1).uniform(size=(12, 9)))
        spec = f"{{kind: npy, path: '{tmp_path / 'a.npy'}'}}"
    whole_field, g = field_of(spec, [f"grid.boundaries={{x: {x}, y: periodic}}"])
    cfg, _ = load_config(BM1A, [*SMALL, f"initial={spec}", f"grid.boundaries={{x: {x}, y: periodic}}"])
    for rows in ([11, 0, 1, 2, 3], [3, 4, 5, 6, 7, 8], [7, 8, 9, 10, 11, 0]):
        slab = LocalGrid.slab(g, np.array(rows))
        part = initial_field(cfg.initial, SimpleNamespace(grid=slab, params=None), cfg.seed)
        np.testing.assert_allclose(part, whole_field[rows], rtol=0, atol=1e-14)
