"""Local parameter sweeps: every member validated first, one store per member, results table,
phase diagram, finished members skipped on a rerun, missing ones rerun."""

import csv

from conftest import CONFIGS, run_cli

SWEEP = """
name: tiny
base: {base}
set:
  grid.shape: [24, 24]
  model.geometry.pits: []
  time.stop: 12
  output.fields_every: 6
axes:
  drive.stack_pressure: ["0.2 MPa", "2 MPa"]
  drive.current_density: {currents}
  seed: {{seeds: 2}}
output: sweep-out
"""


def write(tmp, currents='["1 mA/cm^2", "4 mA/cm^2"]'):
    path = tmp / "sweep.yaml"
    path.write_text(SWEEP.format(base=CONFIGS / "void_stripping.yaml", currents=currents))
    return path


def test_sweep_runs_collects_and_skips_finished(in_tmp, capsys):
    sweep = write(in_tmp)
    assert run_cli("sweep", sweep, "--backend", "numpy") == 0
    with open(in_tmp / "sweep-out" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and all(r["state"] == "finished" for r in rows)
    assert {float(r["drive.stack_pressure"]) for r in rows} == {2e5, 2e6}
    assert all(float(r["final_li_site_balance_error"]) < 5e-3 for r in rows)
    assert (in_tmp / "sweep-out" / "phase_diagram_void_volume_fraction.png").is_file()
    # a rerun skips what finished, and reruns a member whose store went missing
    import shutil

    stamp = (in_tmp / "sweep-out" / "member-0000.zarr" / "zarr.json").stat().st_mtime_ns
    shutil.rmtree(in_tmp / "sweep-out" / "member-0005.zarr")
    capsys.readouterr()
    assert run_cli("sweep", sweep, "--backend", "numpy") == 0
    out = capsys.readouterr()
    assert "member 0: finished, skipped" in out.err and "finished: 8 member(s)" in out.out
    assert (in_tmp / "sweep-out" / "member-0000.zarr" / "zarr.json").stat().st_mtime_ns == stamp


def test_one_member_for_a_job_array(in_tmp, capsys):
    sweep = write(in_tmp)
    assert run_cli("sweep", sweep, "--backend", "numpy", "--member", "2") == 0
    assert (in_tmp / "sweep-out" / "member-0002.zarr").is_dir()
    assert not (in_tmp / "sweep-out" / "member-0001.zarr").exists()
    assert "not started: 7 member(s)" in capsys.readouterr().out
    assert run_cli("sweep", sweep, "--member", "8") == 2


def test_bad_member_fails_before_anything_runs(in_tmp, capsys):
    sweep = write(in_tmp, currents='["1 mA/cm^2", "5 MPa"]')
    assert run_cli("sweep", sweep) == 2
    assert "drive.current_density" in capsys.readouterr().err
    assert not (in_tmp / "sweep-out").exists()


def test_validate_checks_every_member_of_a_sweep_file(in_tmp, capsys):
    sweep = write(in_tmp)
    assert run_cli("validate", sweep) == 0
    out = capsys.readouterr().out
    assert f"{sweep}: valid sweep file (8 member(s)" in out and "memory: about" in out
    bad = write(in_tmp, currents='["1 mA/cm^2", "4 MPa"]')  # members 2, 3, 6, 7: not a current density
    assert run_cli("validate", bad) == 2
    err = capsys.readouterr().err
    assert "member 2 (" in err and "drive.current_density: expected a current density" in err
    assert run_cli("validate", sweep, "--set", "time.stop=1") == 2
    assert "is a sweep file" in capsys.readouterr().err
    assert not (in_tmp / "sweep-out").exists()


def test_status_tells_a_scenario_from_a_sweep_file(in_tmp, capsys):
    sweep = write(in_tmp)
    assert run_cli("status", sweep) == 0
    out = capsys.readouterr().out
    assert f"sweep tiny (sweep file {sweep}): 8 member(s)" in out and "not started: 8" in out
    scenario = CONFIGS / "void_stripping.yaml"
    assert run_cli("status", scenario) == 0
    out = capsys.readouterr().out
    assert f"{scenario}: a scenario file (not a sweep)" in out and "runs/void-stripping.zarr, not started" in out
    assert run_cli("run", scenario, "--backend", "numpy", "--set", "time.max_steps=2") == 0
    capsys.readouterr()
    assert run_cli("status", scenario) == 0
    out = capsys.readouterr().out
    assert "a scenario file" in out and "status      stopped" in out
