"""What a model needs to know about the part of the grid it holds.

A model steps the nodes of `model.grid`. In a single-process run that is the whole grid and
every helper here is the plain NumPy/CuPy operation. In a decomposed run (pfsim.parallel) the
grid is one rank's slab of x rows padded with ghost rows, and the same calls become sums over
the owned rows across ranks, distributed elliptic solves and halo exchanges
(pfsim.parallel.extent.SlabExtent). Models written against this interface run decomposed
unchanged:

    total(*arrays)      sums over the whole grid (a float, or a list for several arrays: one
                        message in a decomposed run)
    peak(a), least(a)   max / min over the whole grid
    integral(f)         the integral over the whole grid (trapezoid weights on bounded walls);
                        integral_rows(...) of a density given block by block
    local(a)            this grid's rows of an array over the whole grid (built on every rank)
    gather(a)           the whole grid's array on the host (connected components, distances)
    owned_rows(a)       the rows of `a` this process owns (all of them here)
    exchange(*arrays)   fill ghost rows from the neighbouring slabs after a non-local update
    elliptic(k, c, mask) an elliptic problem over the whole grid (pfsim.solvers.sparse.elliptic_problem:
                        SuperLU or PyAMG on the CPU, multigrid CG on a GPU), arrays of this grid's shape
"""

import numpy as np

from .. import stencil
from ..solvers.sparse import elliptic_problem


class Extent:
    """The whole grid, in one process."""

    decomposed = False

    def __init__(self, grid, backend):
        self.grid = self.whole = grid
        self.backend = backend

    def total(self, *arrays):
        # accumulated in float64 whatever the fields' precision: the ledgers divide some sums by
        # x_v0 ~ 1e-9, where a float32 sum's rounding would show
        sums = [float(a.sum(dtype=np.float64)) for a in arrays]
        return sums[0] if len(sums) == 1 else sums

    def integral(self, f):
        return stencil.integrate(f, self.grid, self.backend.xp)

    def integral_rows(self, density_rows, dtype, scratch):
        """integral() of a density written block by block of rows (stencil.integrate_rows)."""
        return stencil.integrate_rows(density_rows, self.grid, self.grid.shape, dtype, scratch)

    def peak(self, a):
        return float(a.max())

    def least(self, a):
        return float(a.min())

    def local(self, a):
        return a

    def gather(self, a):
        return a if isinstance(a, np.ndarray) else self.backend.to_host(a)

    def owned_rows(self, a):
        return a

    def exchange(self, *arrays):
        pass

    def elliptic(self, k, c=0.0, mask=None):
        return elliptic_problem(self.grid, self.backend, k=k, c=c, mask=mask, method=self.backend.elliptic)

    @property
    def row_offset(self) -> int:
        """Global x index of this grid's row 0 (counted without wrapping round)."""
        return 0

    def any(self, flag: bool) -> bool:
        """Whether flag holds on any process."""
        return bool(flag)

    def lateral_sites(self, values):
        """Per-column values of the owned columns, joined over the whole grid's x (ravelled)."""
        return np.asarray(values).ravel()
