"""The Li+ concentration of a liquid electrolyte in the plating model (`model.electrolyte.salt`,
docs/plating.md section 2, Salt): the galvanostatic semi-infinite solution and Sand's time, the
concentration in the kinetics, salt conservation, the option off as before, resume."""

import functools
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, CONFIGS, advance, run_cli
from test_plating import scenario
from pfsim.config import ConfigError, load_config
from pfsim.errors import StopRun
from pfsim.physics.constants import FARADAY, GAS

C0, D, TP = 1000.0, 3e-10, 0.38  # 1 mol/L, m^2/s, t+ (LiPF6 in EC/DMC)
J = 1000.0  # A/m^2 (100 mA/cm^2): Sand's time of a few seconds
FLUX = (1 - TP) * J / FARADAY  # salt taken from the electrolyte per area, mol/(m^2 s)
SAND = np.pi * D * C0**2 / (4 * FLUX**2)  # 5.71 s
CELL = 300e-6  # electrolyte: 3.6 diffusion lengths 2 sqrt(D t_s), semi-infinite over t_s


def salt_extra(**salt):
    return {"electrolyte": {"conductivity": "10 mS/cm",
                            "salt": {"concentration": "1 mol/L", "diffusivity": D, "transference_number": TP, **salt}}}


def semi_infinite(t):
    """c at a flat front that takes FLUX from a semi-infinite electrolyte since t = 0."""
    return C0 - 2 * FLUX * np.sqrt(t / (np.pi * D))


@functools.lru_cache(maxsize=None)
def sand_run(h, dt=0.05):
    """A flat front plated at J until Li+ runs out there. Mechanics on: the intact electrolyte
    holds the metal where it is (the plated Li thickens the anode), so the front does not move.
    Returns the model, the observables of every step and the StopRun that ended the run."""
    n = int(round((CELL + 4e-6) / h))
    m, s = scenario(shape=(4, n), spacing=h, sse=f"{CELL * 1e6:g} um", current=f"-{J / 10:g} mA/cm^2",
                    width=f"{2 * h * 1e6:g} um", extra=salt_extra())
    t, series = 0.0, []
    try:
        while t < 2 * SAND:
            m.euler_step(s, t, dt)
            t += dt
            series.append((t, m.observables(s, t)))
    except StopRun as end:
        return m, series, end
    raise AssertionError("Li+ never ran out")


def test_front_concentration_follows_the_semi_infinite_solution_to_sands_time():
    m, series, end = sand_run(0.25e-6)
    compared = 0
    for t, obs in series:
        if 0.1 * SAND <= t <= 0.9 * SAND:
            assert abs(obs["salt_concentration_front_min"] - semi_infinite(t)) < 0.03 * C0, t
            compared += 1
    assert compared > 50
    # Sand's time: the run ends there, with a one-line reason and a failure record
    assert end.details["kind"] == "salt_depletion"
    assert end.details["time"] == pytest.approx(SAND, rel=0.05)
    assert "Sand's time" in end.reason and "\n" not in end.reason
    assert series[-1][1]["salt_balance_error"] < 1e-11


def test_sands_time_converges_under_grid_refinement():
    # the diffuse front holds salt over about a width: Sand's time comes late by O(width)
    errors = [abs(sand_run(h)[2].details["time"] / SAND - 1) for h in (0.5e-6, 0.25e-6)]
    assert errors[1] < 0.6 * errors[0] and errors[1] < 0.05, errors


def test_the_kinetics_see_the_front_concentration():
    # the cathodic branch scaled by c / c0: the overpotential is Butler-Volmer's at the front's c
    m, series, _ = sand_run(0.25e-6)
    r = J / m.params.kinetics.exchange_current_density
    rise = []
    for t, obs in series:
        # (the step's overpotential is that of its start's c: compared where c moves slowly)
        if 0.1 * SAND <= t <= 0.8 * SAND:
            f = obs["salt_concentration_front_mean"] / C0
            u = (-r + np.sqrt(r * r + 4 * f)) / 2  # e^(F eta / 2RT) of i0 (e^x - f e^-x) = -J, alpha 1/2
            eta = 2 * GAS * m.temperature / FARADAY * np.log(u)
            assert obs["interface_overpotential"] == pytest.approx(eta, abs=3e-3), t  # (c varies across the front)
            rise.append(obs["interface_overpotential"])
    assert rise[0] - rise[-1] > 0.05  # 50 mV and more of concentration overpotential


def test_salt_is_conserved_and_follows_the_plated_charge():
    # a rough front moving into the electrolyte (mechanics off), noise on the local rate
    m, s = scenario(shape=(16, 48), current="-20 mA/cm^2", mechanics=False, extra={
        **salt_extra(), "geometry": {"electrolyte_thickness": "8 um", "roughness": {"rms": "0.25 um", "correlation_length": "1 um"}},
        "noise": 0.2})
    t = advance(m, s, 0.5, 30)
    obs = m.observables(s, t)
    assert obs["salt_balance_error"] < 1e-11
    assert obs["li_site_balance_error"] < 1e-10
    # the front took (1 - t+) of the plated charge as salt; the counter electrode gave it back
    taken = m.ledger(s, "salt_reacted")
    assert taken == pytest.approx((1 - TP) * obs["charge_passed"] * m.lateral_area / FARADAY, rel=1e-12)
    assert m.ledger(s, "salt_released") == pytest.approx(-taken, rel=1e-14)
    c = s["salt_concentration"]
    # towards the steady profile, whose drop across the cell is FLUX L / D = 34 mol/m^3 at 20 mA/cm^2
    assert obs["salt_concentration_front_min"] < 0.99 * C0 and c[:, 0].min() > 1.005 * C0


def test_invalid_salt_values_are_refused():
    for key, value, message in (("transference_number", 1.2, "less than 1"),
                                ("concentration", "-1 mol/L", "greater than 0"),
                                ("diffusivity", "1 mol/L", "not a diffusivity"),
                                ("concentration", "1 m", "not a concentration")):
        with pytest.raises(ConfigError, match=message):
            load_config(CONFIGS / "plating_branching.yaml", [f"model.electrolyte.salt={{{key}: {value}}}"])
    # the concentration field is there only with the salt
    with pytest.raises(ConfigError, match="needs model.electrolyte.salt"):
        load_config(CONFIGS / "plating_branching.yaml", ["output.fields=[xi, salt_concentration]"])
    cfg, _ = load_config(CONFIGS / "plating_branching_liquid.yaml", ["output.fields=[xi, salt_concentration]"])
    assert cfg.output.fields == ["xi", "salt_concentration"]


# --- the option off: as before, bit for bit -------------------------------------------------------
BEFORE = "c4b991a"  # the last commit before the salt option
FINGERPRINT = """
import sys
import numpy as np
from pfsim.backend import Backend
from pfsim.build import build_model
from pfsim.config import load_config
from pfsim.grid import Grid
cfg, _ = load_config(sys.argv[1], ["grid.shape=[32,40]"])
m = build_model(cfg.model, Grid.from_config(cfg.grid), Backend("numpy", np.dtype("float64"), "cpu"), drive=cfg.drive, seed=cfg.seed)
s, t = m.initial_state(), 0.0
for _ in range(20):
    m.euler_step(s, t, 0.5)
    t += 0.5
o = m.observables(s, t)
np.savez(sys.argv[2], **{k: np.asarray(s[k]) for k in m.checkpoint_names}, obs=np.array([o[k] for k in sorted(o)]))
"""


def test_without_salt_the_model_runs_as_before_bit_for_bit(tmp_path):
    # the same run by this code and by the code before the option (git archive of BEFORE), on
    # this machine: leakage, nucleation, damage and noise in play
    if shutil.which("git") is None or subprocess.run(["git", "-C", ROOT, "cat-file", "-e", BEFORE + "^{commit}"],
                                                     capture_output=True).returncode != 0:
        pytest.skip(f"git history with {BEFORE} not available")
    old = tmp_path / "old"
    old.mkdir()
    archive = subprocess.run(["git", "-C", ROOT, "archive", BEFORE, "pfsim"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
    cfg = CONFIGS / "filament_leakage.yaml"
    for name, path in (("old", old), ("new", ROOT)):
        subprocess.run([sys.executable, "-c", FINGERPRINT, cfg, tmp_path / f"{name}.npz"], check=True,
                       env={"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin"})
    a, b = np.load(tmp_path / "old.npz"), np.load(tmp_path / "new.npz")
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        assert np.array_equal(a[key], b[key], equal_nan=True), key
    assert float(np.abs(a["damage"]).sum()) > 0


# --- checkpoints ------------------------------------------------------------------------------------
def test_a_model_rebuilt_from_the_checkpoint_continues_the_salt_exactly():
    def build():
        return scenario(shape=(8, 40), current="-20 mA/cm^2", mechanics=False, extra={**salt_extra(), "noise": 0.2})

    m, s = build()
    t = advance(m, s, 0.5, 4)
    assert "salt_concentration" in m.checkpoint_names
    resumed = {name: np.array(s[name]) for name in m.checkpoint_names}
    fresh, _ = build()
    for _ in range(2):
        a, b = m.observables(s, t), fresh.observables(resumed, t)
        assert "salt_balance_error" in b and a.keys() == b.keys()
        assert all(a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])) for k in a)
        advance(m, s, 0.5, 1, t)
        t = advance(fresh, resumed, 0.5, 1, t)
    assert np.array_equal(s["salt_concentration"], resumed["salt_concentration"])


SAND_CONFIG = """
name: sand
grid: {shape: [4, 608], spacing: "0.5 um", boundaries: {x: periodic, y: no_flux}}
model:
  kind: li_plating
  geometry: {electrolyte_thickness: "300 um"}
  interface: {width: "1 um", relaxation_time: "10 s"}
  electrolyte: {conductivity: "10 mS/cm", salt: {concentration: "1 mol/L", diffusivity: "3e-10 m^2/s", transference_number: 0.38}}
drive: {current_density: "-100 mA/cm^2"}
time: {stop: 20, dt: 0.05}
output: {fields_every: 1, observables_every: 0.25}
"""


def test_a_salt_run_resumes_exactly_and_ends_at_sands_time(in_tmp):
    cfg = in_tmp / "sand.yaml"
    cfg.write_text(SAND_CONFIG)
    assert run_cli("run", cfg, "-o", "full.zarr", "--backend", "numpy") == 0
    assert run_cli("run", cfg, "-o", "part.zarr", "--backend", "numpy", "--set", "time.max_steps=40") == 0
    assert run_cli("run", "--resume", "part.zarr", "--set", "time.max_steps=null") == 0
    import xarray as xr

    a, b = xr.open_zarr("full.zarr"), xr.open_zarr("part.zarr")
    for name in ("xi", "potential", "salt_concentration"):
        assert np.array_equal(a[name].values, b[name].values), name
    assert np.array_equal(a.salt_concentration_front_min.values, b.salt_concentration_front_min.values)
    # the run ends at Sand's time (late by the diffuse front's O(width), 8 % at this width)
    for ds in (a, b):
        meta = ds.attrs["pfsim"]
        assert meta["status"] == "ended" and meta["failure"]["kind"] == "salt_depletion"
        assert meta["failure"]["time"] == pytest.approx(SAND, rel=0.1) and "Sand's time" in meta["stop_reason"]
        assert float(ds.time.values[-1]) < meta["failure"]["time"]


def test_the_liquid_branching_scenario_runs_with_the_salt(in_tmp, capsys):
    # configs/plating_branching_liquid.yaml (docs/plating.md section 7): valid without warnings;
    # its first half second on a third of its width: the salt conserved, Li+ depleting at the front
    cfg = CONFIGS / "plating_branching_liquid.yaml"
    assert run_cli("validate", cfg) == 0
    assert "warning" not in capsys.readouterr().err
    assert run_cli("run", cfg, "-o", "b.zarr", "--backend", "numpy", "--set", "time.stop=0.5",
                   "--set", "grid.shape=[32,160]") == 0
    import xarray as xr

    ds = xr.open_zarr("b.zarr")
    assert float(ds.salt_balance_error.max()) < 1e-11 and float(ds.li_site_balance_error.max()) < 1e-10
    assert float(ds.salt_concentration_front_min.values[-1]) < 0.8 * C0
