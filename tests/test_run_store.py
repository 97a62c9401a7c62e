"""The run store: layout readable by xarray, provenance, no overwrite, crash safety,
resume equal to an uninterrupted run, blow-up handling."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
import zarr

from conftest import run_cli, wait_for

SMALL_CH = """
name: small-ch
backend: numpy
seed: 7
grid: {{shape: [{n}, {n}], spacing: 1.0}}
model: {{kind: cahn_hilliard, mobility: 5.0, gradient_coefficient: 2.0, barrier: 5.0}}
initial: {{kind: random, mean: 0.5, amplitude: {amp}}}
time: {{stop: {stop}, dt: 1.0e-3}}
output: {{fields_every: {fields_every}, observables_every: 0.5}}
checkpoint: {{every: {ckpt}}}
"""


def write_config(path, n=32, amp=0.05, stop=4.0, fields_every=1.0, ckpt=1.0):
    path.write_text(SMALL_CH.format(n=n, amp=amp, stop=stop, fields_every=fields_every, ckpt=ckpt))
    return path


def test_store_layout_and_provenance(in_tmp):
    cfg = write_config(in_tmp / "c.yaml", stop=2.0)
    assert run_cli("run", cfg) == 0
    ds = xr.open_zarr("runs/small-ch.zarr")
    assert ds.c.dims == ("time", "x", "y") and ds.sizes["time"] == 3
    assert ds.x.attrs["units"] == "m" and ds.time.attrs["units"] == "s"
    assert np.allclose(ds.time.values, [0, 1, 2]) and np.isclose(ds.obs_time.values[-1], 2.0)
    meta = ds.attrs["pfsim"]
    assert meta["status"] == "finished" and meta["backend"] == "numpy"
    assert meta["config"]["time"]["stop"] == 2.0 and meta["config"]["seed"] == 7
    assert meta["pfsim_version"] and meta["device"] and meta["started"] and meta["finished"]
    # one frame per chunk along time
    assert zarr.open_array("runs/small-ch.zarr/c").chunks[0] == 1


def test_units_in_config_are_si_in_store(in_tmp):
    cfg = write_config(in_tmp / "c.yaml", stop=2.0)
    # mobility scaled with spacing^4 keeps the explicit step of the dx = 1 problem
    assert run_cli("run", cfg, "--set", "grid.spacing=1 um", "--set", "model.mobility=5e-24", "--set", "time.dt=auto",
                   "--set", "time.stop=2000 ms", "--set", "output.fields_every=0.5 s",
                   "--set", "output.observables_every=100 ms", "--set", "checkpoint.every=1 s") == 0
    ds = xr.open_zarr("runs/small-ch.zarr")
    assert np.isclose(float(ds.x[1] - ds.x[0]), 1e-6)
    assert np.allclose(ds.time.values, [0, 0.5, 1.0, 1.5, 2.0])
    assert np.isclose(ds.attrs["pfsim"]["dt"], 0.5 * 2 / (5e-24 * (2 * 64e24 + 2 * 5 * 0.16 * 8e12)))


def test_last_frame_and_sample_times(tmp_path):
    from pfsim.grid import Grid, GridConfig
    from pfsim.io.store import RunStore

    grid = Grid.from_config(GridConfig(shape=[4, 3], spacing=1.0, boundaries={}))
    store = RunStore.create(tmp_path / "s.zarr", grid, {"c": "1"}, {"mass": "1"}, {}, dtype="f8")
    assert store.last_frame_time() is None and store.last_sample_time() is None
    store.append_observables(0.5, {"mass": 1.0})
    assert store.last_sample_time() == 0.5 and store.samples == 0  # still buffered
    store.append_frame(1.0, {"c": np.zeros(grid.shape)})  # flushes the samples
    assert store.last_frame_time() == 1.0 and store.last_sample_time() == 0.5 and store.samples == 1
    store.append_observables(1.5, {"mass": 1.0})
    assert store.last_sample_time() == 1.5
    reopened = RunStore.open(tmp_path / "s.zarr")  # written times only: the buffered sample is not there
    assert reopened.last_frame_time() == 1.0 and reopened.last_sample_time() == 0.5


def test_existing_store_is_never_overwritten(in_tmp, capsys):
    cfg = write_config(in_tmp / "c.yaml", stop=1.0)
    assert run_cli("run", cfg, "-o", "s.zarr") == 0
    before = xr.open_zarr("s.zarr").attrs["pfsim"]["started"]
    other = write_config(in_tmp / "d.yaml", stop=2.0)  # the same config finds its finished run (exit 0)
    assert run_cli("run", other, "-o", "s.zarr") == 2
    assert "exists" in capsys.readouterr().err
    assert xr.open_zarr("s.zarr").attrs["pfsim"]["started"] == before
    assert run_cli("run", cfg, "-o", "s.zarr", "--overwrite") == 0
    # --overwrite refuses a folder that is not a run store
    (in_tmp / "data").mkdir()
    (in_tmp / "data" / "precious.txt").write_text("keep")
    assert run_cli("run", cfg, "-o", "data", "--overwrite") == 2
    assert (in_tmp / "data" / "precious.txt").read_text() == "keep"


def test_cupy_without_device_is_an_error(in_tmp, capsys):
    from pfsim.backend import cuda_status

    if cuda_status()[0]:
        pytest.skip("a CUDA device is present")
    cfg = write_config(in_tmp / "c.yaml", stop=1.0)
    assert run_cli("run", cfg, "--backend", "cupy", "-o", "s.zarr") == 2
    assert "cupy" in capsys.readouterr().err
    assert not (in_tmp / "s.zarr").exists()


def test_blow_up_stops_with_message_and_keeps_checkpoint(in_tmp, capsys):
    cfg = write_config(in_tmp / "c.yaml", amp=50.0, stop=5.0)
    assert run_cli("run", cfg, "-o", "s.zarr") == 1
    err = capsys.readouterr().err
    assert "field 'c'" in err and "step" in err
    ds = xr.open_zarr("s.zarr")
    meta = ds.attrs["pfsim"]
    assert meta["status"] == "blew_up" and meta["checkpoint"] is not None
    assert meta["iteration"] <= 10 + 1  # stopped within one NaN-check interval
    ckpt = zarr.open_group("s.zarr")["checkpoints"][meta["checkpoint"]]
    assert np.all(np.isfinite(ckpt["c"][...]))


def _final_fields(store):
    ds = xr.open_zarr(store)
    return ds.c.isel(time=-1).values, ds.free_energy.values, ds.time.values


def test_stop_and_resume_equals_uninterrupted(in_tmp):
    cfg = write_config(in_tmp / "c.yaml", stop=3.0)
    assert run_cli("run", cfg, "-o", "full.zarr") == 0
    assert run_cli("run", cfg, "-o", "part.zarr", "--set", "time.max_steps=1700") == 0
    assert xr.open_zarr("part.zarr").attrs["pfsim"]["status"] == "stopped"
    assert run_cli("run", "--resume", "part.zarr", "--set", "time.max_steps=null") == 0
    a, b = _final_fields("full.zarr"), _final_fields("part.zarr")
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    assert xr.open_zarr("part.zarr").attrs["pfsim"]["status"] == "finished"


def test_resume_of_finished_run_needs_a_later_stop(in_tmp, capsys):
    cfg = write_config(in_tmp / "c.yaml", stop=1.0)
    assert run_cli("run", cfg, "-o", "s.zarr") == 0
    assert run_cli("run", "--resume", "s.zarr") == 2
    assert "time.stop" in capsys.readouterr().err
    assert run_cli("run", "--resume", "s.zarr", "--set", "model.mobility=1") == 2
    assert run_cli("run", "--resume", "s.zarr", "--set", "time.stop=2") == 0
    assert np.isclose(float(xr.open_zarr("s.zarr").time[-1]), 2.0)


def _checkpoint_time(store):
    try:
        return zarr.open_group(store, mode="r", use_consolidated=False).attrs["pfsim"].get("checkpoint_time") or 0.0
    except Exception:
        return 0.0


def test_sigkill_leaves_readable_store_and_resume_is_exact(in_tmp):
    cfg = write_config(in_tmp / "c.yaml", n=64, stop=6.0, fields_every=0.25, ckpt=0.5)
    assert run_cli("run", cfg, "-o", "full.zarr") == 0
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "pfsim", "run", str(cfg), "-o", "killed.zarr"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _checkpoint_time("killed.zarr") >= 1.0, 120), "no checkpoint appeared"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    ds = xr.open_zarr("killed.zarr")  # readable up to the last complete frame
    assert ds.attrs["pfsim"]["status"] == "running"
    n = ds.sizes["time"]
    assert 1 <= n < 25 and np.all(np.isfinite(ds.c.values))
    assert run_cli("run", "--resume", "killed.zarr") == 0
    a, b = _final_fields("full.zarr"), _final_fields("killed.zarr")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])


def test_sigterm_checkpoints_and_exits_resumable(in_tmp):
    cfg = write_config(in_tmp / "c.yaml", n=64, stop=30.0, fields_every=5.0, ckpt=100.0)
    proc = subprocess.Popen([sys.executable, "-m", "pfsim", "run", str(cfg), "-o", "s.zarr"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_for(lambda: (in_tmp / "s.zarr" / "zarr.json").exists(), 60)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 3
    meta = xr.open_zarr("s.zarr").attrs["pfsim"]
    assert meta["status"] == "interrupted" and meta["checkpoint_time"] == meta["time"] > 0


def test_the_same_command_twice_finds_its_finished_run(in_tmp, capsys):
    """The README's first command can be repeated: a store holding the finished run of the same
    config is left as it is, with a message and exit 0; another config still gets exit 2."""
    from conftest import CONFIGS, run_cli

    args = ["run", CONFIGS / "pfhub" / "bm1a.yaml", "--set", "time.stop=0.02", "-o", "a.zarr"]
    assert run_cli(*args) == 0
    from pathlib import Path

    before = {p: p.stat().st_mtime_ns for p in Path("a.zarr").rglob("*")}
    capsys.readouterr()
    assert run_cli(*args) == 0
    assert "already holds the finished run of this config" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in Path("a.zarr").rglob("*")} == before
    assert run_cli("run", CONFIGS / "pfhub" / "bm1a.yaml", "--set", "time.stop=0.03", "-o", "a.zarr") == 2


def test_plot_refuses_an_unknown_field_before_writing(in_tmp, capsys):
    from pathlib import Path

    from conftest import CONFIGS, run_cli

    assert run_cli("run", CONFIGS / "pfhub" / "bm1a.yaml", "--set", "time.stop=0.02", "-o", "a.zarr") == 0
    capsys.readouterr()
    assert run_cli("plot", "a.zarr", "--fields", "nope") == 2
    err = capsys.readouterr().err
    assert "plot --fields: nope not in the store (it has c)" in err and "Traceback" not in err
    assert not Path("a-plots").exists()
