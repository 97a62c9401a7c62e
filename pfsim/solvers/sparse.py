"""The elliptic problems of pfsim.solvers.elliptic on the CPU, through sparse-matrix libraries.

Same operator, same interface (`active`, `set_diagonal`, `solve`, `apply`) and the same
reported residuals as the matrix-free `EllipticProblem`, but A is assembled once as a SciPy
sparse matrix on the active nodes and solved by

- "direct": SuperLU (scipy.sparse.linalg.splu) in symmetric mode with a minimum-degree
  ordering of A + A^T; the factor is kept until the diagonal changes, so every solve between two
  `set_diagonal` calls (the galvanostatic Newton's two right-hand sides, the plating chord
  steps) is a pair of triangular solves;
- "amg": conjugate gradients (pfsim.solvers.pcg) preconditioned by a smoothed-aggregation
  hierarchy of PyAMG, rebuilt only when the set of active nodes changes: a new diagonal updates
  the Galerkin coarse operators through the kept transfers.

Both work on the symmetrically scaled matrix D^-1/2 A D^-1/2 (unit diagonal), so conductivity
contrasts of 1e12 neither spoil the pivots nor the aggregation. "auto" picks the direct solver
for 2D problems of up to DIRECT_MAX_NODES active nodes and AMG above that and in 3D
(crossover measured with `pfsim bench --sections solves`, docs/performance.md).

Held nodes (inactive) are eliminated: u_i = b_i there, and their faces move to the right-hand
side. A singular active block (a floating group with c = 0, which the multigrid CG handles when
b sums to zero over it) is detected by the factorisation or by the residual, and that problem
falls back to the matrix-free multigrid CG.
"""

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from .elliptic import EllipticProblem, attainable, face_conductivities
from .pcg import SolveInfo, flexible_cg

METHODS = ("auto", "direct", "amg", "multigrid")
# 2D problems up to this many active nodes are factorised; larger ones and 3D use AMG
# (measured on a 2-core CPU, docs/performance.md "Elliptic solves on the CPU")
DIRECT_MAX_NODES = 30_000
SMOOTHER = ("gauss_seidel", {"sweep": "symmetric"})  # a symmetric cycle: a valid CG preconditioner
# the coarsest level by sparse LU: pyamg's default dense pseudo-inverse is set up at the first
# cycle after every diagonal update (an SVD of up to 500 x 500: 20 to 90 ms a step)
COARSE_SOLVER = "splu"
REFINEMENTS = 3  # iterative-refinement steps a direct solve may take before it gives up


def elliptic_problem(grid, backend, k, c=0.0, mask=None, method="auto"):
    """The elliptic problem of `EllipticProblem`'s module doc, solved the backend's best way:
    on a GPU (or the CUDA path through the CPU shim) the matrix-free multigrid CG, on the CPU
    SuperLU or PyAMG (`method` "auto"), or the one asked for."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if method == "multigrid" or backend.is_gpu:  # a GPU has no sparse factorisation here
        return EllipticProblem(grid, backend, k, c, mask)
    return SparseProblem(grid, backend, k, c, mask, method)


class SparseProblem:
    """A u = b for fixed conductivities k >= 0, diagonal c >= 0 and active mask, as
    `EllipticProblem` (same arguments and methods), assembled and solved on the host in float64
    whatever the backend's precision; fields come back in the backend's dtype. method: "direct",
    "amg", or "auto" (module doc)."""

    def __init__(self, grid, backend, k, c=0.0, mask=None, method="auto"):
        if method not in ("auto", "direct", "amg"):
            raise ValueError(f"method: expected 'auto', 'direct' or 'amg', got {method!r}")
        k = np.broadcast_to(np.asarray(k, dtype=np.float64), grid.shape)
        if bool((k < 0).any()):
            raise ValueError("k must be >= 0")
        self.grid, self.backend, self.method = grid, backend, method
        self._k, self._mask = k, mask  # kept for the matrix-free fallback
        self.mask = np.ones(grid.shape, bool) if mask is None else np.broadcast_to(np.asarray(mask, bool), grid.shape)
        n = grid.size
        index = np.arange(n).reshape(grid.shape)
        # every face once: (node, neighbour up the axis, K), K > 0; a periodic axis of one node
        # couples a node to itself, which adds nothing to A
        src, dst, val = [], [], []
        for a, K in enumerate(face_conductivities(grid, k, np)):
            nb = np.roll(index, -1, axis=a)
            on = (K > 0) & (nb != index)
            src.append(index[on]), dst.append(nb[on]), val.append(K[on])
        self._src, self._dst, self._val = (np.concatenate(v) for v in (src, dst, val))
        self.ksum = np.bincount(self._src, self._val, n) + np.bincount(self._dst, self._val, n)
        self.active = None
        self._fallback = None
        self.set_diagonal(c)

    # --- operator ------------------------------------------------------------------------------
    def set_diagonal(self, c):
        """Replace c (>= 0, an array of the grid's shape or a scalar)."""
        c = np.broadcast_to(np.asarray(self.backend.to_host(self.backend.asarray(c)), dtype=np.float64),
                            self.grid.shape).reshape(-1)
        if bool((c < 0).any()):
            raise ValueError("c must be >= 0")
        active = self.mask.reshape(-1) & ((self.ksum > 0) | (c > 0))
        if self.active is None or not np.array_equal(active, self.active.reshape(-1)):
            self._assemble(active)
        elif np.array_equal(c, self._c):
            return  # the same operator: factor or hierarchy kept
        d = self.ksum[self._rows] + c[self._rows]
        self.diag = np.ones(self.grid.size)  # of A; 1 on the identity rows
        self.diag[self._rows] = d
        self._c = c.copy()  # the caller may reuse its array
        self._scale = 1 / np.sqrt(d)
        data = self._off * self._scale[self._entry_row] * self._scale[self._entry_col]
        data[self._diag_at] = 1.0
        self._scaled = sp.csc_matrix((data, self._pattern.indices, self._pattern.indptr), shape=self._pattern.shape)
        self._factor = self._fallback = None
        if self._amg is not None:
            self._amg_update()
        elif self._use_amg:
            self._amg_build()

    def _assemble(self, active):
        """The sparsity pattern and the off-diagonal values of the active block, and the faces
        from active to held nodes (they carry the held values into the right-hand side)."""
        self.active = active.reshape(self.grid.shape)
        self._rows = np.flatnonzero(active)
        m = len(self._rows)
        where = np.full(self.grid.size, -1)
        where[self._rows] = np.arange(m)
        s, t, v = self._src, self._dst, self._val
        both = active[s] & active[t]
        rows = np.concatenate([where[s[both]], where[t[both]], np.arange(m)])
        cols = np.concatenate([where[t[both]], where[s[both]], np.arange(m)])
        vals = np.concatenate([-v[both], -v[both], np.zeros(m)])
        pattern = sp.csc_matrix((vals, (rows, cols)), shape=(m, m))  # duplicates summed (2-node periodic axes)
        pattern.sort_indices()
        self._pattern, self._off = pattern, pattern.data.copy()
        self._entry_col = np.repeat(np.arange(m), np.diff(pattern.indptr))
        self._entry_row = pattern.indices
        self._diag_at = np.flatnonzero(self._entry_row == self._entry_col)
        # held neighbours: row (reduced index) += K * b[held node]
        out_s, out_t = active[s] & ~active[t], ~active[s] & active[t]
        self._held_rows = np.concatenate([where[s[out_s]], where[t[out_t]]])
        self._held_nodes = np.concatenate([t[out_s], s[out_t]])
        self._held_vals = np.concatenate([v[out_s], v[out_t]])
        self._order = None  # the fill-reducing ordering of this active set, once found
        self._use_amg = self.method == "amg" or (
            self.method == "auto" and (self.grid.ndim == 3 or m > DIRECT_MAX_NODES))
        self._amg = None

    # --- AMG -------------------------------------------------------------------------------------
    def _amg_build(self):
        import pyamg

        self._amg = pyamg.smoothed_aggregation_solver(self._scaled.tocsr(), symmetry="symmetric", max_coarse=500,
                                                      presmoother=SMOOTHER, postsmoother=SMOOTHER,
                                                      coarse_solver=COARSE_SOLVER)
        self._amg_precondition = self._amg.aspreconditioner(cycle="V")

    def _amg_update(self):
        """A new diagonal on the same active nodes: the kept transfers, new Galerkin products."""
        from pyamg.relaxation.smoothing import change_smoothers

        levels = self._amg.levels
        levels[0].A = self._scaled.tocsr()
        for fine, coarse in zip(levels, levels[1:]):
            coarse.A = (fine.R @ fine.A @ fine.P).tocsr()
        self._amg = type(self._amg)(levels, coarse_solver=COARSE_SOLVER)
        change_smoothers(self._amg, SMOOTHER, SMOOTHER)
        self._amg_precondition = self._amg.aspreconditioner(cycle="V")

    # --- solves --------------------------------------------------------------------------------
    def apply(self, u):
        """A u on all nodes (identity rows on inactive nodes)."""
        u = self._host(u)
        out = u.copy()
        ua = u[self._rows]
        off = self._pattern.copy()
        off.data = self._off
        r = self.diag[self._rows] * ua + off @ ua
        np.subtract.at(r, self._held_rows, self._held_vals * u[self._held_nodes])
        out[self._rows] = r
        return self.backend.asarray(out.reshape(self.grid.shape).astype(self.backend.dtype))

    def _reduced_rhs(self, b):
        """b on the active nodes plus what the held nodes send through their faces, scaled."""
        rhs = b[self._rows].copy()
        np.add.at(rhs, self._held_rows, self._held_vals * b[self._held_nodes])
        return rhs * self._scale

    def solve(self, b, x0=None, rtol=1e-10, maxiter=None, criterion="scaled"):
        """(u, SolveInfo), as EllipticProblem.solve, with the same stopping rule and reported
        residuals. A direct solve reports its refinement steps as iterations; x0 and maxiter
        are read by AMG-preconditioned CG only."""
        if criterion not in ("scaled", "plain"):
            raise ValueError(f"criterion: expected 'scaled' or 'plain', got {criterion!r}")
        if self._fallback is not None:
            return self._fallback.solve(b, x0=x0, rtol=rtol, maxiter=maxiter, criterion=criterion)
        be = self.backend
        rtol = attainable(rtol, be.dtype)
        shape = self.grid.shape
        b = self._host(b)
        if not b.any():
            return be.asarray(np.zeros(shape, be.dtype)), SolveInfo(0, 0.0, True, 0.0)
        A, s, rhs = self._scaled, self._scale, self._reduced_rhs(b)
        # the scaled system's residual r' = D^-1/2 r on the active rows (0 on held ones), so
        # ||D^-1 r|| = ||D^-1/2 r'|| and ||r|| = ||D^1/2 r'||, against the whole grid's b
        bnorm = {True: float(np.linalg.norm(b / self.diag)), False: float(np.linalg.norm(b))}
        weight = {True: s, False: 1 / s}
        scaled_crit = criterion == "scaled"

        def norm(x, scaled=scaled_crit):
            return float(np.linalg.norm(x * weight[scaled])) / bnorm[scaled]

        if self._use_amg:
            y = np.zeros(len(rhs)) if x0 is None else self._host(x0)[self._rows] / s
            y, it = flexible_cg(A.dot, self._amg_precondition, lambda *pairs: [np.dot(x, z) for x, z in pairs],
                                norm, rhs, y, rtol, 500 if maxiter is None else maxiter, bnorm=1.0)
        else:
            y, it = self._direct(rhs, norm, rtol)
            if y is None:
                return self._fall_back(b, x0, rtol, maxiter, criterion)
        r = rhs - A @ y
        plain, scaled = norm(r, False), norm(r, True)
        u = b.copy()
        u[self._rows] = y * s
        info = SolveInfo(it, plain, (scaled if scaled_crit else plain) <= rtol, scaled)
        return be.asarray(u.reshape(shape).astype(be.dtype)), info

    def _host(self, a):
        a = self.backend.to_host(self.backend.asarray(a))
        return np.broadcast_to(np.asarray(a, dtype=np.float64), self.grid.shape).reshape(-1)

    def _direct(self, rhs, norm, rtol):
        """(y, refinement steps), or (None, 0) where the factorisation or the residual says the
        active block is singular."""
        if self._factor is None:
            try:
                self._factorise()
            except RuntimeError:  # exactly singular
                return None, 0
        y = self._lu_solve(rhs)
        for step in range(REFINEMENTS + 1):
            if not np.all(np.isfinite(y)):
                return None, 0
            r = rhs - self._scaled @ y
            if norm(r) <= rtol:
                return y, step
            if step < REFINEMENTS:
                y += self._lu_solve(r)
        return None, 0

    def _factorise(self):
        """LU of the scaled active block, in a fill-reducing ordering (minimum degree on A + A^T)
        found once per active set: later factors differ only in the diagonal and reuse it
        (three quarters of the time of an 80 x 24 factor with its ordering). Every factor is
        taken the same way, so a resumed run repeats the uninterrupted run's arithmetic."""
        options = dict(diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        if self._order is None:
            order = np.argsort(spl.splu(self._scaled, permc_spec="MMD_AT_PLUS_A", **options).perm_c)
            ranks = sp.csc_matrix((np.arange(1, self._scaled.nnz + 1), self._scaled.indices, self._scaled.indptr),
                                  shape=self._scaled.shape)
            permuted = ranks[order][:, order].tocsc()
            permuted.sort_indices()
            self._order, self._permuted = order, permuted
            self._gather = permuted.data.astype(np.int64) - 1  # permuted entry -> natural entry
        permuted = sp.csc_matrix((self._scaled.data[self._gather], self._permuted.indices, self._permuted.indptr),
                                 shape=self._permuted.shape)
        self._factor = spl.splu(permuted, permc_spec="NATURAL", **options)

    def _lu_solve(self, rhs):
        y = np.empty_like(rhs)
        y[self._order] = self._factor.solve(rhs[self._order])
        return y

    def _fall_back(self, b, x0, rtol, maxiter, criterion):
        be = self.backend
        self._fallback = EllipticProblem(self.grid, be, self._k, be.asarray(self._c.reshape(self.grid.shape)),
                                         None if self._mask is None else be.asarray(self._mask))
        return self._fallback.solve(be.asarray(b.reshape(self.grid.shape)), x0=x0, rtol=rtol, maxiter=maxiter,
                                    criterion=criterion)
