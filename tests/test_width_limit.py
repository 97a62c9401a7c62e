"""`python -m pfsim.analysis width-limit`: the stripping critical current extrapolated to zero
interface width from member stores that differ in model.interface.width and seed."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from pfsim.analysis import main, read_members
from pfsim.io.store import RunStore
from pfsim.sweep import Sweep
from pfsim.width_limit import group_limits

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ran(swept):
    """(a Li|LLZO member that failed, one that carried the whole ramp): conftest's small sweep."""
    _, out = swept
    return out / "member-0000.zarr", out / "member-0001.zarr"


def copy(src, folder, k, width_um, seed, time=None, **meta):
    """A copy of `src` as member k with the given interface width, seed and failure time."""
    dst = folder / f"member-{k:04d}.zarr"
    shutil.copytree(src, dst)
    s = RunStore.open(dst)
    cfg = dict(s.meta["config"], seed=seed)
    cfg["model"] = dict(cfg["model"], interface=dict(cfg["model"]["interface"], width=width_um * 1e-6))
    if time is not None:
        meta["failure"] = dict(s.meta["failure"], time=time)
    s.update_meta(config=cfg, **meta)
    return dst


# per seed t = t0 + slope w (w in um): the seeds' lines are parallel, their intercepts differ
LINES = {1: (70.0, 100.0), 2: (100.0, 100.0), 3: (130.0, 100.0)}


@pytest.fixture
def exact(ran, tmp_path):
    failed, _ = ran
    k = 0
    for seed, (t0, slope) in LINES.items():
        for w in (0.5, 0.75, 1.0):
            copy(failed, tmp_path, k, w, seed, t0 + slope * w)
            k += 1
    return tmp_path


def test_each_seed_extrapolates_to_its_intercept(exact):
    limits, reasons = group_limits(read_members(exact))
    assert reasons == [] and len(limits) == 1
    g = limits[0]
    assert g.seeds == [1, 2, 3] and g.widths == pytest.approx([0.5e-6, 0.75e-6, 1e-6])
    assert g.t0 == pytest.approx([70.0, 100.0, 130.0], abs=1e-6)
    assert g.slope == pytest.approx([100e6] * 3, rel=1e-9)  # s per m
    assert g.mean == pytest.approx(100.0) and g.std == pytest.approx(30.0) and g.worst == pytest.approx(0, abs=1e-6)
    # the hold each t0 falls in, from the member's own samples: 4 mA/cm^2 to 60 s, then 8, then 12
    assert g.current == pytest.approx([8.0, 8.0, 12.0])


def test_a_curved_dependence_is_reported(ran, tmp_path):
    failed, _ = ran
    for k, (w, t) in enumerate([(0.5, 100.0), (0.75, 100.0), (1.0, 160.0)]):
        copy(failed, tmp_path, k, w, 1, t)
    g = group_limits(read_members(tmp_path))[0][0]
    # least squares through (0.5, 100), (0.75, 100), (1, 160): t = 30 + 120 w; the middle mean is 20 s off it
    assert g.t0 == pytest.approx([30.0], abs=1e-6) and g.worst == pytest.approx(20.0)


def test_an_intercept_before_the_start_has_no_current(ran, tmp_path, capsys):
    failed, _ = ran
    for k, (w, t) in enumerate([(0.5, 50.0), (1.0, 150.0)]):  # t = -50 + 200 w: below zero at w = 0
        copy(failed, tmp_path, k, w, 1, t)
    g = group_limits(read_members(tmp_path))[0][0]
    assert g.t0 == pytest.approx([-50.0]) and np.isnan(g.current).all() and np.isnan(g.charge)
    assert main(["width-limit", str(tmp_path), "-o", str(tmp_path / "f.png")]) == 0
    assert "none, a seed's zero-width failure time lies before the start of the ramp" in capsys.readouterr().out


def test_command_prints_the_limit_and_draws_it(exact, tmp_path, capsys):
    out = tmp_path / "w.png"
    assert main(["width-limit", str(exact), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.stat().st_size > 0
    assert "width    0.5 um: 3 member(s), failure at 150 s" in text
    assert "failure at 100 s (mean of 3 seed(s), 30 s standard deviation over seeds), slope 100 s per um" in text
    assert "widths' means within 0 s of the mean line" in text
    assert "critical current at the limit: 9.33 mA/cm^2 (mean over seeds, standard deviation 2.31, 8-12)" in text


def test_groups_that_cannot_be_extrapolated_are_named(ran, tmp_path, capsys):
    failed, above = ran
    copy(failed, tmp_path, 0, 0.5, 1, 100.0)
    assert main(["width-limit", str(tmp_path)]) == 2  # one width only
    assert "one interface width only (0.5 um)" in capsys.readouterr().out
    copy(failed, tmp_path, 1, 1.0, 1, 150.0)
    copy(above, tmp_path, 2, 0.5, 1)  # at 2 MPa: it carried the whole ramp
    copy(above, tmp_path, 3, 1.0, 1)
    assert main(["width-limit", str(tmp_path), "-o", str(tmp_path / "f.png")]) == 0
    text = capsys.readouterr().out
    assert "at 2 MPa: 2 member(s) did not fail" in text and "Li|LLZO at 0 MPa\n" in text
    copy(failed, tmp_path, 4, 0.75, 2, 120.0)  # a seed at one width: not fitted, named
    limits, reasons = group_limits(read_members(tmp_path))
    assert limits[0].seeds == [1] and any("seed 2: one interface width only" in r for r in reasons)
    assert main(["width-limit", str(tmp_path / "missing")]) == 2


def test_width_limit_sweep_file_validates():
    configs = Sweep(ROOT / "configs" / "sweeps" / "ccd_width_limit_llzo.yaml").validate()
    assert len(configs) == 2 * 6 * 3
    assert sorted({cfg.model.interface.width for cfg, _ in configs}) == pytest.approx([0.5e-6, 0.75e-6, 1e-6])
    assert sorted({cfg.seed for cfg, _ in configs}) == [1, 2, 3, 4, 5, 6]
    assert np.allclose([np.atleast_1d(cfg.grid.spacing) for cfg, _ in configs], 0.25e-6)
    assert all(np.isclose(cfg.model.failure_contact_fraction, 0.25) for cfg, _ in configs)
