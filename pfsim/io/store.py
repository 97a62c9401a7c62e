"""The run store: one zarr v3 group per run, readable with `xarray.open_zarr(path)`.

Layout
    x, y (, z)          node coordinates (m)
    time                simulated time of each field frame (s)
    <field>             (time, x, y[, z]) one frame per chunk along time, zstd-compressed
    obs_time            simulated time of each observable sample (s)
    <observable>        (obs_time,)
    checkpoints/a, /b   full-precision state, written alternately; attrs['pfsim']['checkpoint']
                        names the last complete one
    attrs['pfsim']      provenance: resolved config, version, git commit, backend, device,
                        times, status, heartbeat (wall time, step and time of the last commit)
    checksums/<field>   (time, row block) digest of each frame's chunks (pfsim.io.integrity);
                        a checkpoint's digests are in its attrs, written after its arrays
    checksums/observables  (obs_time,) digest of each observable sample (its time and values)
    .pfsim-lock         the writer's lock while a run writes the store (pfsim.io.lock)

Crash safety: every append resizes the arrays, writes the data and only then rewrites the
consolidated metadata in the root zarr.json (zarr writes files atomically). Readers go by
the consolidated metadata, so a store killed at any point shows the frames and samples
completed before the kill; the checkpoint pointer moves only after a checkpoint is whole.
"""

import datetime as dt
import shutil
import time as _time
import warnings
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from ..errors import StoreError
from . import integrity
from .integrity import EAGER, check_checkpoint, digests, fill_value
from .lock import StoreLock

CHUNK_BYTES = 32 << 20
OBS_CHUNK = 4096
AXES = ("x", "y", "z")
HEARTBEAT_EVERY = 30.0  # s of wall time: a running run commits at least this often (runner)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _spatial_chunks(shape, itemsize):
    """Whole frames, split along x when a frame is larger than CHUNK_BYTES."""
    plane = int(np.prod(shape[1:])) * itemsize
    cx = max(1, min(shape[0], CHUNK_BYTES // max(plane, 1)))
    return (cx,) + tuple(shape[1:])


def _series(group, name, dim, attributes):
    """A float64 array along `dim` (time or obs_time) that grows with the appends, NaN where unwritten."""
    group.create_array(name, shape=(0,), chunks=(OBS_CHUNK,), dtype="f8", dimension_names=(dim,), fill_value=np.nan,
                       attributes=attributes)


class RunStore:
    def __init__(self, path, group):
        self.path = Path(path)
        self.group = group
        self.meta = dict(group.attrs.get("pfsim", {}))
        self._obs_buffer: list[tuple[float, dict]] = []
        self.lock = None  # the writer's lock, held from create / acquire_lock to release_lock
        self.clock = None  # the running simulation's clock: each commit records a heartbeat
        self.last_commit = None  # monotonic time of the last commit

    # --- the writer's lock -------------------------------------------------------------
    def acquire_lock(self, say=lambda msg: None, what="write"):
        if self.lock is None:
            self.lock = StoreLock.acquire(self.path, say, what)

    def release_lock(self):
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # --- creation ----------------------------------------------------------------------
    @classmethod
    def create(cls, path, grid, fields, observables, meta, *, dtype, overwrite=False, compression_level=3, static=None,
               spatial_chunks=None, write_static=True, say=lambda msg: None):
        """A new store. Refuses an existing path unless overwrite is given. spatial_chunks: the
        chunk shape of one field frame (default: whole frames, split along x when large), also
        that of the static maps; write_static=False only makes their arrays (the ranks of a
        decomposed run write their own rows). The store is made under its writer's lock (held
        until release_lock): an existing store written by a live run is refused."""
        path = Path(path)
        old_lock = None
        if path.exists():
            if not overwrite:
                raise StoreError(f"{path}: exists; pick another -o path, resume it with --resume, or pass --overwrite")
            if not (path / "zarr.json").is_file():
                raise StoreError(f"{path}: exists and is not a pfsim run store; refusing to overwrite it")
            old_lock = StoreLock.acquire(path, say, "overwrite")
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
        except FileExistsError:
            raise StoreError(f"{path}: exists (made by another process just now)") from None
        if old_lock is not None:
            old_lock.release()
        group = zarr.open_group(str(path), mode="w", zarr_format=3)  # the folder made just now is ours
        lock = StoreLock.acquire(path, say, "write")
        dims = AXES[: grid.ndim]
        for a, name in enumerate(dims):
            group.create_array(name, data=grid.coords(a), dimension_names=(name,),
                               attributes={"units": "m", "long_name": f"{name} of grid node"})
        compressor = ZstdCodec(level=compression_level)
        _series(group, "time", "time", {"units": "s", "long_name": "simulated time of field frames"})
        spatial = tuple(spatial_chunks or _spatial_chunks(grid.shape, np.dtype(dtype).itemsize))
        for name, units in fields.items():
            group.create_array(name, shape=(0,) + tuple(grid.shape), chunks=(1,) + spatial, dtype=dtype,
                               compressors=compressor, dimension_names=("time",) + dims, fill_value=fill_value(dtype),
                               config=EAGER, attributes={"units": units})
        sums = group.create_group("checksums")
        n_blocks = len(integrity.blocks(grid.shape[0], spatial[0]))
        for name in fields:
            sums.create_array(name, shape=(0, n_blocks), chunks=(integrity.CHECKSUM_ROWS, n_blocks), dtype="u8",
                              fill_value=0, config=EAGER)
        sums.create_array("observables", shape=(0,), chunks=(OBS_CHUNK,), dtype="u8", fill_value=0, config=EAGER)
        _series(group, "obs_time", "obs_time", {"units": "s", "long_name": "simulated time of observable samples"})
        for name, units in observables.items():
            _series(group, name, "obs_time", {"units": units})
        for name, data in (static or {}).items():
            arr = group.create_array(name, shape=grid.shape, chunks=spatial, dtype=data.dtype, dimension_names=dims,
                                     compressors=compressor, fill_value=fill_value(data.dtype), config=EAGER,
                                     attributes={"units": "1", "long_name": f"{name} (time-independent)"})
            if write_static:
                arr[...] = np.asarray(data)
        group.create_group("checkpoints")
        store = cls(path, group)
        store.lock = lock
        store.meta = dict(meta, status="running", started=now(), checkpoint=None, frames=0, samples=0,
                          observables=list(observables),
                          integrity={"version": integrity.VERSION, "checksums": integrity.SCHEME,
                                     "fields": list(fields)})
        store._commit()
        return store

    @classmethod
    def open(cls, path, mode="r+"):
        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise StoreError(f"{path}: not a run store (no zarr.json)")
        try:
            group = zarr.open_group(str(path), mode=mode, use_consolidated=False)
        except Exception as exc:
            raise StoreError(f"{path}: cannot open ({exc})") from None
        if "pfsim" not in group.attrs:
            raise StoreError(f"{path}: not a pfsim run store")
        return cls(path, group)

    # --- appends -----------------------------------------------------------------------
    @property
    def frames(self) -> int:
        return int(self.meta.get("frames", 0))

    @property
    def samples(self) -> int:
        return int(self.meta.get("samples", 0))

    def last_frame_time(self) -> float | None:
        """Simulated time of the last field frame, or None before the first."""
        n = self.frames
        return float(self.group["time"][n - 1]) if n else None

    def last_sample_time(self) -> float | None:
        """Simulated time of the last observable sample appended (still buffered or written), or None."""
        if self._obs_buffer:
            return self._obs_buffer[-1][0]
        n = self.samples
        return float(self.group["obs_time"][n - 1]) if n else None

    def append_frame(self, time, fields: dict):
        n = self.frames
        self._grow("time", n + 1)[n] = time
        sums = {}
        for name, data in fields.items():
            arr = self.group[name]
            arr.resize((n + 1,) + arr.shape[1:])
            data = np.asarray(data, dtype=arr.dtype)
            arr[n] = data
            sums[name] = digests(data, arr.chunks[1])
        self._write_frame_checksums(n, sums)
        self.flush_observables(commit=False)
        self.meta["frames"] = n + 1
        self._commit()

    def append_observables(self, time, values: dict):
        self._obs_buffer.append((time, values))
        if len(self._obs_buffer) >= 256:
            self.flush_observables()

    def flush_observables(self, commit=True):
        if not self._obs_buffer:
            return
        n, k = self.samples, len(self._obs_buffer)
        self._write_samples(n, [t for t, _ in self._obs_buffer], [v for _, v in self._obs_buffer])
        self._obs_buffer.clear()
        self.meta["samples"] = n + k
        if commit:
            self._commit()

    def amend_last_sample(self, values: dict):
        """Replace the values of the last observable sample, keeping its time and moving its
        checksum: a run its model ended in a step that started at a sample time writes that
        end state's sample again, with what ended it (e.g. a failure's current). A decomposed
        run's store amends on the rank that writes samples."""
        root = getattr(self, "_root", None)  # pfsim.parallel.store.SlabStore
        if root is not None:
            return root(lambda: RunStore._amend_last_sample(self, values))
        return self._amend_last_sample(values)

    def _amend_last_sample(self, values):
        if self._obs_buffer:
            self._obs_buffer[-1] = (self._obs_buffer[-1][0], values)
            return
        n = self.samples
        if not n:
            return
        self._write_samples(n - 1, [float(self.group["obs_time"][n - 1])], [values])
        self._commit()

    def _write_samples(self, n, times, values):
        """Observable samples n, n + 1, ... (their times, their {name: value}), then their checksums."""
        k, names = len(times), self.meta["observables"]
        self._grow("obs_time", n + k)[n : n + k] = times
        series = [[float(v.get(name, np.nan)) for v in values] for name in names]
        for name, column in zip(names, series):  # every series grows together; NaN where not defined yet
            self._grow(name, n + k)[n : n + k] = column
        if self.meta.get("integrity") and "observables" in self.group["checksums"]:  # after the data
            sums = self.group["checksums"]["observables"]
            sums.resize((n + k,))
            sums[n : n + k] = np.asarray(integrity.sample_digests(times, series), np.uint64)

    def _write_frame_checksums(self, n, sums):
        """Digests of frame n's blocks, after its data (stores of an older pfsim have none)."""
        if not self.meta.get("integrity"):
            return
        group = self.group["checksums"]
        for name, values in sums.items():
            arr = group[name]
            arr.resize((n + 1, arr.shape[1]))
            arr[n] = np.asarray(values, dtype=np.uint64)

    def _grow(self, name, length):
        arr = self.group[name]
        arr.resize((length,))
        return arr

    # --- checkpoints -------------------------------------------------------------------
    def write_checkpoint(self, state: dict, clock, extra=None):
        """Write the state into the slot not named by the pointer, then move the pointer."""
        self.flush_observables(commit=False)
        slot = "b" if self.meta.get("checkpoint") == "a" else "a"
        ckpts = self.group["checkpoints"]
        if slot in ckpts:
            del ckpts[slot]
        g = ckpts.create_group(slot)
        sums = {}
        for name, data in state.items():
            data = np.ascontiguousarray(data)
            arr = g.create_array(name, data=data, compressors=ZstdCodec(level=1), fill_value=fill_value(data.dtype),
                                 config=EAGER)
            sums[name] = integrity.hexes(digests(data, arr.chunks[0] if arr.ndim else 1))
        info = {
            "time": clock.time, "iteration": clock.iteration, "frames": self.frames,
            "samples": self.samples, "written": now(), **(extra or {}),
        }
        if self.meta.get("integrity"):
            info["checksums"] = sums
        g.attrs.update({"pfsim_checkpoint": info})
        self.meta["checkpoint"] = slot
        self.meta["checkpoint_time"] = clock.time
        self._commit()

    def checkpoint_group(self):
        """(the group of the last complete checkpoint, its info: time, iteration, frames, ...)."""
        slot = self.meta.get("checkpoint")
        if slot is None:
            raise StoreError(f"{self.path}: has no checkpoint to resume from")
        g = self.group["checkpoints"][slot]
        return g, dict(g.attrs["pfsim_checkpoint"])

    def select_checkpoint(self, say=lambda msg: None):
        """Resume from an intact checkpoint: the newest, or the previous one when the newest fails
        its checksums (said on the console; the pointer moves to it at the next commit). Raises
        StoreError, changing nothing, when neither is intact. Older stores (no checksums) as before."""
        slot = self.meta.get("checkpoint")
        if slot is None:
            raise StoreError(f"{self.path}: has no checkpoint to resume from")
        ckpts = self.group["checkpoints"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problems = check_checkpoint(ckpts[slot]) if slot in ckpts else ["missing"]
            if not problems:  # intact, or written without checksums
                return slot
            other = "b" if slot == "a" else "a"
            fallback = check_checkpoint(ckpts[other]) if other in ckpts else ["absent"]
        if fallback is None:
            fallback = ["no checksums"]
        if fallback:
            raise StoreError(f"{self.path}: no intact checkpoint to resume from (newest, {slot}: {'; '.join(problems)}; "
                             f"previous, {other}: {'; '.join(fallback)}); the store is left as it was")
        old = dict(ckpts[slot].attrs.get("pfsim_checkpoint") or {})
        info = dict(ckpts[other].attrs["pfsim_checkpoint"])
        when = f" (t = {old['time']:.6g} s, step {old['iteration']})" if "time" in old else ""
        say(f"{self.path}: checkpoint {slot}{when} is damaged ({'; '.join(problems)}); resuming from the previous "
            f"one, {other} (t = {info['time']:.6g} s, step {info['iteration']})")
        self.meta["checkpoint"], self.meta["checkpoint_time"] = other, info["time"]
        return other

    def read_checkpoint(self):
        g, info = self.checkpoint_group()
        state = {name: arr[...] for name, arr in g.arrays()}
        return state, info

    def truncate(self, frames: int, samples: int):
        """Drop frames and samples written after a checkpoint (a resumed run rewrites them)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the lock file is no zarr node
            arrays = list(self.group.arrays())
        for name, arr in arrays:
            dims = arr.metadata.dimension_names or ()
            if dims[:1] == ("time",):
                arr.resize((frames,) + arr.shape[1:])
            elif dims[:1] == ("obs_time",):
                arr.resize((samples,))
        if self.meta.get("integrity") and "checksums" in self.group:
            for name, arr in self.group["checksums"].arrays():  # a row per frame, or per sample (observables)
                kept = samples if name == "observables" else frames
                arr.resize((min(kept, arr.shape[0]),) + arr.shape[1:])
        self.meta["frames"], self.meta["samples"] = frames, samples
        self._commit()

    # --- metadata ----------------------------------------------------------------------
    def update_meta(self, **values):
        self.meta.update(values)
        self._commit()

    def heartbeat(self):
        """Commit now if the last commit is HEARTBEAT_EVERY old or more (the runner asks every few seconds)."""
        if self.last_commit is None or _time.monotonic() - self.last_commit >= HEARTBEAT_EVERY:
            RunStore.flush_observables(self, commit=False)
            self._commit()

    def watch(self, clock):
        """Record the heartbeat of `clock` (the running simulation's) with every commit."""
        self.clock = clock

    def _commit(self):
        if self.clock is not None:
            self.meta["heartbeat"] = {"wall": now(), "unix": round(_time.time(), 3), "step": self.clock.iteration,
                                      "time": self.clock.time, "every": HEARTBEAT_EVERY}
        self.last_commit = _time.monotonic()
        self.group.attrs["pfsim"] = self.meta
        with warnings.catch_warnings():
            # zarr notes that consolidated metadata is not yet in the v3 spec; xarray reads it
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(self.path))
