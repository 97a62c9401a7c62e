"""Parameter sweeps: a base scenario, axes over any config keys, one run store per member.

    name: pressure-current
    base: ../void_stripping.yaml          # relative to this file
    set: {time.stop: "10 min"}            # fixed overrides for every member (optional)
    axes:                                 # Cartesian product, first axis slowest
      drive.stack_pressure: ["0.1 MPa", "0.5 MPa", "2 MPa"]
      drive.current_density: {log_range: ["0.5 mA/cm^2", "4 mA/cm^2", 4]}
      seed: {seeds: 2}                    # seeds 0, 1
    output: runs/sweeps/pressure-current  # default runs/sweeps/NAME
    batch: 64                             # members stepped together (pfsim.ensemble); default 1

`base` may also be a list of scenario files (e.g. two material sets of one cell): each is swept
with every combination of the axes, as the slowest axis, named `base` in results.csv.

Every member is validated before anything runs. Members are numbered (member-0000.zarr, ...)
so one can run as one task of a job array (`pfsim sweep FILE --member K`). Running a sweep
again skips finished members, resumes interrupted ones from their checkpoint and reruns
members that failed or never started; `results.csv` lists every member with its state.

With `batch: B` the members are taken B at a time (members 0..B-1, B..2B-1, ...) and each group
is advanced as one ensemble, in the same kernel launches (`pfsim sweep FILE --group K` runs
group K; a job array then has one task per group). The members of a group may differ only in
seed and initial state, and the model must be one whose step batches (pfsim.ensemble); this is
checked with the rest of the validation, before anything runs.
"""

import csv
import itertools
from pathlib import Path

import numpy as np
import yaml
from pydantic import Field, ValidationError

from .config import format_errors, load_config, read_config_file
from .errors import ConfigError, StoreError
from .schema import Section
from .units import QuantityError, any_to_si

DONE = ("finished", "ended")


class SweepConfig(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    base: str | list[str] = Field(description="scenario file, relative to the sweep file (a list: each is swept, "
                                                  "the slowest axis)")
    set: dict[str, object] = Field(default_factory=dict, description="overrides for every member")
    axes: dict[str, object] = Field(min_length=1, description="config key -> list | {range} | {log_range} | {seeds}")
    output: str | None = None
    batch: int = Field(1, ge=1, le=4096, description="members advanced together as one ensemble (pfsim.ensemble)")


def _axis_values(key, spec):
    """Values of one axis as YAML-ready items (strings with units are kept as given)."""
    if isinstance(spec, list) and spec:
        return spec
    if isinstance(spec, dict) and len(spec) == 1:
        (kind, arg), = spec.items()
        if kind == "seeds" and isinstance(arg, int) and arg > 0:
            return list(range(arg))
        if kind in ("range", "log_range") and isinstance(arg, list) and len(arg) == 3 and isinstance(arg[2], int) and arg[2] > 1:
            start, stop = (_number(v, key) for v in arg[:2])
            if kind == "log_range" and (start <= 0 or stop <= 0):
                raise ConfigError(f"axes.{key}: log_range needs positive ends")
            values = np.geomspace(start, stop, arg[2]) if kind == "log_range" else np.linspace(start, stop, arg[2])
            return [float(v) for v in values]
    raise ConfigError(f"axes.{key}: expected a list of values, {{range: [start, stop, n]}}, "
                      f"{{log_range: [start, stop, n]}} or {{seeds: n}}, got {spec!r:.60}")


def _number(v, key):
    """A range end: a number, or a quantity string whose SI value is taken."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return any_to_si(v)
        except QuantityError:
            pass
    raise ConfigError(f"axes.{key}: range ends must be numbers or quantities, got {v!r:.40}")


SWEEP_KEYS = ("base", "axes")  # a file with either at its top is a sweep file, not a scenario


def file_kind(path) -> str:
    """"sweep" or "scenario": what the YAML file at `path` holds (read, not validated)."""
    raw = read_config_file(path)
    return "sweep" if any(k in raw for k in SWEEP_KEYS) else "scenario"


class Sweep:
    def __init__(self, path):
        self.path = Path(path)
        raw = read_config_file(self.path)
        try:
            self.cfg = SweepConfig.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(format_errors(exc, raw)) from None
        bases = [self.cfg.base] if isinstance(self.cfg.base, str) else list(self.cfg.base)
        if not bases or len(set(bases)) < len(bases) or "base" in self.cfg.axes:
            raise ConfigError("base: one scenario file or a list of different ones (not an axis)")
        self.bases = {b: (self.path.parent / b).resolve() for b in bases}
        self.base = self.bases[bases[0]]  # the first (the only one unless `base` is a list)
        self.axes = {"base": bases} if len(bases) > 1 else {}
        self.axes.update({k: _axis_values(k, v) for k, v in self.cfg.axes.items()})
        self.root = Path(self.cfg.output) if self.cfg.output else Path("runs") / "sweeps" / self.cfg.name

    def members(self):
        """[(index, {key: value})] in a fixed order (first axis slowest)."""
        keys = list(self.axes)
        return [(i, dict(zip(keys, combo))) for i, combo in enumerate(itertools.product(*self.axes.values()))]

    def overrides(self, values) -> list[str]:
        """--set items of a member: the file's `set`, then its axis values."""
        pairs = itertools.chain(self.cfg.set.items(), ((k, v) for k, v in values.items() if k != "base"))
        return [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}" for k, v in pairs]

    def store(self, index) -> Path:
        return self.root / f"member-{index:04d}.zarr"

    def base_of(self, values) -> Path:
        """The scenario file of a member (its `base` value where `base` is a list)."""
        return self.bases[values["base"]] if "base" in values else self.base

    def validate(self):
        """Every member's config, checked before anything runs (raises ConfigError)."""
        from .build import check_inputs

        configs = []
        for i, values in self.members():
            try:
                configs.append(load_config(self.base_of(values), self.overrides(values)))
                check_inputs(configs[-1][0])
            except ConfigError as exc:
                raise ConfigError([f"member {i} ({values}): {p}" for p in exc.problems]) from None
        if self.cfg.batch > 1:
            from .ensemble import batch_problem

            for k, group in enumerate(self.groups()):
                problem = batch_problem([configs[i][0] for i in group])
                if problem:
                    raise ConfigError(f"batch: group {k} (members {group[0]} to {group[-1]}): {problem}")
        return configs

    def member_config(self, index):
        """(config, raw config) of one member (checked by `validate` and again on the run's model)."""
        values = self.members()[index][1]
        return load_config(self.base_of(values), self.overrides(values), check=False)

    def checkpoint_of(self, index):
        """(time, step) of the checkpoint a stopped member resumes from, or None."""
        if self.state(index) not in ("interrupted", "stopped", "running"):
            return None
        from .io.store import RunStore

        store = RunStore.open(self.store(index), mode="r")
        if not store.meta.get("checkpoint"):
            return None
        info = store.checkpoint_group()[1]
        return info["time"], info["iteration"]

    def groups(self) -> list[list[int]]:
        """Member indices in groups of `batch` (the last may be shorter)."""
        ids, b = [i for i, _ in self.members()], self.cfg.batch
        return [ids[k:k + b] for k in range(0, len(ids), b)]

    def state(self, index) -> str:
        """not started | running | interrupted | stopped | blew_up | finished | ended."""
        path = self.store(index)
        if not (path / "zarr.json").is_file():
            return "not started"
        from .io.store import RunStore

        try:
            return RunStore.open(path, mode="r").meta.get("status", "unknown")
        except Exception:
            return "unreadable"


def run_member(sweep: Sweep, index: int, say=print, backend=None) -> str:
    """Run (or resume, or skip) one member; returns its final state."""
    from .runner import Run

    state = sweep.state(index)
    if state in DONE:
        say(f"member {index}: {state}, skipped")
        return state
    path = sweep.store(index)
    try:
        if sweep.checkpoint_of(index):
            run = Run.resume(path, backend=backend, say=say)
        else:
            cfg, raw = sweep.member_config(index)
            run = Run.new(cfg, raw, store_path=path, overwrite=state != "not started", backend=backend, say=say,
                          command=f"pfsim sweep {sweep.path} --member {index}")
    except StoreError as exc:  # written by another run now (its lock), or no intact checkpoint
        say(f"member {index}: {exc}")
        return sweep.state(index)
    try:
        return run.execute()
    except Exception as exc:  # a member's failure is recorded, never fatal to the sweep
        say(f"member {index} failed: {exc}")
        return sweep.state(index)


def run_group(sweep: Sweep, group: list[int], say=print, backend=None) -> list[str]:
    """Run the members of one group as ensembles: those without a checkpoint start together,
    those stopped together resume together; finished members are skipped. Returns their states."""
    from .ensemble import resume_together, run_together

    fresh, stopped = [], {}
    for i in group:
        state = sweep.state(i)
        if state in DONE:
            say(f"member {i}: {state}, skipped")
        elif (checkpoint := sweep.checkpoint_of(i)):
            stopped.setdefault(checkpoint, []).append(i)
        else:
            fresh.append((i, state))

    def attempt(ids, make):
        try:
            make().execute()
        except Exception as exc:  # recorded in the members' stores, never fatal to the sweep
            say(f"members {ids} failed: {exc}")

    if fresh:
        members = [sweep.member_config(i) + (sweep.store(i), state != "not started") for i, state in fresh]
        command = f"pfsim sweep {sweep.path} --group {sweep.groups().index(group)}"
        attempt([i for i, _ in fresh], lambda: run_together(members, backend=backend, say=say, command=command))
    for ids in stopped.values():
        attempt(ids, lambda: resume_together([sweep.store(i) for i in ids], backend=backend, say=say))
    return [sweep.state(i) for i in group]


def collect(sweep: Sweep) -> Path:
    """results.csv: member, state, axis values (SI), final observables."""
    import xarray as xr

    rows, columns = [], []
    for i, values in sweep.members():
        row = {"member": i, "state": sweep.state(i), **({"base": values["base"]} if "base" in values else {})}
        cfg, _ = load_config(sweep.base_of(values), sweep.overrides(values), check=False)
        resolved = cfg.model_dump(mode="json")
        for key in (k for k in values if k != "base"):
            node = resolved
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            row[key] = node
        if row["state"] not in ("not started", "unreadable"):
            ds = xr.open_zarr(sweep.store(i))
            row["time"] = float(ds.obs_time[-1]) if ds.sizes.get("obs_time") else np.nan
            for name in ds.data_vars:
                if ds[name].dims == ("obs_time",) and ds.sizes["obs_time"]:
                    row[f"final_{name}"] = float(ds[name][-1])
        rows.append(row)
        columns += [c for c in row if c not in columns]
    sweep.root.mkdir(parents=True, exist_ok=True)
    out = sweep.root / "results.csv"
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return out


def phase_diagram(sweep: Sweep, table: Path, metric: str) -> Path | None:
    """A scatter of the first two numeric axes coloured by the mean of `metric` over the rest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(table) as f:
        rows = list(csv.DictReader(f))
    axes = [k for k in sweep.axes if k not in ("seed", "base")][:2]
    if len(axes) < 2 or not rows or f"final_{metric}" not in rows[0]:
        return None
    points = {}
    for r in rows:
        try:
            key, value = (float(r[axes[0]]), float(r[axes[1]])), float(r[f"final_{metric}"])
        except (TypeError, ValueError):
            continue
        if np.isfinite(value):
            points.setdefault(key, []).append(value)
    if not points:
        return None
    xs, ys = zip(*points)
    cs = [float(np.mean(v)) for v in points.values()]
    fig, ax = plt.subplots(figsize=(5, 4))
    sc = ax.scatter(xs, ys, c=cs, s=160, cmap="viridis")
    fig.colorbar(sc, ax=ax, label=metric)
    ax.set_xlabel(f"{axes[0]} (SI)")
    ax.set_ylabel(f"{axes[1]} (SI)")
    ax.set_title(f"{sweep.cfg.name}: final {metric}", fontsize=9)
    fig.tight_layout()
    out = sweep.root / f"phase_diagram_{metric}.png"
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
