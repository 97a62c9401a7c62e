"""Property-based fuzzing of `pfsim validate`: whatever the file holds, the command returns
0 (only for a config that is really valid) or 2 with `pfsim: error:` lines, and never raises
or prints a traceback."""

import contextlib
import copy
import io
import math
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfsim.cli import main
from pfsim.config import load_config

ROOT = Path(__file__).parents[1]
BM1A = ROOT / "configs" / "pfhub" / "bm1a.yaml"
BM1A_TEXT = BM1A.read_text()
BM1A_RAW = yaml.safe_load(BM1A_TEXT)
# bm7a adds Allen-Cahn, Dirichlet walls, a nested source section and RK4
BM7A_RAW = yaml.safe_load((ROOT / "configs" / "pfhub" / "bm7a.yaml").read_text())

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# keys that bm1a cannot lose (required by the schema)
REQUIRED = {
    "name", "grid", "grid.shape", "grid.spacing", "model", "model.kind", "model.mobility",
    "model.gradient_coefficient", "model.barrier", "initial", "initial.kind", "time", "time.stop",
}
KNOWN_KEYS = [
    "name", "description", "backend", "precision", "seed", "grid", "model", "initial", "time", "output",
    "checkpoint", "monitor", "shape", "spacing", "origin", "boundaries", "x", "y", "z", "low", "high",
    "dirichlet", "kind", "mobility", "gradient_coefficient", "barrier", "c_alpha", "c_beta", "tilt", "source",
    "seeds", "position", "radius", "value", "mean", "amplitude", "c0", "epsilon", "stop", "dt", "cfl",
    "integrator", "max_steps", "store", "fields_every", "observables_every", "fields", "compression_level",
    "every", "wall_every", "nan_check_every", "progress_every",
]
NAMES = [
    "cahn_hilliard", "allen_cahn", "pfhub_bm1", "pfhub_bm7", "manufactured", "random", "constant", "periodic",
    "no_flux", "auto", "euler", "rk4", "numpy", "cupy", "float32", "float64", "c", "eta",
]
UNITS = ["s", "ms", "m", "nm", "um", "µm", "MPa", "Pa", "K", "degC", "mA/cm^2", "A/m^2", "J/m^2", "m^2/s",
         "1/s", "kg", "", "%", "m^99", "m^999", "m**9**9", "__import__('os')", "parsec", "°C", "Ω"]

# --- strategies -------------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-5, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-6, max_value=1e3),
    st.sampled_from([0, 1, -1, 0.5, 1e-3, 1e308, -1e308, 5e-324, 2**63, 2**63 - 1, 10**400, 65536, 65537, 3]),
)
unit_strings = st.builds(
    lambda n, u, sep: f"{n}{sep}{u}",
    st.one_of(st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["1e-3", ".5", "1e999"])),
    st.sampled_from(UNITS),
    st.sampled_from([" ", "", "  "]),
)
scalars = st.one_of(
    st.none(), st.booleans(), numbers, text, unit_strings, st.sampled_from(NAMES),
    st.sampled_from(["yes", "no", "on", "off", "1e-3", "nan", ".inf", "~", "", " ", "1_000", "0x10", "2001-01-01"]),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), text, st.integers(-3, 3), st.none(), st.booleans())
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=16,
)
# top-level mappings with real section names, so validation gets past the first level
documents = st.one_of(
    values,
    st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS[:12]), text), values, max_size=12),
)


def run_validate(path: Path, sets=()) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["validate", str(path)] + [f"--set={s}" for s in sets])
    return rc, out.getvalue(), err.getvalue()


def dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _finite_numbers(node) -> bool:
    if isinstance(node, dict):
        return all(_finite_numbers(v) for v in node.values())
    if isinstance(node, (list, tuple)):
        return all(_finite_numbers(v) for v in node)
    if isinstance(node, float):
        return math.isfinite(node)
    return True


def check_outcome(path: Path, sets=()) -> tuple[int, str]:
    """validate must return 0 (and then the config really is valid) or 2 with clean errors."""
    rc, out, err = run_validate(path, sets)
    assert rc in (0, 2), (rc, err)
    assert "Traceback" not in err and "Traceback" not in out
    if rc == 2:
        assert err.startswith("pfsim: error: "), err
        lines = err.splitlines()
        assert lines and all(line.startswith("pfsim: error: ") and ": " in line[len("pfsim: error: "):]
                             for line in lines), err
        # the catch-all in load_config for unexpected exceptions: a bug, not a bad file
        assert "cannot be used" not in err, err
        assert out == ""
    else:
        # a valid file may draw warnings (e.g. an output interval under the time step), nothing else
        assert all(line.startswith("[pfsim] warning: ") for line in err.splitlines()), err
        assert "valid" in out
        cfg, _ = load_config(path, sets)
        dumped = cfg.model_dump()
        assert _finite_numbers(dumped)
        assert cfg.time.stop > 0 and (cfg.time.dt == "auto" or cfg.time.dt > 0)
        assert 2 <= len(cfg.grid.shape) <= 3 and all(3 <= n <= 65536 for n in cfg.grid.shape)
        spacing = cfg.grid.spacing if isinstance(cfg.grid.spacing, list) else [cfg.grid.spacing]
        assert all(h > 0 for h in spacing)
    return rc, err


def error_paths(err: str) -> list[str]:
    return [line[len("pfsim: error: "):].split(": ", 1)[0] for line in err.splitlines()]


# --- (a) random documents ----------------------------------------------------------------


@FUZZ
@given(doc=documents)
def test_random_documents(doc):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.yaml"
        path.write_text(dump(doc), encoding="utf-8")
        rc, err = check_outcome(path)
        if not isinstance(doc, dict):
            assert rc == 2 and "expected a mapping of sections at the top" in err


# --- (b) mutations of bm1a (and bm7a) -----------------------------------------------------


BASES = {"bm1a": BM1A_RAW, "bm7a": BM7A_RAW}


def _paths(node, prefix=()):
    """Every (path, value) below node: dict keys and list indices."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield prefix + (k,), v
        yield from _paths(v, prefix + (k,))


KEY_PATHS = [p for p, _ in _paths(BM1A_RAW) if isinstance(p[-1], str)]
# (base config, path) pairs
LEAF_PATHS = [(base, p) for base in ("bm1a", "bm7a") for p, v in _paths(BASES[base]) if not isinstance(v, (dict, list))]
DICT_PATHS = [(base, ()) for base in ("bm1a", "bm7a")] + [
    (base, p) for base in ("bm1a", "bm7a") for p, v in _paths(BASES[base]) if isinstance(v, dict)
]


def _parent(doc, path):
    node = doc
    for p in path[:-1]:
        node = node[p]
    return node


def _dotted(path) -> str:
    return ".".join(map(str, path))


def test_bases_are_valid():
    for raw in BASES.values():
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "c.yaml"
            path.write_text(dump(raw))
            assert check_outcome(path)[0] == 0


@FUZZ
@given(path=st.sampled_from(KEY_PATHS))
def test_delete_a_key(path):
    doc = copy.deepcopy(BM1A_RAW)
    del _parent(doc, path)[path[-1]]
    with tempfile.TemporaryDirectory() as d:
        file = Path(d) / "c.yaml"
        file.write_text(dump(doc))
        rc, err = check_outcome(file)
    if _dotted(path) in REQUIRED:
        assert rc == 2 and f"pfsim: error: {_dotted(path)}: required key is missing" in err.splitlines()
    else:
        assert rc == 0, err  # every other key of bm1a has a default


# errors that a changed leaf may cause away from its own section: checks of the whole config
CROSS_SECTION = {"time.dt", "initial.kind", "output.fields", "model.source"}


@FUZZ
@given(base_path=st.sampled_from(LEAF_PATHS), value=values)
def test_replace_a_leaf(base_path, value):
    base, path = base_path
    doc = copy.deepcopy(BASES[base])
    _parent(doc, path)[path[-1]] = value
    with tempfile.TemporaryDirectory() as d:
        file = Path(d) / "c.yaml"
        file.write_text(dump(doc), encoding="utf-8")
        rc, err = check_outcome(file)
    if rc == 2:
        # every error is in the section of the changed key, or a whole-config check
        for p in error_paths(err):
            assert p.split(".")[0] == str(path[0]) or p in CROSS_SECTION, (path, err)


new_keys = st.one_of(
    st.from_regex(r"zz_[a-z0-9_]{0,8}", fullmatch=True),
    st.from_regex(r"x_[a-zé中0-9]{1,6}", fullmatch=True),
)


@FUZZ
@given(base_where=st.sampled_from(DICT_PATHS), key=new_keys, value=values)
def test_insert_an_unknown_key(base_where, key, value):
    base, where = base_where
    doc = copy.deepcopy(BASES[base])
    node = doc
    for p in where:
        node = node[p]
    node[key] = value
    with tempfile.TemporaryDirectory() as d:
        file = Path(d) / "c.yaml"
        file.write_text(dump(doc), encoding="utf-8")
        rc, err = check_outcome(file)
    assert rc == 2
    if where == ("grid", "boundaries"):  # an axis name
        expected = f"{_dotted(where + (key,))}: input should be 'x', 'y' or 'z'"
    elif where[:2] == ("grid", "boundaries") and "dirichlet" in node:  # a wall is {dirichlet: VALUE} only
        expected = f"{_dotted(where)}: expected 'periodic', 'no_flux' or {{dirichlet: VALUE}}"
    else:
        expected = f"{_dotted(where + (key,))}: unknown key"
    assert any(line.startswith(f"pfsim: error: {expected}") for line in err.splitlines()), (expected, err)


# --- --set with random keys and values ----------------------------------------------------

set_keys = st.one_of(
    st.sampled_from([_dotted(p) for p, _ in _paths(BM1A_RAW)]),
    st.lists(st.one_of(st.sampled_from(KNOWN_KEYS), st.from_regex(r"[a-z0-9_]{0,5}", fullmatch=True)),
             min_size=1, max_size=4).map(".".join),
    text,
)
set_values = st.one_of(
    scalars.map(lambda v: yaml.safe_dump(v, allow_unicode=True).removesuffix("\n...\n").strip()),
    values.map(lambda v: yaml.safe_dump(v, default_flow_style=True, allow_unicode=True, width=10**6).strip()),
    text,
)


@FUZZ
@given(items=st.lists(st.tuples(set_keys, set_values), min_size=1, max_size=3))
def test_random_set_overrides(items):
    check_outcome(BM1A, [f"{k}={v}" for k, v in items])


# --- (c) raw text and bytes ---------------------------------------------------------------


def _splice(data, start, stop, insert):
    start, stop = sorted((start % (len(data) + 1), stop % (len(data) + 1)))
    return data[:start] + insert + data[stop:]


raw_texts = st.one_of(
    st.text(max_size=400),
    st.text(st.sampled_from(list("{}[]:-,&*!|>'\"#%@` \n\tabcx0123456789.")), max_size=200),
    st.builds(_splice, st.just(BM1A_TEXT), st.integers(0, 2000), st.integers(0, 2000), st.text(max_size=40)),
)
raw_bytes = st.one_of(
    st.binary(max_size=400),
    st.builds(_splice, st.just(BM1A_TEXT.encode()), st.integers(0, 2000), st.integers(0, 2000), st.binary(max_size=20)),
)


@FUZZ
@given(content=st.one_of(raw_texts, raw_bytes))
def test_raw_text_and_bytes(content):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.yaml"
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogatepass")
        path.write_bytes(content)
        rc, err = check_outcome(path)
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        assert rc == 2 and re.search(r": not UTF-8 text$", err.strip())
