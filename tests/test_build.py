"""One set-up path (pfsim.build): each run builds its model once, and the config is checked
against that model (a bad config still writes nothing); resume and sweeps build no more."""

import pytest

from conftest import run_cli

from pfsim.models.cahn_hilliard import CahnHilliard

CONFIG = """
name: tiny
backend: numpy
seed: 3
grid: {shape: [12, 12], spacing: 1.0}
model: {kind: cahn_hilliard, mobility: 5.0, gradient_coefficient: 2.0, barrier: 5.0}
initial: {kind: random, mean: 0.5, amplitude: 0.05}
time: {stop: 0.02, dt: 1.0e-3}
checkpoint: {every: 0.01}
"""

SWEEP = """
name: tiny-sweep
base: c.yaml
axes: {seed: {seeds: 2}}
output: sweep-out
batch: BATCH
"""


@pytest.fixture
def builds(monkeypatch):
    """The Cahn-Hilliard models constructed (ensembles: each member and the stacked one)."""
    made = []
    init = CahnHilliard.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(CahnHilliard, "__init__", counting)
    return made


def test_run_and_resume_build_the_model_once(in_tmp, builds):
    (in_tmp / "c.yaml").write_text(CONFIG)
    assert run_cli("run", "c.yaml", "-o", "a.zarr") == 0
    assert len(builds) == 1
    builds.clear()
    assert run_cli("run", "--resume", "a.zarr", "--set", "time.stop=0.03") == 0
    assert len(builds) == 1


def test_run_new_checks_the_config_on_its_model(in_tmp, builds, capsys):
    from pfsim.config import validate
    from pfsim.errors import ConfigError
    from pfsim.runner import Run

    import yaml

    raw = yaml.safe_load(CONFIG)
    assert Run.new(validate(raw), raw, store_path="a.zarr", say=lambda m: None).execute() == "finished"
    assert len(builds) == 1
    raw["time"]["dt"] = 1.0  # beyond the explicit limit: refused before any store is written
    with pytest.raises(ConfigError, match="exceeds the explicit stability limit"):
        Run.new(validate(raw), raw, store_path="b.zarr", say=lambda m: None)
    assert not (in_tmp / "b.zarr").exists()


@pytest.mark.parametrize("batch, per_run", [(1, 1), (2, 1.5)])
def test_sweep_members_are_checked_first_and_built_once_more(in_tmp, builds, batch, per_run):
    (in_tmp / "c.yaml").write_text(CONFIG)
    (in_tmp / "s.yaml").write_text(SWEEP.replace("BATCH", str(batch)))
    assert run_cli("sweep", "s.yaml", "--backend", "numpy") == 0
    # every member checked before anything runs, then one model a member (an ensemble adds
    # its stacked model); collecting the results builds none
    assert len(builds) == 2 + 2 * per_run


def test_a_checkpoint_of_another_ledger_layout_is_refused(tmp_path, capsys):
    """A store whose checkpoint ledger has other entries than this pfsim's model (a store of
    another version) is refused with exit 2, naming the store, and left as it was."""
    import zarr

    from conftest import CONFIGS, run_cli

    store = tmp_path / "s.zarr"
    assert run_cli("run", CONFIGS / "void_stripping.yaml", "-o", store, "--set", "time.stop=10",
                   "--set", "grid.shape=[24,20]", "--set", "model.geometry.pits=[]") == 0
    from pfsim.io.integrity import digests, hexes

    group = zarr.open_group(str(store), mode="r+")
    for name in group["checkpoints"].group_keys():
        ledger = group["checkpoints"][name]["ledger"]
        ledger.resize((ledger.shape[0] - 1,))
        slot = zarr.open_group(str(store / "checkpoints" / name), mode="r+", use_consolidated=False)
        info = dict(slot.attrs["pfsim_checkpoint"])  # its checksums, as that version writes them
        info["checksums"]["ledger"] = hexes(digests(slot["ledger"][...], ledger.chunks[0]))
        slot.attrs["pfsim_checkpoint"] = info
    before = {p: p.stat().st_mtime_ns for p in store.rglob("*")}
    capsys.readouterr()
    assert run_cli("run", "--resume", store, "--set", "time.stop=20") == 2
    err = capsys.readouterr().err
    assert "ledger entries" in err and str(store) in err and "Traceback" not in err
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*")} == before


PLATE = """
name: plate
backend: numpy
grid: {shape: [24, 16], spacing: "0.5 um", boundaries: {x: periodic, y: no_flux}}
model: {kind: li_plating, initial_metal: missing.zarr, interface: {width: "1 um"},
        geometry: {electrolyte_thickness: "4 um"}}
drive: {current_density: "-2 mA/cm^2", stack_pressure: "0.1 MPa"}
time: {stop: 1.0}
"""


def test_initial_metal_is_read_by_the_build(in_tmp, capsys):
    """The store of `model.initial_metal` is read by pfsim.build (the model opens none): a store
    that cannot be read is refused by validate and by run (exit 2, naming the key), nothing written."""
    (in_tmp / "p.yaml").write_text(PLATE)
    for command in (["validate", "p.yaml"], ["run", "p.yaml", "-o", "p.zarr"]):
        capsys.readouterr()
        assert run_cli(*command) == 2
        assert "model.initial_metal: cannot read the last xi frame of 'missing.zarr'" in capsys.readouterr().err
    assert not (in_tmp / "p.zarr").exists()
