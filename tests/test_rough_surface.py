"""The seeded SSE roughness (pfsim/physics/geometry.py): its statistics, one surface on every grid,
and runs stored with the earlier node-drawn surface resume on that surface."""

import numpy as np
import pytest

from pfsim.physics.geometry import Roughness, rough_surface

ROUGH = Roughness(rms="0.1 um", correlation_length="2 um")


@pytest.mark.parametrize("shape, spacing, finer", [((160,), (0.25e-6,), 4), ((48, 32), (0.25e-6, 0.25e-6), 2)])
def test_one_seed_is_the_same_surface_on_every_grid(shape, spacing, finer):
    coarse = rough_surface(shape, spacing, ROUGH, seed=3)
    fine = rough_surface(tuple(n * finer for n in shape), tuple(h / finer for h in spacing), ROUGH, seed=3)
    assert np.abs(fine[(slice(None, None, finer),) * len(shape)] - coarse).max() < 1e-9 * ROUGH.rms
    assert np.abs(coarse - rough_surface(shape, spacing, ROUGH, seed=4)).max() > 0.1 * ROUGH.rms


def test_rms_and_gaussian_correlation_length():
    """<h(x) h(x + r)> = rms^2 exp(-r^2 / l^2): at r = l the correlation is 1/e (five long surfaces)."""
    h, n = 0.1e-6, 20000
    lags = np.array([0, 10, 20, 30])  # 0, 1, 2, 3 um
    corr = np.mean([[np.mean(s * np.roll(s, k)) for k in lags]
                    for s in (rough_surface((n,), (h,), ROUGH, seed) for seed in range(5))], axis=0)
    assert corr[0] == pytest.approx(ROUGH.rms**2, rel=1e-9)
    assert np.allclose(corr / corr[0], np.exp(-(lags * h / ROUGH.correlation_length) ** 2), atol=0.02)


def test_the_node_drawn_surface_is_another_surface_on_another_grid():
    nodes = Roughness(rms="0.1 um", correlation_length="2 um", sampling="nodes")
    coarse = rough_surface((160,), (0.25e-6,), nodes, seed=1)
    fine = rough_surface((320,), (0.125e-6,), nodes, seed=1)
    assert coarse.std() == pytest.approx(nodes.rms)
    assert np.corrcoef(coarse, fine[::2])[0, 1] < 0.5


def test_a_store_written_before_the_sampling_key_resumes_on_its_node_drawn_surface(in_tmp):
    """A run stored without `roughness.sampling` (written when the surface was drawn on the nodes)
    continues on that surface: stopped, its key removed from the stored config, and resumed, it
    equals the uninterrupted node-drawn run."""
    from conftest import CONFIGS, run_cli
    import xarray as xr
    from pfsim.io.store import RunStore

    cfg = CONFIGS / "materials" / "li_llzo.yaml"
    common = ["--backend", "numpy", "--set", "time.stop=120", "--set", "grid.shape=[80,32]",
              "--set", "model.geometry.roughness.sampling=nodes"]
    assert run_cli("run", cfg, "-o", "full.zarr", *common) == 0
    assert run_cli("run", cfg, "-o", "part.zarr", *common, "--set", "time.max_steps=20") == 0
    store = RunStore.open("part.zarr")
    config = store.meta["config"]
    del config["model"]["geometry"]["roughness"]["sampling"]
    store.update_meta(config=config)
    assert run_cli("run", "--resume", "part.zarr", "--set", "time.max_steps=null") == 0
    a, b = xr.open_zarr("full.zarr"), xr.open_zarr("part.zarr")
    assert np.array_equal(a.contact_fraction.values, b.contact_fraction.values)
    assert np.array_equal(a.cell_voltage.values, b.cell_voltage.values)


def test_one_seed_puts_the_same_pores_on_every_grid():
    """The pores go to the valleys of the surface; with one surface on every grid a seed's pores
    sit at the same places on the 0.25 and 0.125 um grids (within a grid spacing), with the same
    radii: a grid study compares one interface."""
    from pfsim.backend import Backend
    from pfsim.config import load_config
    from pfsim.grid import Grid
    from pfsim.models import build_model
    from pfsim.models.stripping import pores
    from conftest import CONFIGS

    drawn = []
    for shape, h in (("[160, 32]", "0.25 um"), ("[320, 64]", "0.125 um")):
        cfg, _ = load_config(CONFIGS / "materials" / "li_llzo.yaml",
                             [f"grid.shape={shape}", f"grid.spacing={h}", "seed=2"], check=False)
        m = build_model(cfg.model, Grid.from_config(cfg.grid), Backend("numpy", np.dtype("float64"), "cpu"),
                        drive=cfg.drive, seed=cfg.seed)
        drawn.append(sorted((float(at[0]), r) for _, at, r in pores.draw(m, cfg.model.initial_contact)))
    coarse, fine = drawn
    assert len(coarse) == len(fine) >= 2
    for (x0, r0), (x1, r1) in zip(coarse, fine):
        assert abs(x0 - x1) <= 0.25e-6 and r0 == pytest.approx(r1, rel=1e-9)
