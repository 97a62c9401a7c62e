"""Quasi-static, incompressible power-law creep flow of a metal (Li) on a pfsim grid, 2D (plane
strain) or 3D. docs/stripping.md, "Solved mechanics", derives and checks it.

Constitutive law (physics reference 2.4): eps_dot_ij = (3/2) eps0 (sigma_e/sigma0)^(m-1) s_ij/sigma0,
i.e. s = 2 mu D with the effective viscosity

    mu(eps_e) = sigma0 / (3 eps0) (eps_e / eps0)^((1-m)/m),   eps_e = sqrt(2/3 D:D + eps_reg^2),

eps_reg = `regularisation` x the rate scale eps0 (S/sigma0)^m of the load S (bounds mu where the
metal does not deform). Equilibrium div(-P I + 2 mu D) + f = 0 with div u = 0 in the metal.

Discretisation: a marker-and-cell (MAC) grid. Every node of the grid is the centre of a cell of
size h (the elliptic solvers' finite-volume view: a bounded axis has its walls half a spacing
beyond the first and last nodes); pressure P and the normal strain rates live at cells, velocity
component u_a on the faces normal to axis a, the shear stress sigma_ab on the edges (corners in
2D). The momentum rows are the force balances of the face control volumes (half volumes on a
traction wall), the continuity rows -div u - C P = 0 per cell. MAC is inf-sup stable, so the
saddle point [[K, G], [D, -C]] is solved as it is: no penalty parameter that would have to beat
a viscosity contrast of 1e4 or more at m = 5-7.

Regions, from the metal fraction xi (1 = metal) and a `solid` mask:
- metal: mu_c = (1 - w) mu(eps_e) + w mu_void, w = `void_weight(xi)` = max(0, 1 - 2 xi), with
  mu_void = `void_softness` x mu at the rate scale; incompressible where xi >= 1/2;
- void: a soft, compressible filler: shear viscosity mu_void and compliance C = w/mu_void (its
  pressure -mu_void div u is `void_softness` of the load: traction-free void surfaces while the
  void volume can shrink);
- solid (the SSE): rigid, bonded to the metal (no slip, no penetration): every face touching a
  solid cell is held at zero velocity, and the shear viscosity on an edge is the harmonic mean of
  its cells with the solid's fluidity 0, which puts the no-slip wall on the cell faces.
Walls of bounded axes: "noslip", "freeslip" or "traction" (a prescribed normal and shear stress;
the stack pressure is sigma_nn = -p at the current collector). Periodic axes wrap round. Body
forces on the faces: the surface tension of the void surfaces (pfsim.solvers.capillary) enters
the stripping model's solves so.

Nonlinearity: Newton's method, Jacobian-free (Jacobian-vector products by a difference of
residuals), each Newton system solved by GMRES preconditioned with the Picard (frozen-viscosity)
matrix, with a backtracking line search on the residual. The Picard matrix is the Jacobian less
the rank-one part (1/m - 1) (D (x) D)/(D:D) of the tangent viscosity, so the preconditioned
spectrum lies in about [1/m, 1] at m = 5-7; plain Picard contracts only by (1 - 1/m) per
iteration where the load is a prescribed stress. A solve ends with one Picard step solved to
rounding, so the metal cells are incompressible to rounding (the advection of xi needs it).

Linear algebra (`CreepSolver(method=...)`, config key model.creep.solver):
- "direct" and "amg": the assembled SciPy sparse saddle-point matrix, on the host. In 2D (up to
  DIRECT_MAX_UNKNOWNS) its SuperLU factor is the preconditioner (`DirectFactor`); in 3D, where
  SuperLU's fill explodes, a block lower-triangular preconditioner (`BlockAMG`: smoothed
  aggregation on the viscous block, the viscosity-scaled pressure mass matrix for the Schur
  complement). A GPU backend's fields are copied to the host for these.
- "multigrid": matrix-free, written once for NumPy and CuPy (the `xp` of the backend; the
  arrays of a solve stay on the device, only the scalars of dot products and convergence
  tests come to the host). The operator is applied as products of the constant geometric
  operators E, Dcell, Dedge and G_ghost (SciPy CSR on the host; `CreepFlow.on` copies them once
  to the device as cupyx.scipy.sparse CSR matrices, cuSPARSE products) with the viscosities as
  diagonal scalings: the same arithmetic as `_apply` on the host, no second stencil
  implementation of the MAC operator to keep in step, and the sparse products are
  bandwidth-bound like a stencil would be. GMRES (`gmres`) runs on the device arrays. The
  preconditioner (`BlockMultigrid`) is block lower-triangular: per velocity component the
  diagonal block of the viscous operator (a scalar variable-coefficient Laplacian on that
  component's faces) by one V-cycle of pfsim.solvers.elliptic's geometric multigrid
  (`EllipticProblem.from_faces`; its CUDA smoother and product on a GPU), block Gauss-Seidel
  over the components, then the pressure from -(C + 1/mu) per cell. The cell viscosity is the
  kernel twin's CUDA form on a GPU. "auto" picks it on a GPU backend; on the CPU it is slower
  than "direct"/"amg" (docs/stripping.md, "Cost"). Its CuPy path has not run on a GPU yet
  (tests run its NumPy form and, through the test shim of the CUDA kernels, its GPU branches).
The scalar SPD problems of pfsim.solvers.sparse have another structure, so that module's
classes do not apply.
"""

import copy
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from ..backend import Backend
from ..kernels import creep_flow as ck

HOST = Backend("numpy", np.dtype(np.float64), "cpu")  # the assembled path's arrays


def _float64(backend):
    """The backend in float64 (the flow solves in double precision whatever the fields use)."""
    if np.dtype(backend.dtype) == np.float64:
        return backend
    return Backend(backend.name, np.dtype(np.float64), backend.device, backend.elliptic, backend.cpu_kernels)


WALL_KINDS = ("noslip", "freeslip", "traction")
GMRES_MAXITER = 60  # per Newton step
DIRECT_MAX_UNKNOWNS = 60_000  # 2D saddle points up to this size by SuperLU, larger ones and 3D by block AMG
REFACTOR_AFTER = 15  # GMRES iterations past which a kept factor is renewed
LINEAR_MAXITER = 400  # GMRES iterations of a linear solve with an inexact preconditioner
METHODS = ("auto", "direct", "amg", "multigrid")


def _xp_of(a):
    """The array module of a: CuPy for device arrays, NumPy for host arrays and numbers."""
    if type(a).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def to_host(a):
    """A host (NumPy) copy of a device array; host arrays as they are."""
    return a.get() if _xp_of(a) is not np else a


def void_weight(xi):
    """The void filler's share w of a cell of metal fraction xi: 1 - 2 xi below the interface's
    midline xi = 1/2, 0 above it. Cells above the midline are incompressible metal, so the
    void's surface sits at xi = 1/2 (where voids.statistics puts it too); the share 1 - xi
    (every partial cell compressible) made the voids a half cell too large (closure rate of a
    cylindrical void, m = 1: 6.4 % too fast with 16 cells on the radius, against 2.8 %)."""
    return _xp_of(xi).clip(1 - 2 * xi, 0.0, 1.0)


@dataclass
class Wall:
    """A wall of a bounded axis. kind: "noslip" (u = 0), "freeslip" (u_n = 0, no shear stress) or
    "traction" (prescribed stress). stress: for "traction", either a number (sigma_nn, shear 0)
    or a callable stress(i, j, coords) -> sigma_ij at the given physical coordinates (a tuple of
    arrays, one per axis), used for sigma_nn on the wall's faces and sigma_nt on its edges."""

    kind: str = "noslip"
    stress: object = 0.0

    def __post_init__(self):
        if self.kind not in WALL_KINDS:
            raise ValueError(f"wall kind: expected one of {WALL_KINDS}, got {self.kind!r}")


def face_shape(shape, periodic, a):
    """The MAC faces normal to axis a of a grid of cells: n + 1 along a bounded axis a."""
    s = list(shape)
    s[a] += 0 if periodic[a] else 1
    return tuple(s)


def unknown_counts(grid):
    """(faces, cells) of the MAC grid of a pfsim Grid (CreepFlow's nface and ncell), without building it."""
    shape, periodic = tuple(grid.shape), tuple(grid.periodic)
    return (sum(int(np.prod(face_shape(shape, periodic, a))) for a in range(len(shape))), int(np.prod(shape)))


@dataclass
class FlowSolution:
    velocity: list  # per axis, the face velocities (m/s), shape: grid shape with n+1 faces on a bounded axis
    pressure: np.ndarray  # at cells (Pa), -mean stress (plane strain: -sigma_zz)
    strain_rate: np.ndarray  # eps_e at cells (1/s)
    iterations: int = 0  # Newton steps
    linear_iterations: int = 0  # GMRES iterations, all steps
    factorisations: int = 0
    residual: float = 0.0  # relative
    converged: bool = False
    history: list = field(default_factory=list)


def _dot(a, b):
    # a plain sum, not BLAS: on a busy CPU a threaded BLAS call can cost milliseconds
    return float((a * b).sum())


def gmres(apply, precondition, b, rtol, restart=30, maxiter=90, stall=None):
    """Right-preconditioned restarted GMRES from x = 0 (modified Gram-Schmidt, Givens rotations):
    (x, iterations, converged: ||b - A x|| <= rtol ||b||), at most maxiter iterations.
    stall: stop also when a restart cycle has reduced the true residual by less than this
    factor (the rounding floor of a matrix-free product reached: a solve "to rounding")."""
    # written for NumPy and CuPy alike: the Krylov vectors live with b, the small Hessenberg
    # system on the host (its entries are the scalars of the dot products)
    xp = _xp_of(b)
    x = xp.zeros_like(b)
    bn = float(np.sqrt(_dot(b, b)))
    if bn == 0:
        return x, 0, True
    r, its, last = b.copy(), 0, None
    while its < maxiter:
        beta = float(np.sqrt(_dot(r, r)))
        if beta <= rtol * bn or (stall is not None and last is not None and beta > stall * last):
            break
        last = beta
        V, Z = [r / beta], []
        H = np.zeros((restart + 1, restart))
        cs, sn = np.zeros(restart), np.zeros(restart)
        g = np.zeros(restart + 1)
        g[0] = beta
        k = 0
        while k < restart and its < maxiter:
            z = precondition(V[k])
            w = apply(z)
            Z.append(z)
            for i in range(k + 1):
                H[i, k] = _dot(w, V[i])
                w -= float(H[i, k]) * V[i]
            hn = H[k + 1, k] = np.sqrt(_dot(w, w))
            for i in range(k):  # earlier rotations
                t = cs[i] * H[i, k] + sn[i] * H[i + 1, k]
                H[i + 1, k] = -sn[i] * H[i, k] + cs[i] * H[i + 1, k]
                H[i, k] = t
            d = np.hypot(H[k, k], H[k + 1, k])
            cs[k], sn[k] = (1.0, 0.0) if d == 0 else (H[k, k] / d, H[k + 1, k] / d)
            H[k, k], H[k + 1, k] = d, 0.0
            g[k + 1] = -sn[k] * g[k]
            g[k] = cs[k] * g[k]
            its += 1
            k += 1
            if abs(g[k]) <= rtol * bn or hn == 0:  # converged, or the Krylov space is exhausted
                break
            V.append(w / float(hn))
        y = np.zeros(k)
        for i in range(k - 1, -1, -1):  # back substitution
            y[i] = (g[i] - _dot(H[i, i + 1:k], y[i + 1:k])) / H[i, i]
        for i in range(k):
            x += float(y[i]) * Z[i]
        r = b - apply(x)
    return x, its, bool(np.sqrt(_dot(r, r)) <= rtol * bn)


def _norm(a):
    return np.sqrt(_dot(a, a))


def _index(shape):
    return np.arange(int(np.prod(shape))).reshape(shape)


def _take(a, axis, sl):
    key = [slice(None)] * a.ndim
    key[axis] = sl
    return a[tuple(key)]


class CreepFlow:
    """The creep-flow problem on a fixed geometry: grid axes, walls and solid cells.

    grid: a pfsim Grid (shape, spacing, periodic axes); walls: {(axis, 0 | 1): Wall} for every
    side of every bounded axis (missing ones are "noslip"); solid: bool array of the grid's
    shape (rigid cells) or None."""

    def __init__(self, grid, walls=None, solid=None):
        self.grid = grid
        self.shape = tuple(grid.shape)
        self.nd = len(self.shape)
        self.h = np.asarray(grid.spacing, dtype=float)  # physical (positions)
        self.length_unit = float(self.h.min())
        self.periodic = tuple(grid.periodic)
        walls = dict(walls or {})
        self.walls = {}
        for a in range(self.nd):
            if self.periodic[a]:
                continue
            for s in (0, 1):
                self.walls[(a, s)] = walls.get((a, s), Wall("noslip"))
        self.solid = np.zeros(self.shape, bool) if solid is None else np.asarray(solid, bool).copy()
        self._build_geometry()

    # --- geometry ------------------------------------------------------------------------------
    def face_shape(self, a):
        return face_shape(self.shape, self.periodic, a)

    def edge_shape(self, a, b):
        s = list(self.shape)
        for c in (a, b):
            s[c] += 0 if self.periodic[c] else 1
        return tuple(s)

    def positions(self, shape_axes_staggered, shape):
        """Physical coordinates (broadcastable) of an array whose axes in the set are staggered
        (faces: origin + (k - 1/2) h) and the rest at cell centres (origin + i h)."""
        out = []
        for a in range(self.nd):
            k = np.arange(shape[a], dtype=float)
            x = self.grid.origin[a] + self.h[a] * (k - 0.5 if a in shape_axes_staggered else k)
            sh = [1] * self.nd
            sh[a] = shape[a]
            out.append(x.reshape(sh))
        return tuple(out)

    def _wall_faces(self, a, s):
        """Boolean mask over faces_a of the faces on wall (a, s)."""
        m = np.zeros(self.face_shape(a), bool)
        if not self.periodic[a]:
            idx = [slice(None)] * self.nd
            idx[a] = 0 if s == 0 else -1
            m[tuple(idx)] = True
        return m

    def _build_geometry(self):
        nd, shape = self.nd, self.shape
        h = self.h / self.length_unit  # the operators work in units of the smallest spacing
        ncell = int(np.prod(shape))
        # global numbering: faces of axis 0, 1, ..., then cells
        self.face_offset, off = [], 0
        for a in range(nd):
            self.face_offset.append(off)
            off += int(np.prod(self.face_shape(a)))
        self.nface, self.ncell = off, ncell
        cells = _index(shape)
        faces = [self.face_offset[a] + _index(self.face_shape(a)) for a in range(nd)]
        self._faces = faces

        # E_a: cells x faces, D_aa = (u[upper face] - u[lower face]) / h_a
        E = []
        for a in range(nd):
            f = faces[a]
            lower = _take(f, a, slice(0, shape[a]))
            upper = np.roll(f, -1, axis=a) if self.periodic[a] else _take(f, a, slice(1, shape[a] + 1))
            r = np.concatenate([cells.ravel(), cells.ravel()])
            c = np.concatenate([upper.ravel(), lower.ravel()])
            v = np.concatenate([np.full(ncell, 1 / h[a]), np.full(ncell, -1 / h[a])])
            E.append(sp.csr_matrix((v, (r, c)), shape=(ncell, self.nface)))
        self.E = E
        # face control-volume factor: 2 on the faces of traction walls (half cells)
        self.face_factor = np.ones(self.nface)
        # Dirichlet (zero-velocity) faces: walls that are not traction walls, faces touching a solid cell
        held = np.zeros(self.nface, bool)
        for a in range(nd):
            f = faces[a]
            for s in (0, 1):
                if self.periodic[a]:
                    continue
                on = self._wall_faces(a, s)
                if self.walls[(a, s)].kind == "traction":
                    self.face_factor[f[on]] = 2.0
                else:
                    held[f[on]] = True
            sol = self.solid
            lo = np.roll(sol, 1, axis=a) if self.periodic[a] else np.concatenate(
                [_take(sol, a, slice(0, 1)), sol], axis=a)  # cell k-1 of face k (mirror at walls)
            hi = sol if self.periodic[a] else np.concatenate([sol, _take(sol, a, slice(-1, None))], axis=a)
            held[f[lo | hi]] = True
        self.held_face = held

        # edges (a < b): Gamma_ab = du_a/db + du_b/da, plain (no ghosts: the transpose is the
        # momentum operator's edge part) and with no-slip ghosts (u = -u across the wall)
        self.pairs = [(a, b) for a in range(nd) for b in range(a + 1, nd)]
        self.G_plain, self.G_ghost, self.edge_prescribed = {}, {}, {}
        for a, b in self.pairs:
            es = self.edge_shape(a, b)
            eidx = _index(es)
            rows, cols, vp, vg = [], [], [], []
            prescribed = np.zeros(es, bool)
            for (c, d) in ((a, b), (b, a)):  # du_c/dd
                fc = faces[c]  # shape: staggered along c; along d cell positions
                n = shape[d]
                if self.periodic[d]:
                    plus = fc  # edge k_d: face at cell k_d ...
                    minus = np.roll(fc, 1, axis=d)  # ... and at cell k_d - 1
                    rows += [eidx.ravel(), eidx.ravel()]
                    cols += [plus.ravel(), minus.ravel()]
                    one = np.full(eidx.size, 1 / h[d])
                    vp += [one, -one]
                    vg += [one, -one]
                else:
                    inner = _take(eidx, d, slice(1, n))
                    rows += [inner.ravel(), inner.ravel()]
                    cols += [_take(fc, d, slice(1, n)).ravel(), _take(fc, d, slice(0, n - 1)).ravel()]
                    one = np.full(inner.size, 1 / h[d])
                    vp += [one, -one]
                    vg += [one, -one]
                    for s, k_edge, k_face, sign in ((0, 0, 0, 1.0), (1, n, n - 1, -1.0)):
                        e = _take(eidx, d, slice(k_edge, k_edge + 1))
                        fcol = _take(fc, d, slice(k_face, k_face + 1))
                        rows.append(e.ravel())
                        cols.append(fcol.ravel())
                        vp.append(np.full(e.size, sign / h[d]))
                        vg.append(np.full(e.size, 2 * sign / h[d]))  # ghost u = -u beyond a no-slip wall
                        if self.walls[(d, s)].kind != "noslip":
                            _take(prescribed, d, slice(k_edge, k_edge + 1))[...] = True
            r, c = np.concatenate(rows), np.concatenate(cols)
            ne = int(np.prod(es))
            Gp = sp.csr_matrix((np.concatenate(vp), (r, c)), shape=(ne, self.nface))
            Gg = sp.csr_matrix((np.concatenate(vg), (r, c)), shape=(ne, self.nface))
            keep = sp.diags((~prescribed).ravel().astype(float))
            self.G_plain[(a, b)] = Gp
            self.G_ghost[(a, b)] = (keep @ Gg).tocsr()
            self.edge_prescribed[(a, b)] = prescribed
        # the momentum operator's parts (rows: all faces): -div of cell stresses and edge stresses
        S = sp.diags(self.face_factor)
        self.Dcell = [(S @ E[a].T).tocsr() for a in range(nd)]
        self.Dedge = {p: self.G_plain[p].T.tocsr() for p in self.pairs}
        self.free_face = np.flatnonzero(~held)
        self.free_cell = np.flatnonzero(~self.solid.ravel())
        self.n_free = len(self.free_face) + len(self.free_cell)
        self.prescribed_any = {p: bool(v.any()) for p, v in self.edge_prescribed.items()}  # host flags
        self._device = None

    def on(self, xp):
        """This geometry with its arrays on the device of the array module xp (itself for NumPy).
        The constant operators E, Dcell, Dedge and G_ghost become cupyx.scipy.sparse CSR matrices
        (one copy to the device; their products are cuSPARSE SpMVs), the masks and index arrays
        device arrays; the walls and the host-side loads stay shared with the host geometry."""
        if xp is np:
            return self
        if self._device is None:
            import cupyx.scipy.sparse as csp

            dev = copy.copy(self)
            dev.E = [csp.csr_matrix(m) for m in self.E]
            dev.Dcell = [csp.csr_matrix(m) for m in self.Dcell]
            dev.Dedge = {p: csp.csr_matrix(m) for p, m in self.Dedge.items()}
            dev.G_ghost = {p: csp.csr_matrix(m) for p, m in self.G_ghost.items()}
            dev.G_plain = None  # the host's only (wall loads)
            dev.edge_prescribed = {p: xp.asarray(v) for p, v in self.edge_prescribed.items()}
            for name in ("solid", "face_factor", "held_face", "free_face", "free_cell"):
                setattr(dev, name, xp.asarray(getattr(self, name)))
            dev._faces = [xp.asarray(f) for f in self._faces]
            self._device = dev
        return self._device

    def free_translation(self):
        """Axes along which a rigid translation is not resisted: no held face of that component,
        no no-slip wall across it (bounded axes' walls shear it), no solid cell."""
        if self.solid.any():
            return []
        out = []
        for a in range(self.nd):
            if self.held_face[self._faces[a]].any():
                continue
            if any(w.kind == "noslip" for (d, s), w in self.walls.items() if d != a):
                continue
            out.append(a)
        return out

    # --- loads ---------------------------------------------------------------------------------
    def _wall_rhs(self):
        """The prescribed wall stresses' share of the momentum right-hand side (all faces)."""
        rhs = np.zeros(self.nface)
        for (a, s), w in self.walls.items():
            if w.kind == "freeslip" or w.kind == "noslip":
                continue
            on = self._wall_faces(a, s)
            if callable(w.stress):  # evaluated on the wall's faces only
                xs = [np.broadcast_to(x, on.shape)[on] for x in self.positions({a}, self.face_shape(a))]
                sig = np.broadcast_to(w.stress(a, a, tuple(xs)), xs[0].shape)
            else:
                sig = float(w.stress)
            f = self._faces[a][on]
            # -(sigma_wall - sigma_in)/(h/2) at the high wall, -(sigma_in - sigma_wall)/(h/2) at the low
            rhs[f] += (2.0 if s == 1 else -2.0) * sig / (self.h[a] / self.length_unit)
        for (a, b) in self.pairs:
            pres = self.edge_prescribed[(a, b)]
            if not pres.any():
                continue
            es = self.edge_shape(a, b)
            tau = np.zeros(es)
            xs = self.positions({a, b}, es)
            for (d, s), w in self.walls.items():
                if d not in (a, b) or w.kind != "traction" or not callable(w.stress):
                    continue
                on = np.zeros(es, bool)
                _take(on, d, slice(0, 1) if s == 0 else slice(es[d] - 1, es[d]))[...] = True
                pts = tuple(np.broadcast_to(x, es)[on] for x in xs)
                tau[on] = np.broadcast_to(w.stress(a, b, pts), pts[0].shape)
            rhs -= self.Dedge[(a, b)] @ (tau * pres).ravel()
        return rhs

    def face_values(self, f):
        """Body force per axis (callables of the face coordinates, arrays, or numbers) as one vector."""
        out = np.zeros(self.nface)
        for a in range(self.nd):
            fa = f[a]
            if callable(fa):
                fa = fa(self.positions({a}, self.face_shape(a)))
            out[self._faces[a].ravel()] = np.broadcast_to(np.asarray(fa, float), self.face_shape(a)).ravel()
        return out

    # --- constitutive ----------------------------------------------------------------------------
    def strain_rates(self, u):
        """eps_e^2 = 2/3 D:D at cells and at the edges of each pair: at a cell, its normal rates and
        the squared shear rates averaged from its computed (not prescribed) edges; at an edge, its
        own shear rate and the rest averaged from its (up to four) cells."""
        xp = _xp_of(u)
        II = xp.zeros(self.ncell)
        for a in range(self.nd):
            II += (self.E[a] @ u) ** 2
        shear_cell, shear_edge = {}, {}
        for (a, b) in self.pairs:
            g = (self.G_ghost[(a, b)] @ u).reshape(self.edge_shape(a, b))
            w = (~self.edge_prescribed[(a, b)]).astype(float)
            num, den = self._edges_to_cells(0.25 * g * g * w, a, b), self._edges_to_cells(w, a, b)
            shear_cell[(a, b)] = 2 * xp.where(den > 0, num / xp.where(den > 0, den, 1), 0.0).ravel()
            shear_edge[(a, b)] = 0.5 * g * g
            II += shear_cell[(a, b)]
        II_edge = {}
        for p in self.pairs:
            rest = (II - shear_cell[p]).reshape(self.shape)
            around = self.cells_around_edges(rest, *p)
            II_edge[p] = (2.0 / 3.0) * (sum(around) / 4 + shear_edge[p])
            if self.prescribed_any[p]:  # the own rate of a prescribed edge is not computed: the cells' average
                cell_II = self.cells_around_edges(II.reshape(self.shape), *p)
                II_edge[p] = xp.where(self.edge_prescribed[p], (2.0 / 3.0) * sum(cell_II) / 4, II_edge[p])
        return (2.0 / 3.0) * II, II_edge

    def strain_rate(self, u):
        return self.strain_rates(u)[0]

    def cells_around_edges(self, c, a, b):
        """The four cells around each edge in the a-b plane, as four edge-shaped arrays (a bounded
        wall mirrors the cell inside)."""
        xp = _xp_of(c)
        outs = [c]
        for d in (a, b):
            new = []
            for out in outs:
                if self.periodic[d]:
                    new += [xp.roll(out, 1, axis=d), out]
                else:
                    pad = xp.concatenate([_take(out, d, slice(0, 1)), out, _take(out, d, slice(-1, None))], axis=d)
                    n = out.shape[d]
                    new += [_take(pad, d, slice(0, n + 1)), _take(pad, d, slice(1, n + 2))]
            outs = new
        return outs

    def _edges_to_cells(self, e, a, b):
        """Sum over the four edges around each cell in the a-b plane."""
        xp = _xp_of(e)
        out = e
        for c in (a, b):
            n = self.shape[c]
            if self.periodic[c]:
                out = out + xp.roll(out, -1, axis=c)
            else:
                out = _take(out, c, slice(0, n)) + _take(out, c, slice(1, n + 1))
        return out

    # --- the linear system ----------------------------------------------------------------------
    def _apply(self, mu_c, mu_e, compliance, pin, x):
        """The saddle-point matrix of `_matrix` times x (free unknowns), without assembling it:
        products of the constant sparse operators and the diagonal viscosities, on x's device
        (`on`). pin: the identity rows' indices (a list or an index array), or None."""
        xp = _xp_of(x)
        ff, fc = self.free_face, self.free_cell
        nf = len(ff)
        u = xp.zeros(self.nface)
        u[ff] = x[:nf]
        P = xp.zeros(self.ncell)
        P[fc] = x[nf:]
        mom = xp.zeros(self.nface)
        div = xp.zeros(self.ncell)
        for a in range(self.nd):
            ea = self.E[a] @ u
            div += ea
            mom += self.Dcell[a] @ (2 * mu_c * ea - P)
        for p in self.pairs:
            mom += self.Dedge[p] @ (mu_e[p].ravel() * (self.G_ghost[p] @ u))
        out = xp.concatenate([mom[ff], -div[fc] - compliance[fc] * P[fc]])
        if pin is not None and len(pin):
            out[pin] = x[pin]
        return out

    def _matrix(self, mu_c, mu_e, compliance, pin):
        nd = self.nd
        K = None
        for a in range(nd):
            term = self.Dcell[a] @ sp.diags(2 * mu_c) @ self.E[a]
            K = term if K is None else K + term
        for p in self.pairs:
            K = K + self.Dedge[p] @ sp.diags(mu_e[p].ravel()) @ self.G_ghost[p]
        K = K.tocsr()
        G = sp.csr_matrix(-sum(self.Dcell[a] for a in range(nd)))  # -div(-P I) = grad P
        Dv = sp.csr_matrix(-sum(self.E[a] for a in range(nd)))  # -div u
        C = sp.diags(compliance).tocsr()
        ff, fc = self.free_face, self.free_cell
        A = sp.bmat([[K[ff][:, ff], G[ff][:, fc]], [Dv[fc][:, ff], -C[fc][:, fc]]], format="csr")
        if pin:  # free levels (module doc of `CreepSolver.solve`): identity rows instead
            keep = np.ones(A.shape[0])
            keep[pin] = 0.0
            one = np.zeros(A.shape[0])
            one[pin] = 1.0
            A = (sp.diags(keep) @ A + sp.diags(one)).tocsr()
        return A


@dataclass
class Material:
    exponent: float  # m
    reference_stress: float  # sigma0 (Pa)
    reference_rate: float  # eps0 (1/s), the Arrhenius factor included

    def viscosity(self, eps_e):
        m = self.exponent
        return self.reference_stress / (3 * self.reference_rate) * (eps_e / self.reference_rate) ** (1.0 / m - 1.0)


class DirectFactor:
    """SuperLU factor of the saddle-point matrix: an exact solve."""

    exact = True

    def __init__(self, A, nf, mu_cells):
        self.lu = spl.splu(A.tocsc())

    def solve(self, r):
        return self.lu.solve(r)


class BlockAMG:
    """Block lower-triangular preconditioner of [[K, G], [D, -C]]: one V-cycle of smoothed
    aggregation (PyAMG) on the symmetrically scaled viscous block K (the face rows of a traction
    wall divided by their factor 2 first, which makes it symmetric), then the pressure from the
    Schur complement approximated by -(C + 1/mu) per cell (the viscosity-scaled pressure mass
    matrix). Near-null space: a constant per velocity component."""

    exact = False

    def __init__(self, A, nf, mu_cells, face_factor, face_axis):
        import pyamg

        A = A.tocsr()
        K = A[:nf, :nf]
        self.D = A[nf:, :nf]
        self.nf = nf
        Ks = (sp.diags(1.0 / face_factor) @ K).tocsr()
        Ks = 0.5 * (Ks + Ks.T)  # symmetric up to rounding
        d = Ks.diagonal()
        self.scale = 1 / np.sqrt(d)
        self.face_factor = face_factor
        Kn = (sp.diags(self.scale) @ Ks @ sp.diags(self.scale)).tocsr()
        B = np.zeros((nf, int(face_axis.max()) + 1))
        B[np.arange(nf), face_axis] = 1.0 / self.scale
        # the coarsest level by sparse LU (pyamg's default, a dense pseudo-inverse, took 28 s on
        # the 16^3 check); the prolongation smoother's weights row by row from Gershgorin
        # ("local"), not from spectral radii estimated by Arnoldi from a random start (half the
        # setup on a busy 2-core CPU, and not reproducible)
        self.ml = pyamg.smoothed_aggregation_solver(Kn, B=B, symmetry="symmetric", max_coarse=500,
                                                    smooth=("jacobi", {"weighting": "local"}),
                                                    presmoother=("gauss_seidel", {"sweep": "symmetric"}),
                                                    postsmoother=("gauss_seidel", {"sweep": "symmetric"}),
                                                    coarse_solver="splu")
        App = A[nf:, nf:].diagonal()
        # identity rows (a held pressure level) keep 1; the others -(C + 1/mu)
        self.schur = np.where(App == 1.0, 1.0, App - 1.0 / mu_cells)

    def _vcycle(self, lvl, b):
        """One V-cycle from x = 0 (pyamg's levels and smoothers, without its solve loop's norms)."""
        levels = self.ml.levels
        A = levels[lvl].A
        x = np.zeros_like(b)
        levels[lvl].presmoother(A, x, b)
        coarse_b = levels[lvl].R @ (b - A @ x)
        if lvl == len(levels) - 2:
            coarse_x = self.ml.coarse_solver(levels[-1].A, coarse_b)
        else:
            coarse_x = self._vcycle(lvl + 1, coarse_b)
        x += levels[lvl].P @ coarse_x
        levels[lvl].postsmoother(A, x, b)
        return x

    def solve(self, r):
        nf = self.nf
        ru = r[:nf] / self.face_factor
        u = self.scale * (self._vcycle(0, self.scale * ru) if len(self.ml.levels) > 1
                          else self.ml.coarse_solver(self.ml.levels[0].A, self.scale * ru))
        p = (r[nf:] - self.D @ u) / self.schur
        return np.concatenate([u, p])


class BlockMultigrid:
    """Block lower-triangular preconditioner of [[K, G], [D, -C]] without an assembled matrix,
    for NumPy and CuPy alike: the viscous block K approximated per velocity component by its
    diagonal block K_aa, each solved by one V-cycle of the geometric multigrid of
    pfsim.solvers.elliptic (`EllipticProblem.from_faces`, on the node grid of the faces normal
    to axis a), then the pressure from the Schur complement approximated by -(C + 1/mu) per
    cell, as in `BlockAMG`.

    K_aa is a scalar variable-coefficient Laplacian: across the cell between two faces along a
    the conductivity 2 mu_c / h_a^2, across the edge between two faces along another axis b
    mu_e / h_b^2; an edge on a no-slip wall of axis b (ghost u = -u) adds 2 mu_e / h_b^2 to the
    diagonal of the face beside it; a prescribed edge (freeslip or traction wall) adds nothing.
    A traction wall's face rows (half control volumes, factor 2 on the cell part) are divided
    by that factor, which makes the block symmetric: their conductivities along the wall and
    their diagonal are halved, the one across the cell stays. Held faces (solid, walls,
    no-penetration) and pinned faces are inactive (Dirichlet) nodes. The couplings between the
    components (the mixed derivatives of the edge stresses) enter by block Gauss-Seidel, the
    components solved in turn with those already found on the right-hand side (`solve`): on the
    2D scenario's Picard matrix GMRES to 1e-8 takes 27 iterations with it, 37 with the
    components independent (block Jacobi), 21 with BlockAMG (AMG on the coupled block) and 11
    with the viscous block solved exactly (the rest is the Schur approximation's)."""

    exact = False

    def __init__(self, flow, backend, mu_c, mu_e, compliance, pin, nf):
        from .elliptic import EllipticProblem

        xp = backend.xp
        self.flow, self.xp, self.nf = flow, xp, nf
        h = flow.h / flow.length_unit
        shape, nd = flow.shape, flow.nd
        mu = mu_c.reshape(shape)
        active = ~flow.held_face
        pin_u = [i for i in pin if i < nf]  # identity rows of velocities (free-face indices)
        self.pin_p = xp.asarray([i - nf for i in pin if i >= nf], dtype=np.int64) if len(pin) > len(pin_u) else None
        self.pins = []  # per component: (its pinned faces, their free-face indices) or None
        if pin_u:
            active = active.copy()
            active[flow.free_face[xp.asarray(pin_u, dtype=np.int64)]] = False
        self.problems, self.segments = [], []
        for a in range(nd):
            mine = [i for i in pin_u if flow.face_offset[a] <= int(flow.free_face[i]) < flow.face_offset[a]
                    + int(np.prod(flow.face_shape(a)))]
            self.pins.append((flow.free_face[xp.asarray(mine, dtype=np.int64)], xp.asarray(mine, dtype=np.int64))
                             if mine else None)
            fs = flow.face_shape(a)
            factor = flow.face_factor[flow._faces[a]]
            c = xp.zeros(fs)
            faces = []
            for b in range(nd):
                if b == a:  # across the cells between consecutive faces
                    K = 2 * mu / h[a] ** 2
                    if not flow.periodic[a]:
                        K = xp.concatenate([K, xp.zeros_like(_take(K, a, slice(0, 1)))], axis=a)
                    faces.append(xp.ascontiguousarray(K))
                    continue
                me = mu_e[(min(a, b), max(a, b))]  # edges: staggered along a and b, the shape of fs elsewhere
                n = shape[b]
                if flow.periodic[b]:  # faces at cells k, k+1 along b share edge k+1
                    K = xp.roll(me, -1, axis=b)
                else:
                    K = xp.concatenate([_take(me, b, slice(1, n)), xp.zeros_like(_take(me, b, slice(0, 1)))], axis=b)
                    for side, k_edge, k_face in ((0, 0, 0), (1, n, n - 1)):
                        if flow.walls[(b, side)].kind == "noslip":
                            _take(c, b, slice(k_face, k_face + 1))[...] += (
                                2 * _take(me, b, slice(k_edge, k_edge + 1)) / h[b] ** 2)
                faces.append(xp.ascontiguousarray(K / (h[b] ** 2 * factor)))
            c = c / factor
            start = flow.face_offset[a]
            size = int(np.prod(fs))
            self.segments.append((start, size, fs))
            mask = active[start:start + size].reshape(fs)
            self.problems.append(EllipticProblem.from_faces(backend, faces, flow.periodic, c=c, mask=mask))
        self.face_factor = flow.face_factor
        self.mu_e = {p: mu_e[p].reshape(-1) for p in flow.pairs}
        fc = flow.free_cell
        self.schur = -(compliance[fc] + 1.0 / mu_c[fc])
        self.cycles = 0

    def solve(self, r):
        """Block Gauss-Seidel over the components (u_a from r_a less the couplings K_ab u_b to
        the components b < a already found: the edge stresses' mixed derivatives, one product
        per pair), then the pressure."""
        xp, fl, nf = self.xp, self.flow, self.nf
        full = xp.zeros(fl.nface)
        full[fl.free_face] = r[:nf]
        u_full = xp.zeros(fl.nface)
        for a, ((start, size, fs), problem) in enumerate(zip(self.segments, self.problems)):
            rhs = full[start:start + size]
            for p in fl.pairs:
                if a in p and min(p) < a:  # K_ab u_b, b < a: the momentum's edge part on the rows of a
                    rhs = rhs - (fl.Dedge[p] @ (self.mu_e[p] * (fl.G_ghost[p] @ u_full)))[start:start + size]
            rhs = rhs / self.face_factor[start:start + size]
            seg = xp.where(problem.active, rhs.reshape(fs), 0.0)
            u_full[start:start + size] = problem._precondition(xp.ascontiguousarray(seg)).reshape(-1)
            if self.pins[a] is not None:  # identity rows
                faces, rows = self.pins[a]
                u_full[faces] = r[rows]
        self.cycles += 1
        u = u_full[fl.free_face]
        div = 0.0
        for a in range(fl.nd):
            div = div + fl.E[a] @ u_full
        p = (r[nf:] + div[fl.free_cell]) / self.schur  # (r_p - D u) / S, D u = -div u
        if self.pin_p is not None:
            p[self.pin_p] = r[nf + self.pin_p]
        return xp.concatenate([u, p])


class _MatrixFree:
    """A linear operator given by its product (what GMRES needs of a matrix)."""

    def __init__(self, dot):
        self.dot = dot


class CreepSolver:
    """One geometry + material: solve(metal, ...) -> FlowSolution. Internally nondimensional:
    lengths in the smallest spacing, stresses in `stress_scale` S, rates in eps0 (S/sigma0)^m."""

    def __init__(self, flow: CreepFlow, material: Material, stress_scale, regularisation=1e-3,
                 void_softness=1e-4, backend=None, method="auto"):
        self.flow, self.mat = flow, material
        self.S = float(stress_scale)
        self.R = material.reference_rate * (self.S / material.reference_stress) ** material.exponent
        self.L = flow.length_unit
        self.reg = regularisation
        self.void_softness = void_softness
        self.backend = backend
        self._rhs_wall = flow._wall_rhs() / self.S  # stresses / scaled length
        self._lu, self._lu_key = None, None
        if method not in METHODS:
            raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
        gpu = backend is not None and getattr(backend, "is_gpu", False)
        if method == "auto":  # SuperLU's fill in 3D grows too fast (16^3 periodic cells: 37 s a factor)
            if gpu:
                method = "multigrid"
            else:
                method = "direct" if flow.nd == 2 and flow.n_free <= DIRECT_MAX_UNKNOWNS else "amg"
        self.method = method
        # the arrays of a solve: the backend's device (in float64) for the matrix-free multigrid
        # path, the host for the assembled ones
        self.kernels = _float64(backend) if method == "multigrid" and backend is not None else HOST
        self.xp = self.kernels.xp
        self.geometry = flow.on(self.xp)
        self._rhs_wall_x = self.xp.asarray(self._rhs_wall)
        self._refactor_after = REFACTOR_AFTER

    def _metal(self, II):
        """The metal's viscosity (scaled) at eps_e^2 = II (scaled rates), regularised (the
        operations of pfsim.kernels.creep_flow.cell_viscosity)."""
        coef, rate, expo, reg2 = self._power_law()
        return coef * (_xp_of(II).sqrt(II + reg2) * rate) ** expo

    def _power_law(self):
        """(coef, rate, expo, reg2) of mu = coef (sqrt(II + reg2) rate)^expo in scaled units."""
        mat = self.mat
        return (mat.reference_stress / (3 * mat.reference_rate) * self.R / self.S, self.R / mat.reference_rate,
                1.0 / mat.exponent - 1.0, self.reg**2)

    def _metal_of_stress(self, sigma_e):
        """The metal's viscosity (scaled) that carries the equivalent stress sigma_e (scaled):
        sigma_e / (3 eps(sigma_e)), bounded by the regularised viscosity of zero rate."""
        m = self.mat.exponent
        with np.errstate(divide="ignore"):
            mu = (self.mat.reference_stress / (3 * self.mat.reference_rate) * self.R / self.S
                  * (sigma_e * self.S / self.mat.reference_stress) ** (1 - m))
        return _xp_of(mu).minimum(mu, self._metal(0.0))

    def _visc(self, u, xi, reference=False, metal=None):
        """Cell and edge viscosities (scaled) and the cells' compliance from the scaled face
        velocities. A cell's viscosity mixes metal and void filler, (1 - w) mu(eps_e) + w mu_void
        (w = void_weight(xi)); an edge's is the harmonic mean over its four cells of that
        mixture, taken at the edge's own strain rate, with a solid cell's fluidity 0 (no slip on
        the solid's faces). reference: the metal at the rate scale everywhere (the first guess);
        metal: (cells, {pair: edges}) metal viscosities to use instead of mu(eps_e).
        Returns (mu_c, mu_e, compliance, (metal at cells, metal at edges))."""
        fl = self.geometry
        xp = _xp_of(xi)
        mu_v = self.void_softness * self.mat.viscosity(self.R * np.sqrt(1 + self.reg**2)) * self.R / self.S
        if reference:
            ref = self.mat.viscosity(self.R) * self.R / self.S
            metal = (xp.full(fl.ncell, ref), {p: xp.full(fl.edge_shape(*p), ref) for p in fl.pairs})
        w = void_weight(xi)
        if metal is None:
            II, II_edge = fl.strain_rates(u)
            metal = (self._metal(II), {p: self._metal(II_edge[p]) for p in fl.pairs})
            # the cells' mixture by the kernel twin (pfsim.kernels.creep_flow: NumPy on the host,
            # the CUDA form on a GPU backend's multigrid path)
            mu_c, _ = ck.cell_viscosity(self.kernels, II, xi, fl.solid.ravel(), *self._power_law(), mu_v)
        else:
            mu_c = (1 - w) * metal[0] + w * mu_v
        solid_g = fl.solid
        mu_e = {}
        for p in fl.pairs:
            mu_m = metal[1][p]
            phi = 0.0
            for x, so in zip(fl.cells_around_edges(w.reshape(fl.shape), *p), fl.cells_around_edges(solid_g, *p)):
                phi = phi + xp.where(so, 0.0, 1.0 / ((1 - x) * mu_m + x * mu_v))
            phi = phi / 4
            mu_e[p] = xp.where(phi > 0, 1.0 / xp.where(phi > 0, phi, 1.0), 0.0)
        compliance = w / mu_v
        return mu_c, mu_e, compliance, metal

    def _stress_update(self, u, metal):
        """Metal viscosities that carry the equivalent stresses 3 mu eps_e of the iterate u under
        the viscosities `metal` (a Picard step on the stress: where the load sets the stress, as
        under a traction, it lands on the power law's viscosity at once)."""
        II, II_edge = self.geometry.strain_rates(u)
        xp = _xp_of(II)
        cells = self._metal_of_stress(3 * metal[0] * xp.sqrt(II))
        edges = {p: self._metal_of_stress(3 * metal[1][p] * xp.sqrt(II_edge[p])) for p in self.geometry.pairs}
        return cells, edges

    def solve(self, metal, body_force=None, x0=None, rtol=1e-8, maxiter=40, newton=True, stress_steps=1):
        """metal: xi at cells (1 metal, 0 void); body_force: per axis (N/m^3; callables of the face
        coordinates, arrays or numbers); x0: a previous FlowSolution (warm start); without it
        the first guess is the flow at the rate scale's viscosity improved by `stress_steps`
        Picard steps on the stress (`_stress_update`)."""
        host, fl, xp = self.flow, self.geometry, self.xp  # fl: the geometry on the solve's device
        if xp is np:
            metal = to_host(metal)  # the assembled paths run on the host (module doc)
        xi = xp.clip(xp.asarray(metal, dtype=np.float64).ravel(), 0.0, 1.0)
        xi = xp.where(fl.solid.ravel(), 1.0, xi)
        b_full = self._rhs_wall_x.copy()
        if body_force is not None:
            b_full += xp.asarray(host.face_values(body_force)) * (self.L / self.S)
        ff, fc = fl.free_face, fl.free_cell
        nf = len(ff)
        b = xp.concatenate([b_full[ff], xp.zeros(len(fc))])
        has_traction = any(w.kind == "traction" for w in fl.walls.values())
        # levels the equations leave free are held by identity rows: the pressure's (no traction
        # wall, no void: P = 0 in the first free cell, for its continuity row, which the others
        # imply) and a rigid translation along an axis no face or wall holds (u_a = 0 on its
        # first face, for its momentum row; the mean velocity is set to zero after the solve)
        pin = []
        if not has_traction and bool((void_weight(xi[fc]) == 0).all()):
            pin.append(nf)
        free_axes = host.free_translation()
        where = np.full(host.nface, -1)
        where[host.free_face] = np.arange(nf)
        for a in free_axes:
            pin.append(int(where[host._faces[a].ravel()[0]]))
        pin_ix = xp.asarray(pin, dtype=np.int64) if pin else None  # on the device once
        if pin:
            b[pin_ix] = 0.0

        def unpack(x):
            u = xp.zeros(fl.nface)
            u[ff] = x[:nf]
            return u

        def residual(x):
            mu_c, mu_e, C, _ = self._visc(unpack(x), xi)
            return fl._apply(mu_c, mu_e, C, pin_ix, x) - b

        bnorm = max(_norm(b), 1e-300)
        if x0 is not None:
            x = xp.concatenate([x0.velocity_scaled[ff], x0.pressure_scaled[fc]])
        else:  # start from the viscosity of the rate scale everywhere
            x = xp.zeros(fl.n_free)
        sol = FlowSolution(None, None, None)

        def build(mu_c, mu_e, C):
            sol.factorisations += 1
            return self._preconditioner(mu_c, mu_e, C, pin, pin_ix)

        made = []  # the inputs of the factors built in this solve (what `lu` is a factor of)

        def factor(x):
            u = unpack(x)
            made.append((u, xi, pin))
            return build(*self._visc(u, xi)[:3])

        def exact_solve(P, A, rhs, tight=False):
            if P.exact:
                return P.solve(rhs)
            # "to rounding": 1e-12, or where the true residual stops falling (a matrix-free
            # product's rounding floor can lie above 1e-12 at a high viscosity contrast)
            y, count, _ = gmres(A.dot, P.solve, rhs, rtol=1e-12 if tight else 0.01 * rtol, maxiter=LINEAR_MAXITER,
                                stall=0.5 if tight else None)
            sol.linear_iterations += count
            return y

        if x0 is None:  # the rate scale's viscosity, then Picard steps on the stress
            metal = None
            for k in range(1 + stress_steps):
                mu_c, mu_e, C, metal = self._visc(None, xi, reference=k == 0, metal=metal)
                x = exact_solve(*build(mu_c, mu_e, C), b)
                if k < stress_steps:
                    metal = self._stress_update(unpack(x), metal)
        r = residual(x)
        rn = _norm(r) / bnorm
        sol.history.append(rn)
        key = (fl.n_free, tuple(pin))
        lu = self._lu if self._lu_key == key else None  # a factor kept from the last solve: a preconditioner still
        for it in range(maxiter):
            if rn <= rtol:
                sol.converged = True
                break
            if not newton:
                lu, A = factor(x)
                x = exact_solve(lu, A, b)
                r = residual(x)
            else:
                fresh = lu is None
                if fresh:
                    lu, _ = factor(x)
                un = _norm(x[:nf])

                def jv(v, x=x, r=r, un=un):
                    # the residual is linear in P and the viscosity depends on u alone: the step
                    # is sized on the velocities (their scale is not the pressures')
                    vn = _norm(v[:nf])
                    eps = 1e-7 * max(un, 1e-300) / vn if vn > 0 else 1.0
                    return (residual(x + eps * v) - r) / eps

                forcing = min(1e-2, 0.1 * rn / max(sol.history[0], 1e-300) + 1e-4)
                dx, count, ok = gmres(jv, lu.solve, -r, rtol=forcing, maxiter=GMRES_MAXITER)
                if (not ok or count > self._refactor_after) and not fresh:  # the kept factor has gone stale
                    (lu, _), fresh = factor(x), True
                    if not ok:
                        dx, more, ok = gmres(jv, lu.solve, -r, rtol=forcing, maxiter=GMRES_MAXITER)
                        count += more
                sol.linear_iterations += count
                if fresh and not lu.exact:  # an inexact preconditioner: stale at twice its fresh count
                    self._refactor_after = max(REFACTOR_AFTER, 2 * count)
                alpha, accepted = 1.0, False
                for _ in range(8):
                    xt = x + alpha * dx
                    rt = residual(xt)
                    if _norm(rt) <= (1 - 1e-4 * alpha) * _norm(r):
                        accepted = True
                        break
                    alpha *= 0.5
                if not accepted:  # a Picard step instead
                    lu, A = factor(x)
                    xt = exact_solve(lu, A, b)
                    rt = residual(xt)
                x, r = xt, rt
            rn = _norm(r) / bnorm
            sol.history.append(rn)
            sol.iterations += 1
        else:
            sol.converged = rn <= rtol
        if newton and (sol.iterations > 0 or (x0 is None and self.method != "direct")):
            # a last Picard step, solved to rounding: it keeps the Newton accuracy of the momentum
            # rows and satisfies the continuity rows exactly, so the metal cells are
            # incompressible to rounding, not to the tolerance (what a tolerance lets through
            # would pass xi = 1 in the advection, and voids.py would trade it for vacancies).
            # Also where the first guess converged, unless SuperLU solved it exactly.
            lu, A = factor(x)
            x = exact_solve(lu, A, b, tight=True)
            r = residual(x)
            rn = _norm(r) / bnorm
            sol.history.append(rn)
            sol.converged = rn <= rtol
        self._lu, self._lu_key = lu, key
        if made:  # every factor built here became `lu`: the last one is it
            self._lu_inputs = made[-1]
        sol.residual = rn
        u = unpack(x)
        for a in free_axes:
            u[fl._faces[a]] -= u[fl._faces[a]].mean()
        P = xp.zeros(fl.ncell)
        P[fc] = x[nf:]
        return self._fill(sol, u, P)

    def _preconditioner(self, mu_c, mu_e, C, pin, pin_ix):
        """(preconditioner, operator) of the Picard matrix of these viscosities: SuperLU's factor,
        the block AMG, or the block multigrid with the matrix-free product."""
        fl = self.geometry
        nf, fc, ff = len(fl.free_face), fl.free_cell, fl.free_face
        if self.method == "multigrid":
            return (BlockMultigrid(fl, self.kernels, mu_c, mu_e, C, pin, nf),
                    _MatrixFree(lambda v: fl._apply(mu_c, mu_e, C, pin_ix, v)))
        A = fl._matrix(mu_c, mu_e, C, pin)
        if self.method == "direct":
            return DirectFactor(A, nf, mu_c[fc]), A
        face_axis = np.zeros(fl.nface, int)
        for a in range(fl.nd):
            face_axis[fl._faces[a].ravel()] = a
        return BlockAMG(A, nf, mu_c[fc], fl.face_factor[ff], face_axis[ff]), A

    def _fill(self, sol, u, P):
        """sol with the fields of the scaled face velocities u and cell pressures P, on the solve's
        device (the host for "direct" and "amg"; `to_host` copies)."""
        fl, xp = self.geometry, self.xp
        sol.velocity_scaled, sol.pressure_scaled = u, P
        V = self.L * self.R
        sol.velocity = [(u[fl._faces[a]] * V) for a in range(fl.nd)]
        sol.pressure = (P * self.S).reshape(fl.shape)
        sol.strain_rate = (xp.sqrt(fl.strain_rate(u)) * self.R).reshape(fl.shape)
        return sol

    # --- what a checkpoint keeps: a resumed run continues with the same warm start and factor ---
    def saved(self):
        """The solver's memory between solves as host arrays: the inputs of the factor kept as
        preconditioner (scaled face velocities, cell xi, pinned rows) and when it goes stale;
        {} where no factor is kept."""
        if self._lu is None or getattr(self, "_lu_inputs", None) is None:
            return {}
        u, xi, pin = self._lu_inputs
        return {"factor_velocity": to_host(u), "factor_xi": to_host(xi), "factor_pin": np.asarray(pin, dtype=float),
                "refactor_after": float(self._refactor_after)}

    def restore(self, saved):
        """Rebuild the kept factor from `saved` (the same matrix, so the same factor) and the
        point at which it goes stale."""
        if not saved:
            return
        xp, fl = self.xp, self.geometry
        u, xi = xp.asarray(saved["factor_velocity"]), xp.asarray(saved["factor_xi"])
        pin = [int(k) for k in saved["factor_pin"]]
        pin_ix = xp.asarray(pin, dtype=np.int64) if pin else None
        lu, _ = self._preconditioner(*self._visc(u, xi)[:3], pin, pin_ix)
        self._lu, self._lu_key, self._lu_inputs = lu, (fl.n_free, tuple(pin)), (u, xi, pin)
        self._refactor_after = int(saved["refactor_after"])

    def solution(self, velocity_scaled, pressure_scaled):
        """A FlowSolution of stored scaled fields (a checkpoint's last flow)."""
        return self._fill(FlowSolution(None, None, None), self.xp.asarray(velocity_scaled),
                          self.xp.asarray(pressure_scaled))


FILL_TOLERANCE = 1e-12  # a compressible cell "fills" past 1 + this


def advect(flow, xi, velocity, dt, inflow=1.0, courant=0.5):
    """Carry the metal fraction xi (cells) with the face velocities over dt: conservative first-order
    upwind fluxes u_f xi_upwind, in equal sub-steps of Courant number <= `courant`. What enters
    through a traction wall carries xi = `inflow` (the metal behind the current collector).

    The velocity is that of the xi it was solved for: a void cell it fills keeps its inflow, so
    the flow stops (for the rest of dt) when the first cell would pass xi = 1; upwind fluxes
    under the Courant limit keep every other cell within [0, 1].
    Returns (xi, volume that entered through the walls: m^3, per metre of depth in 2D, time the
    flow acted: dt or less); the sum of xi times the cell volume changes by exactly that volume
    (held faces carry nothing)."""
    xi = np.asarray(xi, float).copy()
    # only the cells the flow compresses can fill: in the others div u is 0 to the solve's
    # tolerance, and what that lets pass 1 is rounding that voids.py clips
    compressible = void_weight(xi) > 0
    h = flow.h
    rate = np.zeros(flow.shape)  # outflow rate per cell (1/s): the Courant limit
    for a in range(flow.nd):
        u = velocity[a]
        n = flow.shape[a]
        lower = _take(u, a, slice(0, n))
        upper = np.roll(u, -1, axis=a) if flow.periodic[a] else _take(u, a, slice(1, n + 1))
        rate += (np.maximum(upper, 0) - np.minimum(lower, 0)) / h[a]
    cfl = float(rate.max()) * dt
    steps = max(1, int(np.ceil(cfl / courant)))
    tau = dt / steps
    entered, used = 0.0, 0.0
    cell_volume = float(np.prod(h))
    for _ in range(steps):
        change = np.zeros(flow.shape)
        wall_flux = 0.0
        for a in range(flow.nd):
            u = velocity[a]
            n = flow.shape[a]
            if flow.periodic[a]:
                lo_cell, hi_cell = np.roll(xi, 1, axis=a), xi  # face k: cells k-1 and k
            else:
                ends = [np.full_like(_take(xi, a, slice(0, 1)), inflow)]
                lo_cell = np.concatenate(ends + [xi], axis=a)
                hi_cell = np.concatenate([xi] + ends, axis=a)
            flux = np.where(u > 0, u * lo_cell, u * hi_cell)  # m/s, per face area
            lower = _take(flux, a, slice(0, n))
            upper = np.roll(flux, -1, axis=a) if flow.periodic[a] else _take(flux, a, slice(1, n + 1))
            change -= (upper - lower) / h[a]
            if not flow.periodic[a]:
                area = cell_volume / h[a]
                wall_flux += area * float(_take(flux, a, slice(0, 1)).sum() - _take(flux, a, slice(n, n + 1)).sum())
        over = (xi + tau * change > 1.0 + FILL_TOLERANCE) & compressible
        step = tau
        if over.any():  # the flow stops when the first cell fills
            step = min(tau, float(((1.0 - np.minimum(xi, 1.0))[over] / change[over]).min()))
        xi += step * change
        entered += step * wall_flux
        used += step
        if step < tau:
            break
    return xi, entered, used
