"""Scenario files: units, schema errors that name the YAML path, --set overrides, hostile
YAML, and the command line's promise for bad input (exit 2, `pfsim: error:`, no traceback,
nothing written)."""

import copy
import shutil
import time
from pathlib import Path

import pytest
import numpy as np
import yaml

from pfsim.cli import main
from pfsim.config import apply_overrides, load_config
from pfsim.errors import ConfigError
from pfsim.units import QuantityError, to_si

ROOT = Path(__file__).parents[1]
BM1A = ROOT / "configs" / "pfhub" / "bm1a.yaml"
BM7A = ROOT / "configs" / "pfhub" / "bm7a.yaml"


def bm1a() -> dict:
    return yaml.safe_load(BM1A.read_text())


def write(path: Path, doc) -> Path:
    """Write a mapping as YAML, or text / bytes as they are."""
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    elif isinstance(doc, str):
        path.write_text(doc, encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_input_error(rc, err, *fragments):
    """Exit code 2; every stderr line is `pfsim: error: ...`; no traceback; all fragments shown."""
    assert rc == 2, err
    assert err.startswith("pfsim: error:"), err
    assert "Traceback" not in err
    assert all(line.startswith("pfsim: error: ") for line in err.splitlines()), err
    # the catch-all for unexpected exceptions in load_config means a bug, not a bad file
    assert "cannot be used" not in err, err
    for f in fragments:
        assert f in err, f"{f!r} not in {err!r}"


def without(doc: dict, dotted: str) -> dict:
    doc = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    node = doc
    for p in parents:
        node = node[p]
    del node[last]
    return doc


# --- units ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, dimension, si",
    [
        ("1 mA/cm^2", "current density", 10.0),
        ("1 mA/cm**2", "current density", 10.0),
        ("5 MPa", "pressure", 5e6),
        ("200 nm", "length", 2e-7),
        ("200nm", "length", 2e-7),
        ("  3 um  ", "length", 3e-6),
        ("25 degC", "temperature", 298.15),
        ("0 degC", "temperature", 273.15),
        ("300 K", "temperature", 300.0),
        ("10 ms", "time", 0.01),
        ("2 h", "time", 7200.0),
        ("1e-3 m^2/s", "diffusivity", 1e-3),
        ("0.5 J/m^2", "surface energy", 0.5),
        ("1 mS/cm", "conductivity", 0.1),
        ("50 %", "dimensionless", 0.5),
        (3, "time", 3.0),
        (2.5e-9, "length", 2.5e-9),
        (-4, "pressure", -4.0),
        (0, "length", 0.0),
        # a number written as a string is SI too (PyYAML reads `1e-3` as a string)
        ("1e-3", "time", 1e-3),
        ("7", "length", 7.0),
    ],
)
def test_to_si_converts(value, dimension, si):
    assert to_si(value, dimension) == pytest.approx(si, rel=1e-12)
    assert isinstance(to_si(value, dimension), float)


@pytest.mark.parametrize(
    "value, dimension, expected",
    [
        ("5 MPa", "time", "expected a time"),
        ("200 nm", "pressure", "expected a pressure"),
        ("1 s", "length", "expected a length"),
        ("1 mA/cm^2", "charge density", "expected a charge density"),
        ("3 kg", "energy", "expected an energy"),
        ("25 degC", "length", "expected a length"),
    ],
)
def test_wrong_dimension_names_the_expected_dimension(value, dimension, expected):
    with pytest.raises(QuantityError) as exc:
        to_si(value, dimension)
    msg = str(exc.value)
    assert msg.startswith(expected) and repr(value) in msg
    assert "is not a" in msg  # says why: the unit's dimension


@pytest.mark.parametrize(
    "value",
    [True, False, None, [1, 2], {"value": 1}, float("nan"), float("inf"), -float("inf"), 10**400,
     "nan", "inf", "1e999 s", "", "   ", "s", "five seconds", "5 parsecs per fortnight", "1 s s s ^"],
)
def test_not_a_quantity(value):
    with pytest.raises(QuantityError, match="expected a time"):
        to_si(value, "time")


HOSTILE = [
    "9**9**9",
    "1 m**9**9",
    "1 m^9^9",
    "1 m^999",
    "1 m^99999999999",
    "1 m^-999",
    "1 m^1.5",
    "1 (m^99)^99",
    "1 ((m^99)*s)^99",
    "1 Ym^99/km^98",  # a length, but its factor overflows a float
    "__import__('os')",
    "1 __import__('os').system('true')",
    "1 eval('1')",
    "1 m; import os",
    "1 {m}",
    "1 m" + "*m" * 2000,
    "1 " + "m" * 100_000,
    "1 x" + " " * 200_000 + "y",  # a regex with a lazy group would be quadratic here
    "1" * 100_000,
    "1 " + "(" * 50_000 + "m" + ")" * 50_000,
    "\x00\x01 m",
    "1 m\n2 s",
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:24]))
def test_hostile_unit_strings_are_rejected_quickly(value):
    start = time.perf_counter()
    with pytest.raises(QuantityError, match="expected a length"):
        to_si(value, "length")
    assert time.perf_counter() - start < 1.0


def test_unknown_dimension_is_a_programming_error():
    with pytest.raises(KeyError):
        to_si(1.0, "colour")


# --- the example configs -------------------------------------------------------------


@pytest.mark.parametrize("config", [BM1A, BM7A], ids=lambda p: p.stem)
def test_example_configs_validate(capsys, config):
    rc, out, err = cli(capsys, "validate", config)
    assert rc == 0, err
    assert "valid" in out and err == ""


def test_example_configs_load():
    cfg, raw = load_config(BM1A)
    assert cfg.grid.shape == [200, 200] and cfg.grid.spacing == 1.0 and cfg.grid.origin == [1.0, 1.0]
    assert cfg.model.kind == "cahn_hilliard" and cfg.time.dt == 1e-3 and cfg.time.stop == 100.0
    assert raw == bm1a()
    cfg, _ = load_config(BM7A)
    y = cfg.grid.boundaries["y"]
    assert (y.low.dirichlet, y.high.dirichlet) == (1.0, 0.0) and cfg.grid.boundaries["x"].low == "periodic"
    assert cfg.initial.kind == "manufactured" and cfg.time.integrator == "rk4"


def test_units_and_yaml11_numbers_in_a_file(tmp_path):
    doc = bm1a()
    doc["grid"]["spacing"] = "1 m"
    doc["grid"]["origin"] = ["1000 mm", "0.1 cm"]
    doc["time"]["stop"] = "2 min"
    doc["output"]["observables_every"] = "100 ms"
    path = write(tmp_path / "c.yaml", doc)
    text = path.read_text().replace("dt: 0.001", "dt: 1e-3")  # PyYAML: a string, not a float
    assert "dt: 1e-3" in text
    cfg, _ = load_config(write(path, text))
    assert cfg.grid.origin == pytest.approx([1.0, 1e-3])
    assert cfg.time.stop == 120.0 and cfg.time.dt == 1e-3 and cfg.output.observables_every == pytest.approx(0.1)


# --- bad configs: validate and run ---------------------------------------------------

# (id, change to bm1a: --set items, or a function of the parsed file; fragments of the message)
BAD = [
    ("unknown-key", ["time.stpo=5"], ["time.stpo: unknown key"]),
    ("unknown-top-key", ["grdi=5"], ["grdi: unknown key"]),
    ("unknown-model-key", ["model.mobilty=5"], ["model.mobilty: unknown key"]),
    ("unknown-key-under-tagged-union", ["model.cahn_hilliard=1"], ["model.cahn_hilliard: unknown key"]),
    ("missing-stop", lambda d: without(d, "time.stop"), ["time.stop: required key is missing"]),
    ("missing-grid", lambda d: without(d, "grid"), ["grid: required key is missing"]),
    ("missing-name", lambda d: without(d, "name"), ["name: required key is missing"]),
    ("missing-model-kind", lambda d: without(d, "model.kind"), ["model.kind: required key is missing"]),
    ("missing-mobility", lambda d: without(d, "model.mobility"), ["model.mobility: required key is missing"]),
    ("section-not-mapping", ["time=5"], ["time: expected a mapping"]),
    ("section-null", ["grid=null"], ["grid: expected a mapping"]),
    ("shape-not-list", ["grid.shape=abc"], ["grid.shape: input should be a valid list"]),
    ("shape-float", ["grid.shape=[32.5, 32]"], ["grid.shape.0:"]),
    ("number-not-number", ["model.mobility=fast"], ["model.mobility: input should be a valid number"]),
    ("seed-fraction", ["seed=1.5"], ["seed:"]),
    ("boolean-as-number", ["seed=true"], ["seed: expected a number, got True"]),
    ("yaml11-boolean-as-number", ["model.barrier=yes"], ["model.barrier: expected a number, got True"]),
    ("integrator", ["time.integrator=leapfrog"], ["time.integrator:", "'euler', 'rk4' or 'semi_implicit'"]),
    ("name-pattern", ["name=../../etc"], ["name: string should match pattern"]),
    ("dt-pressure", ["time.dt=5 MPa"], ["time.dt:", "expected a time", "'5 MPa'"]),
    ("stop-length", ["time.stop=3 m"], ["time.stop: expected a time"]),
    ("spacing-time", ["grid.spacing=1 s"], ["grid.spacing: expected a length"]),
    ("origin-pressure", ["grid.origin=[0, 1 Pa]"], ["grid.origin.1: expected a length"]),
    ("negative-spacing", ["grid.spacing=-1"], ["grid.spacing: input should be greater than 0"]),
    ("negative-spacing-per-axis", ["grid.spacing=[1, -0.5]"], ["grid.spacing.1: input should be greater than 0"]),
    ("spacing-count", ["grid.spacing=[1, 1, 1]"], ["grid.spacing: expected 1 or 2 values"]),
    ("cfl-above-1", ["time.dt=auto", "time.cfl=1.5"], ["time.cfl: input should be less than or equal to 1"]),
    ("negative-dt", ["time.dt=-1e-3"], ["time.dt: expected a positive time step"]),
    ("zero-dt", ["time.dt=0"], ["time.dt: expected a positive time step"]),
    ("infinite-stop", ["time.stop=.inf"], ["time.stop:", "finite"]),
    ("nan-barrier", ["model.barrier=.nan"], ["model.barrier:", "finite"]),
    ("huge-int-stop", ["time.stop=" + "9" * 400], ["time.stop:", "finite"]),
    ("tiny-grid", ["grid.shape=[2, 32]"], ["grid.shape: every axis needs between 3 and 65536 nodes"]),
    ("huge-grid", ["grid.shape=[65536, 65536, 65536]"], ["grid.shape: more than 2^34 nodes"]),
    ("1d-grid", ["grid.shape=[32]"], ["grid.shape:"]),
    ("compression", ["output.compression_level=30"], ["output.compression_level:"]),
    ("unknown-output-field", ["output.fields=[c, phi]"], ["output.fields: unknown field 'phi'"]),
    ("unknown-model-kind", ["model.kind=phase_crystal"], ["model.kind: unknown kind 'phase_crystal'"]),
    ("unknown-initial-kind", ["initial.kind=smiley"], ["initial.kind: unknown kind 'smiley'"]),
    ("other-model-keys", ["model.kind=allen_cahn"], ["model.c_alpha: unknown key"]),
    ("boundary-name", ["grid.boundaries.x=reflective"],
     ["grid.boundaries.x: expected 'periodic', 'no_flux' or {dirichlet: VALUE}, got 'reflective'"]),
    ("boundary-axis", ["grid.boundaries.q=periodic"], ["grid.boundaries.q:"]),
    ("boundary-axis-3d", ["grid.boundaries.z=periodic"], ["grid.boundaries: axis 'z' does not exist on a 2D grid"]),
    ("boundary-half-periodic", ["grid.boundaries.x={low: periodic, high: no_flux}"],
     ["grid.boundaries.x: periodic must be set on both sides"]),
    ("boundary-dirichlet-value", ["grid.boundaries.y={dirichlet: hot}"], ["grid.boundaries.y.dirichlet:"]),
    ("boundary-dirichlet-extra", ["grid.boundaries.y={dirichlet: 1, flux: 2}"], ["grid.boundaries.y: expected"]),
    ("boundaries-list", ["grid.boundaries=[x, y]"], ["grid.boundaries:"]),
    ("dt-above-stability", ["time.dt=0.01"], ["time.dt:", "exceeds the explicit stability limit"]),
    ("dt-above-stability-units", ["time.dt=10 ms"], ["time.dt:", "exceeds the explicit stability limit"]),
    ("no-stability-limit", ["grid.spacing=1e-200", "time.dt=auto"], ["time.dt:", "stability limit"]),
    ("bm1-initial-on-3d", ["grid.shape=[8, 8, 8]", "grid.origin=null"], ["initial.kind:", "2D"]),
]


def _bad_config(tmp_path, change):
    """The config file and the --set items of one BAD case (tmp_path: never the cwd)."""
    if callable(change):
        return write(tmp_path / "bad.yaml", change(bm1a())), []
    return write(tmp_path / "bad.yaml", bm1a()), list(change)


def _sets(items):
    return [a for item in items for a in ("--set", item)]


@pytest.mark.parametrize("change, fragments", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config_validate(tmp_path, capsys, change, fragments):
    config, sets = _bad_config(tmp_path, change)
    rc, out, err = cli(capsys, "validate", config, *_sets(sets))
    assert_input_error(rc, err, *fragments)
    assert out == ""


@pytest.mark.parametrize("change, fragments", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config_load_config(tmp_path, change, fragments):
    config, sets = _bad_config(tmp_path, change)
    with pytest.raises(ConfigError) as exc:
        load_config(config, sets)
    for f in fragments:
        assert f in str(exc.value)
    # one problem a line, each `path: message`
    assert exc.value.problems and all(": " in p and "\n" not in p for p in exc.value.problems)


def _run_writes_nothing(capsys, cwd, config, extra, fragments, output=True):
    store = cwd / "store.zarr"
    args = ["run", config, "--backend", "numpy", *extra] + (["-o", store] if output else [])
    rc, out, err = cli(capsys, *args)
    assert_input_error(rc, err, *fragments)
    assert not store.exists()
    assert not (cwd / "runs").exists()
    assert sorted(p.name for p in cwd.iterdir()) == [], "run left files behind"


@pytest.mark.parametrize("change, fragments", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config_run_writes_nothing(tmp_path, capsys, monkeypatch, change, fragments):
    config, sets = _bad_config(tmp_path, change)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    # max_steps first: were a case wrongly accepted, the run stays one step long
    extra = _sets(["time.max_steps=1"] + sets)
    _run_writes_nothing(capsys, cwd, config, extra, fragments)


@pytest.mark.parametrize("change, fragments", [c[1:] for c in BAD[:6]], ids=[c[0] for c in BAD[:6]])
def test_bad_config_run_without_output_writes_no_runs_folder(tmp_path, capsys, monkeypatch, change, fragments):
    config, sets = _bad_config(tmp_path, change)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    _run_writes_nothing(capsys, cwd, config, _sets(["time.max_steps=1"] + sets), fragments, output=False)


def test_several_problems_one_line_each(tmp_path):
    doc = bm1a()
    doc["time"]["stpo"] = 5
    doc["grid"]["spacing"] = "-2 m"
    doc["model"]["mobility"] = "fast"
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path / "c.yaml", doc))
    assert set(exc.value.problems) == {
        "time.stpo: unknown key",
        "grid.spacing: input should be greater than 0, got '-2 m'",
        "model.mobility: input should be a valid number, unable to parse string as a number, got 'fast'",
    }


# RK4 evaluates the model's rate: the interface models step in place (forward Euler) only
EULER_ONLY = [("li_stripping", "void_stripping.yaml"), ("li_plating", "filament_plating.yaml"),
              ("li_cycling", "cycling.yaml")]


@pytest.mark.parametrize("kind, name", EULER_ONLY, ids=[k for k, _ in EULER_ONLY])
def test_rk4_is_refused_for_models_without_a_rate(tmp_path, capsys, monkeypatch, kind, name):
    config = ROOT / "configs" / name
    assert load_config(config)[0].model.kind == kind
    fragments = ["time.integrator: expected 'euler' for model.kind " + kind, "got 'rk4'"]
    with pytest.raises(ConfigError) as exc:
        load_config(config, ["time.integrator=rk4"])
    assert len(exc.value.problems) == 1 and all(f in exc.value.problems[0] for f in fragments)
    rc, out, err = cli(capsys, "validate", config, "--set", "time.integrator=rk4")
    assert_input_error(rc, err, *fragments)
    assert out == ""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    _run_writes_nothing(capsys, cwd, config, _sets(["time.max_steps=1", "time.integrator=rk4"]), fragments)


def test_rk4_is_accepted_for_models_with_a_rate():
    for config in (BM1A, BM7A):
        cfg, _ = load_config(config, ["time.integrator=rk4"])
        assert cfg.time.integrator == "rk4"


def test_rk4_step_and_limit_take_one_factor():
    """dt: auto (the runner) and the check of a fixed dt (the config) scale Euler's limit alike."""
    from pfsim.config import check_consistency
    from pfsim.runner import time_step
    from pfsim.simulation import RK4_STABILITY_FACTOR

    euler_cfg, _ = load_config(BM1A, ["time.dt=auto", "time.cfl=1"])
    rk4_cfg, _ = load_config(BM1A, ["time.dt=auto", "time.cfl=1", "time.integrator=rk4"])
    _, model = check_consistency(euler_cfg)
    euler = model.stability_limit()
    assert time_step(euler_cfg, model) == euler
    assert time_step(rk4_cfg, model) == pytest.approx(RK4_STABILITY_FACTOR * euler, rel=1e-12)
    between = f"time.dt={(1 + RK4_STABILITY_FACTOR) / 2 * euler!r}"  # above Euler's limit, under RK4's
    with pytest.raises(ConfigError, match="exceeds the explicit stability limit"):
        load_config(BM1A, [between])
    assert load_config(BM1A, [between, "time.integrator=rk4"])[0].time.dt > euler


# --- hostile and broken files ----------------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""

FILES = [
    ("billion-laughs", BILLION_LAUGHS, ["not valid YAML", "anchors and aliases are not allowed"]),
    ("alias-into-valid-config", BM1A.read_text().replace("spacing: 1.0", "spacing: &h 1.0")
     .replace("c_alpha: 0.3", "c_alpha: *h"), ["anchors and aliases are not allowed"]),
    ("merge-key", "base: &b {stop: 1}\ntime:\n  <<: *b\n", ["anchors and aliases are not allowed"]),
    ("python-tag-top", '!!python/object/apply:os.system ["touch pwned"]\n', ["not valid YAML", "python/object/apply"]),
    ("python-tag-value", BM1A.read_text().replace("name: pfhub-bm1a", 'name: !!python/object/apply:os.system ["touch pwned"]'),
     ["not valid YAML", "python/object/apply"]),
    ("python-name-tag", "name: !!python/name:os.system\n", ["not valid YAML"]),
    ("list-top", "- grid\n- model\n", ["expected a mapping of sections at the top, got list"]),
    ("string-top", "just some words\n", ["expected a mapping of sections at the top, got str"]),
    ("number-top", "42\n", ["expected a mapping of sections at the top, got int"]),
    ("empty", "", ["expected a mapping of sections at the top, got NoneType"]),
    ("comment-only", "# nothing here\n", ["expected a mapping of sections at the top"]),
    ("invalid-utf8", b"name: caf\xe9\ngrid: {}\n", ["not UTF-8 text"]),
    ("utf16", "name: x\n".encode("utf-16"), ["not UTF-8 text"]),
    ("binary", bytes(range(256)), ["not UTF-8 text"]),
    ("syntax", "grid: [1, 2\nmodel: {", ["not valid YAML"]),
    ("tabs", "grid:\n\tshape: [3, 3]\n", ["not valid YAML"]),
    ("impossible-date", BM1A.read_text().replace("stop: 100.0", "stop: 2001-02-30"), ["not valid YAML"]),
    ("date", BM1A.read_text().replace("stop: 100.0", "stop: 2001-02-28"), ["time.stop: expected a time"]),
    ("deep-nesting", "a: " + "[" * 50_000 + "]" * 50_000 + "\n", ["nested too deeply"]),
    ("non-string-key", BM1A.read_text() + "7: seven\n", ["7: unknown key"]),
    ("null-key", BM1A.read_text() + "~: nothing\n", ["None: unknown key"]),
    ("too-large", "description: '" + "x" * (1 << 20) + "'\n", ["larger than 1048576 bytes"]),
    ("long-quantity", BM1A.read_text().replace("stop: 100.0", "stop: '1 x" + " " * 500_000 + "y'"),
     ["time.stop: expected a time"]),
]


@pytest.mark.parametrize("content, fragments", [f[1:] for f in FILES], ids=[f[0] for f in FILES])
def test_hostile_file_validate(tmp_path, capsys, monkeypatch, content, fragments):
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path / "c.yaml", content)
    start = time.perf_counter()
    rc, out, err = cli(capsys, "validate", config)
    assert time.perf_counter() - start < 5.0
    assert_input_error(rc, err, *fragments)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("content, fragments", [f[1:] for f in FILES], ids=[f[0] for f in FILES])
def test_hostile_file_run_writes_nothing(tmp_path, capsys, monkeypatch, content, fragments):
    config = write(tmp_path / "c.yaml", content)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    _run_writes_nothing(capsys, cwd, config, [], fragments)


def test_file_errors_name_the_file(tmp_path, capsys):
    config = write(tmp_path / "c.yaml", "- 1\n")
    rc, _, err = cli(capsys, "validate", config)
    assert_input_error(rc, err, f"{config}: expected a mapping")


@pytest.mark.parametrize("name", ["missing.yaml", "no/such/dir/c.yaml"])
def test_missing_file(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    rc, _, err = cli(capsys, "validate", tmp_path / name)
    assert_input_error(rc, err, f"{tmp_path / name}: cannot read", "No such file")
    rc, _, err = cli(capsys, "run", tmp_path / name, "-o", tmp_path / "store.zarr")
    assert_input_error(rc, err, "cannot read")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_directory_as_config(tmp_path, capsys):
    rc, _, err = cli(capsys, "validate", tmp_path)
    assert_input_error(rc, err, f"{tmp_path}: cannot read")


# --- --set -----------------------------------------------------------------------------


def test_set_changes_a_value():
    cfg, raw = load_config(BM1A, ["time.stop=5"])
    assert cfg.time.stop == 5.0 and raw["time"]["stop"] == 5
    cfg, _ = load_config(BM1A, ["time.stop=5 ms", "time.dt=1 us"])
    assert cfg.time.stop == pytest.approx(5e-3) and cfg.time.dt == pytest.approx(1e-6)
    cfg, _ = load_config(BM1A, ["time.stop=5", "time.stop=7"])  # the last one wins
    assert cfg.time.stop == 7.0
    assert load_config(BM1A)[0].time.stop == 100.0  # the file is untouched


def test_set_on_the_command_line(tmp_path, capsys):
    rc, out, err = cli(capsys, "validate", BM1A, "--set", "time.stop=5", "--set", "grid.shape=[32,32]")
    assert rc == 0, err
    assert "32 x 32" in out and "stop at 5 s" in out


def test_set_creates_nested_sections(tmp_path):
    config = write(tmp_path / "c.yaml", without(without(bm1a(), "grid.boundaries"), "checkpoint"))
    cfg, raw = load_config(config, ["grid.boundaries.x.low=no_flux", "grid.boundaries.x.high=no_flux",
                                    "checkpoint.every=5", "monitor.nan_check_every=3"])
    assert raw["grid"]["boundaries"] == {"x": {"low": "no_flux", "high": "no_flux"}}
    assert cfg.grid.boundaries["x"].low == "no_flux" and "y" not in cfg.grid.boundaries
    assert cfg.checkpoint.every == 5.0 and cfg.monitor.nan_check_every == 3


def test_set_lists_and_list_items():
    cfg, _ = load_config(BM1A, ["grid.shape=[32,32]"])
    assert cfg.grid.shape == [32, 32]
    cfg, _ = load_config(BM1A, ["grid.shape=[16, 24]", "grid.shape.1=40", "grid.origin.0=2 m"])
    assert cfg.grid.shape == [16, 40] and cfg.grid.origin == [2.0, 1.0]
    cfg, _ = load_config(BM1A, ["grid.spacing=[1.0, 2 m]", "time.dt=auto"])
    assert cfg.grid.spacing == [1.0, 2.0]


def test_set_mappings_and_strings():
    cfg, _ = load_config(BM7A, ["grid.boundaries.y={low: no_flux, high: {dirichlet: 0.5}}"])
    assert cfg.grid.boundaries["y"].low == "no_flux" and cfg.grid.boundaries["y"].high.dirichlet == 0.5
    cfg, _ = load_config(BM1A, ["description=a = b, with commas"])
    assert cfg.description == "a = b, with commas"


def test_apply_overrides_does_not_change_its_input():
    raw = bm1a()
    before = copy.deepcopy(raw)
    out = apply_overrides(raw, ["time.stop=1", "grid.shape.0=10", "new.section=1"])
    assert raw == before and out["time"]["stop"] == 1 and out["new"] == {"section": 1}


@pytest.mark.parametrize(
    "item, fragment",
    [
        ("foo", "--set foo: expected KEY=VALUE"),
        ("time.stop", "--set time.stop: expected KEY=VALUE"),
        ("=5", "--set =5: empty key"),
        ("time..stop=5", "empty key"),
        ("time.=5", "empty key"),
        ("name.first=5", "--set name.first: 'name' is not a section"),
        ("grid.shape.7=5", "'grid.shape' is not a section"),
        ("grid.shape.x=5", "'grid.shape' is not a section"),
        ("time.stop=[1, 2", "--set time.stop: not valid YAML"),
        ("time.stop=!!python/object/apply:os.system [true]", "--set time.stop: not valid YAML"),
        ("time.stop=*a", "anchors and aliases are not allowed"),
        ("time.stpo=5", "time.stpo: unknown key"),
        ("time.dt=5 MPa", "time.dt: expected a time"),
    ],
)
def test_bad_set(tmp_path, capsys, monkeypatch, item, fragment):
    monkeypatch.chdir(tmp_path)
    rc, _, err = cli(capsys, "validate", BM1A, "--set", item)
    assert_input_error(rc, err, fragment)
    rc, _, err = cli(capsys, "run", BM1A, "-o", tmp_path / "store.zarr", "--set", "time.max_steps=1", "--set", item)
    assert_input_error(rc, err, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, key", [
    ("name: t\ntime: {stop: 1}\ntime: {stop: 2, max_steps: 3}\n", "time"),
    ("name: t\ngrid: {shape: [8, 8], spacing: 1, shape: [4, 4]}\n", "shape"),
])
def test_a_key_given_twice_is_refused(text, key):
    """YAML's last-one-wins would silently drop the first block (a second `time:` once replaced
    `max_steps: 3`)."""
    from pfsim.config import parse_yaml

    with pytest.raises(ConfigError, match=f"the key '{key}' is given twice"):
        parse_yaml(text)


# --- validate: cheap checks and the memory estimate; run: refused when it cannot fit ---------

STRIP_3D = ROOT / "configs" / "bench" / "stripping_3d.yaml"
STRIP_2D = ROOT / "configs" / "bench" / "stripping_2d.yaml"


@pytest.fixture
def no_large_models(monkeypatch):
    """Every model class refuses a grid larger than validation's build threshold (a 256^3
    stripping model took 112 s and 18 GB to build)."""
    from pfsim import config, models

    limit = getattr(config, "BUILD_CHECK_CELLS", 1 << 16)

    def guarded(cls):
        class Guarded(cls):
            def __init__(self, params, grid, *args, **kwargs):
                assert int(np.prod(grid.shape)) <= limit, f"model built on {grid.shape}"
                super().__init__(params, grid, *args, **kwargs)

        return Guarded

    for kind, (params, cls) in list(models.MODELS.items()):
        monkeypatch.setitem(models.MODELS, kind, (params, guarded(cls)))


def test_validate_does_not_build_a_large_model(capsys, no_large_models):
    # CPU time of this process, not wall time: the bound is on the work done, whatever else the machine runs
    start = time.process_time()
    rc, out, err = cli(capsys, "validate", STRIP_3D)
    assert time.process_time() - start < 2.0
    assert rc == 0, err
    assert "valid (li_stripping on 256 x 256 x 256 nodes" in out
    # the estimate: peak bytes per cell (docs/performance.md) x cells, for each path of backend auto
    assert "memory: about 7.35 GB (438 B/cell x 16777216 cells, li_stripping in float64, NumPy path)" in out
    assert "CUDA path" in out
    rc, out, _ = cli(capsys, "validate", STRIP_3D, "--set", "precision=float32", "--set", "backend=numpy")
    assert rc == 0 and "231 B/cell" in out and "CUDA path" not in out


@pytest.mark.parametrize("sets, fragments", [
    (["model.geometry.pits.0.center=[1 mm]"], ["model.geometry.pits.0.center:", "outside the domain"]),
    (["model.interface.width=1 nm"], ["model.interface.width:", "under two grid spacings"]),
    (["model.geometry.electrolyte_thickness=1 mm"], ["model.geometry.electrolyte_thickness:", "inside the grid"]),
    (["grid.boundaries.x=no_flux"], ["grid.boundaries:", "periodic lateral axes"]),
    (["time.dt=1000"], ["time.dt:", "exceeds the explicit stability limit"]),
    (["time.integrator=rk4"], ["time.integrator: expected 'euler' for model.kind li_stripping"]),
], ids=["pit", "width", "thickness", "boundaries", "dt", "rk4"])
def test_validate_of_a_large_grid_still_checks_the_model(capsys, no_large_models, sets, fragments):
    rc, out, err = cli(capsys, "validate", STRIP_2D, *_sets(sets))
    assert_input_error(rc, err, *fragments)
    assert out == ""


def test_run_that_cannot_fit_is_refused_before_allocating(tmp_path, capsys, monkeypatch, no_large_models):
    from pfsim import memory

    monkeypatch.setattr(memory, "free_host_memory", lambda: (10**5, "MemAvailable in /proc/meminfo"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    _run_writes_nothing(capsys, cwd, BM1A, ["--set", "time.max_steps=1"],
                        ["the run needs about 680 kB (17 B/cell x 40000 cells", "where 100 kB is free on the host"])
    # the large grid too: refused before its model is built
    _run_writes_nothing(capsys, cwd, STRIP_3D, [], ["needs about 7.35 GB", "100 kB is free"])


def test_observables_every_under_the_time_step(tmp_path, capsys, monkeypatch):
    """Steps land on every sample: a sample interval under dt cuts every step to it. Under dt it
    is said (validate and run), under dt / 10 refused (exit 2, naming the key, nothing written)."""
    rc, out, err = cli(capsys, "validate", BM1A, "--set", "output.observables_every=5e-4")  # dt 1e-3
    assert rc == 0 and "valid" in out
    assert "warning: output.observables_every: 0.0005 s is under the time step 0.001 s" in err and "2x slower" in err
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    rc, _, err = cli(capsys, "run", BM1A, "--backend", "numpy", "-o", "a.zarr", "--set", "time.max_steps=2",
                     "--set", "output.observables_every=5e-4")
    assert rc == 0 and "warning: output.observables_every" in err
    shutil.rmtree(cwd / "a.zarr")
    fragments = ["output.observables_every: 5e-05 s is under a tenth of the time step 0.001 s", "20x slower"]
    rc, out, err = cli(capsys, "validate", BM1A, "--set", "output.observables_every=5e-5")
    assert_input_error(rc, err, *fragments)
    _run_writes_nothing(capsys, cwd, BM1A, _sets(["time.max_steps=1", "output.observables_every=5e-5"]), fragments)
    # dt: auto takes the same rule, with the step the run would take; a large grid's from the probe model
    rc, _, err = cli(capsys, "validate", STRIP_2D, "--set", "output.observables_every=1 ms")
    assert_input_error(rc, err, "output.observables_every:", "under a tenth of the time step")
    rc, _, err = cli(capsys, "validate", BM1A, "--set", "output.observables_every=1e-3")
    assert rc == 0 and err == ""
