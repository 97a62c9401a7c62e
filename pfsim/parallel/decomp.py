"""Slab decomposition along x (the first axis).

Rank r owns the rows starts[r] .. starts[r] + counts[r] - 1 of the grid. Slabs are whole
chunks of the run store's field arrays along x (every start is a multiple of `chunk`), so each
rank writes its own chunks. A rank's arrays carry `halo` ghost rows on each side that has a
neighbouring slab (both sides on a periodic x axis; none across a wall, where the stencil's
own boundary rule applies as in a single-process run). The stencils then run unchanged on the
padded arrays: every owned node sees exactly the neighbours it has in the whole grid, and only
the ghost rows hold meaningless values until the next exchange.
"""

from dataclasses import dataclass

import numpy as np

from ..grid import Grid
from ..io.store import CHUNK_BYTES
from ..stencil import along
from .comm import ParallelError


def _ceil(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class SlabLayout:
    n: int  # nodes along x
    starts: tuple[int, ...]
    counts: tuple[int, ...]
    chunk: int  # rows of a store chunk along x
    halo: int
    periodic: bool

    @property
    def ranks(self) -> int:
        return len(self.counts)

    @classmethod
    def from_chunk(cls, n, ranks, chunk, halo, periodic):
        """Whole chunks of `chunk` rows dealt out evenly; None if a rank would get fewer than
        `halo` rows (its ghosts must come from its neighbours' own rows)."""
        nchunks = _ceil(n, chunk)
        if nchunks < ranks:
            return None
        per = [nchunks // ranks + (r < nchunks % ranks) for r in range(ranks)]
        starts = tuple(int(s) * chunk for s in np.cumsum([0] + per[:-1]))
        counts = tuple(min(s + p * chunk, n) - s for s, p in zip(starts, per))
        if min(counts) < max(halo, 1):
            return None
        return cls(n, starts, counts, chunk, halo, periodic)

    @classmethod
    def balanced(cls, n, ranks, halo, periodic, row_bytes, why=""):
        """The most even layout, with chunks of at most CHUNK_BYTES where a slab is larger."""
        q = _ceil(n, ranks)
        q = _ceil(q, max(1, _ceil(q * row_bytes, CHUNK_BYTES)))
        for chunk in range(q, max(halo, 1) - 1, -1):
            layout = cls.from_chunk(n, ranks, chunk, halo, periodic)
            if layout is not None:
                return layout
        raise ParallelError(f"grid.shape: {n} nodes along x cannot be shared by {ranks} ranks with at least "
                            f"{max(halo, 1)} each{why}; use fewer ranks")

    def ghosts(self, rank) -> tuple[int, int]:
        """Ghost rows below and above rank's slab."""
        lo = self.halo if (self.periodic or rank > 0) else 0
        hi = self.halo if (self.periodic or rank < self.ranks - 1) else 0
        return lo, hi

    def rows(self, rank) -> np.ndarray:
        """Global x index of each row of rank's padded arrays (wrapping round on a periodic axis)."""
        lo, hi = self.ghosts(rank)
        return np.arange(self.starts[rank] - lo, self.starts[rank] + self.counts[rank] + hi) % self.n


@dataclass(frozen=True)
class LocalGrid(Grid):
    """A rank's padded slab as a Grid: the stencils run on it unchanged. `coords` gives the
    coordinates of the same nodes in the whole grid (bit for bit, wrapped round); `origin` is
    that of local row 0 counted without wrapping, for kernels that compute x from the index."""

    whole: Grid | None = None
    rows: tuple[int, ...] = ()

    @classmethod
    def slab(cls, whole: Grid, rows, x_side=None, first=None):
        """The padded slab of global `rows`; x_side replaces the rule of both x walls if given;
        first: index of local row 0 without wrapping (default rows[0])."""
        sides = whole.sides if x_side is None else ((x_side, x_side),) + whole.sides[1:]
        shape = (len(rows),) + tuple(whole.shape[1:])
        first = int(rows[0]) if first is None else first
        origin = (whole.origin[0] + whole.spacing[0] * first,) + tuple(whole.origin[1:])
        return cls(shape, whole.spacing, origin, sides, whole, tuple(int(i) for i in rows))

    def coords(self, axis: int) -> np.ndarray:
        if axis == 0:
            return self.whole.origin[0] + self.spacing[0] * np.asarray(self.rows)
        return super().coords(axis)


class Domain:
    """This rank's part of a decomposed grid: layout, padded local grid, owned rows, halo exchange."""

    def __init__(self, comm, whole: Grid, layout: SlabLayout, backend):
        from .halo import HaloExchange

        self.comm, self.whole, self.layout, self.backend = comm, whole, layout, backend
        self.rank, self.size = comm.rank, comm.size
        self.lo, self.hi = layout.ghosts(self.rank)
        self.start, self.count = layout.starts[self.rank], layout.counts[self.rank]
        self.owned = slice(self.lo, self.lo + self.count)  # rows of the padded arrays
        self.grid = LocalGrid.slab(whole, layout.rows(self.rank), first=self.start - self.lo)
        self.halo = HaloExchange(comm, layout, backend)

    @property
    def padded_shape(self):
        return self.grid.shape

    @property
    def owned_shape(self):
        return (self.count,) + tuple(self.whole.shape[1:])

    def exchange(self, arrays):
        self.halo.exchange(arrays)

    def pad(self, owned):
        """A padded array holding `owned` (this rank's rows); ghost rows zero until exchanged."""
        xp = self.backend.xp
        out = xp.zeros(self.padded_shape, dtype=owned.dtype)
        out[self.owned] = xp.asarray(owned)
        return out

    def weights(self, xp):
        """Trapezoid weights of the owned nodes (1/2 on bounded walls), as Grid.interior_weights."""
        w = xp.ones(self.owned_shape)
        if not self.whole.periodic[0]:
            for row in {0, self.whole.shape[0] - 1}:
                if self.start <= row < self.start + self.count:
                    w[row - self.start] *= 0.5
        for a in range(1, self.whole.ndim):
            if not self.whole.periodic[a]:
                for end in (0, -1):
                    w[along(self.whole.ndim, a, end)] *= 0.5
        return w
