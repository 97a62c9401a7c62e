"""SLURM batch jobs for a run (`pfsim submit`) and a sweep (`pfsim sweep --slurm`).

Resources come from a profile YAML file (--profile) and command-line options, which win.
Every job script asks for the warning signal `--signal=B:USR1@GRACE` and `--requeue`. Its
shell runs pfsim in the background and passes the warning on; pfsim checkpoints and exits
with code 3, and the script requeues the job, which resumes from the checkpoint. TERM
(scancel, a time limit reached without warning) checkpoints too but never requeues.
Scripts, the config as submitted and the job ids (job.json) live beside the run store.
"""

import json
import math
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from .config import format_errors, load_config, read_config_file
from .errors import PfsimError, StoreError
from .schema import Section
from .units import QuantityError, to_si

_NAME = r"^[A-Za-z0-9_.,:+-]{1,128}$"  # partitions, accounts, QOS: no spaces, nothing the shell reads
# D-HH[:MM[:SS]] or [HH:]MM:SS (a bare number, minutes to Slurm, seconds to pfsim, is refused)
_SLURM_TIME = re.compile(r"^(?:(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?|(?:(\d+):)?(\d+):(\d+))$")
# profile key -> command-line option
OPTIONS = {"partition": "--partition", "account": "--account", "qos": "--qos", "time": "--time", "gpus": "--gpus",
           "cpus": "--cpus", "memory": "--memory", "signal_grace": "--signal-grace", "array_limit": "--array-limit"}


class SlurmError(PfsimError):
    """sbatch missing or refusing a job; paths that a job script cannot hold."""

    exit_code = 2


def _seconds(v):
    try:
        return math.ceil(to_si(v, "time"))
    except QuantityError as exc:
        raise ValueError(str(exc)) from None


def _time_limit(v):
    """Seconds from '2 h', '90 min' or Slurm's clock forms."""
    if v is None:
        return v
    text = str(v).strip() if isinstance(v, (str, int, float)) and not isinstance(v, bool) else ""
    m = _SLURM_TIME.match(text)
    if m:
        d, h, mi, s, h2, m2, s2 = (int(x) if x else 0 for x in m.groups())
        return d * 86400 + h * 3600 + mi * 60 + s if m[1] else h2 * 3600 + m2 * 60 + s2
    if not text or re.fullmatch(r"[-+.\deE]+", text):
        raise ValueError(f"expected a time with units ('90 min', '2 h') or Slurm's [D-]HH:MM:SS, got {v!r:.40}")
    return _seconds(v)


class SlurmProfile(Section):
    partition: str | None = Field(None, pattern=_NAME, description="partition (queue)")
    account: str | None = Field(None, pattern=_NAME, description="account charged")
    qos: str | None = Field(None, pattern=_NAME, description="quality of service")
    time: Annotated[int | None, BeforeValidator(_time_limit)] = Field(None, gt=0, description="time limit of one job (s)")
    gpus: int = Field(0, ge=0, le=64, description="GPUs per job (per member for sweeps)")
    cpus: int = Field(1, ge=1, le=4096, description="CPUs per task")
    memory: str | None = Field(None, pattern=r"^[1-9][0-9]{0,8}[KMGT]?$", description="memory per node, e.g. 16G")
    signal_grace: Annotated[int, BeforeValidator(_seconds)] = Field(
        300, ge=10, le=65535, description="the warning signal comes this long before the time limit (s)")
    max_requeues: int = Field(20, ge=0, description="a job requeues itself at most this many times")
    array_limit: int | None = Field(None, ge=1, description="sweeps: at most this many members at once")
    setup: list[Annotated[str, Field(pattern=r"^[^\n\r]*$")]] = Field(
        default_factory=list, description="shell lines run before pfsim (module load, source a venv)")
    pfsim: str | None = Field(None, pattern=r"^[^\n\r]+$", description="command that runs pfsim on a compute node (started with exec)")
    sbatch: list[Annotated[str, Field(pattern=r"^--[a-z][a-z0-9-]*(=\S+)?$")]] = Field(
        default_factory=list, description="more sbatch options, e.g. --constraint=a100")

    @model_validator(mode="after")
    def _grace_within_limit(self):
        if self.time is not None and self.signal_grace >= self.time:
            raise ValueError(f"signal_grace: {self.signal_grace} s is not shorter than the time limit ({self.time} s)")
        return self


def load_profile(path=None, options=None) -> SlurmProfile:
    """The profile file's keys, overridden by the options given; errors name the option or the file's key."""
    raw = read_config_file(path) if path else {}
    given = {k: v for k, v in (options or {}).items() if v is not None}
    merged = {**raw, **given}
    try:
        return SlurmProfile.model_validate(merged)
    except ValidationError as exc:
        lines = []
        for line in format_errors(exc, merged):
            key = line.split(":", 1)[0].split(".")[0]
            lines.append(OPTIONS.get(key, key) + line[len(key):] if key in given else f"{path or 'profile'}: {line}")
        raise SlurmError("\n".join(lines)) from None


# --- job scripts ------------------------------------------------------------------------

def _clock(seconds: int) -> str:
    d, rest = divmod(seconds, 86400)
    return f"{d}-{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def _plain(path: Path) -> str:
    text = str(path)
    if re.search(r"\s|%", text):
        raise SlurmError(f"{text}: #SBATCH lines cannot hold a path with spaces or '%'; use another folder")
    return text


def _header(name, log, p: SlurmProfile, *, array=None, collect=False) -> list[str]:
    """The #SBATCH lines and the set-up; a collect job takes one CPU, no GPU and never requeues."""
    opts = [f"--job-name={name}", f"--chdir={_plain(Path.cwd())}", f"--output={_plain(log.parent)}/{log.name}", "--open-mode=append",
            "--nodes=1", "--ntasks=1", f"--cpus-per-task={1 if collect else p.cpus}"]
    if not collect:
        opts += ["--requeue", f"--signal=B:USR1@{p.signal_grace}"]
    opts += [f"--{opt}={getattr(p, key)}" for key, opt in
             (("partition", "partition"), ("account", "account"), ("qos", "qos"), ("memory", "mem")) if getattr(p, key)]
    if p.time:
        opts.append(f"--time={_clock(p.time)}")
    if p.gpus and not collect:
        opts.append(f"--gpus={p.gpus}")
    if array:
        opts.append(f"--array={array}" + (f"%{p.array_limit}" if p.array_limit else ""))
    lines = ["#!/bin/bash", "# written by pfsim; submit again with: sbatch THIS_FILE"]
    lines += [f"#SBATCH {o}" for o in opts + p.sbatch]
    lines += ["", "set -u"] + p.setup
    # exec: the process started in the background is pfsim itself, so signals reach it
    lines += [f"run_pfsim() {{ exec {p.pfsim or shlex.join([sys.executable, '-m', 'pfsim'])} \"$@\"; }}", ""]
    return lines


# Runs the command in "$@" with pfsim, passing signals on; requeues after the warning signal.
_RUN_AND_REQUEUE = """\
# The warning signal reaches this shell only: pass it on to pfsim, which checkpoints and exits
# with code 3; then requeue the job, which resumes from the checkpoint. TERM never requeues.
warned=0 traps=0 pid=
forward() { traps=$((traps + 1)); [ "$1" = USR1 ] && warned=1; [ -n "$pid" ] && kill -s "$1" "$pid" 2>/dev/null; }
trap 'forward USR1' USR1
trap 'forward TERM' TERM
echo "[pfsim job ${SLURM_JOB_ID:-}] $(date -Is) start, restart ${SLURM_RESTART_COUNT:-0}: pfsim $*"
run_pfsim "$@" &
pid=$!
while :; do  # a trap cuts wait short: wait again for pfsim's own exit code
    seen=$traps
    wait "$pid"; rc=$?
    [ "$rc" -gt 128 ] && [ "$traps" != "$seen" ] || break
done
echo "[pfsim job ${SLURM_JOB_ID:-}] $(date -Is) pfsim exited with code $rc"
if [ "$warned" = 1 ] && { [ "$rc" = 3 ] || [ "$rc" -gt 128 ]; }; then
    if [ "${SLURM_RESTART_COUNT:-0}" -lt MAX_REQUEUES ]; then
        echo "[pfsim job ${SLURM_JOB_ID:-}] requeued: resumes from the checkpoint"
        scontrol requeue "$SLURM_JOB_ID"
    else
        echo "[pfsim job ${SLURM_JOB_ID:-}] requeued MAX_REQUEUES times already: not again (max_requeues)"
    fi
fi
exit "$rc"
"""


def run_script(name, store: Path, config: Path, log: Path, p: SlurmProfile) -> str:
    body = [
        f"store={shlex.quote(str(store))}",
        "# a checkpoint in the store: continue from it; else start (over a store an earlier try",
        "# of this job left without a checkpoint: it holds nothing to keep)",
        'if [ -d "$store/checkpoints/a" ] || [ -d "$store/checkpoints/b" ]; then',
        '    set -- run --resume "$store"',
        "else",
        f'    set -- run {shlex.quote(str(config))} -o "$store"',
        '    if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] && [ -e "$store" ]; then set -- "$@" --overwrite; fi',
        "fi",
    ]
    return _script(_header(f"pfsim-{name}", log, p) + body, p)


def array_script(name, sweep: Path, log: Path, p: SlurmProfile, array: str, backend=None, task="--member") -> str:
    """task: what the array index picks: --member, or --group (a group of `batch` members run together)."""
    extra = f" --backend {backend}" if backend else ""
    body = [f'set -- sweep {shlex.quote(str(sweep))} {task} "$SLURM_ARRAY_TASK_ID" --no-collect{extra}']
    return _script(_header(f"pfsim-{name}", log, p, array=array) + body, p)


def collect_script(name, sweep: Path, log: Path, p: SlurmProfile, metric: str) -> str:
    lines = _header(f"pfsim-{name}-collect", log, p, collect=True)
    lines.append(f"run_pfsim sweep {shlex.quote(str(sweep))} --collect-only --metric {shlex.quote(metric)}")
    return "\n".join(lines) + "\n"


def _script(lines, p):
    return "\n".join(lines) + "\n\n" + _RUN_AND_REQUEUE.replace("MAX_REQUEUES", str(p.max_requeues))


# --- submission ---------------------------------------------------------------------------

def sbatch_path(dry_run: bool) -> str | None:
    exe = shutil.which("sbatch")
    if exe is None and not dry_run:
        raise SlurmError("sbatch is not on PATH (not a SLURM login node?); --dry-run writes the script only")
    return exe


def sbatch(exe, script: Path, *options) -> str:
    """Submit; returns the job id."""
    try:
        out = subprocess.run([exe, "--parsable", *options, str(script)], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SlurmError(f"sbatch {script}: {exc}") from None
    job = out.stdout.strip().split(";")[0]
    if out.returncode != 0 or not job.isdigit():
        raise SlurmError(f"sbatch refused {script}: {(out.stderr or out.stdout).strip() or f'exit code {out.returncode}'}")
    return job


def record_job(job_dir: Path, **entry):
    """Add a submission to JOB_DIR/job.json (every submission is kept, the last one is current)."""
    from .io.store import now

    path = job_dir / "job.json"
    data = json.loads(path.read_text()) if path.is_file() else {"jobs": []}
    data["jobs"].append({"submitted": now(), **entry})
    path.write_text(json.dumps(data, indent=2) + "\n")


def read_jobs(job_dir: Path) -> list[dict]:
    try:
        return json.loads((job_dir / "job.json").read_text()).get("jobs", [])
    except (OSError, ValueError):
        return []


def job_dir_of(store: Path) -> Path:
    """runs/NAME.zarr -> runs/NAME.slurm"""
    return store.with_name(store.name.removesuffix(".zarr") + ".slurm")


def _write(job_dir: Path, files: dict) -> bool:
    created = not job_dir.exists()
    job_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (job_dir / name).write_text(text)
        if name.endswith(".sh"):
            (job_dir / name).chmod(0o755)
    return created


def submit_run(config, overrides, profile: SlurmProfile, *, output=None, overwrite=False, dry_run=False):
    """Write runs/NAME.slurm/{job.sh, config.yaml} and submit job.sh; returns (script, job id or None).
    With overwrite, an existing run store is removed just before the job is submitted."""
    import yaml

    from .build import check_inputs
    from .runner import default_store_path

    cfg, raw = load_config(config, overrides)
    check_inputs(cfg)
    store = Path(output or default_store_path(cfg)).absolute()
    job_dir = job_dir_of(store)
    if store.exists() and not overwrite:
        again = f"; to continue it: sbatch {job_dir / 'job.sh'}" if (job_dir / "job.sh").is_file() else ""
        raise StoreError(f"{store}: exists; pick another -o path, or pass --overwrite{again}")
    if store.exists() and not (store / "zarr.json").is_file():
        raise StoreError(f"{store}: exists and is not a pfsim run store; refusing to overwrite it")
    script = run_script(cfg.name, store, job_dir / "config.yaml", job_dir / "slurm-%j.out", profile)
    exe = sbatch_path(dry_run)
    created = _write(job_dir, {"job.sh": script, "config.yaml": yaml.safe_dump(raw, sort_keys=False)})
    if dry_run:
        return job_dir / "job.sh", None
    if store.exists():  # --overwrite: the job starts afresh
        shutil.rmtree(store)
    job = _first_sbatch(exe, job_dir / "job.sh", job_dir, created)
    record_job(job_dir, job=job, store=str(store), script="job.sh")
    return job_dir / "job.sh", job


def _first_sbatch(exe, script, job_dir, created):
    """Submit the first job of a folder; a refused submission leaves no folder it created."""
    try:
        return sbatch(exe, script)
    except SlurmError:
        if created:
            shutil.rmtree(job_dir)
        raise


def submit_sweep(sweep, profile: SlurmProfile, *, member=None, metric="void_volume_fraction", backend=None,
                 dry_run=False):
    """Members as a job array, then a collect job after all of them; returns (job dir, array id, collect id)."""
    sweep_file = sweep.path.absolute()
    job_dir = sweep.root.absolute() / "slurm"
    grouped = member is None and sweep.cfg.batch > 1
    if grouped:
        array, task, log = f"0-{len(sweep.groups()) - 1}", "--group", "group-%4a.out"
    else:
        array = str(member) if member is not None else f"0-{len(sweep.members()) - 1}"
        task, log = "--member", "member-%4a.out"
    files = {
        "array.sh": array_script(sweep.cfg.name, sweep_file, job_dir / log, profile, array, backend, task),
        "collect.sh": collect_script(sweep.cfg.name, sweep_file, job_dir / "collect-%j.out", profile, metric),
    }
    exe = sbatch_path(dry_run)
    created = _write(job_dir, files)
    if dry_run:
        return job_dir, None, None
    array_id = _first_sbatch(exe, job_dir / "array.sh", job_dir, created)
    batch = sweep.cfg.batch if grouped else 1
    try:
        collect_id = sbatch(exe, job_dir / "collect.sh", f"--dependency=afterany:{array_id}")
    except SlurmError as exc:
        record_job(job_dir, array=array_id, members=array, collect=None, batch=batch)
        raise SlurmError(f"{exc}\nthe members run as job array {array_id}; collect them later with "
                         f"`pfsim sweep {sweep.path} --collect-only`") from None
    record_job(job_dir, array=array_id, members=array, collect=collect_id, batch=batch)
    return job_dir, array_id, collect_id
