"""pfsim.solvers.elliptic: the operator against a matrix assembled here, solves against
scipy's direct solver and against exact or manufactured solutions, robustness at contrasts up
to 1e10 (iteration counts are printed: run with -s), and the CUDA kernels through tests/cuda_shim.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from cuda_shim import harness
from pfsim.backend import Backend, cuda_status, select_backend
from pfsim.grid import Grid
from pfsim.solvers import EllipticProblem
from pfsim.kernels import elliptic as ek

F64 = Backend("numpy", np.dtype("float64"), "cpu")


def make_grid(shape, spacing, sides):
    """sides: 'periodic' or 'no_flux' per axis (Dirichlet walls are inactive nodes here)."""
    return Grid(tuple(shape), tuple(spacing), (0.0,) * len(shape), tuple((s, s) for s in sides))


def assemble(g, k, c, mask):
    """A as the module documents it, node by node: (scipy CSR matrix, active mask)."""
    n, index = g.size, np.arange(g.size).reshape(g.shape)
    entries, faces = {}, np.zeros(n)
    for a in range(g.ndim):
        for i in np.ndindex(*g.shape):
            j = list(i)
            j[a] += 1
            if j[a] == g.shape[a]:
                if not g.periodic[a]:
                    continue  # no face across a bounded wall
                j[a] = 0
            j = tuple(j)
            kf = 2 * k[i] * k[j] / (k[i] + k[j]) / g.spacing[a] ** 2 if k[i] + k[j] > 0 else 0.0
            for p, q in ((index[i], index[j]), (index[j], index[i])):
                entries[p, q] = entries.get((p, q), 0.0) - kf
                entries[p, p] = entries.get((p, p), 0.0) + kf
                faces[p] += kf
    active = mask.reshape(-1) & ((faces > 0) | (c.reshape(-1) > 0))
    rows, cols, vals = [], [], []
    for (p, q), v in entries.items():
        if active[p]:
            rows.append(p), cols.append(q), vals.append(v)
    for p in range(n):
        rows.append(p), cols.append(p), vals.append(c.reshape(-1)[p] if active[p] else 1.0)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n)), active.reshape(g.shape)


def random_problem(g, seed):
    """k with zeros (isolated nodes), c zero on about half the nodes, a random mask."""
    rng = np.random.default_rng(seed)
    k = rng.uniform(0.1, 3.0, g.shape) * (rng.random(g.shape) > 0.15)
    c = rng.uniform(0.0, 2.0, g.shape) * (rng.random(g.shape) > 0.5)
    mask = rng.random(g.shape) > 0.15
    return k, c, mask


SMALL = {  # every pair of axes differs in periodicity somewhere; odd and even counts
    "2d-periodic-x": ((9, 7), (0.7, 1.3), ("periodic", "no_flux")),
    "2d-bounded": ((8, 7), (1.0, 0.6), ("no_flux", "no_flux")),
    "2d-periodic-odd": ((6, 5), (0.8, 1.1), ("periodic", "periodic")),
    "3d-mixed-x": ((5, 6, 4), (0.9, 1.1, 1.3), ("no_flux", "periodic", "periodic")),
    "3d-mixed-y": ((6, 5, 7), (1.2, 0.8, 1.0), ("periodic", "no_flux", "periodic")),
    "3d-bounded": ((4, 5, 6), (1.0, 0.9, 1.1), ("no_flux", "no_flux", "no_flux")),
}

# large enough for several multigrid levels (more than 400 nodes)
MEDIUM = {
    "2d-periodic-x": ((40, 33), (0.7, 1.3), ("periodic", "no_flux")),
    "2d-periodic-odd": ((31, 29), (1.0, 0.9), ("periodic", "periodic")),  # Jacobi-smoothed finest grid
    "2d-bounded": ((24, 37), (0.6, 1.0), ("no_flux", "no_flux")),
    "3d-mixed": ((12, 10, 9), (0.9, 1.1, 1.3), ("no_flux", "periodic", "periodic")),
}


# --- the operator ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SMALL)
def test_matvec_matches_assembled_matrix(name):
    g = make_grid(*SMALL[name])
    k, c, mask = random_problem(g, seed=1)
    A, active = assemble(g, k, c, mask)
    problem = EllipticProblem(g, F64, k, c, mask)
    assert (problem.active == active).all()
    assert (~problem.active & mask).any()  # some isolated nodes were made inactive
    u = np.random.default_rng(2).standard_normal(g.shape)
    expected = (A @ u.reshape(-1)).reshape(g.shape)
    np.testing.assert_allclose(problem.apply(u), expected, rtol=0, atol=1e-13 * np.abs(expected).max())


@pytest.mark.parametrize("name", SMALL)
def test_symmetric_positive_definite_on_active_nodes(name):
    g = make_grid(*SMALL[name])
    k, c, mask = random_problem(g, seed=3)
    problem = EllipticProblem(g, F64, k, c, mask)
    rng = np.random.default_rng(4)
    u, v = (np.where(problem.active, rng.standard_normal(g.shape), 0) for _ in range(2))
    uav, vau = np.vdot(u, problem.apply(v)), np.vdot(v, problem.apply(u))
    assert abs(uav - vau) <= 1e-13 * abs(uav)
    assert np.vdot(u, problem.apply(u)) > 0
    A, active = assemble(g, k, c, mask)
    block = A.toarray()[np.ix_(active.reshape(-1), active.reshape(-1))]
    np.testing.assert_allclose(block, block.T, rtol=0, atol=1e-14 * np.abs(block).max())
    assert np.linalg.eigvalsh(block).min() > 0


def test_rejects_bad_input():
    g = make_grid(*SMALL["2d-bounded"])
    with pytest.raises(ValueError, match="k must be"):
        EllipticProblem(g, F64, -1.0)
    with pytest.raises(ValueError, match="c must be"):
        EllipticProblem(g, F64, 1.0, -np.ones(g.shape))
    with pytest.raises(ValueError, match="preconditioner"):
        EllipticProblem(g, F64, 1.0, 1.0, preconditioner="ilu")
    with pytest.raises(ValueError, match="criterion"):
        EllipticProblem(g, F64, 1.0, 1.0).solve(np.ones(g.shape), criterion="energy")


# --- solves ------------------------------------------------------------------------------------
SOLVE_CASES = {f"small-{n}": SMALL[n] for n in ("2d-periodic-x", "3d-mixed-y")} | MEDIUM


@pytest.mark.parametrize("preconditioner", ["multigrid", "jacobi"])
@pytest.mark.parametrize("name", SOLVE_CASES)
def test_solve_matches_direct_solver(name, preconditioner):
    g = make_grid(*SOLVE_CASES[name])
    k, c, mask = random_problem(g, seed=5)
    A, _ = assemble(g, k, c, mask)
    b = np.random.default_rng(6).standard_normal(g.shape)
    expected = spl.spsolve(A.tocsc(), b.reshape(-1)).reshape(g.shape)
    problem = EllipticProblem(g, F64, k, c, mask, preconditioner=preconditioner)
    u, info = problem.solve(b, rtol=1e-10)
    assert info.converged and info.scaled_residual <= 1e-10
    np.testing.assert_allclose(u, expected, rtol=0, atol=1e-8 * np.abs(expected).max())
    if preconditioner == "multigrid" and name in MEDIUM:
        assert len(problem.multigrid.levels) >= 2 and info.iterations <= 25
    again, info = problem.solve(b, x0=u, rtol=1e-10)  # a converged start stays converged
    assert info.iterations <= 1 and np.abs(again - u).max() <= 1e-9 * np.abs(u).max()


def test_plain_criterion():
    g = make_grid(*MEDIUM["2d-periodic-x"])
    k, c, mask = random_problem(g, seed=7)
    b = np.random.default_rng(8).standard_normal(g.shape)
    u, info = EllipticProblem(g, F64, k, c, mask).solve(b, rtol=1e-9, criterion="plain")
    assert info.converged and info.residual <= 1e-9


def test_set_diagonal_matches_a_fresh_problem():
    g = make_grid(*MEDIUM["2d-periodic-x"])
    k, c, mask = random_problem(g, seed=9)
    b = np.random.default_rng(10).standard_normal(g.shape)
    problem = EllipticProblem(g, F64, k, c, mask)
    for c_new in (2.0 * c + 0.5, c + 1e3 * (k == 0)):  # the second also activates isolated nodes
        problem.set_diagonal(c_new)
        fresh = EllipticProblem(g, F64, k, c_new, mask)
        assert (problem.active == fresh.active).all()
        (u, info), (v, ref) = problem.solve(b), fresh.solve(b)
        assert info.iterations == ref.iterations
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-12 * np.abs(v).max())


@pytest.mark.parametrize("name", ["2d-periodic-x", "3d-mixed"])
def test_from_faces_matches_the_node_conductivities(name):
    """EllipticProblem.from_faces with the face conductivities of k is the problem of k (the same
    operator and the same cycle, so the same iterations and solution); what it is given beyond
    a bounded wall is ignored."""
    from pfsim.solvers.elliptic import face_conductivities

    g = make_grid(*MEDIUM[name])
    k, c, mask = random_problem(g, seed=4)
    b = np.random.default_rng(5).standard_normal(g.shape)
    faces = face_conductivities(g, k)
    for a, K in enumerate(faces):  # junk across the walls of bounded axes
        if not g.periodic[a]:
            K[tuple(-1 if d == a else slice(None) for d in range(g.ndim))] = 7.0
    problem = EllipticProblem.from_faces(F64, faces, g.periodic, c=c, mask=mask)
    ref = EllipticProblem(g, F64, k, c, mask)
    assert (problem.active == ref.active).all()
    x = np.random.default_rng(6).standard_normal(g.shape)
    np.testing.assert_allclose(problem.apply(x), ref.apply(x), rtol=1e-14, atol=0)
    (u, info), (v, want) = problem.solve(b), ref.solve(b)
    assert info.converged and info.iterations == want.iterations
    np.testing.assert_allclose(u, v, rtol=0, atol=1e-12 * np.abs(v).max())
    with pytest.raises(ValueError):
        EllipticProblem.from_faces(F64, [-K for K in faces], g.periodic)


def test_singular_but_compatible():
    """Fully periodic, c = 0: A is singular; b with zero sum still converges."""
    g = make_grid((32, 24), (1.0, 1.0), ("periodic", "periodic"))
    rng = np.random.default_rng(11)
    k = 10.0 ** rng.choice([0, -6], g.shape, p=[0.7, 0.3])
    b = rng.standard_normal(g.shape)
    b -= b.mean()
    problem = EllipticProblem(g, F64, k, 0.0)
    u, info = problem.solve(b, rtol=1e-9, maxiter=200)
    assert info.converged


def _manufactured_2d(n):
    """u = cos(2 pi x) sin(pi y / 2) + y on [0, 1) x [0, 1], k = 1 + sin(2 pi x) sin(pi y) / 2,
    c = 1; x periodic, Dirichlet rows at y = 0 and y = 1."""
    g = make_grid((n, n), (1 / n, 1 / (n - 1)), ("periodic", "no_flux"))
    x, y = np.broadcast_arrays(*g.mesh())
    pi, s2x, c2x = np.pi, np.sin(2 * np.pi * x), np.cos(2 * np.pi * x)
    u = c2x * np.sin(pi * y / 2) + y
    ux, uy = -2 * pi * s2x * np.sin(pi * y / 2), pi / 2 * c2x * np.cos(pi * y / 2) + 1
    lap = -(4 * pi**2 + pi**2 / 4) * c2x * np.sin(pi * y / 2)
    k = 1 + 0.5 * s2x * np.sin(pi * y)
    kx, ky = pi * c2x * np.sin(pi * y), 0.5 * pi * s2x * np.cos(pi * y)
    b = u - (k * lap + kx * ux + ky * uy)
    mask = np.ones(g.shape, bool)
    mask[:, [0, -1]] = False
    b[~mask] = u[~mask]
    return g, k, 1.0, mask, b, u


def _manufactured_3d(n):
    """u = sin(2 pi x) cos(2 pi y) sin(pi z / 2) + z, k = 2, c = 0; x, y periodic, Dirichlet z walls."""
    g = make_grid((n, n, n), (1 / n, 1 / n, 1 / (n - 1)), ("periodic", "periodic", "no_flux"))
    x, y, z = np.broadcast_arrays(*g.mesh())
    shape = np.sin(2 * np.pi * x) * np.cos(2 * np.pi * y) * np.sin(np.pi * z / 2)
    u = shape + z
    b = 2.0 * (8 * np.pi**2 + np.pi**2 / 4) * shape
    mask = np.ones(g.shape, bool)
    mask[:, :, [0, -1]] = False
    b[~mask] = u[~mask]
    return g, 2.0, 0.0, mask, b, u


@pytest.mark.parametrize(("make", "sizes"), [(_manufactured_2d, (16, 32, 64)), (_manufactured_3d, (8, 16, 32))])
def test_manufactured_solution_second_order(make, sizes):
    errors = []
    for n in sizes:
        g, k, c, mask, b, exact = make(n)
        u, info = EllipticProblem(g, F64, k, c, mask).solve(b, rtol=1e-12)
        assert info.converged
        errors.append(np.abs(u - exact).max())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print(f"\n{make.__name__}: max errors {['%.2e' % e for e in errors]}, orders {np.round(orders, 2)}")
    assert (orders > 1.85).all()


# --- high contrast -----------------------------------------------------------------------------
def _contrast_problem(kind, n, contrast):
    """k = 1 (metal) and 1 / contrast (electrolyte); x periodic, u = 0 and 1 held on the y walls."""
    g = make_grid((n, n), (1 / n, 1 / (n - 1)), ("periodic", "no_flux"))
    x, y = np.broadcast_arrays(*g.mesh())
    if kind == "flat layers":
        metal = y < 0.37
    elif kind == "wavy layers":
        metal = y < 0.37 + 0.1 * np.sin(2 * np.pi * x)
    else:  # metal inclusions floating in the electrolyte
        metal = np.zeros(g.shape, bool)
        rng = np.random.default_rng(12)
        for cx, cy, r in rng.uniform([0.0, 0.1, 0.03], [1.0, 0.9, 0.12], (10, 3)):
            dx = (x - cx + 0.5) % 1.0 - 0.5
            metal |= dx**2 + (y - cy) ** 2 < r * r
    k = np.where(metal, 1.0, 1.0 / contrast)
    mask = np.ones(g.shape, bool)
    mask[:, [0, -1]] = False
    b = np.zeros(g.shape)
    b[:, -1] = 1.0
    return g, k, mask, b


def _series_solution(g, k):
    """The exact discrete solution of the flat layers: resistances 1 / K in series along y."""
    column = k[0]
    K = 2 * column[:-1] * column[1:] / (column[:-1] + column[1:]) / g.spacing[1] ** 2
    u = np.concatenate([[0.0], np.cumsum(1 / K)])
    return np.broadcast_to(u / u[-1], g.shape)


@pytest.mark.parametrize("kind", ["flat layers", "wavy layers", "inclusions"])
def test_high_contrast(kind):
    iterations = {}
    for n in (64, 256):
        for contrast in (1.0, 1e4, 1e8, 1e10):
            g, k, mask, b = _contrast_problem(kind, n, contrast)
            u, info = EllipticProblem(g, F64, k, 0.0, mask).solve(b, rtol=1e-8)
            assert info.converged, (n, contrast, info)
            iterations[n, contrast] = info.iterations
            if kind == "flat layers":
                np.testing.assert_allclose(u, _series_solution(g, k), rtol=0, atol=1e-7)
    print(f"\nPCG + multigrid iterations to rtol 1e-8, {kind}:")
    for n in (64, 256):
        print(f"  {n}^2: " + ", ".join(f"contrast {c:g}: {iterations[n, c]}" for c in (1.0, 1e4, 1e8, 1e10)))
    for contrast in (1.0, 1e4, 1e8, 1e10):
        assert iterations[256, contrast] <= 20
        assert iterations[256, contrast] <= iterations[64, contrast] + 10


def test_solve_stops_at_the_problems_rounding_floor():
    # c 1e-9 of the face conductances: rows of A cancel 4e9 times over, so the scaled residual
    # cannot get much below 1e-16 * 4e9; asked for 1e-12, CG must stop there, not restart
    # until maxiter
    g = make_grid((64, 64), (1.0, 1.0), ("periodic", "periodic"))
    c = 1e-9
    b = c * (1e3 + np.random.default_rng(3).standard_normal(g.shape))
    coarse, _ = EllipticProblem(g, F64, 1.0, c).solve(b, rtol=1e-6)
    u, info = EllipticProblem(g, F64, 1.0, c).solve(b, rtol=1e-12)
    assert not info.converged and info.iterations < 50 and info.scaled_residual < 1e-5, info
    np.testing.assert_allclose(u, coarse, rtol=1e-8)


def test_float32():
    backend = Backend("numpy", np.dtype("float32"), "cpu")
    g, k, mask, b = _contrast_problem("wavy layers", 64, 1e4)
    u, info = EllipticProblem(g, backend, k, 0.0, mask).solve(b, rtol=1e-5)
    assert info.converged and u.dtype == np.float32


# --- CUDA kernels through the CPU shim ---------------------------------------------------------
REAL = {"float64": "double", "float32": "float"}
KERNEL_RTOL = {"float64": 1e-13, "float32": 1e-5}


KERNEL_GRIDS = {  # more than one block of threads, none a multiple of 256 nodes
    "2d-periodic-x": ((20, 17), (0.7, 1.3), ("periodic", "no_flux")),
    "2d-periodic-odd": ((15, 13), (0.8, 1.1), ("periodic", "periodic")),  # no red-black here
    "3d-mixed-x": ((11, 8, 6), (0.9, 1.1, 1.3), ("no_flux", "periodic", "periodic")),
    "3d-mixed-y": ((8, 11, 10), (1.2, 0.8, 1.0), ("periodic", "no_flux", "periodic")),
}


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("name", KERNEL_GRIDS)
def test_kernels_match_numpy_forms(name, precision):
    harness.require_gxx()
    g = make_grid(*KERNEL_GRIDS[name])
    k, c, mask = random_problem(g, seed=13)
    problem = EllipticProblem(g, Backend("numpy", np.dtype(precision), "cpu"), k, c, mask)
    level, args, real, rtol = problem.level, ek.level_args(problem.level), REAL[precision], KERNEL_RTOL[precision]
    rng = np.random.default_rng(14)
    u, b = (rng.standard_normal(g.shape).astype(precision) for _ in range(2))

    out = np.full_like(u, np.nan)
    harness.launch(ek.KERNELS, "elliptic_apply", g.size, (u, out) + args, real)
    expected = ek.apply_numpy(problem.backend, level, u)
    np.testing.assert_allclose(out, expected, rtol=0, atol=rtol * np.abs(expected).max())

    for colour in (0, 1) if level.red_black else ():  # colours independent: even periodic axes
        got, expected = u.copy(), u.copy()
        harness.launch(ek.KERNELS, "elliptic_smooth_rb", g.size, (got, b) + args + (np.int32(colour),), real)
        ek.smooth_rb_numpy(problem.backend, level, expected, b, colour)
        np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * np.abs(expected).max())

    out = np.full_like(u, np.nan)
    omega = np.dtype(precision).type(0.8)
    harness.launch(ek.KERNELS, "elliptic_smooth_jacobi", g.size, (u, b, out) + args + (omega,), real)
    expected = ek.smooth_jacobi_numpy(problem.backend, level, u, b, 0.8)
    np.testing.assert_allclose(out, expected, rtol=0, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("name", ["2d-periodic-x", "2d-periodic-odd", "3d-mixed"])
def test_cuda_path_through_shim(name):
    """The solver's CUDA code path (kernels run by the shim) against its NumPy path."""
    harness.require_gxx()
    g = make_grid(*MEDIUM[name])
    k, c, mask = random_problem(g, seed=15)
    b = np.random.default_rng(16).standard_normal(g.shape)
    ref, shim = (EllipticProblem(g, backend, k, c, mask) for backend in (F64, harness.ShimBackend("float64")))
    np.testing.assert_allclose(shim.apply(b), ref.apply(b), rtol=0, atol=1e-13 * np.abs(ref.apply(b)).max())
    (u, info), (v, expected) = shim.solve(b), ref.solve(b)
    assert info.converged and info.iterations == expected.iterations
    np.testing.assert_allclose(u, v, rtol=0, atol=1e-12 * np.abs(v).max())


# --- a real GPU (select with -m gpu) -----------------------------------------------------------
_OK, _WHY = cuda_status()


@pytest.mark.gpu
@pytest.mark.skipif(not _OK, reason=_WHY)
@pytest.mark.parametrize("name", ["2d-periodic-x", "2d-periodic-odd", "3d-mixed"])
def test_cupy_matches_numpy(name):
    gpu = select_backend("cupy", "float64")
    g = make_grid(*MEDIUM[name])
    k, c, mask = random_problem(g, seed=17)
    b = np.random.default_rng(18).standard_normal(g.shape)
    ref, dev = EllipticProblem(g, F64, k, c, mask), EllipticProblem(g, gpu, k, c, mask)
    expected = ref.apply(b)
    np.testing.assert_allclose(gpu.to_host(dev.apply(b)), expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    (u, info), (v, _) = dev.solve(b), ref.solve(b)
    assert info.converged
    np.testing.assert_allclose(gpu.to_host(u), v, rtol=0, atol=1e-9 * np.abs(v).max())


@pytest.mark.parametrize("ratio", [1e2, 1e6, 1e10, 1e13])
def test_plating_contrast(ratio):
    """The plating model's potential problem: a metal anode with a filament into the SSE, the
    counter electrode and the collector held; converges at every metal/SSE conductivity ratio
    up to beyond the physical one (docs/plating.md)."""
    shape = (96, 64)
    g = make_grid(shape, (0.25e-6, 0.25e-6), ("periodic", "no_flux"))
    x, z = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    metal = (z > 38) | ((np.abs(x - 48) < 3) & (z > 19))
    k = np.where(metal, 0.04 * ratio, 0.04)
    mask = np.ones(shape, bool)
    mask[:, 0] = mask[:, -1] = False
    b = np.zeros(shape)
    b[:, -1] = 1.0
    u, info = EllipticProblem(g, F64, k=k, c=np.zeros(shape), mask=mask).solve(b, rtol=1e-9)
    assert info.converged and info.scaled_residual <= 1e-9 and info.iterations <= 20
    assert 0 <= u.min() and u.max() <= 1 + 1e-9  # maximum principle
