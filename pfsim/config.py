"""The scenario file: YAML -> validated RunConfig, with errors that name the YAML path.

Nothing in a config is executed. YAML is read with a safe loader that also refuses
anchors and aliases (no exponential expansion), physical quantities are parsed by
pfsim.units, and every section forbids unknown keys. `load_config` raises ConfigError
with one line per problem, e.g. `time.dt: expected a time, got '5 MPa'`.
"""

import copy
import math
import re
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import yaml
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from .backend import Backend
from .drive import DriveConfig
from .errors import ConfigError
from .grid import Grid, GridConfig
from .initial import InitialConfig, check_initials
from .models import MODELS, ModelParams
from .schema import Duration, Section
from .simulation import stability_factor
from .units import QuantityError, to_si
from .units import short as _short

MAX_CONFIG_BYTES = 1 << 20


def _duration_or_auto(v):
    if v == "auto":
        return v
    try:
        return to_si(v, "time")
    except QuantityError as exc:
        raise ValueError(str(exc).replace("expected a time", "expected a time or 'auto'", 1)) from None


DEFAULT_TOLERANCE = 1e-4  # time.tolerance of semi_implicit


class TimeConfig(Section):
    stop: Duration = Field(description="simulated time at which the run ends (s)")
    dt: Annotated[float | Literal["auto"], BeforeValidator(_duration_or_auto)] = Field(
        "auto", description="time step (s), or 'auto' for cfl times the explicit stability limit"
    )
    cfl: float = Field(0.5, gt=0, le=1, description="fraction of the stability limit used by dt: auto")
    integrator: Literal["euler", "rk4", "semi_implicit"] = Field(
        "euler", description="forward Euler, classic RK4 (models with a rate), or semi_implicit: the adaptive "
        "IMEX Fourier step of cahn_hilliard_allen_cahn on fully periodic grids (dt: the first step)")
    tolerance: float | None = Field(
        None, gt=0, description=f"semi_implicit: the largest root mean square change of a field between one step "
        f"and two half steps that a step may make; dt adapts to it (default {DEFAULT_TOLERANCE:g})")
    dt_max: Duration | None = Field(None, description="semi_implicit: the largest adaptive step (s) (default: none)")
    max_steps: int | None = Field(None, gt=0, description="stop after this many steps in total")

    @model_validator(mode="after")
    def _positive_dt(self):
        if self.dt != "auto" and not self.dt > 0:
            raise ValueError(f"dt: expected a positive time step, got {self.dt:g}")
        if self.dt_max is not None and not self.dt_max > 0:
            raise ValueError(f"dt_max: expected a positive time step, got {self.dt_max:g}")
        for key in ("tolerance", "dt_max"):
            if getattr(self, key) is not None and self.integrator != "semi_implicit":
                raise ValueError(f"{key}: applies to integrator semi_implicit only (integrator is {self.integrator})")
        return self

    @property
    def step_tolerance(self) -> float:
        return DEFAULT_TOLERANCE if self.tolerance is None else self.tolerance


class OutputConfig(Section):
    store: str | None = Field(None, min_length=1, max_length=4096, description="run store path (default runs/NAME.zarr)")
    fields_every: Duration | None = Field(None, description="simulated time between field frames (default stop/20)")
    observables_every: Duration | None = Field(None, description="simulated time between observable samples (default stop/200)")
    fields: list[str] | None = Field(None, description="fields to write (default: all)")
    compression_level: int = Field(3, ge=1, le=19, description="zstd level")


class CheckpointConfig(Section):
    every: Duration | None = Field(None, description="simulated time between checkpoints (default: none)")
    wall_every: Duration = Field(600.0, description="wall-clock time between checkpoints (s)")


class MonitorConfig(Section):
    nan_check_every: int = Field(10, ge=1, description="steps between NaN/Inf checks")
    progress_every: Duration = Field(10.0, description="wall-clock time between log lines when not on a terminal (s)")


class RunConfig(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="run name (default store runs/NAME.zarr)")
    description: str = Field("", max_length=10000, description="free text, kept in the run store")
    backend: Literal["auto", "numpy", "cupy"] = Field("auto", description="auto takes CuPy when a CUDA device is usable")
    precision: Literal["float64", "float32"] = Field(
        "float64", description="floating-point type of the fields (float32 halves the memory; where it suits the interface models: docs/numerics.md)")
    elliptic_solver: Literal["auto", "direct", "amg", "multigrid"] = Field(
        "auto", description="elliptic solves: auto is SuperLU (2D) or PyAMG-preconditioned CG (3D, large 2D) on the CPU and multigrid-preconditioned CG on a GPU; multigrid on the CPU runs the GPU's algorithm (docs/numerics.md)")
    cpu_kernels: Literal["numpy", "numba"] = Field(
        "numpy", description="field steps on the CPU: numpy (the reference) or numba (compiled Cahn-Hilliard and Allen-Cahn steps, equal to the bit in float64; needs pfsim[cpu-fast])")
    seed: int = Field(0, ge=0, lt=2**63, description="key of every random stream")
    grid: GridConfig = Field(description="nodes, spacing and boundary conditions")
    model: ModelParams = Field(discriminator="kind", description="the equations and their parameters, by kind")
    initial: InitialConfig | None = Field(None, discriminator="kind", description="initial condition of the model's field, by kind (generic models)")
    drive: DriveConfig | None = Field(None, description="applied current, stack pressure, temperature (interface models)")
    time: TimeConfig = Field(description="stop time, time step, integrator")
    output: OutputConfig = Field(OutputConfig(), description="what the run store receives and how often")
    checkpoint: CheckpointConfig = Field(CheckpointConfig(), description="restart points inside the run store")
    monitor: MonitorConfig = Field(MonitorConfig(), description="NaN checks and progress reports")

    @model_validator(mode="after")
    def _output_fields(self):
        model = MODELS[self.model.kind][1]
        optional = getattr(model, "optional_fields", {})  # field -> the model key (a section) that brings it
        known = model.fields + tuple(optional)
        for name in self.output.fields or []:
            if name not in known:
                raise ValueError(f"output.fields: unknown field {name!r} (model has {', '.join(known)})")
            if name in optional:
                section = self.model
                for key in optional[name].split("."):
                    section = getattr(section, key)
                if section is None:
                    raise ValueError(f"output.fields: {name!r} needs model.{optional[name]}")
        return self


# --- reading -------------------------------------------------------------------------


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "anchors and aliases are not allowed", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        # a key given twice is refused: YAML's last-one-wins would silently drop the first block
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, where: str = "config"):
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    # ValueError: a value that its tag cannot hold (2001-02-30, a 5000-digit integer)
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{where}: not valid YAML: {_one_line(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None


def read_config_file(path) -> dict:
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)  # never more, whatever the path is
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    raw = parse_yaml(text, str(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top, got {type(raw).__name__}")
    return raw


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=VALUE` settings; VALUE is read as YAML (numbers, strings, lists)."""
    raw = copy.deepcopy(raw)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {_key(item)}: expected KEY=VALUE, e.g. time.stop=10")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"--set {_key(item)}: empty key")
        value = parse_yaml(text, f"--set {_key(key)}")
        node = raw
        for i, p in enumerate(parts):
            if isinstance(node, list) and p.isdigit() and int(p) < len(node):
                p = int(p)
            elif not isinstance(node, dict):
                raise ConfigError(f"--set {_key(key)}: {'.'.join(parts[:i])!r} is not a section")
            if i == len(parts) - 1:
                node[p] = value
            else:
                node = node[p] if isinstance(node, list) else node.setdefault(p, {})
    return raw


def validate(raw: dict) -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, raw)) from None
    except RecursionError:
        raise ConfigError("config: nested too deeply") from None


def load_config(path, overrides=None, check=True) -> tuple[RunConfig, dict]:
    """Read, override and validate a scenario file; returns the config and the raw mapping.
    check: the cheap checks of `check_config` (no grid-sized arrays); check=False leaves every
    check to pfsim.build, on the model of the run (check_consistency)."""
    return load_checked(path, overrides, check)[:2]


def load_checked(path, overrides=None, check=True) -> tuple[RunConfig, dict, float | None]:
    """load_config, and the run's time step as check_config found it (None without `check`)."""
    dt = None
    try:
        raw = apply_overrides(read_config_file(path), overrides or [])
        cfg = validate(raw)
        if check:
            dt = check_config(cfg)
    except ConfigError:
        raise
    except Exception as exc:  # never a traceback for a bad file: name it and say what broke
        raise ConfigError(f"{path}: cannot be used ({type(exc).__name__}: {_one_line(exc)})") from exc
    return cfg, raw, dt


# grids up to this many cells are checked on the model itself (a few hundred ms at most); larger
# ones by `check_config`'s cheap checks, the rest when the run builds its model
BUILD_CHECK_CELLS = 1 << 16
PROBE_NODES = 8  # lateral nodes per axis of the probe model of a large grid


def check_config(cfg: RunConfig):
    """The checks of `pfsim validate`, in well under a second whatever the grid's size: on a grid of
    at most BUILD_CHECK_CELLS cells, those of check_consistency on the model itself; on a larger
    one, the grid, the interface cell (drive, boundaries, interface width), the SSE surface (on
    the lateral nodes only), the initial state and the integrator, and the stability limit of
    time.dt on a probe model: the same spacing, boundaries and normal axis over PROBE_NODES
    lateral nodes per axis, a flat SSE surface, no grain map and no initial metal. What only
    the whole model can check (a grain map or initial_metal store against the grid, grains
    against the domain) is checked when the run builds it (exit 2, nothing written)."""
    if math.prod(cfg.grid.shape) <= BUILD_CHECK_CELLS:
        _, model = check_consistency(cfg)
    else:
        grid = Grid.from_config(cfg.grid)
        try:
            _check_whole_cell(cfg, grid)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        _, model = check_consistency(cfg, probe=True)
    return run_time_step(cfg, model)


def run_time_step(cfg, model) -> float:
    """The run's step: time.dt, or time.cfl of the model's stability limit for the integrator."""
    if cfg.time.dt != "auto":
        return cfg.time.dt
    return cfg.time.cfl * stability_factor(cfg.time.integrator) * model.stability_limit()


# observables_every under the time step cuts every step to it: refused under dt / SLOWEST_SAMPLING
SLOWEST_SAMPLING = 10


def sampling_warnings(cfg, dt) -> list[str]:
    """Warnings of a run: output.observables_every, output.fields_every or checkpoint.every under
    its time step dt (steps land on each, so every step is cut to it; observables_every cut by
    more than SLOWEST_SAMPLING times is refused by check_consistency), and pits too narrow for
    the plating physics' metal profile."""
    out = []
    for key, every in (("output.observables_every", cfg.output.observables_every),
                       ("output.fields_every", cfg.output.fields_every), ("checkpoint.every", cfg.checkpoint.every)):
        if every is not None and every < dt * (1 - 1e-12):
            out.append(f"{key}: {every:.4g} s is under the time step {dt:.4g} s: every step is cut "
                       f"to it (the run {dt / every:.3g}x slower); use {dt:.4g} s or more to keep the step")
    return out + _narrow_pits(cfg.model)


def _narrow_pits(model) -> list[str]:
    """A pit narrower than two interface widths of the plating physics holds metal of xi < 1 only:
    the profile-restoring term pulls it back at the start (docs/plating.md, Outputs)."""
    kind = getattr(model, "kind", None)
    if kind not in ("li_plating", "li_cycling"):
        return []
    width = (model.interface if kind == "li_plating" else model.plating.interface).width
    return [f"model.geometry.pits.{i}.width: {p.width * 1e6:.3g} um is under two interface widths "
            f"({2 * width * 1e6:.3g} um): its metal is under-resolved and recedes at the start (the penetration "
            f"depth falls until plating refills it); widen the pit or refine the grid and the width"
            for i, p in enumerate(model.geometry.pits) if p.width < 2 * width * (1 - 1e-9)]


def _check_sampling(cfg, dt):
    every = cfg.output.observables_every
    if every is not None and every * SLOWEST_SAMPLING < dt:
        raise ConfigError(
            f"output.observables_every: {every:.4g} s is under a tenth of the time step {dt:.4g} s: every step "
            f"would be cut to it and the run {dt / every:.3g}x slower; use {dt / SLOWEST_SAMPLING:.4g} s or more "
            f"(a sample every step: {dt:.4g} s)")


def _check_whole_cell(cfg, grid):
    """The interface models' checks on the whole grid that need no grid-sized array."""
    from .models.base import check_interface_cell
    from .physics.geometry import surface_height

    p = cfg.model
    if not hasattr(p, "geometry"):
        return
    sections = [(s, getattr(p, s).interface.width) for s in ("stripping", "plating") if hasattr(p, s)]
    if hasattr(p, "interface"):
        sections.append((None, p.interface.width))
    check_interface_cell(p.kind, grid, cfg.drive)
    for section, width in sections:
        try:
            check_interface_cell(p.kind, grid, cfg.drive, width)
        except ValueError as err:
            raise ValueError(str(err).replace("model.interface", f"model.{section}.interface") if section else str(err))
    surface_height(p.geometry, grid, cfg.seed)


def _probe(cfg):
    """(config, grid) of the probe model of a large grid (see check_config)."""
    p, g = cfg.model, cfg.grid
    interface = hasattr(p, "geometry")
    normal = len(g.shape) - 1  # the interface models keep their normal axis whole
    shape = [n if interface and a == normal else min(n, PROBE_NODES) for a, n in enumerate(g.shape)]
    update = {}
    if interface:
        update["geometry"] = type(p.geometry)(electrolyte_thickness=p.geometry.electrolyte_thickness)
    for key in ("microstructure", "initial_metal"):
        if getattr(p, key, None) is not None:
            update[key] = None
    probe = cfg.model_copy(update={"model": p.model_copy(update=update),
                                   "grid": g.model_copy(update={"shape": shape})})
    return probe, Grid.from_config(probe.grid)


def check_consistency(cfg: RunConfig, backend=None, extent=None, probe=False):
    """Checks that need the grid and the model: dimensions and the explicit stability limit.
    Returns (the whole grid, the model): built on `backend` (default a NumPy one for validation
    only) over `extent` (default the whole grid), a run's model is the one checked here.
    probe: on the small probe model of check_config instead (validation of a large grid)."""
    try:  # the kinds against the grid, and the shape and dtype of npy and zarr arrays, on the whole grid
        check_initials(cfg, Grid.from_config(cfg.grid))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if probe:
        cfg, grid = _probe(cfg)
    else:
        grid = Grid.from_config(cfg.grid)
    backend = backend or Backend("numpy", np.dtype(cfg.precision), "validation")
    try:
        model = MODELS[cfg.model.kind][1](cfg.model, grid if extent is None else extent.grid, backend,
                                          drive=cfg.drive, seed=cfg.seed, extent=extent)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    model.cfl = cfg.time.cfl  # the fraction of its limit that a sub-cycled part of a step takes
    if model.needs_initial and cfg.initial is None:
        raise ConfigError("initial: required key is missing")
    if cfg.initial is not None and "initial" in type(cfg.model).model_fields:
        raise ConfigError(f"initial: model.kind {cfg.model.kind} takes each field's initial condition in model.initial")
    if cfg.initial is not None and cfg.initial.kind in ("pfhub_bm1", "manufactured") and grid.ndim != 2:
        raise ConfigError(f"initial.kind: {cfg.initial.kind} is defined on 2D grids only")
    if cfg.initial is not None and cfg.initial.kind == "manufactured" and getattr(cfg.model, "source", None) is None:
        raise ConfigError("initial.kind: 'manufactured' needs model.source")
    if cfg.time.integrator == "semi_implicit" and "semi_implicit" not in model.integrators:
        raise ConfigError(
            f"time.integrator: 'semi_implicit' steps model.kind cahn_hilliard_allen_cahn on a fully periodic grid "
            f"in one process only (here model.kind {cfg.model.kind}, grid.boundaries "
            f"{'all periodic' if all(grid.periodic) else 'not all periodic'}); use euler")
    if cfg.time.integrator not in model.integrators:
        allowed = " or ".join(repr(i) for i in model.integrators)
        raise ConfigError(
            f"time.integrator: expected {allowed} for model.kind {cfg.model.kind}, got {cfg.time.integrator!r} "
            f"(RK4 evaluates the model's rate, which {cfg.model.kind} does not give: it steps with forward Euler)"
        )
    try:
        limit = model.stability_limit() * stability_factor(cfg.time.integrator)
    except ArithmeticError:  # 1/h^2 or its square beyond the float range
        limit = 0.0
    if not limit > 0:
        raise ConfigError(
            "time.dt: the explicit stability limit of this grid and model is out of the float64 range "
            "(check grid.spacing and the model coefficients)"
        )
    if cfg.time.dt != "auto" and cfg.time.dt > limit and cfg.time.integrator != "semi_implicit":
        raise ConfigError(
            f"time.dt: {cfg.time.dt:.4g} s exceeds the explicit stability limit {limit:.4g} s "
            f"of this grid and model; use a smaller dt or dt: auto"
        )
    _check_sampling(cfg, cfg.time.dt if cfg.time.dt != "auto" else cfg.time.cfl * limit)
    return grid, model


# --- error messages ------------------------------------------------------------------


# "dt: expected ..." from a section's own checks: the key belongs to the path
_KEY_PREFIX = re.compile(r"([A-Za-z_]\w*(?:\.\w+)*): (.+)", re.DOTALL)


def format_errors(exc: ValidationError, raw) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        loc, kind, message = tuple(err["loc"]), err["type"], _message(err)
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            loc += (str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'"),)
        path = _yaml_path(loc, raw, kind in ("missing", "union_tag_not_found", "invalid_key"))
        m = _KEY_PREFIX.fullmatch(message) if kind == "value_error" else None
        if m:
            path, message = ".".join(filter(None, (path, m[1]))), m[2]
        lines.append(f"{path or 'config'}: {message}")
    return list(dict.fromkeys(lines))


def _yaml_path(loc, raw, absent_key=False) -> str:
    """Dotted YAML path of an error location, dropping pydantic's union-member tags.

    A last key that is not in the file is named only when it is what the error is about
    (absent_key: a missing or non-string key), not when a validator made it up.
    """
    parts, node = [], raw
    for i, item in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and not last and node.get("kind") == item:
            continue  # the tag of a discriminated union (model.kind, initial.kind)
        if isinstance(node, dict) and item in node:
            parts.append(_key(item))
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            parts.append(str(item))
            node = node[item]
        elif last and absent_key:
            parts.append(_key(item))
    return ".".join(parts)


def _key(item) -> str:
    """A key as written, or quoted when it would not read as one (blank, line breaks, control characters)."""
    text = str(item)
    return text if text.isprintable() and text.strip() == text and text else repr(text)


def _message(err) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("missing", "union_tag_not_found"):
        return "required key is missing"
    if kind == "invalid_key":
        return "unknown key (keys are names)"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys, got {_short(value)}"
    ctx = err.get("ctx") or {}
    if kind == "union_tag_invalid":
        return f"unknown kind {_short(ctx.get('tag'))}; expected one of {ctx.get('expected_tags')}"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return f"{msg[0].lower()}{msg[1:]}, got {_short(value)}"


def _one_line(exc) -> str:
    return " ".join(str(exc).split())
