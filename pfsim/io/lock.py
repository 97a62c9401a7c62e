"""The writer's lock of a run store: one process writes a store at a time.

The lock is a file inside the store, `.pfsim-lock`, holding the writer's host, PID, start time
(and SLURM job), created with O_CREAT | O_EXCL: the creation is atomic on local disks and on
NFS (v3 and later) and Lustre, where flock/fcntl locks may be missing or local to one client.
A lock is released (the file removed) when its run ends, stops on a signal or fails, and by an
exit handler of the process; only a kill (SIGKILL, a node crash) leaves it behind. A lock left
so is taken over, with a message, when its holder is gone: a process on this host that no longer
exists (or a later process under its PID), or an earlier try of this same SLURM job (a requeued
job keeps its id). A lock held on another host is never taken over: the message names it.
"""

import atexit
import datetime as dt
import json
import os
import socket
from pathlib import Path

from ..errors import StoreError

LOCK_NAME = ".pfsim-lock"

_held: dict[str, "StoreLock"] = {}  # path -> lock held by this process


def slurm_job() -> str | None:
    """The SLURM job running this process (ARRAY_TASK for an array task), or None."""
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env.get("SLURM_JOB_ID")


def _process_started(pid) -> float | None:
    """Unix time a process on this host started (Linux /proc), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return None


def holder_alive(info: dict) -> bool | None:
    """Whether the process holding a lock still runs: True / False on this host, None on another."""
    if info.get("host") != socket.gethostname():
        return None
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = _process_started(pid)
    if started is not None and isinstance(info.get("unix"), (int, float)) and started > info["unix"] + 5:
        return False  # the PID now belongs to a process started after the lock was taken
    return True


def read_lock(path) -> dict | None:
    """The lock of the store at `path`: {host, pid, since, ...}, {} when unreadable, None when unlocked."""
    try:
        text = (Path(path) / LOCK_NAME).read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        info = json.loads(text)
        return info if isinstance(info, dict) else {}
    except ValueError:
        return {}


def describe(info: dict) -> str:
    return f"host {info.get('host', '?')}, PID {info.get('pid', '?')}, since {info.get('since', '?')}"


class StoreLock:
    """The lock of one store, held by this process (see the module's docstring)."""

    def __init__(self, path):
        self.path = Path(path)
        self.file = self.path / LOCK_NAME
        self.info = None

    @classmethod
    def acquire(cls, path, say=lambda msg: None, what="write"):
        """Take the lock of the store at `path` (a folder that exists), or raise StoreError naming its holder."""
        key = str(Path(path).resolve())
        if key in _held:  # this process holds it already (a store opened twice in one process)
            lock = _held[key]
            lock.depth += 1
            return lock
        lock = cls(path)
        lock.depth = 1
        lock._take(say, what)
        _held[key] = lock
        return lock

    def _record(self) -> dict:
        now = dt.datetime.now(dt.timezone.utc)
        info = {"host": socket.gethostname(), "pid": os.getpid(), "since": now.isoformat(timespec="seconds"),
                "unix": now.timestamp()}
        job = slurm_job()
        return dict(info, slurm_job=job) if job else info

    def _create(self) -> bool:
        try:
            fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        self.info = self._record()
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(self.info))
            f.flush()
            os.fsync(f.fileno())
        return True

    def _take(self, say, what):
        for _ in range(5):
            if self._create():
                return
            info = read_lock(self.path)
            if info is None:  # released meanwhile
                continue
            if not info:
                raise StoreError(f"{self.path}: locked by a writer whose lock file {self.file} cannot be read; "
                                 f"if no run writes this store, remove that file")
            alive = holder_alive(info)
            same_job = bool(info.get("slurm_job")) and info.get("slurm_job") == slurm_job() \
                and info.get("pid") != os.getpid()
            if alive or (alive is None and not same_job):
                where = "" if alive else " (on another host: if no run writes this store, remove " \
                                         f"{self.file})"
                raise StoreError(f"{self.path}: in use by another run ({describe(info)}); cannot {what} it "
                                 f"now{where}")
            why = "an earlier try of this SLURM job" if same_job and alive is None else "no longer running"
            say(f"{self.path}: taking over the lock of {describe(info)} ({why})")
            self._break(info)
        raise StoreError(f"{self.path}: could not take its lock {self.file} (writers racing for it)")

    def _break(self, info):
        """Remove a stale lock, unless another process replaced it meanwhile."""
        aside = self.file.with_name(f"{LOCK_NAME}.stale-{os.getpid()}")
        try:
            os.rename(self.file, aside)
        except FileNotFoundError:
            return
        try:
            moved = json.loads(aside.read_text())
        except (OSError, ValueError):
            moved = {}
        if moved != info:  # a fresh lock, taken between our read and the rename: put it back
            try:
                os.link(aside, self.file)
            except OSError:
                pass
        try:
            os.unlink(aside)
        except OSError:
            pass

    def release(self):
        key = str(self.path.resolve())
        if _held.get(key) is not self:
            return
        self.depth -= 1
        if self.depth > 0:
            return
        del _held[key]
        if read_lock(self.path) == self.info:
            try:
                os.unlink(self.file)
            except OSError:
                pass


def release_all():
    for lock in list(_held.values()):
        lock.depth = 1
        lock.release()


atexit.register(release_all)
