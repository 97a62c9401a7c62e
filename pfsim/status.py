"""`pfsim status PATH`: the state of a run store, or of every member of a sweep (file or folder),
with the SLURM job ids recorded beside them and, where squeue answers, the jobs' states.

A store whose metadata says "running" is shown `stale` when its run is not going any more: the
process holding its lock is gone from this host (or no process holds it), or its heartbeat (written
with the run's commits, at least every `every` seconds) is STALE_BEATS intervals old."""

import re
import shutil
import subprocess
import time
from pathlib import Path

from .errors import StoreError
from .slurm import job_dir_of, read_jobs


STALE_BEATS = 4  # a heartbeat this many intervals old: stale


def liveness(path, meta) -> tuple[str, str]:
    """("running" | "stale", why) of a store whose metadata says running."""
    from .io.lock import describe, holder_alive, read_lock

    lock = read_lock(path)
    beat = meta.get("heartbeat") or {}
    age = time.time() - beat["unix"] if isinstance(beat.get("unix"), (int, float)) else None
    seen = f"; last heartbeat {age:.0f} s ago at step {beat.get('step')}" if age is not None else ""
    if lock is None:
        if meta.get("integrity"):  # written by a pfsim that locks: no run writes it
            return "stale", "no run holds the store's lock" + seen
        return "running", ""
    if lock and holder_alive(lock) is False:
        return "stale", f"its writer ({describe(lock)}) is gone" + seen
    every = beat.get("every")
    if age is not None and every and age > STALE_BEATS * every:
        return "stale", f"no heartbeat for {age:.0f} s (expected every {every:g} s; writer {describe(lock)})"
    return "running", f"{describe(lock)}" + seen if lock else ""


def store_info(path: Path) -> dict:
    """status, reason, time, stop, step, checkpoint (time, step, written), slurm_job, attempts."""
    from .io.store import RunStore

    store = RunStore.open(path, mode="r")
    meta = store.meta
    info = {"status": meta.get("status", "unknown"), "reason": meta.get("stop_reason"),
            "stop": (meta.get("config") or {}).get("time", {}).get("stop"), "slurm_job": meta.get("slurm_job"),
            "attempts": [h.get("status") for h in meta.get("history", [])],
            "time": meta.get("time"), "step": meta.get("iteration"), "checkpoint": None,
            "failure": meta.get("failure")}
    slot = meta.get("checkpoint")
    if slot:
        ck = dict(store.group["checkpoints"][slot].attrs.get("pfsim_checkpoint", {}))
        info["checkpoint"] = {k: ck.get(k) for k in ("time", "iteration", "written")}
    if info["status"] == "running":  # time and step are recorded when a try ends: show the latest output
        ck_time = (info["checkpoint"] or {}).get("time")
        info["time"] = max((t for t in (store.last_sample_time(), ck_time) if t is not None), default=None)
        info["step"] = None
        beat = meta.get("heartbeat") or {}
        if beat.get("time") is not None and (info["time"] is None or beat["time"] >= info["time"]):
            info["time"], info["step"] = beat["time"], beat.get("step")
        info["status"], info["reason"] = liveness(path, meta)
    return info


def slurm_states(ids) -> dict:
    """{job id: state} from squeue (array ranges expanded); {} where squeue is missing or fails."""
    exe = shutil.which("squeue")
    ids = sorted({str(i).split("_")[0] for i in ids if i})
    if not exe or not ids:
        return {}
    try:
        out = subprocess.run([exe, "-h", "-t", "all", "-o", "%i %T", "-j", ",".join(ids)],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return {}
    states = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        job, state = parts
        m = re.fullmatch(r"(\d+)_\[([\d,\-]+)(?:%\d+)?\]", job)
        if m:  # pending array tasks: 123_[4-7,9]
            for part in m[2].split(","):
                lo, _, hi = part.partition("-")
                for k in range(int(lo), int(hi or lo) + 1):
                    states[f"{m[1]}_{k}"] = state
        else:
            states[job] = state
    return states


def _time(info) -> str:
    t, stop = info.get("time"), info.get("stop")
    if t is None:
        return "-"
    return f"{t:.4g} s of {stop:.4g} s ({100 * t / stop:.0f}%)" if stop else f"{t:.4g} s"


def store_report(path: Path) -> str:
    info = store_info(path)
    jobs = read_jobs(job_dir_of(path.absolute()))
    job = info["slurm_job"] or (jobs[-1]["job"] if jobs else None)
    lines = [str(path), f"  status      {info['status']}"
             + (f" ({info['reason']})" if info["reason"] else ""),
             f"  time        {_time(info)}" + (f", step {info['step']}" if info["step"] is not None else "")]
    if info["failure"]:
        f = info["failure"]
        lines.append(f"  failure     {f['kind']} at t = {f['time']:.6g} s, {f['current_density'] / 10:.4g} mA/cm^2, "
                     f"cycle {f['cycle']}, half-cycle {f['half_cycle']}")
    ck = info["checkpoint"]
    lines.append(f"  checkpoint  t = {ck['time']:.6g} s, step {ck['iteration']}, written {ck['written']}" if ck
                 else "  checkpoint  none")
    if info["attempts"]:
        lines.append(f"  tries       {len(info['attempts'])}: {', '.join(map(str, info['attempts']))}")
    if job:
        state = slurm_states([job]).get(str(job))
        lines.append(f"  slurm job   {job}" + (f" ({state})" if state else ""))
    return "\n".join(lines)


def sweep_report(path: Path) -> str:
    """Members of a sweep file (every member, started or not) or of a sweep folder (the stores in it)."""
    if path.is_dir():
        root, name = path, path.name
        members = [(int(p.name[7:11]), {}) for p in sorted(path.glob("member-[0-9][0-9][0-9][0-9].zarr"))]
        if not members:
            raise StoreError(f"{path}: neither a run store nor a sweep folder (no member-NNNN.zarr in it)")
    else:
        from .sweep import Sweep

        sweep = Sweep(path)
        root, name, members = sweep.root, f"{sweep.cfg.name} (sweep file {path})", sweep.members()
    jobs = read_jobs(root / "slurm")
    array = jobs[-1].get("array") if jobs else None
    per_task = jobs[-1].get("batch", 1) if jobs else 1  # members per array task (a sweep's groups)
    rows, counts = [], {}
    for i, values in members:
        store = root / f"member-{i:04d}.zarr"
        try:
            info = store_info(store) if (store / "zarr.json").is_file() else {"status": "not started"}
        except Exception:  # a store being created or damaged
            info = {"status": "unreadable"}
        job = info.get("slurm_job") or (f"{array}_{i // per_task}" if array else None)
        rows.append((i, info, job, values))
        counts[info["status"]] = counts.get(info["status"], 0) + 1
    states = slurm_states([job for *_, job, _ in rows])
    lines = [f"sweep {name}: {len(rows)} member(s) in {root}"]
    lines.append(f"  {'member':>6}  {'state':<12} {'time':<28} {'step':>8}  slurm job")
    for i, info, job, values in rows:
        step = info.get("step")
        slurm = f"{job} ({states[job]})" if job in states else (job or "-")
        lines.append(f"  {i:>6}  {info['status']:<12} {_time(info):<28} {'-' if step is None else step:>8}  {slurm}")
    lines.append("  " + ", ".join(f"{state}: {n}" for state, n in sorted(counts.items())))
    return "\n".join(lines)


def scenario_report(path: Path) -> str:
    """A scenario file: which file it is, and the state of the store its run writes by default."""
    from .config import load_config
    from .runner import default_store_path

    cfg, _ = load_config(path, check=False)
    store = default_store_path(cfg)
    head = f"{path}: a scenario file (not a sweep); its run store (output.store or runs/NAME.zarr) is {store}"
    if (store / "zarr.json").is_file():
        return head + "\n" + store_report(store)
    return head + ", not started (a run given -o writes elsewhere: give that store)"


def report(path) -> str:
    path = Path(path)
    if (path / "zarr.json").is_file():
        return store_report(path)
    if path.is_file():
        from .sweep import file_kind

        return sweep_report(path) if file_kind(path) == "sweep" else scenario_report(path)
    if path.is_dir():
        return sweep_report(path)
    raise StoreError(f"{path}: no such run store, sweep file or sweep folder")
