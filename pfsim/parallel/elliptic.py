"""EllipticProblem's A u = b on a slab decomposition: preconditioned conjugate gradients.

Each rank holds the EllipticProblem of its padded slab (one ghost row per neighbour) whose ghost
rows are inactive. Its operator, applied after a halo exchange of u, gives the whole grid's
A u on every owned node (the faces to ghost nodes are kept, as faces to held nodes are); its
multigrid V-cycle, with ghost rows held at zero, is the preconditioner: block Jacobi over the
slabs, each block inverted approximately by its own multigrid. Dot products are summed in rank
order (comm.global_sums), so every rank takes the same CG steps. The stopping rule and the
reported residuals are those of EllipticProblem.solve.
"""

from dataclasses import replace

import numpy as np

from ..solvers.elliptic import EllipticProblem
from .comm import global_sums
from .decomp import Domain, LocalGrid, SlabLayout


class SlabEllipticProblem(EllipticProblem):
    """k, c and mask: this rank's rows (`rows(comm, grid)`) of the whole-grid arrays, or scalars.
    The problem of the padded slab, whose CG applies A after a halo exchange and sums across ranks."""

    def __init__(self, comm, grid, backend, k, c=0.0, mask=None, sweeps=1, layout=None):
        xp = backend.xp
        layout = self.layout(comm, grid) if layout is None else replace(layout, halo=1)
        self.domain = d = Domain(comm, grid, layout, backend)
        self.xp, self.backend, self.comm = xp, backend, comm
        k_pad = self._padded(k, np.float64)
        d.exchange([k_pad])  # the faces to the neighbours' first rows
        mask_pad = xp.zeros(d.padded_shape, bool)
        mask_pad[d.owned] = True if mask is None else xp.broadcast_to(xp.asarray(mask, bool), d.owned_shape)
        # x bounded on the slab: no face wraps from one ghost row to the other; c padded by set_diagonal
        local = LocalGrid.slab(grid, d.layout.rows(d.rank), x_side="no_flux")
        super().__init__(local, backend, k_pad, c, mask_pad, "multigrid", sweeps)

    def _padded(self, a, dtype=None):
        """A padded array of this rank's rows `a` (or a scalar over them); ghost rows 0."""
        d, xp = self.domain, self.xp
        a = xp.asarray(a, dtype=self.backend.dtype if dtype is None else dtype)
        return d.pad(xp.broadcast_to(a, d.owned_shape).copy())

    def set_diagonal(self, c):
        """Replace c (this rank's rows, or a scalar); ghost rows are inactive and keep 0."""
        super().set_diagonal(self._padded(c))

    @staticmethod
    def layout(comm, grid) -> SlabLayout:
        return SlabLayout.balanced(grid.shape[0], comm.size, 1, grid.periodic[0], row_bytes=0)

    @classmethod
    def rows(cls, comm, grid) -> slice:
        """The rows of the whole grid that this rank holds."""
        lay = cls.layout(comm, grid)
        return slice(lay.starts[comm.rank], lay.starts[comm.rank] + lay.counts[comm.rank])

    @property
    def active(self):
        """This rank's rows of the active mask."""
        return self.level.active[self.domain.owned]

    def _operator(self, u):
        """A u on owned rows (ghost rows of the result zero); fills u's ghost rows."""
        self.domain.exchange([u])
        out = self.apply_level(u)
        d = self.domain
        out[: d.lo] = 0
        out[d.lo + d.count :] = 0
        return out

    def _dots(self, *pairs):
        own = self.domain.owned
        return global_sums(self.comm, [float((a[own] * b[own]).sum()) for a, b in pairs])

    def _norm(self, x, diag=None):
        x = x if diag is None else x * (1 / diag)
        return float(self._dots((x, x))[0]) ** 0.5

    def solve(self, b, x0=None, rtol=1e-10, maxiter=500, criterion="scaled"):
        """(this rank's rows of u, SolveInfo): as EllipticProblem.solve, for the whole grid. The
        V-cycle sees r with ghost rows 0: they are held at 0."""
        x0 = None if x0 is None else self.domain.pad(self.backend.asarray(x0))
        u, info = super().solve(self._padded(b), x0, rtol, maxiter, criterion)
        return u[self.domain.owned].copy(), info


class PaddedEllipticProblem:
    """A SlabEllipticProblem that takes and returns arrays of a model's padded slab (`domain`):
    what pfsim.models.extent promises a model. Only owned rows of the inputs are read; the
    solution's ghost rows are filled from the neighbours."""

    def __init__(self, domain, k, c=0.0, mask=None):
        self.domain = domain
        own = self._own
        self.inner = SlabEllipticProblem(domain.comm, domain.whole, domain.backend, own(k), own(c),
                                         None if mask is None else own(mask), layout=domain.layout)

    def _own(self, a):
        a = self.domain.backend.xp.asarray(a)
        return a if a.ndim == 0 else a[self.domain.owned]

    def set_diagonal(self, c):
        self.inner.set_diagonal(self._own(c))

    def solve(self, b, x0=None, rtol=1e-10, maxiter=500, criterion="scaled"):
        u, info = self.inner.solve(self._own(b), None if x0 is None else self._own(x0), rtol, maxiter, criterion)
        out = self.domain.pad(u)
        self.domain.exchange([out])
        return out, info
