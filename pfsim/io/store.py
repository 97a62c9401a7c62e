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
                        times, status

Crash safety: every append resizes the arrays, writes the data and only then rewrites the
consolidated metadata in the root zarr.json (zarr writes files atomically). Readers go by
the consolidated metadata, so a store killed at any point shows the frames and samples
completed before the kill; the checkpoint pointer moves only after a checkpoint is whole.
"""

import datetime as dt
import shutil
import warnings
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from ..errors import StoreError

CHUNK_BYTES = 32 << 20
OBS_CHUNK = 4096
AXES = ("x", "y", "z")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _spatial_chunks(shape, itemsize):
    """Whole frames, split along x when a frame is larger than CHUNK_BYTES."""
    plane = int(np.prod(shape[1:])) * itemsize
    cx = max(1, min(shape[0], CHUNK_BYTES // max(plane, 1)))
    return (cx,) + tuple(shape[1:])


class RunStore:
    def __init__(self, path, group):
        self.path = Path(path)
        self.group = group
        self.meta = dict(group.attrs.get("pfsim", {}))
        self._obs_buffer: list[tuple[float, dict]] = []

    # --- creation ----------------------------------------------------------------------
    @classmethod
    def create(cls, path, grid, fields, observables, meta, *, dtype, overwrite=False, compression_level=3, static=None,
               spatial_chunks=None, write_static=True):
        """A new store. Refuses an existing path unless overwrite is given. spatial_chunks: the
        chunk shape of one field frame (default: whole frames, split along x when large), also
        that of the static maps; write_static=False only makes their arrays (the ranks of a
        decomposed run write their own rows)."""
        path = Path(path)
        if path.exists():
            if not overwrite:
                raise StoreError(f"{path}: exists; pick another -o path, resume it with --resume, or pass --overwrite")
            if not (path / "zarr.json").is_file():
                raise StoreError(f"{path}: exists and is not a pfsim run store; refusing to overwrite it")
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(str(path), mode="w-", zarr_format=3)
        dims = AXES[: grid.ndim]
        for a, name in enumerate(dims):
            arr = group.create_array(name, data=grid.coords(a), dimension_names=(name,))
            arr.attrs.update({"units": "m", "long_name": f"{name} of grid node"})
        compressor = ZstdCodec(level=compression_level)
        t = group.create_array("time", shape=(0,), chunks=(OBS_CHUNK,), dtype="f8", dimension_names=("time",), fill_value=np.nan)
        t.attrs.update({"units": "s", "long_name": "simulated time of field frames"})
        shape = (0,) + tuple(grid.shape)
        spatial = tuple(spatial_chunks or _spatial_chunks(grid.shape, np.dtype(dtype).itemsize))
        chunks = (1,) + spatial
        for name, units in fields.items():
            arr = group.create_array(
                name, shape=shape, chunks=chunks, dtype=dtype, compressors=compressor,
                dimension_names=("time",) + dims, fill_value=np.nan,
            )
            arr.attrs.update({"units": units})
        t = group.create_array("obs_time", shape=(0,), chunks=(OBS_CHUNK,), dtype="f8", dimension_names=("obs_time",), fill_value=np.nan)
        t.attrs.update({"units": "s", "long_name": "simulated time of observable samples"})
        for name, units in observables.items():
            arr = group.create_array(name, shape=(0,), chunks=(OBS_CHUNK,), dtype="f8", dimension_names=("obs_time",), fill_value=np.nan)
            arr.attrs.update({"units": units})
        for name, data in (static or {}).items():
            arr = group.create_array(name, shape=grid.shape, chunks=spatial, dtype=data.dtype, dimension_names=dims,
                                     compressors=compressor)
            arr.attrs.update({"units": "1", "long_name": f"{name} (time-independent)"})
            if write_static:
                arr[...] = np.asarray(data)
        group.create_group("checkpoints")
        store = cls(path, group)
        store.meta = dict(meta, status="running", started=now(), checkpoint=None, frames=0, samples=0,
                          observables=list(observables))
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
        for name, data in fields.items():
            arr = self.group[name]
            arr.resize((n + 1,) + arr.shape[1:])
            arr[n] = data
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
        self._grow("obs_time", n + k)[n : n + k] = [t for t, _ in self._obs_buffer]
        for name in self.meta["observables"]:  # every series grows together; NaN where not defined yet
            self._grow(name, n + k)[n : n + k] = [v.get(name, np.nan) for _, v in self._obs_buffer]
        self._obs_buffer.clear()
        self.meta["samples"] = n + k
        if commit:
            self._commit()

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
        for name, data in state.items():
            g.create_array(name, data=np.ascontiguousarray(data), compressors=ZstdCodec(level=1))
        info = {
            "time": clock.time, "iteration": clock.iteration, "frames": self.frames,
            "samples": self.samples, "written": now(), **(extra or {}),
        }
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

    def read_checkpoint(self):
        g, info = self.checkpoint_group()
        state = {name: arr[...] for name, arr in g.arrays()}
        return state, info

    def truncate(self, frames: int, samples: int):
        """Drop frames and samples written after a checkpoint (a resumed run rewrites them)."""
        for name, arr in self.group.arrays():
            dims = arr.metadata.dimension_names or ()
            if dims[:1] == ("time",):
                arr.resize((frames,) + arr.shape[1:])
            elif dims[:1] == ("obs_time",):
                arr.resize((samples,))
        self.meta["frames"], self.meta["samples"] = frames, samples
        self._commit()

    # --- metadata ----------------------------------------------------------------------
    def update_meta(self, **values):
        self.meta.update(values)
        self._commit()

    def _commit(self):
        self.group.attrs["pfsim"] = self.meta
        with warnings.catch_warnings():
            # zarr notes that consolidated metadata is not yet in the v3 spec; xarray reads it
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(self.path))
