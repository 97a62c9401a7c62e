"""One run store written by every rank of a decomposed run.

The layout is the single-process one (pfsim.io.store), with field arrays chunked along x by
the slab layout's chunk: each rank writes the chunks of its own rows of every frame and
checkpoint, and rank 0 alone resizes arrays and writes times, observables and metadata. The
crash-safety order is kept: data first, then the consolidated metadata (after every rank has
written). Every method is collective (see comm.collective).
"""

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from ..io import integrity
from ..io.integrity import EAGER, digests, fill_value
from ..io.store import RunStore, now
from .comm import collective


class SlabStore(RunStore):
    def __init__(self, path, group, domain):
        super().__init__(path, group)
        self.domain = domain
        self.comm = domain.comm
        self._buffered = 0

    def _root(self, fn):
        return collective(self.comm, fn, root_only=True)

    def _all(self, fn):
        return collective(self.comm, fn)

    def _owned(self, data):
        return np.ascontiguousarray(data[self.domain.owned])

    def _rows(self):
        return slice(self.domain.start, self.domain.start + self.domain.count)

    def _gathered(self, mine: dict) -> dict:
        """{name: digests of every rank's blocks, in x order} on rank 0 (None elsewhere)."""
        every = self.comm.gather((self.domain.start, mine), root=0)
        if self.domain.rank != 0:
            return None
        every.sort(key=lambda item: item[0])
        return {name: [d for _, part in every for d in part.get(name, [])] for name in mine}

    def is_gridded(self, data) -> bool:
        """Whether a checkpoint array is field-shaped (written by rows) rather than a ledger."""
        return data.ndim == self.domain.whole.ndim and data.shape[1:] == tuple(self.domain.whole.shape[1:])

    @classmethod
    def create(cls, domain, path, grid, fields, observables, meta, static=None, **options):
        chunks = (domain.layout.chunk,) + tuple(grid.shape[1:])
        static = static or {}
        made = collective(domain.comm, lambda: RunStore.create(path, grid, fields, observables, meta, static=static,
                                                                spatial_chunks=chunks, write_static=False, **options),
                          root_only=True)
        group = made.group if domain.rank == 0 else zarr.open_group(str(path), mode="r+", use_consolidated=False)
        store = cls(path, group, domain)
        if domain.rank == 0:
            store.lock, made.lock = made.lock, None  # rank 0 holds the writer's lock

        def write():
            for name, data in static.items():
                group[name][store._rows()] = store._owned(np.asarray(data))

        store._all(write)
        return store

    # --- appends -----------------------------------------------------------------------
    def append_frame(self, time, fields: dict):
        n = self.frames

        def grow():
            self._grow("time", n + 1)[n] = time
            for name in fields:
                arr = self.group[name]
                arr.resize((n + 1,) + arr.shape[1:])

        mine = {}

        def write():  # group[name] reads the array's metadata afresh: the new shape on every rank
            for name, data in fields.items():
                arr = self.group[name]
                owned = np.asarray(self._owned(data), dtype=arr.dtype)
                arr[n, self._rows()] = owned
                mine[name] = digests(owned, self.domain.layout.chunk)

        def commit():
            self._write_frame_checksums(n, sums)
            RunStore.flush_observables(self, commit=False)
            self._commit()

        self._root(grow)
        self._all(write)
        sums = self._gathered(mine)
        self.meta["frames"], self._buffered = n + 1, 0
        self._root(commit)

    def append_observables(self, time, values: dict):
        self._buffered += 1  # counted on every rank, buffered on rank 0
        if self.domain.rank == 0:
            self._obs_buffer.append((time, values))
        if self._buffered >= 256:
            self.flush_observables()

    def flush_observables(self, commit=True):
        self._buffered = 0
        self._root(lambda: RunStore.flush_observables(self, commit=commit))

    # --- checkpoints -------------------------------------------------------------------
    def write_checkpoint(self, state: dict, clock, extra=None):
        slot = "b" if self.meta.get("checkpoint") == "a" else "a"
        chunks = (self.domain.layout.chunk,) + tuple(self.domain.whole.shape[1:])

        scalars, mine = {}, {}

        def make():
            RunStore.flush_observables(self, commit=False)
            ckpts = self.group["checkpoints"]
            if slot in ckpts:
                del ckpts[slot]
            g = ckpts.create_group(slot)
            for name, data in state.items():
                if self.is_gridded(data):
                    g.create_array(name, shape=self.domain.whole.shape, chunks=chunks, dtype=data.dtype,
                                   compressors=ZstdCodec(level=1), fill_value=fill_value(data.dtype), config=EAGER)
                else:  # ledgers and other scalars: the same on every rank, written by rank 0
                    data = np.ascontiguousarray(data)
                    arr = g.create_array(name, data=data, compressors=ZstdCodec(level=1),
                                         fill_value=fill_value(data.dtype), config=EAGER)
                    scalars[name] = digests(data, arr.chunks[0] if arr.ndim else 1)

        def write():
            g = self.group["checkpoints"][slot]
            for name, data in state.items():
                if self.is_gridded(data):
                    owned = self._owned(data)
                    g[name][self._rows()] = owned
                    mine[name] = digests(owned, self.domain.layout.chunk)

        def commit():
            info = {"time": clock.time, "iteration": clock.iteration, "frames": self.frames,
                    "samples": self.samples, "written": now(), **(extra or {})}
            if self.meta.get("integrity"):
                info["checksums"] = {name: integrity.hexes(sums[name] if name in sums else scalars[name])
                                     for name in state}
            self.group["checkpoints"][slot].attrs.update({"pfsim_checkpoint": info})
            self._commit()

        self._root(make)
        self._buffered = 0
        self._all(write)
        sums = self._gathered(mine)
        self.meta["checkpoint"], self.meta["checkpoint_time"] = slot, clock.time
        self._root(commit)

    def read_checkpoint(self):
        """(this rank's rows of the last checkpoint's fields, and its scalars and ledgers; its info)."""
        g, info = self.checkpoint_group()
        return {name: arr[self._rows()] if self.is_gridded(arr) else arr[...] for name, arr in g.arrays()}, info

    def truncate(self, frames: int, samples: int):
        self._root(lambda: RunStore.truncate(self, frames, samples))
        self.meta["frames"], self.meta["samples"] = frames, samples

    # --- metadata ----------------------------------------------------------------------
    def update_meta(self, **values):
        self.meta.update(values)
        self._root(self._commit)

    def heartbeat(self):
        self._buffered = 0
        self._root(lambda: RunStore.heartbeat(self))

