"""pfsim.solvers.sparse: the CPU's SuperLU and PyAMG solves of the elliptic problems against the
matrix assembled node by node in test_elliptic, against the matrix-free multigrid CG (the GPU's
algorithm), at high contrast, on singular problems (fallback), after diagonal updates, and in a
stripping run."""

import numpy as np
import pytest
import scipy.sparse.linalg as spl

from cuda_shim import harness
from pfsim.backend import Backend
from pfsim.solvers import EllipticProblem
from pfsim.solvers.sparse import SparseProblem, elliptic_problem
from test_elliptic import MEDIUM, SMALL, _contrast_problem, _manufactured_3d, assemble, make_grid, random_problem

F64 = Backend("numpy", np.dtype("float64"), "cpu")
CASES = {f"small-{n}": v for n, v in SMALL.items()} | MEDIUM


@pytest.mark.parametrize("method", ["direct", "amg"])
@pytest.mark.parametrize("name", CASES)
def test_solve_matches_the_assembled_matrix(name, method):
    g = make_grid(*CASES[name])
    k, c, mask = random_problem(g, seed=21)
    A, active = assemble(g, k, c, mask)
    b = np.random.default_rng(22).standard_normal(g.shape)
    expected = spl.spsolve(A.tocsc(), b.reshape(-1)).reshape(g.shape)
    problem = SparseProblem(g, F64, k, c, mask, method)
    assert (problem.active == active).all()
    np.testing.assert_allclose(problem.apply(expected).reshape(-1), A @ expected.reshape(-1), atol=1e-12 * np.abs(b).max())
    u, info = problem.solve(b, rtol=1e-11)
    assert info.converged and info.scaled_residual <= 1e-11
    np.testing.assert_allclose(u, expected, rtol=0, atol=1e-9 * np.abs(expected).max())
    if method == "direct":
        assert info.iterations == 0 and info.scaled_residual < 1e-14  # one factor, no refinement


@pytest.mark.parametrize("method", ["direct", "amg"])
def test_agrees_with_the_multigrid_cg(method):
    g = make_grid(*MEDIUM["3d-mixed"])
    k, c, mask = random_problem(g, seed=23)
    b = np.random.default_rng(24).standard_normal(g.shape)
    ref, ref_info = EllipticProblem(g, F64, k, c, mask).solve(b, rtol=1e-10)
    u, info = SparseProblem(g, F64, k, c, mask, method).solve(b, rtol=1e-10)
    assert ref_info.converged and info.converged
    # both within rtol of the exact solution: within about twice that of each other
    assert np.abs(u - ref).max() <= 1e-8 * np.abs(ref).max()


@pytest.mark.parametrize("method", ["direct", "amg"])
def test_set_diagonal_matches_a_fresh_problem(method):
    """A new diagonal reuses the ordering (direct) or the aggregates (AMG); the answer is that
    of a problem built from scratch, including when the active set changes."""
    g = make_grid(*MEDIUM["2d-periodic-x"])
    k, c, mask = random_problem(g, seed=25)
    b = np.random.default_rng(26).standard_normal(g.shape)
    problem = SparseProblem(g, F64, k, c, mask, method)
    for c_new in (2.0 * c + 0.5, 1e4 * c + 1e-3, c + 1e3 * (k == 0)):  # the last activates isolated nodes
        problem.set_diagonal(c_new)
        fresh = SparseProblem(g, F64, k, c_new, mask, method)
        assert (problem.active == fresh.active).all()
        (u, info), (v, ref) = problem.solve(b, rtol=1e-11), fresh.solve(b, rtol=1e-11)
        assert info.converged and ref.converged
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-9 * np.abs(v).max())


def test_direct_solves_repeat_bit_for_bit():
    """The factor is taken the same way whatever came before (a resumed run repeats the
    arithmetic of the uninterrupted one)."""
    g = make_grid(*MEDIUM["2d-bounded"])
    k, c, mask = random_problem(g, seed=27)
    b = np.random.default_rng(28).standard_normal(g.shape)
    walked = SparseProblem(g, F64, k, c, mask, "direct")
    walked.solve(b)
    walked.set_diagonal(3 * c)
    walked.solve(b)
    walked.set_diagonal(c + 1.0)
    fresh = SparseProblem(g, F64, k, c + 1.0, mask, "direct")
    assert np.array_equal(walked.solve(b)[0], fresh.solve(b)[0])


@pytest.mark.parametrize("contrast", [1e6, 1e12])
@pytest.mark.parametrize("method", ["direct", "amg"])
def test_high_contrast(contrast, method):
    g, k, mask, b = _contrast_problem("wavy layers", 64, contrast)
    ref, _ = EllipticProblem(g, F64, k, 0.0, mask).solve(b, rtol=1e-11)
    u, info = SparseProblem(g, F64, k, 0.0, mask, method).solve(b, rtol=1e-9)
    assert info.converged and info.scaled_residual <= 1e-9
    assert np.abs(u - ref).max() <= 1e-7


def test_singular_problems():
    """Fully periodic with c = 0: the active block is singular. A compatible b (zero sum) is
    solved (the factor's last pivot is at rounding level); an incompatible one is never reported
    converged: the residual check sends it to the multigrid CG, which says it did not converge."""
    g = make_grid((32, 24), (1.0, 1.0), ("periodic", "periodic"))
    rng = np.random.default_rng(29)
    k = 10.0 ** rng.choice([0, -6], g.shape, p=[0.7, 0.3])
    b = rng.standard_normal(g.shape)
    b -= b.mean()
    problem = SparseProblem(g, F64, k, 0.0, None, "direct")
    u, info = problem.solve(b, rtol=1e-9)
    assert info.converged
    r = b - EllipticProblem(g, F64, k, 0.0).apply(u)
    assert np.abs(r).max() <= 1e-9 * np.abs(b).max()
    u, info = problem.solve(b + 1.0, rtol=1e-9, maxiter=50)
    assert not info.converged and isinstance(problem._fallback, EllipticProblem)


def test_amg_in_3d_is_second_order():
    errors = []
    for n in (8, 16, 32):
        g, k, c, mask, b, exact = _manufactured_3d(n)
        u, info = SparseProblem(g, F64, k, c, mask, "auto").solve(b, rtol=1e-12)
        assert info.converged and info.iterations > 0  # auto: AMG-preconditioned CG in 3D
        errors.append(np.abs(u - exact).max())
    assert (np.log2(np.array(errors[:-1]) / np.array(errors[1:])) > 1.85).all()


def test_float32_backend_gets_float32_fields():
    g = make_grid(*MEDIUM["2d-periodic-x"])
    k, c, mask = random_problem(g, seed=30)
    b = np.random.default_rng(31).standard_normal(g.shape)
    f32 = Backend("numpy", np.dtype("float32"), "cpu")
    u, info = SparseProblem(g, f32, k, c, mask).solve(b, rtol=1e-9)
    v, _ = SparseProblem(g, F64, k, c, mask).solve(b, rtol=1e-12)
    assert u.dtype == np.float32 and info.converged
    assert np.abs(u - v).max() <= 1e-6 * np.abs(v).max()


def test_elliptic_problem_dispatch():
    g = make_grid(*SMALL["2d-bounded"])
    k, c, mask = random_problem(g, seed=32)
    assert isinstance(elliptic_problem(g, F64, k, c, mask), SparseProblem)
    assert isinstance(elliptic_problem(g, F64, k, c, mask, "multigrid"), EllipticProblem)
    assert isinstance(elliptic_problem(g, harness.ShimBackend("float64"), k, c, mask), EllipticProblem)
    with pytest.raises(ValueError, match="method"):
        elliptic_problem(g, F64, k, c, mask, "cholesky")


def test_stripping_with_sparse_solves_follows_the_multigrid_cg():
    """configs/void_stripping.yaml on a 40 x 30 cell for 20 steps of 1 s: the CPU's direct solves
    and the GPU's algorithm (multigrid CG, solves to 1e-12) give the same fields and the same
    nucleation events."""
    from conftest import CONFIGS
    from pfsim.config import load_config
    from pfsim.grid import Grid
    from pfsim.models import build_model

    out = {}
    for method in ("auto", "multigrid"):
        cfg, _ = load_config(CONFIGS / "void_stripping.yaml",
                             ["grid.shape=[40,30]", "model.geometry.pits=[]", "model.potential_tolerance=1e-12"])
        be = Backend("numpy", np.dtype("float64"), "cpu", elliptic=method)
        m = build_model(cfg.model, Grid.from_config(cfg.grid), be, drive=cfg.drive, seed=cfg.seed)
        s = m.initial_state()
        for step in range(20):
            m.euler_step(s, float(step), 1.0)
        out[method] = (s, m.observables(s, 20.0))
    (s_a, o_a), (s_m, o_m) = out["auto"], out["multigrid"]
    assert o_a["void_volume_fraction"] > 0 and o_a["nucleation_events"] == o_m["nucleation_events"]
    for name in ("xi", "supersaturation", "potential"):
        scale = float(np.abs(s_m[name]).max())
        assert np.abs(s_a[name] - s_m[name]).max() <= 1e-8 * scale, name
    for key, value in o_m.items():
        assert o_a[key] == pytest.approx(value, rel=1e-7, abs=1e-12, nan_ok=True), key


@pytest.mark.parametrize("shape,sides", [((6, 1), ("periodic", "periodic")), ((2, 5), ("periodic", "no_flux")),
                                         ((5, 1, 4), ("no_flux", "periodic", "periodic"))])
def test_one_and_two_node_periodic_axes(shape, sides):
    """A periodic axis of one node couples a node to itself (nothing in A); of two nodes, a node to
    its neighbour through two faces (both in A)."""
    g = make_grid(shape, (1.0,) * len(shape), sides)
    k, c, mask = random_problem(g, seed=33)
    A, _ = assemble(g, k, c, mask)
    b = np.random.default_rng(34).standard_normal(g.shape)
    expected = spl.spsolve(A.tocsc(), b.reshape(-1)).reshape(g.shape)
    u, info = SparseProblem(g, F64, k, c, mask, "direct").solve(b, rtol=1e-12)
    assert info.converged and np.abs(u - expected).max() <= 1e-10 * np.abs(expected).max()


def test_a_diagonal_changed_in_place_is_seen():
    """set_diagonal keeps the factor only for an unchanged diagonal, also when the caller hands
    in the same array changed in place."""
    g = make_grid(*MEDIUM["2d-bounded"])
    k, c, mask = random_problem(g, seed=35)
    b = np.random.default_rng(36).standard_normal(g.shape)
    diag = c.copy()
    problem = SparseProblem(g, F64, k, diag, mask, "direct")
    problem.solve(b)
    diag *= 3.0
    problem.set_diagonal(diag)
    u, _ = problem.solve(b)
    v, _ = SparseProblem(g, F64, k, 3.0 * c, mask, "direct").solve(b)
    assert np.array_equal(u, v)


def test_flexible_cg_stops_where_the_search_direction_is_in_the_null_space():
    """A singular A and an incompatible b can leave CG a direction p with p.Ap = 0: it stops
    there (reported as not converged by its caller's residual check), never divides by zero."""
    from pfsim.solvers.pcg import flexible_cg

    A = np.diag([1.0, 0.0])
    b = np.array([0.0, 1.0])
    u, iterations = flexible_cg(lambda x: A @ x, lambda r: r.copy(), lambda *pairs: [float(x @ y) for x, y in pairs],
                                np.linalg.norm, b, np.zeros(2), 1e-9, 50)
    assert iterations == 0 and np.array_equal(u, np.zeros(2))
