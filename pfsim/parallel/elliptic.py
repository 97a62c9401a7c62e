"""EllipticProblem's A u = b on a slab decomposition: preconditioned conjugate gradients.

Each rank holds an EllipticProblem on its padded slab (one ghost row per neighbour) whose ghost
rows are inactive. Its operator, applied after a halo exchange of u, gives the whole grid's
A u on every owned node (the faces to ghost nodes are kept, as faces to held nodes are); its
multigrid V-cycle, with ghost rows held at zero, is the preconditioner: block Jacobi over the
slabs, each block inverted approximately by its own multigrid. Dot products are summed in rank
order (comm.global_sums), so every rank takes the same CG steps. The stopping rule and the
reported residuals are those of EllipticProblem.solve.
"""

from dataclasses import replace

import numpy as np

from ..solvers.elliptic import EllipticProblem, attainable
from ..solvers.pcg import SolveInfo, flexible_cg
from .comm import global_sums
from .decomp import Domain, LocalGrid, SlabLayout


class SlabEllipticProblem:
    """k, c and mask: this rank's rows (`rows(comm, grid)`) of the whole-grid arrays, or scalars."""

    def __init__(self, comm, grid, backend, k, c=0.0, mask=None, sweeps=1, layout=None):
        xp = backend.xp
        layout = self.layout(comm, grid) if layout is None else replace(layout, halo=1)
        self.domain = d = Domain(comm, grid, layout, backend)
        self.xp, self.backend, self.comm = xp, backend, comm
        k_pad, c_pad = self._padded(k, np.float64), self._padded(c)
        d.exchange([k_pad])  # the faces to the neighbours' first rows
        mask_pad = xp.zeros(d.padded_shape, bool)
        mask_pad[d.owned] = True if mask is None else xp.broadcast_to(xp.asarray(mask, bool), d.owned_shape)
        # x bounded on the slab: no face wraps from one ghost row to the other
        local = LocalGrid.slab(grid, d.layout.rows(d.rank), x_side="no_flux")
        self.problem = EllipticProblem(local, backend, k_pad, c_pad, mask_pad, "multigrid", sweeps)

    def _padded(self, a, dtype=None):
        """A padded array of this rank's rows `a` (or a scalar over them); ghost rows 0."""
        d, xp = self.domain, self.xp
        a = xp.asarray(a, dtype=self.backend.dtype if dtype is None else dtype)
        return d.pad(xp.broadcast_to(a, d.owned_shape).copy())

    def set_diagonal(self, c):
        """Replace c (this rank's rows, or a scalar); ghost rows are inactive and keep 0."""
        self.problem.set_diagonal(self._padded(c))

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
        return self.problem.active[self.domain.owned]

    def _apply(self, u):
        """A u on owned rows (ghost rows of the result zero); fills u's ghost rows."""
        self.domain.exchange([u])
        out = self.problem.apply_level(u)
        self._zero_ghosts(out)
        return out

    def _zero_ghosts(self, a):
        d = self.domain
        a[: d.lo] = 0
        a[d.lo + d.count :] = 0

    def _dots(self, *pairs):
        own = self.domain.owned
        return global_sums(self.comm, [float((a[own] * b[own]).sum()) for a, b in pairs])

    def _norm(self, x, weight=None):
        x = x if weight is None else x * weight
        return float(self._dots((x, x))[0]) ** 0.5

    def solve(self, b, x0=None, rtol=1e-10, maxiter=500, criterion="scaled"):
        """(this rank's rows of u, SolveInfo): as EllipticProblem.solve, for the whole grid."""
        if criterion not in ("scaled", "plain"):
            raise ValueError(f"criterion: expected 'scaled' or 'plain', got {criterion!r}")
        xp, d, lv = self.xp, self.domain, self.problem.level
        rtol = attainable(rtol, self.backend.dtype)
        b = self._padded(b)
        u = xp.zeros_like(b) if x0 is None else d.pad(self.backend.asarray(x0))
        u = xp.where(lv.active, u, b)
        inv_diag = 1 / lv.diag
        weight = inv_diag if criterion == "scaled" else None
        if self._norm(b, weight) == 0:
            return xp.zeros(d.owned_shape, b.dtype), SolveInfo(0, 0.0, True, 0.0)
        # the V-cycle sees r with ghost rows 0: they are held at 0
        u, it = flexible_cg(self._apply, self.problem.multigrid.cycle, self._dots,
                            lambda x: self._norm(x, weight), b, u, rtol, maxiter)
        r = b - self._apply(u)
        self._zero_ghosts(r)
        plain, scaled = self._norm(r) / self._norm(b), self._norm(r, inv_diag) / self._norm(b, inv_diag)
        info = SolveInfo(it, plain, (scaled if weight is not None else plain) <= rtol, scaled)
        return u[d.owned].copy(), info


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
