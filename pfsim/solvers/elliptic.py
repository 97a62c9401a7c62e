"""Matrix-free solver for the linear elliptic problems of a time step.

On all nodes of a 2D or 3D `Grid`:

    (A u)_i = c_i u_i + sum_f K_f (u_i - u_nb(f))     active node i   (mask True)
    (A u)_i = u_i                                      inactive node   (Dirichlet: u_i = b_i)

f runs over the 2*ndim faces of node i, K_f = k_f / h_axis^2, and k_f is the harmonic mean
2 k_i k_nb / (k_i + k_nb) of the node conductivities (0 when either is 0). Periodic axes wrap
round; a bounded axis has no face across its walls (zero flux; a Dirichlet wall is a row of
inactive nodes). Faces between active and inactive nodes are kept: the held values enter the
active rows through them, and the active-node block of A is symmetric positive definite.
`EllipticProblem.from_faces` takes the K_f themselves instead of k (operators whose face
coefficients are not harmonic means of node values: the viscous blocks of the creep flow,
pfsim.solvers.creep_flow.BlockMultigrid). An active node with no face (all K_f = 0) and
c_i = 0 would make A singular; such nodes are made inactive automatically, i.e. held at
u_i = b_i (`EllipticProblem.active` is the mask in effect).

A connected group of active nodes that touches no inactive node and has c = 0 throughout
(e.g. a fully periodic grid with c = 0) makes A singular: CG then converges only if b sums to
zero over the group, and u is fixed up to a constant there.

No-flux walls: with no face beyond the wall and the wall node's c and b unweighted, the
operator is first-order accurate there. (The symmetric form of pfsim.stencil's mirror rule,
second order, would also halve c, b and the faces lying in the wall.) Dirichlet walls and
periodic axes are second order.

`EllipticProblem.solve` runs conjugate gradients on the active nodes, preconditioned by one
V-cycle of a geometric multigrid built for high contrast (`_Hierarchy`), or by Jacobi. The
matrix-vector product and the smoothers of the finest grid are pfsim.kernels.elliptic's (CUDA
forms in kernels/elliptic.cu beside exactly equivalent NumPy forms); everything else is
written for NumPy and CuPy alike.
"""

from itertools import combinations, product

import numpy as np

from ..kernels import elliptic as kernels
from ..stencil import along
from .pcg import SolveInfo, flexible_cg
COARSEST_NODES = 400  # levels are added until one has at most this many nodes: solved densely
JACOBI_WEIGHT = 0.8  # weighted Jacobi where Gauss-Seidel colours are not independent sets


# the relative residual a solve can reach in each working precision (about 80 and 50 units of
# rounding): a tighter rtol is raised to it, where CG would stall at its rounding floor until
# maxiter (float32 solves asked for 1e-9 took 500 iterations each and got 3e-6)
RTOL_FLOOR = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-14}


def attainable(rtol, dtype):
    return max(rtol, RTOL_FLOOR.get(np.dtype(dtype), 0.0))


def _ratio(num, den, xp, fallback=0.0):
    return xp.where(den > 0, num / xp.where(den > 0, den, 1), fallback)


def _dot(a, b):
    # a plain sum, not BLAS: on a busy CPU a threaded BLAS call can cost milliseconds
    return float((a * b).sum())


def _shift(u, s, xp):
    """u[i + s] at node i, wrapping round (s a tuple of -1, 0, 1)."""
    axes = [a for a, d in enumerate(s) if d]
    return xp.roll(u, [-s[a] for a in axes], axis=axes) if axes else u


def _shifter(u, xp):
    """s -> _shift(u, s): one wrapped copy of u with a ghost layer, then a view per shift."""
    n = u.shape
    padded = xp.empty(tuple(m + 2 for m in n), dtype=u.dtype)
    padded[tuple(slice(1, m + 1) for m in n)] = u
    for a, m in enumerate(n):  # wrap axis by axis; later axes copy the earlier ghosts too
        lo = [slice(None)] * len(n)
        hi = [slice(None)] * len(n)
        src_lo, src_hi = list(lo), list(hi)
        lo[a], src_lo[a] = 0, m
        hi[a], src_hi[a] = m + 1, 1
        padded[tuple(lo)] = padded[tuple(src_lo)]
        padded[tuple(hi)] = padded[tuple(src_hi)]
    return lambda s: padded[tuple(slice(1 + d, 1 + d + m) for d, m in zip(s, n))]


def face_conductivities(grid, k, xp=np):
    """[K_a]: K_a[i] = harmonic mean of k over the face from node i to node i+1 along axis a,
    divided by h_a^2. Wraps on periodic axes; K_a[n-1] = 0 on bounded ones (no face)."""
    out = []
    for a, (h, periodic) in enumerate(zip(grid.spacing, grid.periodic)):
        nb = xp.roll(k, -1, axis=a)
        K = _ratio(2 * k * nb, k + nb, xp) / h**2
        if not periodic:
            K[along(grid.ndim, a, -1)] = 0
        out.append(K)
    return out


# --- levels ------------------------------------------------------------------------------------
class _Stencil:
    """A level's operator as a stencil: (A u)_i = (centre_i + c_i) u_i + sum_s coeffs[s]_i u_{i+s}.

    Only couplings between active nodes are stored; a node's couplings to held (inactive) nodes
    are in its centre. Inactive nodes have zero rows and are never updated (their value is 0 in
    the multigrid corrections). `centre` and `coeffs` are fixed; `c` may be replaced.
    """

    def __init__(self, xp, shape, periodic, coeffs, centre):
        self.xp, self.shape, self.periodic = xp, tuple(shape), tuple(periodic)
        self.coeffs, self.centre = coeffs, centre

    @property
    def size(self):
        return int(np.prod(self.shape))

    def apply_coupling(self, u):
        """The c-free part of A: centre u + sum_s coeffs[s] u(i+s)."""
        out = self.centre * u
        shift = _shifter(u, self.xp)
        for s, a in self.coeffs.items():
            out += a * shift(s)
        return out


class _CoarseLevel(_Stencil):
    """A coarse grid: Galerkin stencil (3^d points), lumped c, multicolour Gauss-Seidel."""

    def set_c(self, c):
        xp = self.xp
        self.c = c
        self.diag = self.centre + c
        self.active = self.diag > 0
        self.inv_diag = _ratio(1.0, self.diag, xp)
        # colours by parity on each axis are independent sets for a 3^d stencil if every
        # periodic axis has an even node count; otherwise weighted Jacobi, with a weight from
        # Gershgorin's bound on the largest eigenvalue of D^-1 A
        self.colours = None
        if all(n % 2 == 0 for n, p in zip(self.shape, self.periodic) if p):
            idx = xp.indices(self.shape)
            self.colours = [
                xp.all(xp.stack([idx[a] % 2 == q[a] for a in range(len(self.shape))]), axis=0) & self.active
                for q in product((0, 1), repeat=len(self.shape))
            ]
        else:
            bound = self.diag + sum(xp.abs(a) for a in self.coeffs.values())
            self.omega = 1.6 / max(float(xp.max(bound * self.inv_diag)), 1.0)

    def apply(self, u):
        return self.apply_coupling(u) + self.c * u

    def smooth(self, u, b, sweeps, reverse):
        xp = self.xp
        for _ in range(sweeps):
            if self.colours is None:
                u = u + self.omega * (b - self.apply(u)) * self.inv_diag
                continue
            for on in (self.colours[::-1] if reverse else self.colours):
                off = b
                shift = _shifter(u, xp)
                for s, a in self.coeffs.items():
                    off = off - a * shift(s)
                u = xp.where(on, off * self.inv_diag, u)
        return u


class _FineLevel(_Stencil):
    """The problem's own grid: faces in the kernels' layout (pfsim.kernels.elliptic) and the
    5-/7-point stencil.

    Held: faces, mask, active, cdiag (the kernels' c, -1 on inactive nodes) and diag. The
    NumPy forms also keep c, faces_down and the red-black colours (the kernels index them); the
    stencil (centre, coeffs) exists only while the hierarchy is built from it (`release`).
    """

    def __init__(self, xp, faces, mask, periodic, numpy_forms=True):
        self.faces, self.mask, self.numpy_forms = faces, mask, numpy_forms
        self._faces_down = None
        super().__init__(xp, mask.shape, periodic, {}, None)
        self.active = None
        # red-black Gauss-Seidel needs independent colours: even node counts on periodic axes
        self.red_black = all(n % 2 == 0 for n, p in zip(self.shape, self.periodic) if p)
        self._colours = None

    @property
    def faces_down(self):
        """[K_a(i-1)]: the face from node i-1 to node i (kept for the NumPy forms)."""
        if self._faces_down is not None:
            return self._faces_down
        down = [self.xp.roll(K, 1, axis=a) for a, K in enumerate(self.faces)]
        if self.numpy_forms:
            self._faces_down = down
        return down

    @property
    def colours(self):
        if self._colours is None:
            parity = self.xp.indices(self.shape).sum(axis=0) % 2
            self._colours = [parity == 0, parity == 1]
        return self._colours

    def ksum(self):
        """Sum of a node's faces, in the kernels' order: x up, x down, y up, ..."""
        return sum(K for pair in zip(self.faces, self.faces_down) for K in pair)

    def set_c(self, c):
        """Set c; returns True if the set of active nodes changed (then the stencil is rebuilt)."""
        xp = self.xp
        ksum = self.ksum()
        active = self.mask & ((ksum > 0) | (c > 0))
        changed = self.active is None or not bool(xp.array_equal(active, self.active))
        self.active = active
        # c itself only for the NumPy forms; the CUDA path reads cdiag and derives c when the
        # hierarchy asks (one fine-grid array less per problem)
        self._c = xp.where(active, c, 0) if self.numpy_forms else None
        self.cdiag = xp.ascontiguousarray(xp.where(active, c, -1))  # the kernels' form: -1 marks inactive
        self.diag = xp.where(active, c + ksum, 1)  # of A; 1 on the identity rows
        if changed:
            self.centre = xp.where(active, ksum, 0)
            self.coeffs = {}
            for a, (up, down) in enumerate(zip(self.faces, self.faces_down)):
                for step, K in ((1, up), (-1, down)):
                    s = tuple(step if b == a else 0 for b in range(len(self.shape)))
                    self.coeffs[s] = -K * active * _shift(active, s, xp)
        return changed

    @property
    def c(self):
        """c on active nodes, 0 on inactive ones."""
        return self._c if self._c is not None else self.xp.where(self.active, self.cdiag, 0)

    def release(self):
        """Drop the stencil once coarser levels are built from it (nothing reads it after)."""
        self.coeffs, self.centre = {}, None


# --- grid transfers ------------------------------------------------------------------------------
class _Axis:
    """How one axis coarsens: the fine indices of the coarse nodes (`sel`: every other node,
    plus the last node of a bounded axis) and of the nodes between them (`mid`)."""

    def __init__(self, n, periodic, xp):
        # a periodic axis keeps at least 3 nodes, so a coarse node's neighbours are distinct
        self.coarsened = n >= (5 if periodic else 3)
        sel = np.arange(0, n, 2) if self.coarsened else np.arange(n)
        if self.coarsened and not periodic and sel[-1] != n - 1:
            sel = np.append(sel, n - 1)
        mid = np.setdiff1d(np.arange(n), sel)
        self.n, self.nc, self.periodic = n, len(sel), periodic
        self.sel, self.mid = xp.asarray(sel), xp.asarray(mid)
        self.near = {-1: xp.asarray(mid - 1), 1: xp.asarray((mid + 1) % n)}  # a mid node's coarse neighbours
        # probing colours: the 3 neighbours of a coarse node, across the wrap, differ mod m
        self.colours = 3
        if periodic:
            self.colours = next(m for m in range(3, self.nc + 1) if self.nc % m == 0 or self.nc % m >= 3)


class _Transfer:
    """Operator-dependent interpolation from a coarse level to its fine level, and its transpose.

    Coarse nodes are injected. A fine node between coarse nodes along the axes T (its 'type')
    takes the mean of its neighbours offset along T (of types with fewer axes, so already
    interpolated) weighted by its couplings to them, the stencil collapsed over the other axes:
    u_i = sum_t w_t u_{i+t}, w_t = -a_t / a_0 (de Zeeuw / Dendy "black box" interpolation).
    Across a high-contrast interface the weights follow the high-conductivity side, which is
    what keeps the coarse correction accurate. Inactive fine nodes get 0; restriction is the
    exact transpose.
    """

    def __init__(self, fine, axes, xp):
        nd = len(axes)
        self.coarse_ix = xp.ix_(*[ax.sel for ax in axes])
        coarsened = [a for a in range(nd) if axes[a].coarsened]
        self.types = []
        for size in range(1, len(coarsened) + 1):
            for T in combinations(coarsened, size):
                idx = [axes[a].mid if a in T else axes[a].sel for a in range(nd)]
                ix = xp.ix_(*idx)
                # positive couplings (Galerkin stencils have some) are lumped into the centre,
                # then the stencil is collapsed over the axes outside T
                centre = fine.centre[ix]
                collapsed = {}
                for s, a in fine.coeffs.items():
                    a = a[ix]
                    centre = centre + xp.maximum(a, 0)
                    t = tuple(s[b] if b in T else 0 for b in range(nd))
                    if any(t):
                        collapsed[t] = collapsed.get(t, 0) + xp.minimum(a, 0)
                    else:
                        centre = centre + xp.minimum(a, 0)
                on = (fine.centre[ix] > 0) & (centre > 0)  # inactive rows are zero
                neighbours = []
                for t, a in collapsed.items():
                    nb = xp.ix_(*[axes[b].near[t[b]] if t[b] else idx[b] for b in range(nd)])
                    neighbours.append((nb, xp.where(on, _ratio(-a, centre, xp), 0)))
                self.types.append((ix, neighbours))

    def prolong(self, ec, shape, xp):
        e = xp.zeros(shape, dtype=ec.dtype)
        e[self.coarse_ix] = ec
        for ix, neighbours in self.types:
            acc = 0
            for nb, w in neighbours:
                acc = acc + w * e[nb]
            e[ix] = acc
        return e

    def restrict(self, r):
        """P^T r. Overwrites r (every caller passes a temporary: the copy would be one more
        fine-grid array at the solve's peak)."""
        for ix, neighbours in reversed(self.types):
            v = r[ix]
            for nb, w in neighbours:
                r[nb] += w * v
        return r[self.coarse_ix]


def _galerkin(fine, transfer, axes, xp):
    """The coarse stencil P^T S P of the fine coupling operator S, by probing: one product per
    colouring of the coarse nodes in which every node's 3^d neighbours differ in colour."""
    nd = len(axes)
    shape = tuple(ax.nc for ax in axes)
    m = [ax.colours for ax in axes]
    idx = xp.indices(shape)
    offsets = list(product((-1, 0, 1), repeat=nd))
    out = {s: xp.zeros(shape, dtype=fine.centre.dtype) for s in offsets}
    for q in product(*[range(k) for k in m]):
        e = xp.all(xp.stack([idx[a] % m[a] == q[a] for a in range(nd)]), axis=0).astype(fine.centre.dtype)
        y = transfer.restrict(fine.apply_coupling(transfer.prolong(e, fine.shape, xp)))
        for s in offsets:
            # the colour of node i + s (no wrap on a bounded axis)
            nb = [(idx[a] + s[a]) % shape[a] if axes[a].periodic else idx[a] + s[a] for a in range(nd)]
            here = xp.all(xp.stack([nb[a] % m[a] == q[a] for a in range(nd)]), axis=0)
            out[s] = xp.where(here, y, out[s])
    centre = out.pop((0,) * nd)
    coeffs = {}
    for s, a in out.items():  # symmetrise: a_s(i) = a_-s(i+s)
        neg = tuple(-d for d in s)
        a = 0.5 * (a + _shift(out[neg], s, xp))
        if bool(xp.any(a != 0)):
            coeffs[s] = a
    return _CoarseLevel(xp, shape, fine.periodic, coeffs, centre)


# --- multigrid ---------------------------------------------------------------------------------
class _Hierarchy:
    """Geometric multigrid V-cycle on node-based grids, used as the CG preconditioner.

    Coarsening by 2 on every axis that allows it (the last node of a bounded axis stays a coarse
    node, so Dirichlet walls carry over), operator-dependent interpolation (`_Transfer`),
    Galerkin coarse operators P^T S P for the couplings with c lumped (`_galerkin`; the
    lumped diagonal only adds to the Galerkin operator, so the cycle never over-corrects),
    Gauss-Seidel smoothing (red-black on the finest grid, multicolour on coarse ones; weighted
    Jacobi where colours are not independent), and a dense inverse on the coarsest level.
    The cycle is symmetric positive definite: a valid preconditioner for conjugate gradients.
    """

    def __init__(self, problem, finest, sweeps):
        xp = problem.xp
        self.problem, self.sweeps = problem, sweeps
        self.levels, self.transfers = [finest], []
        while self.levels[-1].size > COARSEST_NODES:
            fine = self.levels[-1]
            axes = [_Axis(n, p, xp) for n, p in zip(fine.shape, fine.periodic)]
            if not any(ax.coarsened for ax in axes):
                break
            transfer = _Transfer(fine, axes, xp)
            coarse = _galerkin(fine, transfer, axes, xp)
            self.transfers.append(transfer)
            self.levels.append(coarse)
        self.set_c(finest.c)
        if len(self.levels) > 1:
            finest.release()  # the coarsest level (dense inverse) is then another one

    def set_c(self, c):
        """Lumped coarse diagonals: c_coarse = row sums of P^T diag(c) P = P^T (c P1)."""
        xp = self.problem.xp
        for transfer, fine, coarse in zip(self.transfers, self.levels, self.levels[1:]):
            ones = transfer.prolong(xp.ones(coarse.shape, c.dtype), fine.shape, xp)  # P1
            c = transfer.restrict(c * ones)
            coarse.set_c(c)
        self.coarse_inverse = xp.asarray(_dense_inverse(self.levels[-1], self.problem.backend))

    def cycle(self, b, depth=0):
        """Approximately solve A_depth e = b from e = 0."""
        xp, level = self.problem.xp, self.levels[depth]
        if depth == len(self.levels) - 1:
            # einsum rather than a BLAS product: no thread start-up for a few hundred nodes
            return xp.einsum("ij,j->i", self.coarse_inverse, b.reshape(-1)).reshape(b.shape)
        if depth == 0:
            smooth, apply = self.problem.smooth, self.problem.apply_level
        else:
            smooth, apply = level.smooth, level.apply
        u = smooth(xp.zeros_like(b), b, self.sweeps, reverse=False)
        r = apply(u)
        r = xp.subtract(b, r, out=r)  # in place: the finest level's words set the solve's peak
        rc = xp.where(self.levels[depth + 1].active, self.transfers[depth].restrict(r), 0)
        del r
        u += self.transfers[depth].prolong(self.cycle(rc, depth + 1), level.shape, xp)
        return smooth(u, b, self.sweeps, reverse=True)


def _dense_inverse(level, backend):
    """Inverse of the coarsest operator on its active nodes (0 elsewhere), in float64 on the host.

    Gauss-Jordan sweeps of the diagonally scaled matrix (unit diagonal, so contrast does not
    spoil the pivots); a pivot that has fallen to rounding level marks a node that depends on
    the nodes already swept (a floating group with no held node and no c), and is left out.
    """
    h = backend.to_host
    n = level.size
    A = np.diag(h(level.centre + level.c).reshape(-1).astype(np.float64))
    idx = np.arange(n).reshape(level.shape)
    for s, a in level.coeffs.items():
        np.add.at(A, (idx.reshape(-1), _shift(idx, s, np).reshape(-1)), h(a).reshape(-1))
    active = h(level.active).reshape(-1)
    scale = 1 / np.sqrt(np.diag(A)[active])
    M = A[np.ix_(active, active)] * scale[:, None] * scale[None, :]
    inverse = _cholesky_inverse(M)
    if inverse is None:
        for k in range(len(M)):  # sweeping every pivot turns M into -M^-1
            d = M[k, k]
            if d <= 1e-13:
                M[k, :] = M[:, k] = 0
                continue
            col = M[:, k] / d
            M -= np.outer(M[:, k], col)
            M[:, k] = M[k, :] = col
            M[k, k] = -1 / d
        inverse = -M
    out = np.zeros((n, n))
    out[np.ix_(active, active)] = inverse * scale[:, None] * scale[None, :]
    return out.astype(backend.dtype)


def _cholesky_inverse(M):
    """M^-1 by Cholesky when every pivot stays above the rounding level (the usual case, and
    fast); None when one falls to it (a floating group), left to the Gauss-Jordan sweeps."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    if len(M) == 0:
        return np.zeros((0, 0))
    try:
        factor = cho_factor(M, lower=True, check_finite=False)
    except LinAlgError:
        return None
    if np.min(np.diag(factor[0])) ** 2 <= 1e-13:
        return None
    return cho_solve(factor, np.eye(len(M)), check_finite=False)


# --- the problem -------------------------------------------------------------------------------
class _NodeGrid:
    """What EllipticProblem reads of a grid (shape, periodic axes) for `from_faces`."""

    def __init__(self, shape, periodic):
        self.shape, self.periodic, self.ndim = tuple(shape), tuple(periodic), len(shape)


class EllipticProblem:
    """A u = b for fixed conductivities k >= 0, diagonal c >= 0 and active mask (see module doc).

    The face conductivities and the multigrid hierarchy are built once; `solve` may then be
    called with any number of right-hand sides. `set_diagonal` replaces c (the 1/dt or
    linearised Butler-Volmer terms) cheaply: it updates the coarse diagonals and the coarsest
    inverse, and rebuilds the hierarchy only if the set of active nodes changes.

    preconditioner: "multigrid" (default) or "jacobi"; sweeps: Gauss-Seidel sweeps before and
    after the coarse correction on each level.
    """

    def __init__(self, grid, backend, k, c=0.0, mask=None, preconditioner="multigrid", sweeps=1):
        xp = backend.xp
        k = xp.broadcast_to(xp.asarray(k, dtype=np.float64), grid.shape)
        if bool((k < 0).any()):
            raise ValueError("k must be >= 0")
        self._setup(grid, backend, face_conductivities(grid, k, xp), c, mask, preconditioner, sweeps)

    @classmethod
    def from_faces(cls, backend, faces, periodic, c=0.0, mask=None, preconditioner="multigrid", sweeps=1):
        """The problem given its face conductivities directly, on a node grid of faces[0]'s shape:
        faces[a][i] = K_f (already divided by h_a^2) of the face from node i to node i+1 along
        axis a, wrapping round on a periodic axis and 0 at the last node of a bounded one (no
        face across the wall), the layout `face_conductivities` returns. For operators that are
        not harmonic means of node values (the viscous blocks of pfsim.solvers.creep_flow)."""
        xp = backend.xp
        faces = [xp.array(K, dtype=np.float64) for K in faces]  # copies: the walls are zeroed below
        shape = tuple(faces[0].shape)
        if len(faces) != len(shape) or any(tuple(K.shape) != shape for K in faces):
            raise ValueError("faces: one array per axis, all of the node grid's shape")
        for a, K in enumerate(faces):
            if not periodic[a]:
                K[along(len(shape), a, -1)] = 0
        if any(bool((K < 0).any()) for K in faces):
            raise ValueError("face conductivities must be >= 0")
        grid = _NodeGrid(shape, tuple(bool(p) for p in periodic))
        self = cls.__new__(cls)
        self._setup(grid, backend, faces, c, mask, preconditioner, sweeps)
        return self

    def _setup(self, grid, backend, faces, c, mask, preconditioner, sweeps):
        if preconditioner not in ("multigrid", "jacobi"):
            raise ValueError(f"preconditioner: expected 'multigrid' or 'jacobi', got {preconditioner!r}")
        xp = backend.xp
        self.grid, self.backend, self.xp = grid, backend, xp
        self.preconditioner, self.sweeps, self.multigrid = preconditioner, sweeps, None
        faces = [xp.ascontiguousarray(K.astype(backend.dtype)) for K in faces]
        mask = xp.ones(grid.shape, bool) if mask is None else xp.asarray(mask, bool)
        self.level = _FineLevel(xp, faces, xp.broadcast_to(mask, grid.shape), grid.periodic,
                                numpy_forms=not backend.is_gpu)
        self.set_diagonal(c)

    @property
    def active(self):
        """The nodes solved for: mask, less nodes with neither a face nor c."""
        return self.level.active

    def set_diagonal(self, c):
        """Replace c (>= 0, an array of the grid's shape or a scalar)."""
        xp = self.xp
        c = xp.broadcast_to(xp.asarray(c, dtype=self.backend.dtype), self.grid.shape)
        if bool((c < 0).any()):
            raise ValueError("c must be >= 0")
        changed = self.level.set_c(c)
        if self.preconditioner == "multigrid":
            if changed or self.multigrid is None:
                self.multigrid = _Hierarchy(self, self.level, self.sweeps)
            else:
                self.multigrid.set_c(self.level.c)

    # --- finest-grid operator and smoothers (pfsim.kernels.elliptic) ---------------------------
    def apply_level(self, u):
        return kernels.apply(self.backend, self.level, u)

    def apply(self, u):
        """A u on all nodes (identity rows on inactive nodes)."""
        return self.apply_level(self.xp.ascontiguousarray(self.backend.asarray(u)))

    def smooth(self, u, b, sweeps, reverse):
        """`sweeps` red-black Gauss-Seidel sweeps (black first when reverse: the adjoint order,
        for a symmetric cycle), or weighted-Jacobi sweeps. Returns u (may update in place)."""
        be, lv = self.backend, self.level
        for _ in range(sweeps):
            if not lv.red_black:
                u = kernels.smooth_jacobi(be, lv, u, b, JACOBI_WEIGHT)
                continue
            for colour in ((1, 0) if reverse else (0, 1)):
                kernels.smooth_rb(be, lv, u, b, colour)
        return u

    def _precondition(self, r):
        if self.multigrid is None:
            return r / self.level.diag  # r is 0 on inactive nodes, where diag is 1
        return self.multigrid.cycle(r)

    # --- preconditioned conjugate gradients ----------------------------------------------------
    def solve(self, b, x0=None, rtol=1e-10, maxiter=None, criterion="scaled"):
        """(u, SolveInfo): conjugate gradients until the relative residual is <= rtol (at least
        the working precision's RTOL_FLOOR).

        criterion "scaled" (default): ||D^-1 (b - A u)|| / ||D^-1 b||, D the diagonal of A,
        i.e. each row's residual in units of u. It weighs a region of conductivity 1e-10 like
        one of conductivity 1 and does not depend on the units of k, c and b. The plain
        ||b - A u|| / ||b|| (criterion "plain") is dominated by the most conductive rows:
        at high contrast it may stop while low-conductivity regions are still wrong, or never
        get below the rounding floor of about 1e-16 max(K) |u| / |b|. Both are reported.

        Inactive nodes are set to b and stay there; CG runs on the active block, which is
        symmetric positive definite. The residual is recomputed from u before stopping (CG
        restarts from it if the recursively updated one had drifted).
        """
        if criterion not in ("scaled", "plain"):
            raise ValueError(f"criterion: expected 'scaled' or 'plain', got {criterion!r}")
        xp, norm = self.xp, self._norm
        rtol = attainable(rtol, self.backend.dtype)
        if maxiter is None:
            maxiter = 500 if self.multigrid is not None else 50 * max(self.grid.shape) + 500
        b = xp.ascontiguousarray(xp.broadcast_to(self.backend.asarray(b), self.grid.shape))
        u = xp.zeros_like(b) if x0 is None else self.backend.asarray(x0)
        u = xp.ascontiguousarray(xp.where(self.level.active, u, b))
        weight = self.level.diag if criterion == "scaled" else None  # norms of D^-1 x
        if norm(b, weight) == 0:
            return xp.zeros_like(b), SolveInfo(0, 0.0, True, 0.0)
        u, it = flexible_cg(self._operator, self._precondition, self._dots, lambda x: norm(x, weight), b, u, rtol,
                            maxiter)
        r = b - self._operator(u)
        diag = self.level.diag
        plain, scaled = norm(r) / norm(b), norm(r, diag) / norm(b, diag)
        return u, SolveInfo(it, plain, (scaled if weight is not None else plain) <= rtol, scaled)

    # what CG applies and sums (pfsim.parallel.elliptic's slab exchanges halos and sums across ranks)
    def _operator(self, u):
        return self.apply_level(u)

    def _dots(self, *pairs):
        return [_dot(x, y) for x, y in pairs]

    def _norm(self, x, diag=None):
        """||x||, or ||D^-1 x|| given diag (one temporary array, not two)."""
        if diag is None:
            return _dot(x, x) ** 0.5
        t = x / diag
        t *= t
        return float(t.sum()) ** 0.5
