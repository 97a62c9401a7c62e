"""pfsim on a real SLURM: a one-node cluster on this machine (munged, slurmctld, slurmd), with
Debian's slurm-wlm and munge installed first when running as root with apt-get. A sweep runs
as a job array and its collect job; a run warned before its time limit checkpoints, requeues
itself and ends equal to an uninterrupted run; scancel stops a run without requeueing it.
Skipped, with the reason, where SLURM can be neither found nor installed or does not start."""

import csv
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import run_cli

pytestmark = pytest.mark.slurm

PROGRAMS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo", "slurmctld", "slurmd", "munged")
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
DONE = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}


def _missing():
    return [p for p in PROGRAMS if not shutil.which(p, path=SEARCH)]


def _install() -> str | None:
    """None once SLURM's programs are here (installing them if need be), else why not."""
    if not _missing():
        return None
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"SLURM is not installed ({', '.join(_missing())} missing) and installing it needs root and apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=120", "--no-install-recommends",
               "slurm-wlm", "munge"]
    try:
        out = subprocess.run(install, env=env, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:  # stale package lists
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=120)
            out = subprocess.run(install, env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return "apt-get install slurm-wlm munge took too long"
    if out.returncode != 0:
        return f"apt-get install slurm-wlm munge failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}"
    return f"{', '.join(_missing())} still missing after apt-get install" if _missing() else None


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


SLURM_CONF = """\
ClusterName=pfsimtest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again
AuthInfo=socket={root}/munge.sock,cred_expire=5
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# the node declares more CPUs than it has, so that the array's members run side by side
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
MinJobAge=30
KillWait=10
JobRequeue=1
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4096 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _wait(predicate, timeout, every=0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return False


def _slurm(*args, check=True):
    out = subprocess.run([shutil.which(args[0], path=SEARCH), *map(str, args[1:])], capture_output=True, text=True,
                         timeout=30)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))}: {out.stderr.strip()}")
    return out.stdout


@pytest.fixture(scope="session")
def slurm():
    """A private one-node cluster (own config, ports, munge socket and key); torn down at the end."""
    why = _install()
    if why:
        pytest.skip(why)
    root = Path(tempfile.mkdtemp(prefix="pfsim-slurm-"))
    root.chmod(0o755)  # munged wants its socket's folder searchable by all
    (root / "state").mkdir()
    (root / "spool").mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    conf = root / "slurm.conf"
    ctld_port, slurmd_port = _free_ports(2)
    import pwd

    conf.write_text(SLURM_CONF.format(root=root, ctld_port=ctld_port, slurmd_port=slurmd_port,
                                      user=pwd.getpwuid(os.getuid()).pw_name, cpus=max(8, os.cpu_count() or 1)))
    procs = []

    def start(name, *args):
        with open(root / f"{name}.log", "w") as log:
            procs.append(subprocess.Popen([shutil.which(name, path=SEARCH), *map(str, args)], stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    def logs():
        return "\n".join(f"--- {p.name}\n{p.read_text()[-600:]}" for p in sorted(root.glob("*.log")))

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLURM_CONF", str(conf))
        try:
            start("munged", "-F", f"--key-file={key}", f"--socket={root}/munge.sock", f"--pid-file={root}/munged.pid",
                  f"--log-file={root}/munged.file.log", f"--seed-file={root}/munged.seed")
            if not _wait(lambda: (root / "munge.sock").exists(), 20):
                pytest.skip(f"munged did not start:\n{logs()}")
            start("slurmctld", "-D", "-f", conf)
            start("slurmd", "-D", "-N", "localhost", "-f", conf)
            up = _wait(lambda: _slurm("sinfo", "-h", "-o", "%t", check=False).strip() == "idle", 60, every=0.5)
            if not up:
                pytest.skip(f"the SLURM node did not become idle:\n{logs()}")
            yield root
        finally:
            jobs = _slurm("squeue", "-h", "-o", "%A", check=False).split() if procs else []
            if jobs:
                _slurm("scancel", *jobs, check=False)
                _wait(lambda: not _slurm("squeue", "-h", "-o", "%A", check=False).split(), 20)
            for p in reversed(procs):
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
            shutil.rmtree(root, ignore_errors=True)


def wait_for_jobs(ids, timeout):
    """The jobs' final states (an empty list once SLURM has forgotten them)."""
    states = []

    def finished():
        nonlocal states
        out = _slurm("squeue", "-h", "-t", "all", "-o", "%T", "-j", ",".join(map(str, ids)), check=False)
        states = out.split()
        return all(s in DONE for s in states)

    assert _wait(finished, timeout, every=0.5), f"jobs {ids} still {states} after {timeout} s"
    return states


def _meta(store):
    return xr.open_zarr(store).attrs["pfsim"]


# --- without a cluster: scripts, options, errors -------------------------------------------

CH = """
name: ch
backend: numpy
seed: 3
grid: {{shape: [64, 64], spacing: 1.0}}
model: {{kind: cahn_hilliard, mobility: 5.0, gradient_coefficient: 2.0, barrier: 5.0}}
initial: {{kind: random, mean: 0.5, amplitude: 0.05}}
time: {{stop: {stop}, dt: 1.0e-3}}
output: {{fields_every: 10.0, observables_every: 1.0}}
checkpoint: {{every: 1.0}}
"""


def test_dry_run_writes_the_script_beside_the_store_and_submits_nothing(in_tmp, capsys):
    cfg = in_tmp / "c.yaml"
    cfg.write_text(CH.format(stop=5))
    (in_tmp / "prof.yaml").write_text("partition: gpu\naccount: proj1\ntime: '1-02:00:00'\ngpus: 1\ncpus: 4\n"
                                      "memory: 16G\nsetup: ['module load cuda']\nsbatch: ['--constraint=a100']\n")
    assert run_cli("submit", cfg, "--set", "time.stop=7", "--profile", "prof.yaml", "--time", "90 min",
                   "--signal-grace", "2 min", "--dry-run") == 0
    script = (in_tmp / "runs" / "ch.slurm" / "job.sh").read_text()
    assert capsys.readouterr().out == script
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=proj1", "#SBATCH --time=0-01:30:00",
                 "#SBATCH --gpus=1", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16G", "#SBATCH --requeue",
                 "#SBATCH --signal=B:USR1@120", "#SBATCH --constraint=a100", "module load cuda",
                 'scontrol requeue "$SLURM_JOB_ID"', 'run --resume "$store"'):
        assert line in script, line
    # the job runs the config as submitted, --set included
    snapshot = in_tmp / "runs" / "ch.slurm" / "config.yaml"
    assert "stop: 7" in snapshot.read_text() and run_cli("validate", snapshot) == 0
    assert not (in_tmp / "runs" / "ch.slurm" / "job.json").exists() and not (in_tmp / "runs" / "ch.zarr").exists()
    # a sweep's array and collect scripts
    (in_tmp / "s.yaml").write_text(f"name: s\nbase: {cfg}\naxes: {{seed: {{seeds: 3}}}}\noutput: s-out\n")
    assert run_cli("sweep", "s.yaml", "--slurm", "--array-limit", "2", "--gpus", "1", "--dry-run") == 0
    array, collect = ((in_tmp / "s-out" / "slurm" / n).read_text() for n in ("array.sh", "collect.sh"))
    assert "#SBATCH --array=0-2%2" in array and '--member "$SLURM_ARRAY_TASK_ID" --no-collect' in array
    assert "--collect-only" in collect and "--gpus" not in collect and "--requeue" not in collect


def test_profile_in_readme_is_valid():
    from conftest import ROOT

    from pfsim.config import parse_yaml
    from pfsim.slurm import SlurmProfile

    text = (ROOT / "README.md").read_text().split("## HPC: SLURM", 1)[1]
    profile = SlurmProfile.model_validate(parse_yaml(text.split("```yaml", 1)[1].split("```", 1)[0]))
    assert profile.time == 86400 and profile.signal_grace == 600 and profile.sbatch == ["--constraint=a100"]


@pytest.mark.parametrize("args, profile, message", [
    (["--time", "30"], "", "--time: expected a time with units"),
    (["--time", "10 min", "--signal-grace", "20 min"], "", "--signal-grace: 1200 s is not shorter"),
    (["--gpus", "two"], "", "--gpus: input should be a valid integer"),
    ([], "partition: gpu\ntimme: 3\n", "prof.yaml: timme: unknown key"),
    ([], "memory: lots\n", "prof.yaml: memory: string should match pattern"),
    ([], "partition: 'gpu; rm -rf ~'\n", "prof.yaml: partition: string should match pattern"),
    (["--set", "time.stop=-1"], "", "time.stop"),
])
def test_bad_options_name_the_key_and_write_nothing(in_tmp, capsys, args, profile, message):
    (in_tmp / "c.yaml").write_text(CH.format(stop=5))
    if profile:
        (in_tmp / "prof.yaml").write_text(profile)
        args = args + ["--profile", "prof.yaml"]
    assert run_cli("submit", "c.yaml", *args, "--dry-run") == 2
    assert message in capsys.readouterr().err
    assert not (in_tmp / "runs").exists()


def test_submit_needs_sbatch_and_a_free_store(in_tmp, capsys, monkeypatch):
    (in_tmp / "c.yaml").write_text(CH.format(stop=5))
    monkeypatch.setenv("PATH", str(in_tmp))  # no sbatch here
    assert run_cli("submit", "c.yaml") == 2
    assert "sbatch is not on PATH" in capsys.readouterr().err and not (in_tmp / "runs").exists()
    (in_tmp / "runs" / "ch.zarr").mkdir(parents=True)
    assert run_cli("submit", "c.yaml", "--dry-run") == 2
    assert "exists" in capsys.readouterr().err and not (in_tmp / "runs" / "ch.slurm").exists()
    (in_tmp / "s.yaml").write_text(f"name: s\nbase: {in_tmp / 'c.yaml'}\naxes: {{seed: {{seeds: 2}}}}\n")
    assert run_cli("sweep", "s.yaml", "--partition", "gpu") == 2
    assert "--partition: needs --slurm" in capsys.readouterr().err and not (in_tmp / "runs" / "sweeps").exists()


# --- on the cluster ---------------------------------------------------------------------

SWEEP = """
name: tiny
base: {base}
set:
  grid.shape: [24, 24]
  model.geometry.pits: []
  time.stop: 12
  output.fields_every: 6
axes:
  drive.stack_pressure: ["0.2 MPa", "2 MPa"]
  drive.current_density: ["1 mA/cm^2", "4 mA/cm^2"]
  seed: {{seeds: 2}}
output: sweep-out
"""


def test_sweep_runs_as_a_job_array_then_collects(slurm, in_tmp, capsys):
    from conftest import CONFIGS

    (in_tmp / "sweep.yaml").write_text(SWEEP.format(base=CONFIGS / "void_stripping.yaml"))
    assert run_cli("sweep", "sweep.yaml", "--slurm", "--time", "10 min", "--backend", "numpy") == 0
    assert "submitted job array" in capsys.readouterr().out
    job = json.loads((in_tmp / "sweep-out" / "slurm" / "job.json").read_text())["jobs"][-1]
    assert set(wait_for_jobs([job["collect"]], 180)) <= {"COMPLETED"}
    with open(in_tmp / "sweep-out" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and all(r["state"] == "finished" for r in rows)
    assert (in_tmp / "sweep-out" / "phase_diagram_void_volume_fraction.png").is_file()
    for i in range(8):  # one array task per member
        assert _meta(in_tmp / "sweep-out" / f"member-{i:04d}.zarr")["slurm_job"] == f"{job['array']}_{i}"
        assert (in_tmp / "sweep-out" / "slurm" / f"member-{i:04d}.out").is_file()
    assert run_cli("status", "sweep.yaml") == 0
    out = capsys.readouterr().out
    assert "finished: 8" in out and f"{job['array']}_7" in out


def test_warned_run_checkpoints_requeues_and_resumes_exactly(slurm, in_tmp, capsys):
    cfg = in_tmp / "c.yaml"
    cfg.write_text(CH.format(stop=80))
    assert run_cli("submit", cfg, "-o", "job.zarr", "--time", "10 min", "--signal-grace", "30") == 0
    job = json.loads((in_tmp / "job.slurm" / "job.json").read_text())["jobs"][-1]["job"]
    assert "#SBATCH --signal=B:USR1@30" in (in_tmp / "job.slurm" / "job.sh").read_text()
    # the time limit's warning, delivered now: the same signal, to the batch shell only
    assert _wait(lambda: (_checkpoint_time(in_tmp / "job.zarr") or 0) >= 5, 90), "the job made no progress"
    _slurm("scancel", "--signal=USR1", "--batch", job)
    assert run_cli("run", cfg, "-o", "full.zarr") == 0  # the uninterrupted reference, meanwhile
    assert _wait(lambda: _status(in_tmp / "job.zarr") == "finished", 150), _status(in_tmp / "job.zarr")
    wait_for_jobs([job], 30)
    meta = _meta(in_tmp / "job.zarr")
    tries = meta["history"]
    assert [t["status"] for t in tries] == ["interrupted", "finished"], tries
    assert all(t["slurm_job"] == job for t in tries) and 5 <= tries[0]["to_time"] < 80
    a, b = xr.open_zarr(in_tmp / "full.zarr"), xr.open_zarr(in_tmp / "job.zarr")
    assert np.array_equal(a.c.values, b.c.values)
    assert np.array_equal(a.free_energy.values, b.free_energy.values) and np.array_equal(a.time, b.time)
    log = (in_tmp / "job.slurm" / f"slurm-{job}.out").read_text()
    assert "requeued: resumes from the checkpoint" in log and "restart 1: pfsim run --resume" in log
    capsys.readouterr()
    assert run_cli("status", "job.zarr") == 0
    out = capsys.readouterr().out
    assert "finished (stop time reached)" in out and f"slurm job   {job}" in out and "2: interrupted, finished" in out


def test_scancel_checkpoints_and_does_not_requeue(slurm, in_tmp):
    (in_tmp / "c.yaml").write_text(CH.format(stop=400))
    assert run_cli("submit", "c.yaml", "-o", "job.zarr") == 0
    job = json.loads((in_tmp / "job.slurm" / "job.json").read_text())["jobs"][-1]["job"]
    assert _wait(lambda: (_checkpoint_time(in_tmp / "job.zarr") or 0) >= 2, 90), "the job made no progress"
    _slurm("scancel", job)
    assert _wait(lambda: _status(in_tmp / "job.zarr") == "interrupted", 30)
    assert set(wait_for_jobs([job], 30)) <= {"CANCELLED"}
    time.sleep(8)  # longer than a requeued job waits to start again
    assert _slurm("squeue", "-h", "-o", "%T", "-j", job, check=False).split() in ([], ["CANCELLED"])
    meta = _meta(in_tmp / "job.zarr")
    assert [t["status"] for t in meta["history"]] == ["interrupted"]
    assert meta["checkpoint_time"] == meta["time"] < 400


def _checkpoint_time(store):
    import zarr

    try:
        return zarr.open_group(str(store), mode="r", use_consolidated=False).attrs["pfsim"].get("checkpoint_time")
    except Exception:
        return None


def _status(store):
    import zarr

    try:
        return zarr.open_group(str(store), mode="r", use_consolidated=False).attrs["pfsim"].get("status")
    except Exception:
        return None
