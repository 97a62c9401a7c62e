"""Critical current against stack pressure (pfsim.analysis ccd): a sweep over the two material
scenarios (a list `base`), the members' outcomes from their failure records, the grouping by
material and pressure with mean and spread over seeds, "> top" for ramps that never failed,
the figure's labels, and the exit code of a folder with no stores."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from pfsim.analysis import (EXIT_NOTHING, MEASURED, ccd_figure, ccd_table, group_members, main, read_member,
                            read_members)
from pfsim.io.store import RunStore
from pfsim.sweep import Sweep

ROOT = Path(__file__).resolve().parents[1]
MATERIALS = ROOT / "configs" / "materials"


def edit(store, **meta):
    """Change a copied store's metadata: config entries as config={...} merged, the rest set."""
    s = RunStore.open(store)
    config = dict(s.meta["config"], **meta.pop("config", {}))
    s.update_meta(config=config, **meta)


def copy(src, folder, k, **meta):
    dst = folder / f"member-{k:04d}.zarr"
    shutil.copytree(src, dst)
    edit(dst, **meta)
    return dst


def test_sweep_over_two_scenarios(swept):
    sweep, _ = swept
    members = sweep.members()
    bases = [str(MATERIALS / "li_llzo.yaml")] * 2 + [str(MATERIALS / "li_lpscl.yaml")] * 2
    assert [v["base"] for _, v in members] == bases
    assert all(not o.startswith("base=") for _, v in members for o in sweep.overrides(v))
    assert [sweep.member_config(i)[0].name for i, _ in members] == ["li-llzo-ramp"] * 2 + ["li-lpscl-ramp"] * 2
    assert [sweep.state(i) for i, _ in members] == ["ended", "finished", "finished", "finished"]


@pytest.mark.parametrize("name, creep", [("ccd_vs_pressure", "solved"), ("ccd_vs_pressure_reduced", "reduced")])
def test_ccd_vs_pressure_sweep_file_validates(name, creep):
    sweep = Sweep(ROOT / "configs" / "sweeps" / f"{name}.yaml")
    configs = sweep.validate()
    assert len(configs) == 2 * 5 * len(sweep.axes["seed"]) and 3 <= len(sweep.axes["seed"]) <= 5
    assert {cfg.name for cfg, _ in configs} == {"li-llzo-ramp", "li-lpscl-ramp"}
    assert sorted({cfg.drive.stack_pressure for cfg, _ in configs}) == pytest.approx([0, 0.5e6, 1e6, 2e6, 3e6])
    assert {cfg.model.creep.model for cfg, _ in configs} == {creep}


def test_high_pressure_sweep_file_completes_the_pressure_range_with_both_models():
    """ccd_vs_pressure_high.yaml adds 5 and 7 MPa on Li|LLZO, both creep models, to the 0-3 MPa sweeps:
    the same material file and seeds, so the three folders draw one figure split by creep model."""
    configs = Sweep(ROOT / "configs" / "sweeps" / "ccd_vs_pressure_high.yaml").validate()
    low = Sweep(ROOT / "configs" / "sweeps" / "ccd_vs_pressure.yaml")
    assert len(configs) == 2 * 2 * len(low.axes["seed"])
    assert {cfg.name for cfg, _ in configs} == {"li-llzo-ramp"}
    assert sorted({cfg.drive.stack_pressure for cfg, _ in configs}) == pytest.approx([5e6, 7e6])
    assert sorted({cfg.model.creep.model for cfg, _ in configs}) == ["reduced", "solved"]
    assert sorted({cfg.seed for cfg, _ in configs}) == sorted({v["seed"] for _, v in low.members()})


def test_voltage_sweep_file_runs_past_the_contact_criterion_in_a_symmetric_cell():
    configs = Sweep(ROOT / "configs" / "sweeps" / "ccd_vs_pressure_voltage.yaml").validate()
    assert len(configs) == 2 * 3 * 3
    for cfg, _ in configs:
        assert cfg.model.failure_contact_fraction == 0 and cfg.model.symmetric_cell.electrolyte_thickness == 1e-3


def test_creep_model_sweep_file_compares_both_models_by_the_voltage_criterion():
    configs = Sweep(ROOT / "configs" / "sweeps" / "ccd_vs_pressure_llzo.yaml").validate()
    assert len(configs) == 2 * 7
    assert sorted({cfg.model.creep.model for cfg, _ in configs}) == ["reduced", "solved"]
    assert sorted({cfg.drive.stack_pressure for cfg, _ in configs}) == pytest.approx([0, 0.5e6, 1e6, 2e6, 3e6, 5e6, 7e6])
    for cfg, _ in configs:
        assert cfg.model.failure_contact_fraction == 0 and cfg.model.symmetric_cell.electrolyte_thickness == 1e-3


def test_members_from_failure_records(swept):
    _, out = swept
    members = read_members(out)
    assert [(m.material, m.pressure, m.outcome) for m in members] == [
        ("Li|LLZO", 0.0, "failed"), ("Li|LLZO", 2.0, "above"),
        ("Li|Li\u2086PS\u2085Cl", 0.0, "above"), ("Li|Li\u2086PS\u2085Cl", 2.0, "above")]
    failed = members[0]
    meta = RunStore.open(failed.path, mode="r").meta
    assert meta["failure"]["kind"] == "contact"
    assert failed.current == pytest.approx(abs(meta["failure"]["current_density"]) / 10) == pytest.approx(12.0)
    assert members[1].current == pytest.approx(12.0)  # the top of the ramp it carried


@pytest.fixture(scope="module")
def seeds(swept, tmp_path_factory):
    """A folder of member stores: Li|LLZO at 0 MPa with three seeds failing at 8, 10 and 12
    mA/cm^2, at 1 MPa one seed failing at 6 and one above the top (12), at 2 MPa two above the top,
    and two left out: one still running, one ended by a short circuit."""
    _, out = swept
    fail, above = out / "member-0000.zarr", out / "member-0001.zarr"
    folder = tmp_path_factory.mktemp("seeds")
    k = iter(range(100))
    for seed, j in enumerate((80.0, 100.0, 120.0)):
        m = RunStore.open(fail, mode="r").meta
        copy(fail, folder, next(k), config={"seed": seed}, failure=dict(m["failure"], current_density=j))
    m = RunStore.open(fail, mode="r").meta
    copy(fail, folder, next(k), config={"seed": 0, "drive": dict(m["config"]["drive"], stack_pressure=1e6)},
         failure=dict(m["failure"], current_density=60.0))
    copy(above, folder, next(k), config={"seed": 1, "drive": dict(m["config"]["drive"], stack_pressure=1e6)})
    for seed in (0, 1):
        copy(above, folder, next(k), config={"seed": seed})
    copy(above, folder, next(k), config={"seed": 2}, status="running")
    copy(fail, folder, next(k), config={"seed": 3}, failure=dict(m["failure"], kind="short_circuit"))
    return folder


def test_grouping_mean_spread_and_top(seeds):
    members = read_members(seeds)
    left = [m for m in members if m.outcome == "left out"]
    assert [m.note.split(":")[0] for m in left] == ["running", "ended"]
    assert "short_circuit" in left[1].note
    groups = group_members(members)
    assert [(g.material, g.pressure, g.seeds) for g in groups] == [("Li|LLZO", 0.0, 3), ("Li|LLZO", 1.0, 2),
                                                                    ("Li|LLZO", 2.0, 2)]
    full, mixed, none = groups
    assert full.complete and full.mean == pytest.approx(10.0) and full.std == pytest.approx(2.0)
    assert (full.low, full.high) == (pytest.approx(8.0), pytest.approx(12.0))
    # one seed above the top: no mean of critical currents, only its lower bound; never a plain number
    assert not mixed.complete and mixed.above == [pytest.approx(12.0)] and mixed.mean == pytest.approx(9.0)
    assert np.isnan(mixed.std) and np.isnan(mixed.high)
    assert not none.complete and none.failed == []
    table = ccd_table(groups).splitlines()
    assert "10, 2, 8-12" in table[1]
    assert "mean > 9" in table[2] and "did not fail up to 12" in table[2]
    assert "> 12 (no member failed" in table[3]


def test_figure_labels(seeds):
    members = read_members(seeds)
    fig = ccd_figure(group_members(members), members)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "stack pressure [MPa]"
    assert ax.get_ylabel() == "critical current density [mA/cm\u00b2]"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert MEASURED["label"] in labels
    assert "Li|LLZO: mean, bars min\u2013max over seeds" in labels
    assert "Li|LLZO: > top of the ramp (lower bound of the mean)" in labels
    assert not ax.yaxis.get_major_formatter().get_useOffset()
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert len(stars) == 1 and list(stars[0].get_ydata()) == [0.1, 0.4]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_command(seeds, tmp_path, capsys):
    out = tmp_path / "ccd.png"
    assert main(["ccd", str(seeds), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.stat().st_size > 0
    assert "9 run store(s), 7 counted" in text and text.count("left out:") == 2
    assert main(["ccd", str(seeds)]) == 0 and (seeds / "ccd_vs_pressure.png").is_file()


def test_no_stores(tmp_path, capsys):
    assert main(["ccd", str(tmp_path)]) == EXIT_NOTHING == 2
    assert "no run store" in capsys.readouterr().err
    assert main(["ccd", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_jmak_command_unchanged(swept, capsys):
    _, out = swept
    assert main([str(out / "member-0000.zarr")]) == 1  # not a nucleation run: named, exit 1
    assert "no transformed_fraction" in capsys.readouterr().err
    assert read_member(out / "member-0000.zarr").outcome == "failed"


@pytest.mark.parametrize("base", ["[]", f"[{MATERIALS / 'li_llzo.yaml'}, {MATERIALS / 'li_llzo.yaml'}]"])
def test_sweep_base_list_refused(tmp_path, base):
    from pfsim.errors import ConfigError

    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nbase: {base}\naxes: {{seed: {{seeds: 2}}}}\n")
    with pytest.raises(ConfigError, match="base: one scenario file or a list of different ones"):
        Sweep(path)


def test_voltage_command(swept, tmp_path, capsys):
    """The voltage criterion of each member beside the contact one; a folder is no store (exit 1)."""
    _, out = swept
    stores = sorted(str(p) for p in out.glob("member-*.zarr"))
    assert main(["voltage", *stores, "--rise", "0.005"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(stores) and all("cell_voltage rise > 5 mV" in line for line in lines)
    assert any("contact < 0.25: t = " in line for line in lines)
    assert main(["voltage", str(tmp_path)]) == 1
    assert "not a stripping run store" in capsys.readouterr().err


def test_members_by_the_voltage_criterion(swept, tmp_path, capsys):
    """With a rise no run reaches (1 V) the finished ramps are "above" and the run stopped by the
    contact criterion is left out, named (one sample per 1-min hold here: no rise within a hold
    can be seen, whatever the threshold; the rise itself: test_symmetric_cell.py)."""
    _, out = swept
    never = read_members(out, rise=1.0)
    assert [m.outcome for m in never] == ["left out", "above", "above", "above"]
    assert "ended by the contact criterion" in never[0].note
    assert all(m.current == pytest.approx(12.0) for m in never[1:])
    assert main(["ccd", str(out), "--rise", "1", "-o", str(tmp_path / "v.png")]) == 0
    text = capsys.readouterr().out
    assert "4 run store(s), 3 counted" in text and "ended by the contact criterion" in text


def test_groups_split_by_a_swept_key(swept, tmp_path, capsys):
    """--by model.creep.model: two members at the same material and pressure that differ in the
    creep model form two groups (one series each), not one pooled group."""
    _, out = swept
    fail, above = out / "member-0000.zarr", out / "member-0001.zarr"
    m = RunStore.open(fail, mode="r").meta
    model = dict(m["config"]["model"])
    copy(fail, tmp_path, 0, config={"model": dict(model, creep=dict(model.get("creep", {}), model="reduced"))})
    copy(fail, tmp_path, 1, config={"model": dict(model, creep=dict(model.get("creep", {}), model="solved"))},
         failure=dict(m["failure"], current_density=40.0))
    pooled = group_members(read_members(tmp_path))
    assert len(pooled) == 1 and sorted(pooled[0].failed) == pytest.approx([4.0, 12.0])
    split = group_members(read_members(tmp_path, by="model.creep.model"))
    assert [(g.material, g.failed) for g in split] == [("Li|LLZO, creep.model = reduced", [12.0]), ("Li|LLZO, creep.model = solved", [4.0])]
    assert main(["ccd", str(tmp_path), "--by", "model.creep.model", "-o", str(tmp_path / "f.png")]) == 0
    text = capsys.readouterr().out
    assert "Li|LLZO, creep.model = reduced" in text and "Li|LLZO, creep.model = solved" in text
    assert read_member(tmp_path / "member-0000.zarr", by="model.no_such_key").material == "Li|LLZO, model.no_such_key = None"
    # the same two members from two folders (one sweep per model) give the same two series
    for k, name in enumerate(("reduced", "solved")):
        (tmp_path / name).mkdir()
        shutil.copytree(tmp_path / f"member-{k:04d}.zarr", tmp_path / name / "member-0000.zarr")
    capsys.readouterr()
    assert main(["ccd", str(tmp_path / "reduced"), str(tmp_path / "solved"), "--by", "model.creep.model",
                 "-o", str(tmp_path / "g.png")]) == 0
    text = capsys.readouterr().out
    assert text.count("1 run store(s), 1 counted") == 2
    assert "Li|LLZO, creep.model = reduced" in text and "Li|LLZO, creep.model = solved" in text
    assert main(["ccd", str(tmp_path / "reduced"), str(tmp_path / "missing")]) == 2


def test_failures_end_in_one_line(monkeypatch, capsys):
    """`python -m pfsim.analysis` runs `run`: output cut off by its reader ends quietly, anything
    unexpected is one line and exit 5, never a traceback."""
    import pfsim.analysis as analysis

    def raising(exc):
        def main(argv=None):
            raise exc
        return main

    monkeypatch.setattr(analysis, "main", raising(ValueError("a store it cannot read")))
    assert analysis.run(["ccd", "x"]) == 5
    err = capsys.readouterr().err
    assert err == "pfsim.analysis: internal error: ValueError: a store it cannot read\n"
    monkeypatch.setattr(analysis, "main", raising(BrokenPipeError()))
    assert analysis.run(["ccd", "x"]) == 0 and capsys.readouterr().err == ""
