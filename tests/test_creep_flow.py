"""The power-law creep-flow solver (pfsim.solvers.creep_flow) against closed forms.

(a) plane Poiseuille flow of a power-law solid between bonded plates (2D and 3D),
(b) closure of a cylindrical void in a power-law solid under remote pressure (plane strain),
(c) Newtonian (m = 1) limit: an exact periodic Stokes flow (2D and 3D) and a layer at rest
    under the stack pressure.
The derivations are in docs/stripping.md, "Solved mechanics"; the errors measured here are
quoted there.
"""

import numpy as np
import pytest

from pfsim.grid import Grid
from pfsim.solvers.creep_flow import CreepFlow, CreepSolver, Material, Wall

SIGMA0, EPS0 = 1.0e6, 0.01  # Pa, 1/s
SQ3 = np.sqrt(3.0)


def _grid(shape, h, periodic, origin=None):
    sides = tuple(("periodic", "periodic") if p else ("no_flux", "no_flux") for p in periodic)
    return Grid(tuple(shape), tuple([h] * len(shape)), tuple(origin or [0.0] * len(shape)), sides)


# --- (a) Poiseuille flow of a power-law solid -------------------------------------------------
def poiseuille_exact(y, H, G, m):
    """u_x(y) for a body force G along x between bonded plates at y = +-H: the shear stress is
    tau = -G y, sigma_e = sqrt(3) |tau|, and du/dy = 2 D_xy = sqrt(3) eps_e with
    eps_e = eps0 (sigma_e/sigma0)^m, so
    u = sqrt(3) eps0 (sqrt(3) G / sigma0)^m (H^(m+1) - |y|^(m+1)) / (m + 1)."""
    return SQ3 * EPS0 * (SQ3 * G / SIGMA0) ** m * (H ** (m + 1) - np.abs(y) ** (m + 1)) / (m + 1)


def poiseuille_error(n, m, ndim=2, method="auto"):
    """Max error of u_x over the channel, relative to its peak, with n cells across 2H."""
    H = 1e-6
    h = 2 * H / n
    shape = [4] * (ndim - 1) + [n]
    grid = _grid(shape, h, [True] * (ndim - 1) + [False])
    walls = {(ndim - 1, 0): Wall("noslip"), (ndim - 1, 1): Wall("noslip")}
    G = 0.5 * SIGMA0 / H  # shear stress 0.5 sigma0 at the plates
    solver = CreepSolver(CreepFlow(grid, walls), Material(m, SIGMA0, EPS0), stress_scale=G * H, method=method)
    sol = solver.solve(np.ones(shape), body_force=[G] + [0.0] * (ndim - 1))
    assert sol.converged, sol.history
    y = grid.coords(ndim - 1) - (n - 1) * h / 2
    exact = poiseuille_exact(y, H, G, m)
    u = sol.velocity[0].reshape(-1, n)
    others = max(float(np.abs(v).max()) for v in sol.velocity[1:])
    assert others <= 1e-8 * exact.max()  # no cross flow
    return float(np.abs(u - exact).max() / exact.max())


@pytest.mark.parametrize("m", [1, 5])
def test_poiseuille_power_law_converges_at_second_order(m):
    e16, e32 = poiseuille_error(16, m), poiseuille_error(32, m)
    order = np.log2(e16 / e32)
    # measured: m = 1: 3.92e-3, 9.78e-4 (order 2.00); m = 5: 5.39e-2, 1.41e-2 (order 1.94)
    assert e32 < {1: 1.2e-3, 5: 1.6e-2}[m]
    assert order > 1.8


def test_poiseuille_at_m7():
    # measured: 2.57e-2 with 32 cells across the channel (9.7e-2 with 16)
    assert poiseuille_error(32, 7) < 3e-2


def test_poiseuille_3d():
    # measured: 5.39e-2 with 16 cells, as in 2D (the flow does not see the third axis)
    assert poiseuille_error(16, 5, ndim=3) < 6e-2


@pytest.mark.slow
def test_poiseuille_fine_grids():
    errs = [poiseuille_error(n, 5) for n in (32, 64, 128)]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert errs[-1] < 1.5e-3 and (orders > 1.8).all(), (errs, orders)


# --- (b) closure of a cylindrical void --------------------------------------------------------
def void_closure_exact(p, m):
    """d ln a / dt for a cylindrical void of radius a in an infinite incompressible power-law
    solid, plane strain, remote pressure p. u_r = -A/r gives eps_rr = -eps_tt = A/r^2,
    eps_e = (2/sqrt3) A/r^2, sigma_rr - sigma_tt = (2/sqrt3) sigma_e; equilibrium from the void
    (sigma_rr = 0) to infinity (sigma_rr = -p): p = (m/sqrt3) sigma0 (2A/(sqrt3 eps0 a^2))^(1/m),
    so d ln a/dt = -A/a^2 = -(sqrt3/2) eps0 (sqrt3 p / (m sigma0))^m."""
    return -(SQ3 / 2) * EPS0 * (SQ3 * p / (m * SIGMA0)) ** m


def void_far_field(a, p, m, shift=0.0):
    """The stress sigma_ij(x, y) of the infinite body round a void of radius a at the origin under
    the remote pressure p (traction-free void), plus a uniform hydrostatic `shift`."""
    A = (SQ3 / 2) * EPS0 * a * a * (SQ3 * p / (m * SIGMA0)) ** m
    C = (m / SQ3) * SIGMA0 * (2 * A / (SQ3 * EPS0)) ** (1 / m)

    def stress(i, j, X):
        x, y = np.broadcast_arrays(*X)
        r = np.hypot(x, y)
        c, s = x / r, y / r
        srr = -p + C * r ** (-2 / m)
        stt = srr - (2 / m) * C * r ** (-2 / m)
        if i == j == 0:
            return srr * c * c + stt * s * s + shift
        if i == j == 1:
            return srr * s * s + stt * c * c + shift
        return (srr - stt) * s * c

    return stress


def void_closure(cells_on_radius, m, box_over_radius=4, p=1.0e6):
    """(measured d ln a/dt, exact, solution) for a void at the centre of a square box whose walls
    carry the exact stresses of the infinite body (so the box size does not matter)."""
    a = 1e-6
    n = int(round(cells_on_radius * box_over_radius))
    h = box_over_radius * a / n
    o = -(n - 1) * h / 2
    grid = _grid((n, n), h, [False, False], origin=[o, o])
    stress = void_far_field(a, p, m)
    walls = {(ax, sd): Wall("traction", stress) for ax in (0, 1) for sd in (0, 1)}
    sub = 8  # metal fraction of a cell: sampled on 8 x 8 points
    x = grid.coords(0)
    k = (np.arange(sub) + 0.5) / sub - 0.5
    X = (x[:, None] + h * k[None, :]).ravel()
    inside = (X[:, None] ** 2 + X[None, :] ** 2) < a * a
    xi = 1 - inside.reshape(n, sub, n, sub).mean(axis=(1, 3))
    solver = CreepSolver(CreepFlow(grid, walls), Material(m, SIGMA0, EPS0), stress_scale=p, regularisation=1e-6)
    sol = solver.solve(xi)
    assert sol.converged, sol.history
    u, v = sol.velocity
    area_rate = (u[-1, :].sum() - u[0, :].sum() + v[:, -1].sum() - v[:, 0].sum()) * h  # inflow: the void shrinks
    void_area = (1 - xi).sum() * h * h
    return area_rate / (2 * void_area), void_closure_exact(p, m), sol


def test_void_closure_newtonian_first_order():
    (r8, ex, _), (r16, _, _) = void_closure(8, 1), void_closure(16, 1)
    e8, e16 = r8 / ex - 1, r16 / ex - 1
    # measured: +6.8 %, +2.8 % (first order: the void's surface is resolved to a cell)
    assert 0 < e16 < 0.04 and e8 / e16 > 1.8


def test_void_closure_power_law():
    rate, exact, _ = void_closure(8, 5)
    # measured: +29 % with 8 cells on the radius (+5.3 % in the equivalent load (rate ratio)^(1/m))
    assert abs(rate / exact - 1) < 0.35


@pytest.mark.slow
@pytest.mark.parametrize("m", [5, 7])
def test_void_closure_power_law_converges(m):
    (r8, ex, _), (r16, _, _) = void_closure(8, m), void_closure(16, m)
    e8, e16 = r8 / ex - 1, r16 / ex - 1
    # measured: m = 5: +29 %, +11 %; m = 7: +44 %, +17 %
    assert 0 < e16 < {5: 0.13, 7: 0.2}[m] and e8 / e16 > 2.0


# --- (c) the Newtonian limit ------------------------------------------------------------------
def periodic_stokes_error(n, ndim, method="auto"):
    """u = (sin x cos y, -cos x sin y) (2D) or (sin x cos y cos z, cos x sin y cos z,
    -2 cos x cos y sin z) (3D), P = 0, is the Stokes flow of the body force f = ndim mu u
    (k = 1, period 2 pi): -mu lap u = ndim mu u, div u = 0."""
    L = 2 * np.pi * 1e-6
    k = 2 * np.pi / L
    grid = _grid([n] * ndim, L / n, [True] * ndim)
    mu = SIGMA0 / (3 * EPS0)
    U = 1e-8  # m/s

    def field(a):
        def f(X):
            s = [np.sin(k * x) for x in X]
            c = [np.cos(k * x) for x in X]
            if ndim == 2:
                return U * (s[0] * c[1] if a == 0 else -c[0] * s[1])
            return U * [s[0] * c[1] * c[2], c[0] * s[1] * c[2], -2 * c[0] * c[1] * s[2]][a]
        return f

    force = [lambda X, a=a: ndim * mu * k * k * field(a)(X) for a in range(ndim)]
    flow = CreepFlow(grid)
    solver = CreepSolver(flow, Material(1.0, SIGMA0, EPS0), stress_scale=mu * U * k, method=method)
    sol = solver.solve(np.ones([n] * ndim), body_force=force)
    err = max(float(np.abs(sol.velocity[a] - field(a)(flow.positions({a}, flow.face_shape(a)))).max())
              for a in range(ndim))
    return err / U


def test_newtonian_periodic_stokes_2d():
    e16, e32 = periodic_stokes_error(16, 2), periodic_stokes_error(32, 2)
    # measured: 1.27e-2, 3.20e-3 (order 1.99)
    assert e32 < 3.5e-3 and np.log2(e16 / e32) > 1.9


def test_newtonian_periodic_stokes_3d():
    e6, e8 = periodic_stokes_error(6, 3), periodic_stokes_error(8, 3)
    # measured: 0.193, 0.098 (order 2.4 between these coarse grids)
    assert e8 < 0.11 and np.log(e6 / e8) / np.log(8 / 6) > 1.8


@pytest.mark.slow
def test_newtonian_periodic_stokes_3d_finer():
    e8, e12 = periodic_stokes_error(8, 3), periodic_stokes_error(12, 3)
    # measured: 0.098, 0.0447 (order 1.93)
    assert e12 < 0.05 and np.log(e8 / e12) / np.log(12 / 8) > 1.8


@pytest.mark.parametrize("method", ["auto", "multigrid"])
@pytest.mark.parametrize("m", [1, 5])
def test_layer_at_rest_under_stack_pressure(m, method):
    """A metal layer bonded to a rigid base with a solid step, pressed by p at the top: at rest,
    P = p everywhere in the metal (incompressible, no void to close)."""
    grid = _grid((12, 10), 1e-7, [True, False])
    solid = np.zeros((12, 10), bool)
    solid[:, :3] = True
    solid[4:7, 3:5] = True
    p = 2e5
    flow = CreepFlow(grid, {(1, 0): Wall("noslip"), (1, 1): Wall("traction", -p)}, solid=solid)
    sol = CreepSolver(flow, Material(m, SIGMA0, EPS0), stress_scale=p, method=method).solve(np.ones((12, 10)))
    V = 1e-7 * EPS0 * (p / SIGMA0) ** m  # the velocity scale h eps(p)
    assert max(float(np.abs(v).max()) for v in sol.velocity) < 1e-9 * V
    assert np.allclose(sol.pressure[~solid], p, rtol=1e-9)


# --- the matrix-free multigrid method (the GPU path, here on NumPy) -----------------------------
@pytest.mark.parametrize("m", [1, 5])
def test_multigrid_poiseuille(m):
    # the same discrete flow as method "direct": the errors of test_poiseuille_power_law_converges_at_second_order
    e16, e32 = poiseuille_error(16, m, method="multigrid"), poiseuille_error(32, m, method="multigrid")
    assert e32 < {1: 1.2e-3, 5: 1.6e-2}[m]
    assert np.log2(e16 / e32) > 1.8
    assert abs(e32 - poiseuille_error(32, m, method="direct")) < 1e-6 * e32


def test_multigrid_poiseuille_3d():
    assert poiseuille_error(16, 5, ndim=3, method="multigrid") < 6e-2


def test_multigrid_newtonian_periodic_stokes():
    e16, e32 = periodic_stokes_error(16, 2, "multigrid"), periodic_stokes_error(32, 2, "multigrid")
    assert e32 < 3.5e-3 and np.log2(e16 / e32) > 1.9
    e6, e8 = periodic_stokes_error(6, 3, "multigrid"), periodic_stokes_error(8, 3, "multigrid")
    assert e8 < 0.11 and np.log(e6 / e8) / np.log(8 / 6) > 1.8


def _stripping_like(shape=(24, 16), m=5, p=2e5, lateral="periodic"):
    """A Li layer on a rigid SSE with a pit in its surface, a void above the surface and a
    partial (phase-field) rim, periodic laterally (or between free-slip walls), the collector a
    traction wall: the geometry of pfsim.models.stripping.creep on a small grid. Returns (flow,
    material, p, xi)."""
    nx, ny = shape
    h = 0.25e-6
    grid = _grid(shape, h, [lateral == "periodic", False])
    solid = np.zeros(shape, bool)
    solid[:, :4] = True
    solid[10:13, 3] = False  # a pit
    solid[2:5, 4] = True  # a step
    X, Y = np.meshgrid(np.arange(nx) * h, np.arange(ny) * h, indexing="ij")
    r = np.hypot(X - 16 * h, Y - 6.5 * h)
    xi = np.clip((r - 2.2 * h) / (1.5 * h), 0.0, 1.0)  # a void of about 3 cells' radius
    walls = {(1, 0): Wall("noslip"), (1, 1): Wall("traction", -p)}
    if lateral != "periodic":
        walls[(0, 0)] = walls[(0, 1)] = Wall(lateral)
    return CreepFlow(grid, walls, solid=solid), Material(m, SIGMA0, EPS0), p, xi


@pytest.mark.parametrize("m, lateral", [(1, "periodic"), (5, "periodic"), (5, "freeslip")])
def test_multigrid_agrees_with_direct_around_a_void(m, lateral):
    flow, mat, p, xi = _stripping_like(m=m, lateral=lateral)
    sols = {}
    for method in ("direct", "multigrid"):
        solver = CreepSolver(flow, mat, stress_scale=p, regularisation=1e-5, method=method)
        assert solver.method == method
        sols[method] = solver.solve(xi, rtol=1e-8)
        assert sols[method].converged, sols[method].history
    d, g = sols["direct"], sols["multigrid"]
    umax = max(float(np.abs(v).max()) for v in d.velocity)
    assert umax > 0
    # both to the solver tolerance 1e-8 of the residual: measured 1e-9 - 1e-8 of the largest velocity
    for a in range(2):
        assert np.abs(g.velocity[a] - d.velocity[a]).max() < 1e-6 * umax
    metal = ~flow.solid
    assert np.abs(g.pressure - d.pressure)[metal].max() < 1e-6 * p
    # the last Picard step to rounding: the metal cells incompressible to rounding
    dense = (xi.ravel() >= 0.5) & metal.ravel()
    div = sum(flow.E[a] @ g.velocity_scaled for a in range(2))
    assert np.abs(div[dense]).max() < 1e-11 * max(float(np.abs(g.velocity_scaled).max()), 1e-300)


def test_multigrid_agrees_with_direct_in_3d():
    """3D: periodic along x, free-slip walls along y, a rigid base with a step, a spherical void
    with a phase-field rim, the collector a traction wall (m = 5)."""
    shape, h, p = (8, 6, 10), 0.25e-6, 2e5
    grid = _grid(shape, h, [True, False, False])
    solid = np.zeros(shape, bool)
    solid[:, :, :3] = True
    solid[1:3, 2:4, 3] = True
    X, Y, Z = np.meshgrid(*[np.arange(n) * h for n in shape], indexing="ij")
    r = np.sqrt((X - 4.5 * h) ** 2 + (Y - 2.5 * h) ** 2 + (Z - 5.5 * h) ** 2)
    xi = np.clip((r - 1.2 * h) / (1.5 * h), 0.0, 1.0)
    walls = {(1, 0): Wall("freeslip"), (1, 1): Wall("freeslip"), (2, 0): Wall("noslip"),
             (2, 1): Wall("traction", -p)}
    flow, mat = CreepFlow(grid, walls, solid=solid), Material(5, SIGMA0, EPS0)
    d, g = (CreepSolver(flow, mat, stress_scale=p, regularisation=1e-5, method=method).solve(xi, rtol=1e-8)
            for method in ("direct", "multigrid"))
    assert d.converged and g.converged
    umax = max(float(np.abs(v).max()) for v in d.velocity)
    for a in range(3):
        assert np.abs(g.velocity[a] - d.velocity[a]).max() < 1e-6 * umax
    assert np.abs(g.pressure - d.pressure)[~solid].max() < 1e-6 * p


def test_multigrid_through_the_cuda_kernels():
    """The multigrid path with a GPU backend's code (the CUDA forms of the elliptic smoother and
    product and of the cell viscosity, run on the CPU by the test shim): the same flow as on
    NumPy."""
    from cuda_shim import harness

    harness.require_gxx()
    flow, mat, p, xi = _stripping_like(shape=(16, 12))
    gpu = CreepSolver(flow, mat, stress_scale=p, regularisation=1e-5, backend=harness.ShimBackend("float64"))
    assert gpu.method == "multigrid"  # "auto" on a GPU backend
    ref = CreepSolver(flow, mat, stress_scale=p, regularisation=1e-5, method="multigrid").solve(xi, rtol=1e-8)
    got = gpu.solve(xi, rtol=1e-8)
    assert got.converged
    umax = max(float(np.abs(v).max()) for v in ref.velocity)
    for a in range(2):
        assert np.abs(got.velocity[a] - ref.velocity[a]).max() < 1e-6 * umax


def test_solver_method_is_checked():
    flow, mat, p, _ = _stripping_like(shape=(8, 8))
    with pytest.raises(ValueError, match="multigrid"):
        CreepSolver(flow, mat, stress_scale=p, method="superlu")
    assert CreepSolver(flow, mat, stress_scale=p).method == "direct"  # auto on the CPU, 2D


def test_solver_config_key():
    from pfsim.config import validate
    from pfsim.errors import ConfigError

    raw = {"name": "t", "grid": {"shape": [8, 8], "spacing": "0.25 um",
                                 "boundaries": {"x": "periodic", "y": "no_flux"}},
           "model": {"kind": "li_stripping", "geometry": {"electrolyte_thickness": "1 um"},
                     "interface": {"width": "0.5 um", "relaxation_time": "60 s"},
                     "creep": {"model": "solved", "solver": "multigrid"}},
           "drive": {"current_density": "1 mA/cm^2", "stack_pressure": "3 MPa"}, "time": {"stop": 1.0}}
    assert validate(raw).model.creep.solver == "multigrid"
    raw["model"]["creep"]["solver"] = "superlu"
    with pytest.raises(ConfigError, match="model.creep.solver"):
        validate(raw)


# --- the solved mechanics in the stripping model ------------------------------------------------
def _stripping_with_void(mode, pressure, solver="auto", surface_tension=True):
    from test_stripping import scenario

    m, s = scenario(shape=(40, 40), spacing="0.2 um", sse="3 um", pressure=pressure, nucleation=False,
                    extra_model={"creep": {"enabled": True, "model": mode, "solver": solver,
                                           "surface_tension": surface_tension}})
    X, Y = m.grid.mesh()
    void = ((X - 4e-6) ** 2 + (Y - 4.2e-6) ** 2) < (0.8e-6) ** 2  # 0.4 um above the SSE
    s["xi"][void & m.li_side] = 0.0
    m._set(s, "initial_li", m.li_content(s))
    return m, s


@pytest.mark.parametrize("solver", ["auto", "multigrid"])
def test_solved_creep_closes_a_void_and_keeps_the_ledger(solver):
    from conftest import advance

    m, s = _stripping_with_void("solved", "3 MPa", solver)
    v0 = m.observables(s, 0.0)["void_volume_fraction"]
    t = advance(m, s, 1.0, 10)
    obs = m.observables(s, t)
    # measured: the void fraction falls from 0.047 to 0.017 in 10 s at 3 MPa (0.043 with the
    # reduced model, whose closure band does not reach it), the Li-site balance holds to 2e-13
    assert obs["void_volume_fraction"] < 0.6 * v0
    assert obs["li_site_balance_error"] < 1e-9
    assert m.ledger(s, "creep_volume") > 0
    assert m._creep["solver"].method == {"auto": "direct"}.get(solver, solver)
    xi = s["xi"]
    assert float(xi.min()) >= 0.0 and float(xi.max()) <= 1.0


def test_solved_creep_is_the_default_and_reduced_an_option():
    from pfsim.physics.parameters import CreepConfig

    assert CreepConfig().model == "solved"
    assert CreepConfig(model="reduced").model == "reduced"
    from conftest import advance

    # no pressure and no surface tension: no flow, nothing booked
    m, s = _stripping_with_void("solved", "0 MPa", surface_tension=False)
    advance(m, s, 1.0, 2)
    assert m.ledger(s, "creep_volume") == 0.0
    # the surface tension alone creeps the metal into the void (tests/test_capillary.py: how much)
    m, s = _stripping_with_void("solved", "0 MPa")
    advance(m, s, 1.0, 2)
    assert m.ledger(s, "creep_volume") > 0.0


def test_solved_creep_in_3d():
    """The 3D path (block-AMG preconditioned Newton-GMRES): a planted void closes under 3 MPa,
    the ledger holds."""
    from conftest import advance
    from pfsim.backend import Backend
    from pfsim.config import validate
    from pfsim.models import build_model

    raw = {
        "name": "t", "seed": 1,
        "grid": {"shape": [10, 10, 16], "spacing": "0.25 um",
                 "boundaries": {"x": "periodic", "y": "periodic", "z": "no_flux"}},
        "model": {"kind": "li_stripping", "geometry": {"electrolyte_thickness": "1 um"},
                  "interface": {"width": "0.5 um", "relaxation_time": "60 s"},
                  "nucleation": {"enabled": False}, "creep": {"model": "solved"}},
        "drive": {"current_density": "1 mA/cm^2", "stack_pressure": "3 MPa"},
        "time": {"stop": 1.0},
    }
    cfg = validate(raw)
    grid = Grid.from_config(cfg.grid)
    m = build_model(cfg.model, grid, Backend("numpy", np.dtype("float64"), "cpu"), drive=cfg.drive, seed=cfg.seed)
    s = m.initial_state()
    X, Y, Z = m.grid.mesh()
    void = ((X - 1.25e-6) ** 2 + (Y - 1.25e-6) ** 2 + (Z - 1.75e-6) ** 2) < (0.6e-6) ** 2
    s["xi"][void & m.li_side] = 0.0
    m._set(s, "initial_li", m.li_content(s))
    v0 = m.observables(s, 0.0)["void_volume_fraction"]
    t = advance(m, s, 1.0, 5)
    obs = m.observables(s, t)
    assert m._creep["solver"].method == "amg"
    # measured: void fraction 0.052 -> 0.021 in 5 s, balance 2.5e-10 (of 5 s of stripping), 6 solves
    assert obs["void_volume_fraction"] < 0.6 * v0
    assert obs["li_site_balance_error"] < 1e-8


@pytest.mark.slow
def test_solved_creep_through_the_cuda_path():
    """The stripping model with the solved flow on a GPU backend's code path (the CUDA kernels
    through the test shim: "auto" is the multigrid method there) against the NumPy path with the
    multigrid method: the same xi after three steps with a closing void."""
    from conftest import advance
    from cuda_shim import harness
    from pfsim.backend import Backend
    from pfsim.config import validate
    from pfsim.models import build_model

    harness.require_gxx()

    def run(backend, solver):
        raw = {
            "name": "t", "seed": 1,
            "grid": {"shape": [24, 24], "spacing": "0.25 um", "boundaries": {"x": "periodic", "y": "no_flux"}},
            "model": {"kind": "li_stripping", "geometry": {"electrolyte_thickness": "2 um"},
                      "interface": {"width": "0.5 um", "relaxation_time": "60 s"},
                      "nucleation": {"enabled": False}, "creep": {"model": "solved", "solver": solver}},
            "drive": {"current_density": "1 mA/cm^2", "stack_pressure": "3 MPa"},
            "time": {"stop": 1.0},
        }
        cfg = validate(raw)
        m = build_model(cfg.model, Grid.from_config(cfg.grid), backend, drive=cfg.drive, seed=cfg.seed)
        s = m.initial_state()
        X, Y = m.grid.mesh()
        void = ((X - 3e-6) ** 2 + (Y - 2.6e-6) ** 2) < (0.6e-6) ** 2
        s["xi"][void & m.li_side] = 0.0
        m._set(s, "initial_li", m.li_content(s))
        v0 = m.observables(s, 0.0)["void_volume_fraction"]
        t = advance(m, s, 1.0, 3)
        return m, s, v0, m.observables(s, t)

    m_np, s_np, v0, o_np = run(Backend("numpy", np.dtype("float64"), "cpu", elliptic="multigrid"), "multigrid")
    m_cu, s_cu, _, o_cu = run(harness.ShimBackend("float64"), "auto")
    assert m_cu._creep["solver"].method == "multigrid" and m_np._creep["solver"].method == "multigrid"
    assert o_np["void_volume_fraction"] < 0.9 * v0 and o_np["li_site_balance_error"] < 1e-9
    assert np.abs(np.asarray(s_cu["xi"]) - s_np["xi"]).max() < 1e-7
    assert o_cu["void_volume_fraction"] == pytest.approx(o_np["void_volume_fraction"], rel=1e-6)


def test_size_dependent_strength():
    """sigma0 = max(sigma0, 100 MPa (L / 1 um)^-0.68) with `size_effect`: 100 MPa at 1 um,
    20.9 MPa at 10 um, the bulk 1 MPa beyond about 0.9 mm; the reduced model's rate scales by
    (sigma0 / sigma0(L))^m."""
    from pfsim.models.stripping.creep import reference_stress, strain_rate
    from pfsim.physics.parameters import CreepConfig

    assert reference_stress(CreepConfig()) == 1e6
    on = dict(size_effect=True)
    assert reference_stress(CreepConfig(**on, size_length=1e-6)) == pytest.approx(1e8)
    assert reference_stress(CreepConfig(**on, size_length=1e-5)) == pytest.approx(1e8 * 10 ** -0.68)
    assert reference_stress(CreepConfig(**on, size_length=1e-3)) == 1e6

    class M:
        creep_rate0 = 0.01

    M.params = type("P", (), {"creep": CreepConfig()})
    bulk = strain_rate(M, 2e6, 1.0, reference_stress(M.params.creep))
    M.params.creep = CreepConfig(**on, size_length=1e-5)
    assert strain_rate(M, 2e6, 1.0, reference_stress(M.params.creep)) == pytest.approx(bulk * (1e6 / (1e8 * 10 ** -0.68)) ** 5)
    with pytest.raises(ValueError, match="size_length"):
        reference_stress(CreepConfig(**on, size_length="contacts"))  # a size the model measures
    assert reference_stress(CreepConfig(size_length="contacts")) == 1e6  # no size effect: the bulk


def _flat_cell(shape, spacing="0.25 um", size_length="contacts"):
    """A flat Li|SSE cell (no roughness, full contact) with the contact-size strength."""
    from pfsim.backend import Backend
    from pfsim.config import validate
    from pfsim.grid import Grid
    from pfsim.models import build_model

    axes = "xyz"[:len(shape)]
    raw = {"name": "t", "grid": {"shape": list(shape), "spacing": spacing,
                                 "boundaries": {a: "periodic" for a in axes[:-1]} | {axes[-1]: "no_flux"}},
           "model": {"kind": "li_stripping", "geometry": {"electrolyte_thickness": "1 um"},
                     "interface": {"width": "0.5 um", "relaxation_time": "60 s"}, "nucleation": {"enabled": False},
                     "creep": {"size_effect": True, "size_length": size_length}},
           "drive": {"current_density": "1 mA/cm^2", "stack_pressure": "1 MPa"}, "time": {"stop": 1.0}}
    cfg = validate(raw)
    m = build_model(cfg.model, Grid.from_config(cfg.grid), Backend("numpy", np.dtype("float64"), "cpu"),
                    drive=cfg.drive, seed=1)
    return m, m.initial_state()


def _open_gaps(m, s, gaps):
    """Voids over the lateral index ranges `gaps` (slices of the lateral axes), on the whole Li side."""
    xi = s["xi"]
    for gap in gaps:
        block = np.zeros(m.grid.shape, bool)
        block[gap] = True
        xi[block & m.li_side] = 0.0
    return xi


def test_contact_size_is_the_mean_patch_width_2d():
    """2D, 40 columns of 0.25 um: full contact = the interface (10 um); gaps leave patches whose
    mean width is the size; a patch cut by the periodic wall counts once; no contact gives one
    spacing."""
    from pfsim.models.stripping.creep import contact_size, creep_strength

    m, s = _flat_cell((40, 24))
    assert contact_size(m, s["xi"]) == pytest.approx(10e-6)
    xi = _open_gaps(m, s, [np.s_[10:14], np.s_[30:36]])  # patches 14..29 (16) and 36..9 wrapped (14)
    assert contact_size(m, xi) == pytest.approx(0.25e-6 * 30 / 2)
    assert creep_strength(m, xi) == pytest.approx(1e8 * 3.75 ** -0.68)
    assert m.observables(s, 0.0)["contact_patch_size"] == pytest.approx(3.75e-6)
    xi[m.li_side] = 0.0
    assert contact_size(m, xi) == pytest.approx(0.25e-6)


def test_contact_size_is_the_equivalent_diameter_3d():
    """3D, 16 x 16 columns of 0.25 um: one 6 x 6 patch, then four 2 x 2 corner patches that the
    periodic walls join into one patch of 16 columns."""
    from pfsim.models.stripping.creep import contact_size

    m, s = _flat_cell((16, 16, 12))
    xi = s["xi"]
    xi[m.li_side] = 0.0
    xi[5:11, 5:11][m.li_side[5:11, 5:11]] = 1.0
    assert contact_size(m, xi) == pytest.approx(2 * np.sqrt(36 * 0.0625e-12 / np.pi))
    xi[m.li_side] = 0.0
    for sx in (np.s_[0:2], np.s_[14:16]):
        for sy in (np.s_[0:2], np.s_[14:16]):
            xi[sx, sy][m.li_side[sx, sy]] = 1.0
    assert contact_size(m, xi) == pytest.approx(2 * np.sqrt(16 * 0.0625e-12 / np.pi))


# --- the CUDA twin of the cell viscosity, through the CPU shim -------------------------------------
@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(37, 23), (9, 8, 13)])
def test_cell_viscosity_cuda_matches_numpy(shape, precision):
    from cuda_shim import harness
    from cuda_shim.cases import numpy_backend
    from pfsim.kernels import creep_flow as ck

    harness.require_gxx()
    rng = np.random.default_rng(3)
    II = 10.0 ** rng.uniform(-12, 2, size=shape)  # scaled rates over the whole range a solve sees
    II.flat[::7] = 0.0
    xi = rng.uniform(0, 1, size=shape)
    xi.flat[::5], xi.flat[1::5], xi.flat[2::11] = 0.0, 1.0, 0.5
    solid = (rng.uniform(size=shape) < 0.2).astype(float)
    args = (0.5, 3.0, 1 / 5 - 1, 1e-10, 1e-4)  # coef, rate, expo (m = 5), reg2, mu_void
    ref = ck.cell_viscosity(numpy_backend(precision), II, xi, solid, *args)
    got = ck.cell_viscosity(harness.ShimBackend(precision), II, xi, solid, *args)
    rtol = {"float64": 1e-12, "float32": 1e-5}[precision]
    for a, b in zip(got, ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=0)
    mu, fluidity = ref
    assert (fluidity[solid != 0] == 0).all() and (mu[xi == 0] == np.asarray(1e-4, mu.dtype)).all()


def _continued(m, s, steps, dt=1.0, t=0.0):
    """A fresh model (as a resumed run builds) continuing a copy of what a checkpoint holds of s."""
    from conftest import advance
    from pfsim.models import build_model

    saved = {name: np.array(s[name]) for name in m.checkpoint_names}
    fresh = build_model(m.params, m.grid, m.backend, drive=m.drive, seed=1)
    advance(fresh, saved, dt, steps, t)
    return saved


@pytest.mark.parametrize("solver", ["auto", "multigrid"])
def test_a_resumed_solved_run_takes_the_uninterrupted_steps(solver):
    """The checkpoint keeps the flow's memory (the last flow, the xi it was solved for, the inputs
    of the factor kept as preconditioner): a fresh model continuing a checkpoint's state re-solves
    where the uninterrupted run does, from the same first guess with the same factor, to the bit;
    without that memory (a checkpoint of an older pfsim) it solves afresh and ends elsewhere."""
    from conftest import advance

    m, s = _stripping_with_void("solved", "1 MPa", solver)
    t = advance(m, s, 1.0, 3)
    assert m._creep["solves"] >= 2 and m._creep["solver"]._lu is not None  # a kept factor to restore
    before = m._creep["solves"]
    from pfsim.solvers.creep_flow import unknown_counts

    geometry = m._creep["geometry"]  # the entry's size comes from the counts, not a built geometry
    assert unknown_counts(m.grid) == (geometry.nface, geometry.ncell)
    resumed = _continued(m, s, 4, t=t)
    advance(m, s, 1.0, 4, t)
    assert m._creep["solves"] > before and m.observables(s, t + 4)["void_volume_fraction"] > 0.04  # solved on, a void
    assert np.array_equal(np.asarray(s["xi"]), resumed["xi"])
    assert np.array_equal(np.asarray(s["ledger"]), resumed["ledger"])

    m, s = _stripping_with_void("solved", "1 MPa", solver)
    t = advance(m, s, 1.0, 3)
    s["creep_flow"] = m.missing_state("creep_flow")  # what a resume of an older checkpoint starts from
    forgot = _continued(m, s, 4, t=t)
    assert not np.array_equal(resumed["xi"], forgot["xi"])
    assert np.abs(resumed["xi"] - forgot["xi"]).max() < 1e-3  # the same flow to the solve's tolerance
