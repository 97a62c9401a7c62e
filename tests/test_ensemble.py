"""Ensembles (pfsim.ensemble): members stacked into the same launches end exactly where they
would end alone; sweeps with `batch` run, skip, resume and refuse as they should."""

import csv
import shutil

import numpy as np
import pytest
import xarray as xr

from conftest import CONFIGS, run_cli
from cuda_shim.cases import GRIDS, PRECISIONS, allen_cahn, cahn_hilliard, grid, numpy_backend, random_field
from pfsim.config import load_config
from pfsim.ensemble import EnsembleModel, batch_problem, resume_together, run_together
from pfsim.errors import ConfigError
from pfsim.runner import Run
from pfsim.simulation import IterationInterval

GRIDS_2D = [name for name in GRIDS if name.startswith("2d")]

CH = """
name: ch-seeds
backend: numpy
grid: {shape: [24, 18], spacing: 1.0, boundaries: {x: periodic, y: no_flux}}
model: {kind: cahn_hilliard, mobility: 5.0, gradient_coefficient: 2.0, barrier: 5.0}
initial: {kind: random, mean: 0.5, amplitude: 0.05}
time: {stop: 1.0, dt: 0.002}
output: {fields_every: 0.25, observables_every: 0.05}
checkpoint: {every: 0.5}
"""

AC = """
name: ac-seeds
backend: numpy
grid: {shape: [20, 16], spacing: [0.5, 0.4], boundaries: {x: no_flux, y: {dirichlet: 0.0}}}
model:
  kind: allen_cahn
  mobility: 1.0
  gradient_coefficient: 0.05
  barrier: 2.0
  tilt: -0.1
  seeds: [{position: [5.0, 3.0], radius: 1.2, time: 0.3}]
initial: {kind: random, mean: 0.2, amplitude: 0.1}
time: {stop: 1.0, dt: auto}
output: {fields_every: 0.5, observables_every: 0.1}
"""


def _members(tmp_path, text, seeds, prefix):
    path = tmp_path / f"{prefix}.yaml"
    path.write_text(text)
    return [load_config(path, [f"seed={s}"]) + (tmp_path / f"{prefix}-{s}.zarr", False) for s in seeds]


def _same_stores(a, b):
    da, db = xr.open_zarr(a), xr.open_zarr(b)
    assert list(da.data_vars) == list(db.data_vars)
    for name in da.data_vars:
        assert da[name].shape == db[name].shape
        np.testing.assert_array_equal(da[name].values, db[name].values, err_msg=name)  # to the bit


@pytest.mark.parametrize("text", [CH, AC], ids=["cahn_hilliard", "allen_cahn-planted-seed"])
def test_members_equal_their_runs_alone(tmp_path, text):
    members = _members(tmp_path, text, [0, 1, 5], "batch")
    assert run_together(members, say=lambda m: None).execute() == "finished"
    for cfg, raw, path, _ in members:
        alone = tmp_path / f"alone-{cfg.seed}.zarr"
        assert Run.new(cfg, raw, store_path=alone, say=lambda m: None).execute() == "finished"
        _same_stores(path, alone)
    first, last = (xr.open_zarr(m[2]) for m in (members[0], members[-1]))
    assert not np.array_equal(first[list(first.data_vars)[0]].values, last[list(last.data_vars)[0]].values)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", GRIDS_2D)
def test_stacked_kernels_equal_members_numpy(name, precision):
    """The CUDA kernels on the stack (through the CPU shim) against each member's NumPy step."""
    from cuda_shim import harness

    harness.require_gxx()
    g, rtol = grid(GRIDS[name]), {"float64": 1e-12, "float32": 1e-5}[precision]
    for make, field in ((cahn_hilliard, "c"), (allen_cahn, "eta")):
        ref = make(g, numpy_backend(precision))
        shim = EnsembleModel([make(g, harness.ShimBackend(precision))] * 3)
        start = np.stack([random_field(g, precision, seed=s) for s in range(3)])
        state = {field: start.copy()}
        dt = 0.4 * ref.stability_limit()
        for _ in range(20):
            shim.euler_step(state, 0.0, dt)
            shim.enforce(state, 0.0)
        for i in range(3):
            alone = {field: start[i].copy()}
            for _ in range(20):
                ref.euler_step(alone, 0.0, dt)
                ref.enforce(alone, 0.0)
            scale = np.abs(alone[field] - start[i]).max()
            assert scale > 0
            assert np.abs(state[field][i] - alone[field]).max() <= 10 * rtol * max(scale, 1.0), (make.__name__, i)


def test_batch_problems_name_the_key(tmp_path):
    (tmp_path / "ch.yaml").write_text(CH)
    base = [load_config(tmp_path / "ch.yaml", [])[0]]
    assert batch_problem(base + [load_config(tmp_path / "ch.yaml", ["seed=3", "initial.amplitude=0.1"])[0]]) is None
    other = load_config(tmp_path / "ch.yaml", ["model.mobility=4.0"])[0]
    assert batch_problem(base + [other]).startswith("model.mobility: differs between members 0 and 1")
    three_d = load_config(tmp_path / "ch.yaml", ["grid.shape=[8, 8, 8]", "time.dt=auto"])[0]
    assert batch_problem([three_d]).startswith("grid.shape")
    stripping = load_config(CONFIGS / "void_stripping.yaml", [])[0]
    assert batch_problem([stripping]).startswith("model.kind: li_stripping cannot be batched")
    with pytest.raises(ConfigError, match="model.mobility"):
        run_together([(base[0], {}, tmp_path / "a.zarr", False), (other, {}, tmp_path / "b.zarr", False)],
                     say=lambda m: None)
    assert not (tmp_path / "a.zarr").exists()


def test_interrupted_ensemble_resumes_together_and_alone(tmp_path):
    """Stopped at step 180: the members resumed together end equal to an uninterrupted ensemble;
    a member store also resumes alone, to the same end."""
    whole = _members(tmp_path, CH, [0, 1, 2], "whole")
    run_together(whole, say=lambda m: None).execute()
    cut = _members(tmp_path, CH, [0, 1, 2], "cut")
    run = run_together(cut, say=lambda m: None)
    run.sim.add_callback("kill", IterationInterval(180), lambda s: s.request_stop("SIGTERM"))
    assert run.execute() == "interrupted"
    shutil.copytree(cut[2][2], tmp_path / "solo.zarr")
    assert resume_together([m[2] for m in cut[:2]], say=lambda m: None).execute() == "finished"
    assert Run.resume(tmp_path / "solo.zarr", say=lambda m: None).execute() == "finished"
    for w, c in zip(whole[:2], cut[:2]):
        _same_stores(w[2], c[2])
    _same_stores(whole[2][2], tmp_path / "solo.zarr")


SWEEP = """
name: seeds
base: {base}
axes:
  initial.amplitude: [0.02, 0.05]
  seed: {{seeds: 3}}
batch: {batch}
output: {out}
"""


def _sweep(tmp_path, batch, out, axes_extra=""):
    (tmp_path / "ch.yaml").write_text(CH)
    path = tmp_path / f"sweep-{out}.yaml"
    path.write_text(SWEEP.format(base=tmp_path / "ch.yaml", batch=batch, out=tmp_path / out) + axes_extra)
    return path


def test_batched_sweep_equals_member_by_member(in_tmp, capsys):
    batched, single = _sweep(in_tmp, 4, "batched"), _sweep(in_tmp, 1, "single")
    assert run_cli("sweep", batched, "--metric", "free_energy") == 0
    assert "writing 4 member stores" in capsys.readouterr().err  # groups of 4 and 2
    assert run_cli("sweep", single, "--metric", "free_energy") == 0
    with open(in_tmp / "batched" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and all(r["state"] == "finished" for r in rows)
    for i in range(6):
        _same_stores(in_tmp / "batched" / f"member-{i:04d}.zarr", in_tmp / "single" / f"member-{i:04d}.zarr")
    # a rerun skips the finished; a lost member of group 1 is rerun alone in its group
    shutil.rmtree(in_tmp / "batched" / "member-0005.zarr")
    capsys.readouterr()
    assert run_cli("sweep", batched, "--group", "1", "--no-collect") == 0
    err = capsys.readouterr().err
    assert "member 4: finished, skipped" in err and "writing 1 member stores" in err
    _same_stores(in_tmp / "batched" / "member-0005.zarr", in_tmp / "single" / "member-0005.zarr")
    assert run_cli("sweep", batched, "--group", "2") == 2


def test_sweep_batch_over_physics_is_refused_before_anything_runs(in_tmp, capsys):
    path = _sweep(in_tmp, 2, "bad").with_suffix(".yaml")
    text = path.read_text().replace("initial.amplitude", "model.mobility").replace("[0.02, 0.05]", "[4.0, 5.0]")
    path.write_text(text.replace("seed: {seeds: 3}", "seed: {seeds: 1}"))
    assert run_cli("sweep", path) != 0
    assert "batch: group 0 (members 0 to 1): model.mobility: differs" in capsys.readouterr().err
    assert not (in_tmp / "bad").exists()


def test_slurm_array_runs_one_group_per_task(in_tmp):
    from pfsim.slurm import SlurmProfile, submit_sweep
    from pfsim.sweep import Sweep

    sweep = Sweep(_sweep(in_tmp, 4, "slurm"))
    job_dir, _, _ = submit_sweep(sweep, SlurmProfile(), dry_run=True)
    script = (job_dir / "array.sh").read_text()
    assert "#SBATCH --array=0-1" in script and '--group "$SLURM_ARRAY_TASK_ID"' in script
