import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def _shared_dir() -> Path | None:
    """The shared folder with the PFHub reference data: PFSIM_SHARED, or ../shared beside the repo."""
    for c in (os.environ.get("PFSIM_SHARED"), ROOT.parent / "shared", ROOT / "shared"):
        if c and (Path(c) / "pfhub" / "data").is_dir():
            return Path(c)
    return None


def pytest_addoption(parser):
    parser.addoption("--pfsim-backend", default="numpy", choices=("numpy", "cupy"),
                     help="backend of the PFHub checks (benchmarks/gpu_check.sh runs them on cupy)")


@pytest.fixture(scope="session")
def pfsim_backend(request) -> str:
    return request.config.getoption("--pfsim-backend")


@pytest.fixture(scope="session")
def pfhub_data() -> Path:
    d = _shared_dir()
    if d is None:
        pytest.skip("PFHub reference data (shared/pfhub/data) not found")
    return d / "pfhub" / "data"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder so default run stores land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def wait_for(predicate, timeout) -> bool:
    """Poll predicate() every 50 ms until it holds (True) or timeout seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def run_cli(*args) -> int:
    from pfsim.cli import main

    return main([str(a) for a in args])


def stop_and_resume(config, sets, max_steps):
    """(uninterrupted, resumed) datasets of `config` run with `sets` into full.zarr, and stopped
    after `max_steps` into part.zarr and resumed there (in the current folder)."""
    import xarray as xr

    assert run_cli("run", config, "-o", "full.zarr", *sets) == 0
    assert run_cli("run", config, "-o", "part.zarr", *sets, "--set", f"time.max_steps={max_steps}") == 0
    assert run_cli("run", "--resume", "part.zarr", "--set", "time.max_steps=null") == 0
    return xr.open_zarr("full.zarr"), xr.open_zarr("part.zarr")


def advance(m, state, dt, steps, t0=0.0):
    """`steps` Euler steps of a model of dt each from t0; returns the time reached."""
    t = t0
    for _ in range(steps):
        m.euler_step(state, t, dt)
        t += dt
    return t


# the two material files on a small cell with a fast ramp (4, 8, 12 mA/cm^2, 1 min each), with the
# sink length, the bulk creep strength and the point-sink sub-grid voids they had before the
# calibration (docs/validation.md; the calibrated sets lose their contact in the first step of this
# ramp): Li|LLZO at 0 MPa loses its contact in the 12 mA/cm^2 step; at 2 MPa and Li|Li6PS5Cl carry
# the ramp
CCD_SWEEP = f"""
name: ccd-test
base: [{CONFIGS / 'materials' / 'li_llzo.yaml'}, {CONFIGS / 'materials' / 'li_lpscl.yaml'}]
set:
  model.lithium.sink_length: "1 um"
  model.creep.size_effect: false
  model.nucleation.subgrid_contact: open
  grid.shape: [16, 24]
  model.geometry.electrolyte_thickness: "2 um"
  drive.current_density: [{{steps: 3, duration: "1 min", start: "4 mA/cm^2", step: "4 mA/cm^2"}}]
  time.stop: "3 min"
  checkpoint.every: "10 min"
  output.fields_every: "10 min"
axes:
  drive.stack_pressure: ["0 MPa", "2 MPa"]
output: OUT
"""


@pytest.fixture(scope="session")
def swept(tmp_path_factory):
    """The four members of the small critical-current sweep, run by `pfsim sweep`: (sweep, output
    folder); member 0 (Li|LLZO, 0 MPa) fails, member 1 (Li|LLZO, 2 MPa) carries the ramp. Tests
    copy its stores and leave them unchanged."""
    from pfsim.cli import main as pfsim
    from pfsim.sweep import Sweep

    tmp = tmp_path_factory.mktemp("ccd")
    path = tmp / "ccd.yaml"
    path.write_text(CCD_SWEEP.replace("OUT", str(tmp / "out")))
    assert pfsim(["sweep", str(path), "--no-collect"]) == 0
    return Sweep(path), tmp / "out"
