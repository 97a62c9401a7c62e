"""Drive protocols (pfsim/protocol.py): holds, ramps, capacities, repeated blocks, staircases."""

import numpy as np
import pytest
from pydantic import ValidationError

from pfsim.drive import DriveConfig
from pfsim.protocol import MAX_SEGMENTS, Protocol


def current(spec):
    return Protocol(DriveConfig(current_density=spec).current_density)


def test_capacity_sets_the_duration_of_a_hold():
    p = current([{"capacity": "0.5 mAh/cm^2", "value": "-2 mA/cm^2"}, {"duration": "1 min", "value": 0}])
    assert p.breakpoints() == pytest.approx([900.0, 960.0])  # 0.5 mAh/cm^2 at 2 mA/cm^2 = 15 min
    assert p(0) == -20.0 and p(899.9) == -20.0 and p(900.1) == 0.0


def test_repeated_block_is_a_galvanostatic_cycle():
    half = {"capacity": "0.1 mAh/cm^2", "value": "1 mA/cm^2"}
    p = current([{"repeat": 3, "segments": [half, {"duration": "5 min", "value": 0},
                                            {"capacity": "0.1 mAh/cm^2", "value": "-1 mA/cm^2"}]}])
    assert len(p.breakpoints()) == 9
    period = 360 + 300 + 360
    for k in range(3):
        assert p(k * period + 1) == 10.0 and p(k * period + 400) == 0.0 and p(k * period + 700) == -10.0
    assert p(10 * period) == -10.0  # the last value holds
    charge = sum(d * a for d, a, b in p.segments)
    assert charge == pytest.approx(0.0)  # as much stripped as plated


def test_staircase_and_ramp():
    p = current([{"steps": 4, "duration": "10 min", "start": "0.5 mA/cm^2", "step": "0.5 mA/cm^2"},
                 {"duration": "10 min", "start": "2 mA/cm^2", "end": "4 mA/cm^2"}])
    assert [p(600 * k + 1) for k in range(4)] == pytest.approx([5.0, 10.0, 15.0, 20.0])
    assert p(2400 + 300) == pytest.approx(30.0)
    assert p.segment_index(601) == 1 and p.segment_index(1e9) == 4


def test_nested_staircase_in_a_block():
    p = current([{"repeat": 2, "segments": [{"steps": 2, "duration": 10, "start": 1, "step": 1},
                                            {"duration": 5, "value": 0}]}])
    assert [p(t) for t in (1, 11, 21, 26, 36, 46)] == [1.0, 2.0, 0.0, 1.0, 2.0, 0.0]


@pytest.mark.parametrize("spec,message", [
    ([{"capacity": "1 mAh/cm^2", "value": 0}], "capacity needs a nonzero held value"),
    ([{"capacity": "1 mAh/cm^2", "start": 1, "end": 2}], "capacity needs a nonzero held value"),
    ([{"value": 1}], "either duration or capacity"),
    ([{"duration": 1, "capacity": "1 mAh/cm^2", "value": 1}], "either duration or capacity"),
    ([{"repeat": 0, "segments": [{"duration": 1, "value": 1}]}], "greater than or equal to 1"),
    ([{"repeat": MAX_SEGMENTS, "segments": [{"duration": 1, "value": 1}, {"duration": 1, "value": 0}]}],
     "more than"),
    ([5], "expected a segment"),
])
def test_bad_protocols_are_refused(spec, message):
    with pytest.raises(ValidationError) as err:
        DriveConfig(current_density=spec)
    assert message in str(err.value)


def test_capacity_is_for_current_density_only():
    with pytest.raises(ValidationError):
        DriveConfig(current_density=0, stack_pressure=[{"capacity": 1, "value": 1}])
    p = Protocol(DriveConfig(current_density=0, stack_pressure=[{"repeat": 2, "segments": [
        {"duration": "1 h", "value": "1 MPa"}, {"duration": "1 h", "value": "5 MPa"}]}]).stack_pressure)
    assert p(3600 * 2.5) == 1e6 and p(3600 * 3.5) == 5e6
    assert np.all(np.diff(p.breakpoints()) > 0)


def test_cycling_run_gives_a_voltage_trace_and_half_cycle_snapshots(in_tmp):
    from conftest import run_cli
    import xarray as xr

    cfg = in_tmp / "cycle.yaml"
    cfg.write_text("""
name: cycle
grid: {shape: [8, 24], spacing: "0.25 um", boundaries: {x: periodic, y: no_flux}}
model:
  kind: li_plating
  geometry: {electrolyte_thickness: "3 um"}
  interface: {width: "0.5 um"}
drive:
  current_density:
    - repeat: 2
      segments:
        - {capacity: "0.02 mAh/cm^2", value: "1 mA/cm^2"}
        - {duration: "30 s", value: 0}
        - {capacity: "0.02 mAh/cm^2", value: "-1 mA/cm^2"}
time: {stop: 348, dt: "6 s"}              # two cycles of 174 s
output: {fields_every: "72 s", observables_every: "6 s"}
""")
    assert run_cli("run", cfg, "-o", "c.zarr") == 0
    ds = xr.open_zarr("c.zarr")
    j, V = ds.current_density.values, ds.cell_voltage.values
    inside = np.r_[False, j[1:] == j[:-1]]  # samples inside a segment (at a boundary j is the next one's)
    assert np.all(V[inside & (j > 0)] > 0) and np.all(V[inside & (j < 0)] < 0)  # the trace follows the current
    assert abs(float(ds.charge_passed.values[-1])) < 1e-6 * 72  # strip and plate balance
    assert run_cli("plot", "c.zarr", "-o", "plots", "--fields", "xi") == 0
    assert (in_tmp / "plots" / "voltage.png").exists() and (in_tmp / "plots" / "half_cycles.png").exists()
