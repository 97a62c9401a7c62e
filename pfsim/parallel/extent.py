"""pfsim.models.extent's interface on one rank's padded slab (see that module for the calls).

Sums are over owned rows, added across ranks in rank order (comm.global_sums): every rank gets
the same bits, so the decisions a model takes from them (Newton stops, nucleation, failure)
agree on every rank. They differ from the single-process sums only by the order of addition.
"""

import numpy as np

from ..models.extent import Extent
from .comm import global_sums
from .elliptic import PaddedEllipticProblem


class SlabExtent(Extent):
    decomposed = True

    def __init__(self, domain):
        self.domain, self.comm = domain, domain.comm
        self.grid, self.whole, self.backend = domain.grid, domain.whole, domain.backend
        self._rows = domain.layout.rows(domain.rank)  # global x of each padded row

    def total(self, *arrays):
        own = self.domain.owned
        sums = [float(v) for v in global_sums(self.comm, [float(a[own].sum(dtype=np.float64)) for a in arrays])]
        return sums[0] if len(sums) == 1 else sums

    def integral(self, f):
        d, f = self.domain, f[self.domain.owned]
        local = float(f.sum()) if all(d.whole.periodic) else float((f * d.weights(self.backend.xp)).sum())
        return global_sums(self.comm, [local])[0] * d.whole.node_volume

    def integral_rows(self, density_rows, dtype, scratch):
        # the whole padded slab as one block, its owned rows weighed as integral() weighs them
        n, xp = self.grid.shape[0], self.backend.xp
        out, *work = (xp.empty(self.grid.shape, dtype) for _ in range(4))
        return self.integral(density_rows(0, n, out, *work))

    def peak(self, a):
        from mpi4py import MPI

        return self.comm.allreduce(float(a[self.domain.owned].max()), op=MPI.MAX)

    def least(self, a):
        from mpi4py import MPI

        return self.comm.allreduce(float(a[self.domain.owned].min()), op=MPI.MIN)

    def local(self, a):
        return a[self._rows]

    def gather(self, a):
        """The whole grid's array on every rank (host memory)."""
        own = a[self.domain.owned]
        own = own if isinstance(own, np.ndarray) else self.backend.to_host(own)
        return np.concatenate(self.comm.allgather(own), axis=0)

    def owned_rows(self, a):
        return a[self.domain.owned]

    def exchange(self, *arrays):
        self.domain.exchange(list(arrays))

    def elliptic(self, k, c=0.0, mask=None):
        return PaddedEllipticProblem(self.domain, k, c, mask)

    @property
    def row_offset(self) -> int:
        return self.domain.start - self.domain.lo

    def any(self, flag: bool) -> bool:
        return bool(global_sums(self.comm, [bool(flag)])[0] > 0)

    def lateral_sites(self, values):
        return np.concatenate(self.comm.allgather(np.asarray(values)[self.domain.owned]), axis=0).ravel()
