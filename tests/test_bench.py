"""`pfsim bench` smoke test on NumPy: tiny sizes, every section but FiPy; the CSV and JSON it
writes, and the plain-NumPy BM1a script agreeing with pfsim. No timing assertions."""

import csv
import json
import math
import shutil

import pytest
from conftest import CONFIGS, run_cli

from pfsim.bench import report
from pfsim.bench.kernels import GPU_ONLY, KERNEL_CASES

NUMERIC = ("cells", "time_s", "repeats", "value", "bytes_per_cell", "flops_per_cell", "gbps", "frac_copy", "ratio")


def bench(tmp_path, *args):
    out = tmp_path / "out"
    assert run_cli("bench", "--backend", "numpy", "--quick", "--out", out, *args) == 0
    with open(out / "bench.csv") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == report.COLUMNS
        rows = list(reader)
    doc = json.loads((out / "bench.json").read_text())
    assert len(doc["results"]) == len(rows) and doc["columns"] == report.COLUMNS
    for key in ("device", "driver", "numpy", "cupy", "pfsim", "date", "host", "command"):
        assert doc["environment"][key], key
    for r in rows:
        for col in NUMERIC:
            if r[col] != "":
                v = float(r[col])
                assert math.isfinite(v) and v > 0, (r["section"], r["case"], col, v)
    return rows


def test_bench_sections_write_csv_and_json(tmp_path, capsys):
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(CONFIGS / "void_stripping.yaml", scenarios)
    (scenarios / "PLATING_PLACEHOLDER.md").write_text("placeholder\n")
    rows = bench(tmp_path, "--only", "kernels,elliptic", "--only", "memory,scenarios", "--sizes", "32,8",
                 "--budget", "0", "--scenario-dir", scenarios, "--scenario-steps", "1")
    assert "section" in capsys.readouterr().out  # the table
    by = {}
    for r in rows:
        by.setdefault(r["section"], []).append(r)
    assert set(by) == {"bandwidth", "kernels", "elliptic", "memory", "scenarios"}
    assert float(by["bandwidth"][0]["gbps"]) > 0
    assert len(by["kernels"]) == (len(KERNEL_CASES) - len(GPU_ONLY)) * 2 * 2  # 2D and 3D, float64 and float32
    for r in by["kernels"]:
        assert all(r[c] != "" for c in ("time_s", "value", "gbps", "frac_copy", "bytes_per_cell", "flops_per_cell"))
    assert {r["case"] for r in by["elliptic"]} == {"solve to 1e-8", "setup (multigrid)", "solve to 1e-8 (direct)",
                                                   "setup (direct)", "solve to 1e-8 (amg)", "setup (amg)"}
    assert {r["case"] for r in by["memory"]} >= {"cahn_hilliard", "allen_cahn", "li_stripping (void_stripping)",
                                                 "li_stripping (void_stripping), per added cell"}
    added = [r for r in by["memory"] if r["case"].endswith("per added cell")]
    assert len(added) == 2 and all(int(r["cells"]) == 160 * 80 - 80 * 40 and float(r["value"]) > 0 for r in added)
    timed = [r for r in by["scenarios"] if r["time_s"]]
    assert len(timed) == 1 and "QUICK" in timed[0]["note"] and timed[0]["time_per"] == "per step"
    assert any("placeholder" in r["note"] for r in by["scenarios"])


def test_ensemble_section(tmp_path):
    rows = bench(tmp_path, "--only", "ensemble", "--sizes", "64,8", "--budget", "0")
    ens = [r for r in rows if r["section"] == "ensemble"]
    assert [r["case"] for r in ens[:3]] == ["ch_step large", "ch_step alone", "ch_step ensemble"]
    assert len(ens) == 2 * 2 * 3  # two models, two precisions, three cases
    for r in ens:
        assert r["grid"] in ("64x64", "8x8", "64 x 8x8") and float(r["value"]) > 0
        assert int(r["cells"]) == {"64x64": 4096, "8x8": 64, "64 x 8x8": 4096}[r["grid"]]
    large, _, stacked = ens[:3]
    assert float(stacked["ratio"]) == float(stacked["value"]) / float(large["value"])


def test_bm1a_numpy_script_agrees_with_pfsim(tmp_path):
    rows = bench(tmp_path, "--only", "peers", "--peer-grids", "48", "--no-fipy")
    energy = {r["case"]: float(r["value"]) for r in rows if r["value"] != ""}
    assert set(energy) == {"pfsim", "numpy np.roll script"}
    assert abs(energy["numpy np.roll script"] - energy["pfsim"]) / energy["pfsim"] < 0.01
    for r in rows:
        if r["value"]:
            assert "F(10) within 1 % of the reference" in r["note"]
    assert any("skipped" in r["note"] for r in rows if r["case"].startswith("cupy"))


@pytest.mark.parametrize("bad", ["nothing", "kernels,nothing"])
def test_unknown_section_is_refused(tmp_path, bad):
    assert run_cli("bench", "--backend", "numpy", "--only", bad, "--out", tmp_path) == 2
