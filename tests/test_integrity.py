"""Runs that cannot lie: checksums of frames and checkpoints (resume falls back past a damaged
checkpoint, `pfsim verify`), the writer's lock of a store, the heartbeat and `pfsim status`."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
import zarr

from conftest import CONFIGS, run_cli, wait_for

STRIP = ["--backend", "numpy", "--set", "grid.shape=[24,20]", "--set", "model.geometry.pits=[]",
         "--set", "checkpoint.every=5", "--set", "output.fields_every=2", "--set", "output.observables_every=1"]

SLOW_CH = """
name: slow
backend: numpy
seed: 7
grid: {shape: [64, 64], spacing: 1.0}
model: {kind: cahn_hilliard, mobility: 5.0, gradient_coefficient: 2.0, barrier: 5.0}
initial: {kind: random, mean: 0.5, amplitude: 0.05}
time: {stop: 1000.0, dt: 1.0e-3}
output: {fields_every: 0.5, observables_every: 0.5}
checkpoint: {every: 0.5}
"""


def _strip(store, stop):
    return run_cli("run", CONFIGS / "void_stripping.yaml", "-o", store, "--set", f"time.stop={stop}", *STRIP)


def _newest(store):
    meta = zarr.open_group(str(store), mode="r").attrs["pfsim"]
    return meta["checkpoint"], meta["checkpoint_time"]


def _delete_chunks(store, slot, name="xi"):
    chunks = [p for p in (store / "checkpoints" / slot / name / "c").rglob("*") if p.is_file()]
    assert chunks
    for p in chunks:
        p.unlink()


def _tree(store):
    return {str(p.relative_to(store)): (p.read_bytes() if p.is_file() else None) for p in store.rglob("*")}


def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(in_tmp, capsys):
    assert _strip("full.zarr", 20) == 0
    assert _strip("s.zarr", 10) == 0
    slot, t = _newest("s.zarr")
    assert t == 10.0
    _delete_chunks(in_tmp / "s.zarr", slot)
    capsys.readouterr()
    assert run_cli("run", "--resume", "s.zarr", "--set", "time.stop=20") == 0
    err = capsys.readouterr().err
    assert f"checkpoint {slot}" in err and "damaged" in err and "xi" in err and "t = 5 s" in err
    a, b = xr.open_zarr("full.zarr"), xr.open_zarr("s.zarr")
    assert np.array_equal(a.xi.values, b.xi.values) and np.array_equal(a.time.values, b.time.values)
    assert np.array_equal(a.cell_voltage.values, b.cell_voltage.values)
    assert run_cli("verify", "s.zarr") == 0  # the damaged slot was written anew


def test_no_intact_checkpoint_is_refused_and_the_store_left_as_it_was(in_tmp, capsys):
    assert _strip("s.zarr", 10) == 0
    for slot in ("a", "b"):
        _delete_chunks(in_tmp / "s.zarr", slot)
    before = _tree(in_tmp / "s.zarr")
    capsys.readouterr()
    assert run_cli("run", "--resume", "s.zarr", "--set", "time.stop=20") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no intact checkpoint" in err and "Traceback" not in err
    assert _tree(in_tmp / "s.zarr") == before


def test_float_arrays_fill_with_nan(in_tmp):
    assert _strip("s.zarr", 10) == 0
    g = zarr.open_group("s.zarr", mode="r")
    slot = g.attrs["pfsim"]["checkpoint"]
    for name in ("xi", "supersaturation", "potential"):
        assert np.isnan(g["checkpoints"][slot][name].fill_value)
    assert np.isnan(g["xi"].fill_value)


def test_verify_reports_damage_and_older_stores(in_tmp, capsys):
    assert _strip("s.zarr", 10) == 0
    capsys.readouterr()
    assert run_cli("verify", "s.zarr") == 0
    assert "intact" in capsys.readouterr().out
    frame = sorted(p for p in (in_tmp / "s.zarr" / "xi" / "c").rglob("*") if p.is_file())[1]
    frame.unlink()  # the second frame of xi
    slot, _ = _newest("s.zarr")
    _delete_chunks(in_tmp / "s.zarr", slot, "potential")
    assert run_cli("verify", "s.zarr") == 2
    out = capsys.readouterr().out
    assert "xi: frame(s) 1 (t = 2 s)" in out and f"checkpoint {slot} (newest): potential" in out
    # a store of an older pfsim: no checksums; resumed as before
    assert _strip("old.zarr", 10) == 0
    g = zarr.open_group("old.zarr", mode="r+")
    meta = dict(g.attrs["pfsim"])
    del meta["integrity"]
    g.attrs["pfsim"] = meta
    for s in ("a", "b"):
        info = dict(g["checkpoints"][s].attrs["pfsim_checkpoint"])
        del info["checksums"]
        g["checkpoints"][s].attrs["pfsim_checkpoint"] = info
    zarr.consolidate_metadata("old.zarr")
    capsys.readouterr()
    assert run_cli("verify", "old.zarr") == 0
    assert "no checksums (written by an older pfsim)" in capsys.readouterr().out
    assert run_cli("run", "--resume", "old.zarr", "--set", "time.stop=12") == 0


def _frames(store):
    try:
        return zarr.open_group(store, mode="r", use_consolidated=False).attrs["pfsim"].get("frames", 0)
    except Exception:
        return 0


def _a_little_later(store):
    return f"time.stop={zarr.open_group(store, mode='r').attrs['pfsim']['checkpoint_time'] + 0.2}"


@pytest.fixture
def running(in_tmp):
    """A run writing slow.zarr in another process."""
    (in_tmp / "c.yaml").write_text(SLOW_CH)
    proc = subprocess.Popen([sys.executable, "-m", "pfsim", "run", "c.yaml", "-o", "slow.zarr"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: _frames("slow.zarr") >= 2, 120), "the run wrote no frames"
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def test_a_second_writer_is_refused_naming_the_holder(running, capsys):
    lock = json.loads((running_store := __import__("pathlib").Path("slow.zarr") / ".pfsim-lock").read_text())
    assert lock["pid"] == running.pid and lock["host"] == socket.gethostname() and lock["since"]
    capsys.readouterr()
    assert run_cli("run", "--resume", "slow.zarr", "--set", "time.stop=2000") == 2
    err = capsys.readouterr().err
    assert f"PID {running.pid}" in err and socket.gethostname() in err and lock["since"] in err
    assert run_cli("run", "c.yaml", "-o", "slow.zarr", "--overwrite") == 2
    assert f"PID {running.pid}" in capsys.readouterr().err
    assert running_store.exists()
    # the first run carries on, and ends cleanly on SIGTERM, releasing its lock
    n = _frames("slow.zarr")
    assert wait_for(lambda: _frames("slow.zarr") > n, 60)
    running.send_signal(signal.SIGTERM)
    assert running.wait(60) == 3, running.stderr.read()
    assert not running_store.exists()
    assert run_cli("run", "--resume", "slow.zarr", "--set", _a_little_later("slow.zarr")) == 0
    assert not running_store.exists()


def test_a_killed_run_is_stale_and_its_lock_taken_over(running, capsys):
    assert run_cli("status", "slow.zarr") == 0
    assert "status      running" in capsys.readouterr().out
    running.send_signal(signal.SIGKILL)
    running.wait(10)
    assert zarr.open_group("slow.zarr", mode="r").attrs["pfsim"]["status"] == "running"
    assert run_cli("status", "slow.zarr") == 0
    out = capsys.readouterr().out
    assert "status      stale" in out and f"PID {running.pid}" in out
    assert run_cli("run", "--resume", "slow.zarr", "--set", _a_little_later("slow.zarr")) == 0
    assert "taking over the lock" in capsys.readouterr().err
    assert run_cli("status", "slow.zarr") == 0
    assert "status      finished" in capsys.readouterr().out


def test_heartbeat_and_stale_by_age(in_tmp, capsys):
    assert _strip("s.zarr", 10) == 0
    g = zarr.open_group("s.zarr", mode="r+")
    meta = dict(g.attrs["pfsim"])
    beat = meta["heartbeat"]
    assert beat["step"] == meta["iteration"] and beat["time"] == 10.0 and beat["every"] > 0 and beat["wall"]
    # a run on another host, whose heartbeat stopped long ago
    (in_tmp / "s.zarr" / ".pfsim-lock").write_text(json.dumps({"host": "elsewhere", "pid": 1, "since": "then"}))
    meta.update(status="running", heartbeat=dict(beat, unix=time.time() - 100 * beat["every"]))
    g.attrs["pfsim"] = meta
    zarr.consolidate_metadata("s.zarr")
    capsys.readouterr()
    assert run_cli("status", "s.zarr") == 0
    assert "status      stale" in capsys.readouterr().out
    meta["heartbeat"] = dict(beat, unix=time.time())
    g.attrs["pfsim"] = meta
    zarr.consolidate_metadata("s.zarr")
    assert run_cli("status", "s.zarr") == 0
    assert "status      running" in capsys.readouterr().out
    # a lock held on another host is never taken over
    assert run_cli("run", "--resume", "s.zarr", "--set", "time.stop=20") == 2
    assert "host elsewhere, PID 1" in capsys.readouterr().err


def test_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    from pfsim.io.lock import LOCK_NAME, StoreLock

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "since": "x",
                                                  "unix": time.time()}))
    said = []
    lock = StoreLock.acquire(tmp_path, said.append)
    assert "taking over" in said[0] and json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_run_that_fails_records_it_and_releases_its_lock(in_tmp, monkeypatch, capsys):
    from pfsim.simulation import Simulation

    def broken(self, *args, **kwargs):
        raise RuntimeError("device lost")

    monkeypatch.setattr(Simulation, "time_step", broken)
    assert _strip("s.zarr", 10) == 5  # an internal error: one line, exit 5
    assert "pfsim: internal error: RuntimeError: device lost" in capsys.readouterr().err
    meta = zarr.open_group("s.zarr", mode="r").attrs["pfsim"]
    assert meta["status"] == "failed" and "device lost" in meta["stop_reason"]
    assert not (in_tmp / "s.zarr" / ".pfsim-lock").exists()
    capsys.readouterr()
    assert run_cli("status", "s.zarr") == 0
    assert "status      failed (RuntimeError: device lost)" in capsys.readouterr().out


def test_observable_samples_carry_checksums_that_verify_checks(in_tmp, capsys):
    assert _strip("s.zarr", 6) == 0
    assert run_cli("run", "--resume", "s.zarr", "--set", "time.stop=12") == 0  # truncated, then rewritten
    g = zarr.open_group("s.zarr", mode="r")
    n = g.attrs["pfsim"]["samples"]
    assert n == 13 and g["checksums"]["observables"].shape == (n,)
    capsys.readouterr()
    assert run_cli("verify", "s.zarr") == 0
    zarr.open_group("s.zarr", mode="r+")["cell_voltage"][3] = 0.0  # a changed value
    assert run_cli("verify", "s.zarr") == 2
    assert "observables: sample(s) 3 (t = 3 s) damaged" in capsys.readouterr().out
    for p in (in_tmp / "s.zarr" / "contact_fraction" / "c").rglob("*"):  # a lost chunk reads as NaN
        if p.is_file():
            p.unlink()
    assert run_cli("verify", "s.zarr") == 2
    assert "observables: sample(s) 0 (t = 0 s), 1 (t = 1 s)" in capsys.readouterr().out
    # a store written before observables had checksums: a note, not damage
    old = zarr.open_group("s.zarr", mode="r+")
    del old["checksums"]["observables"]
    old["cell_voltage"][3] = 0.0
    zarr.consolidate_metadata("s.zarr")
    capsys.readouterr()
    assert run_cli("verify", "s.zarr") == 0
    assert "observables: no checksums (written by an older pfsim)" in capsys.readouterr().out


def test_frames_and_checkpoints_under_the_time_step_warn(in_tmp, capsys):
    # like observables_every: steps land on every frame and checkpoint, so each cuts the step
    assert run_cli("validate", CONFIGS / "void_stripping.yaml", "--set", "output.fields_every=1",
                   "--set", "checkpoint.every=0.5") == 0
    err = capsys.readouterr().err
    assert "warning: output.fields_every: 1 s is under the time step 1.667 s" in err
    assert "warning: checkpoint.every: 0.5 s is under the time step 1.667 s" in err and "3.33x slower" in err
    assert run_cli("validate", CONFIGS / "void_stripping.yaml") == 0
    assert "warning" not in capsys.readouterr().err


def test_the_last_sample_amended_keeps_its_checksum(in_tmp, capsys):
    # a run its model ends in a step that started at a sample time writes that sample again,
    # with what ended it; the sample's checksum follows (buffered or already written)
    from pfsim.io.store import RunStore

    assert _strip("s.zarr", 6) == 0
    store = RunStore.open("s.zarr")
    n = store.samples
    store.amend_last_sample({"cell_voltage": 0.125})
    g = zarr.open_group("s.zarr", mode="r")
    assert g.attrs["pfsim"]["samples"] == n and g["cell_voltage"][n - 1] == 0.125 and np.isnan(g["contact_fraction"][n - 1])
    assert run_cli("verify", "s.zarr") == 0
    store.append_observables(7.0, {"cell_voltage": 1.0})  # buffered
    store.amend_last_sample({"cell_voltage": 2.0})
    store.flush_observables()
    assert zarr.open_group("s.zarr", mode="r")["cell_voltage"][n] == 2.0
    assert run_cli("verify", "s.zarr") == 0
