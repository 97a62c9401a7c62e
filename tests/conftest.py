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
