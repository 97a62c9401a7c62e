"""The member stores of a stripping critical-current sweep, read for the analysis commands
(pfsim.analysis ccd, pfsim.width_limit): per store its material, stack pressure, seed, interface
width and outcome (a critical current by the failure record or by the voltage criterion, "above"
the top of its ramp, or left out with the reason), and the members grouped by material and
pressure. The commands and their output are described in pfsim.analysis."""

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MATERIALS = {"li-llzo-ramp": "Li|LLZO", "li-lpscl-ramp": "Li|Li\u2086PS\u2085Cl"}  # scenario name -> label
CCD_KINDS = ("contact", "voltage")  # failure kinds that define a critical current of stripping
EXIT_NOTHING = 2  # no run store, or none with a critical current or a completed ramp


@dataclass(frozen=True)
class Member:
    """One run store of a critical-current sweep: `outcome` "failed" (current: the critical current),
    "above" (current: the top current it carried without failing) or "left out" (note: why)."""

    path: Path
    material: str
    pressure: float  # MPa (NaN if not constant)
    seed: int | None
    outcome: str
    current: float  # mA/cm^2, NaN when left out
    note: str = ""
    time: float = float("nan")  # s: when it failed (the criterion's time), NaN otherwise
    width: float = float("nan")  # m: its model.interface.width (NaN where the config has none)


@dataclass
class Group:
    """The members of one material at one stack pressure."""

    material: str
    pressure: float
    failed: list = field(default_factory=list)  # critical currents, mA/cm^2
    above: list = field(default_factory=list)  # top currents of the members that did not fail, mA/cm^2

    @property
    def seeds(self) -> int:
        return len(self.failed) + len(self.above)

    @property
    def complete(self) -> bool:
        """Every member failed: the mean and spread are those of the critical current."""
        return not self.above and bool(self.failed)

    @property
    def mean(self) -> float:
        """Mean critical current; with members above the top, a lower bound (those counted at the top)."""
        return float(np.mean(self.failed + self.above))

    @property
    def std(self) -> float:
        """Sample standard deviation of the critical current (NaN with members above the top or one seed)."""
        return float(np.std(self.failed, ddof=1)) if self.complete and len(self.failed) > 1 else float("nan")

    @property
    def low(self) -> float:
        return float(min(self.failed)) if self.failed else float("nan")

    @property
    def high(self) -> float:
        return float(max(self.failed)) if self.complete else float("nan")


def config_value(cfg, key):
    """The value of a dotted key (model.creep.model) in a stored config; None where it is absent."""
    for part in key.split("."):
        if not isinstance(cfg, dict) or part not in cfg:
            return None
        cfg = cfg[part]
    return cfg


def _as_written(value, written):
    """A resolved (SI) number as the config wrote it ("0.5 um" for 5e-07) where the written
    quantity is the same value; else the resolved value."""
    from .units import QuantityError, any_to_si

    if isinstance(value, (int, float)) and isinstance(written, str):
        try:
            if math.isclose(any_to_si(written), value, rel_tol=1e-9):
                return written
        except QuantityError:
            pass
    return value


def read_member(path, rise=None, by=None) -> Member:
    """The outcome of one run store's stripping ramp (see the module's docstring); with `rise`
    (V), by the voltage criterion (`voltage_divergence`) instead of the failure record; with `by`
    (a dotted config key), the key's value joins the material's label, so that members differing
    in it are grouped apart."""
    import xarray as xr

    from .io.store import RunStore

    path = Path(path)
    try:
        meta = RunStore.open(path, mode="r").meta
    except Exception as exc:  # noqa: BLE001 - a store being created or damaged: left out, named
        return Member(path, "?", float("nan"), None, "left out", float("nan"), f"unreadable ({exc})")
    cfg = meta.get("config") or {}
    name = str(cfg.get("name", "?"))
    material, seed = MATERIALS.get(name, name), cfg.get("seed")
    if by:
        value = _as_written(config_value(cfg, by), config_value(meta.get("config_source") or {}, by))
        material = f"{material}, {'.'.join(by.split('.')[-2:])} = {value}"
    pressure = (cfg.get("drive") or {}).get("stack_pressure")
    pressure = float(pressure) / 1e6 if isinstance(pressure, (int, float)) else float("nan")
    status, failure = meta.get("status", "unknown"), meta.get("failure") or {}

    width = config_value(cfg, "model.interface.width")
    width = float(width) if isinstance(width, (int, float)) else float("nan")

    def left_out(note):
        return Member(path, material, pressure, seed, "left out", float("nan"), note, width=width)

    if not np.isfinite(pressure):
        return left_out("stack pressure not a constant")
    if rise is not None:
        return _by_voltage(path, material, pressure, seed, status, failure, rise, left_out, width)
    if status == "ended" and failure.get("kind") in CCD_KINDS:
        return Member(path, material, pressure, seed, "failed", abs(float(failure["current_density"])) / 10,
                      f"{failure['kind']} failure at t = {float(failure['time']):.6g} s", float(failure["time"]), width)
    if status == "finished" and not failure:
        ds = xr.open_zarr(str(path))
        j = np.abs(ds["current_density"].values) if "current_density" in ds else np.array([])
        j = j[np.isfinite(j)]
        if not j.size:
            return left_out("finished, but no current_density samples")
        return Member(path, material, pressure, seed, "above", float(j.max()) / 10, "end of the ramp, no failure",
                      width=width)
    reason = f"{failure.get('kind')} failure" if failure else meta.get("stop_reason") or ""
    return left_out(f"{status}{': ' + reason if reason else ''}")


def _by_voltage(path, material, pressure, seed, status, failure, rise, left_out, width=float("nan")):
    """read_member by the voltage criterion: the first rise within a hold; a run stopped by the
    voltage limit before one counts at its failure's current; a finished ramp without one is
    "above"; a run stopped by the contact criterion first is left out (it ended too early to tell)."""
    import xarray as xr

    if status not in ("ended", "finished"):
        return left_out(status)
    ds = xr.open_zarr(str(path))
    name = cell_voltage_name(ds)
    if name not in ds or "current_density" not in ds:
        return left_out("no cell_voltage or current_density samples")
    t, v, j = ds["obs_time"].values, ds[name].values, np.abs(ds["current_density"].values)
    hit = voltage_divergence(t, v, j, rise)
    if hit is not None:
        return Member(path, material, pressure, seed, "failed", hit[1] / 10,
                      f"{name} rose by more than {rise * 1e3:g} mV within a hold at t = {hit[0]:.6g} s", hit[0], width)
    if status == "ended" and failure.get("kind") == "voltage":
        return Member(path, material, pressure, seed, "failed", abs(float(failure["current_density"])) / 10,
                      f"voltage limit at t = {float(failure['time']):.6g} s", float(failure["time"]), width)
    if status == "finished" and not failure:
        return Member(path, material, pressure, seed, "above", float(j.max()) / 10, "end of the ramp, no voltage rise",
                      width=width)
    return left_out(f"ended by the {failure.get('kind')} criterion before any voltage rise of {rise * 1e3:g} mV "
                    "(run with model.failure_contact_fraction=0)")


def sweep_folder(path) -> Path:
    """The folder of member stores: `path` itself, or the output folder of a sweep file."""
    path = Path(path)
    if path.is_file():
        from .sweep import Sweep

        return Sweep(path).root
    return path


def read_members(folder, rise=None, by=None) -> list[Member]:
    """Every run store (*.zarr) directly in `folder`, in name order (rise, by: read_member's)."""
    return [read_member(p, rise, by) for p in sorted(Path(folder).glob("*.zarr")) if (p / "zarr.json").is_file()]


def sweep_members(sweep, rise=None, by=None):
    """(folder, members) of a sweep file or folder for the commands that read one; the folder's
    count and each member left out are printed, and where there is nothing to read the reason
    goes to stderr and members is empty."""
    folder = sweep_folder(sweep)
    if not folder.is_dir():
        print(f"{sweep}: no such folder (run the sweep first: pfsim sweep SWEEP_FILE)", file=sys.stderr)
        return folder, []
    members = read_members(folder, rise, by)
    if not members:
        print(f"{folder}: no run store (*.zarr) in it; run the sweep first (pfsim sweep SWEEP_FILE)", file=sys.stderr)
        return folder, []
    left = [m for m in members if m.outcome == "left out"]
    print(f"{folder}: {len(members)} run store(s), {len(members) - len(left)} counted")
    for m in left:
        print(f"  left out: {m.path.name} ({m.material}, {m.pressure:g} MPa, seed {m.seed}): {m.note}")
    return folder, members


def write_figure(fig, output, folder, default) -> Path:
    """Save a command's figure at `output` (default: FOLDER/default), close it, say where."""
    import matplotlib.pyplot as plt

    out = Path(output) if output else Path(folder) / default
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    plt.close(fig)
    print(f"figure: {out}")
    return out


def group_members(members) -> list[Group]:
    """Groups by (material, pressure), in order of material then pressure; left-out members are not counted."""
    groups = {}
    for m in members:
        if m.outcome in ("failed", "above"):
            g = groups.setdefault((m.material, m.pressure), Group(m.material, m.pressure))
            (g.failed if m.outcome == "failed" else g.above).append(m.current)
    return [groups[k] for k in sorted(groups)]


def cell_voltage_name(ds) -> str:
    """The voltage the criterion reads: the symmetric cell's where the run has model.symmetric_cell."""
    return "symmetric_cell_voltage" if "symmetric_cell_voltage" in ds else "cell_voltage"


def voltage_divergence(times, voltage, current, rise):
    """(time, current) of the first sample whose voltage exceeds the hold's reference by more
    than `rise`; None if none does. A hold is a run of samples at the same applied current; its
    reference is its second sample, the first whose voltage was solved at the hold's current (a
    sample on the breakpoint carries the hold's current and the last step's voltage)."""
    start = 0
    for k in range(len(times)):
        if current[k] != current[start]:
            start = k
        ref = min(start + 1, k)
        if voltage[k] - voltage[ref] > rise:
            return float(times[k]), float(current[k])
    return None
