"""The Li surface tension in the solved creep flow (pfsim.solvers.capillary).

A void of radius a under a surface tension gamma and no remote load is loaded as a void with
traction-free surfaces under a remote pressure gamma/a (2D): the two stress fields differ by a
uniform hydrostatic gamma/a, which an incompressible metal does not feel. So the closure rates
must agree, in the closed-form infinite body (tests/test_creep_flow.py) and in the stripping cell
(rigid SSE, traction on the collector). The numbers asserted below are quoted in
docs/stripping.md, "Solved mechanics".
"""

import numpy as np
import pytest

from pfsim.grid import Grid
from pfsim.solvers.capillary import capillary_force, curvature
from pfsim.solvers.creep_flow import CreepFlow, CreepSolver, Material, Wall
from test_creep_flow import EPS0, SIGMA0, void_far_field


def _grid(n, h, ndim=2, periodic=False):
    o = -(n - 1) * h / 2
    side = ("periodic", "periodic") if periodic else ("no_flux", "no_flux")
    return Grid((n,) * ndim, (h,) * ndim, (o,) * ndim, (side,) * ndim)


def _void(grid, radius, width):
    """Metal fraction of a diffuse round void at the grid's centre (xi = 1/2 at the radius)."""
    X = np.meshgrid(*[grid.coords(a) for a in range(grid.ndim)], indexing="ij")
    r = np.sqrt(sum(x * x for x in X))
    return 0.5 * (1 + np.tanh((r - radius) / (np.sqrt(2) * width))), r


@pytest.mark.parametrize("ndim, n", [(2, 64), (2, 128), (3, 48)])
def test_curvature_of_a_round_void(ndim, n):
    """kappa = -(ndim - 1)/r on the level sets round a void."""
    a = 1e-6
    grid = _grid(n, (4e-6 if ndim == 2 else 3e-6) / n, ndim)
    xi, r = _void(grid, a, grid.spacing[0])
    kappa, _ = curvature(CreepFlow(grid), xi)
    w = xi * (1 - xi)  # the interface's cells
    ratio = float((kappa * r / (1 - ndim) * w).sum() / w.sum())
    # measured: 0.99968 and 0.99933 (2D, 64 and 128 cells), 0.99967 (3D)
    assert abs(ratio - 1) < 0.003


def test_flat_surface_carries_no_force():
    grid = _grid(32, 0.1e-6, periodic=True)
    x = grid.coords(1)
    xi = np.broadcast_to(0.5 * (1 + np.tanh(np.sin(2 * np.pi * x / 3.2e-6) / 0.2)), (32, 32))
    flow = CreepFlow(grid)
    force, scale = capillary_force(flow, xi, 0.5)
    g = float(np.abs(curvature(flow, xi)[1][1]).max())
    assert g > 1e6  # there is a surface (|grad xi| up to 1/(0.2 um)) ...
    # ... and no pull: measured 5e8 N/m^3 at most, 3e-4 of what a 1 um curvature would give
    assert max(float(np.abs(f).max()) for f in force) < 1e-3 * 0.5 * 1e6 * g
    assert scale < 0.5 / 100e-6  # what the solve's stress scale reads: a radius beyond 100 um


def _closure(cells, m, tension, width_cells=1.0, p=1e6):
    """d ln a / dt of a round void (radius a = 1 um, `cells` on the radius) in a box whose walls
    carry the infinite body's exact stresses: under a remote pressure p, or under none with the
    surface tension gamma = p a (the walls' stresses shifted by +p)."""
    a, box = 1e-6, 4
    n = int(round(cells * box))
    h = box * a / n
    grid = _grid(n, h)
    stress = void_far_field(a, p, m, shift=p if tension else 0.0)
    flow = CreepFlow(grid, {(ax, sd): Wall("traction", stress) for ax in (0, 1) for sd in (0, 1)})
    xi, _ = _void(grid, a, width_cells * h)
    force = capillary_force(flow, xi, p * a)[0] if tension else None
    sol = CreepSolver(flow, Material(m, SIGMA0, EPS0), stress_scale=p, regularisation=1e-6).solve(xi, body_force=force)
    assert sol.converged, sol.history
    u, v = sol.velocity
    inflow = (u[-1, :].sum() - u[0, :].sum() + v[:, -1].sum() - v[:, 0].sum()) * h
    return inflow / (2 * np.pi * a * a)


def test_surface_tension_closes_a_void_as_the_equivalent_pressure_newtonian():
    r8 = _closure(8, 1, True) / _closure(8, 1, False)
    r16 = _closure(16, 1, True) / _closure(16, 1, False)
    # measured: 0.919 and 0.960 (the pull spread over the diffuse width: first order)
    assert 0 < 1 - r16 < 0.07 and (1 - r8) / (1 - r16) > 1.6


def test_surface_tension_closes_a_void_as_the_equivalent_pressure_power_law():
    ratio = _closure(16, 5, True) / _closure(16, 5, False)
    # measured: rate ratio 0.978 at m = 5, i.e. 0.9955 in the load (rate ~ load^5)
    assert abs(ratio ** (1 / 5) - 1) < 0.02


def _stripping_cell_inflow(pressure, tension, width, R=1.5e-6):
    """Metal taken in through the collector (m^2 per m) in 3 s by a round void of radius R, 0.4 um
    above the SSE, with the interface profile's width (the tanh's, m)."""
    from conftest import advance
    from test_stripping import scenario

    m, s = scenario(shape=(40, 40), spacing="0.2 um", sse="3 um", pressure=pressure, nucleation=False,
                    extra_model={"creep": {"enabled": True, "model": "solved", "surface_tension": tension}})
    X, Y = m.grid.mesh()
    r = np.hypot(X - 4e-6, Y - (3.4e-6 + R))
    s["xi"][m.li_side] = (0.5 * (1 + np.tanh((r - R) / (np.sqrt(2) * width))))[m.li_side]
    m._set(s, "initial_li", m.li_content(s))
    t = advance(m, s, 1.0, 3)
    assert m.observables(s, t)["li_site_balance_error"] < 1e-9
    return m.ledger(s, "creep_volume")


@pytest.mark.parametrize("width", [0.1e-6, 0.2e-6])
def test_stripping_cell_surface_tension_as_stack_pressure(width):
    """In the stripping cell (rigid SSE, the collector a traction wall) the surface tension alone
    moves the metal into a round void as the stack pressure gamma/R does without it (m = 5: the
    inflow goes as the load^5, compared here as the equivalent load)."""
    R = 1.5e-6
    by_pressure = _stripping_cell_inflow(f"{0.5 / R / 1e6} MPa", False, width, R)
    by_tension = _stripping_cell_inflow("0 MPa", True, width, R)
    load = (by_tension / by_pressure) ** (1 / 5)
    # measured: inflow ratio 0.936 and 0.854 (load 0.987 and 0.969) at widths 0.1 and 0.2 um: the
    # diffuse pull loses about a third of width / R
    assert by_pressure > 0 and abs(load - 1) < {0.1e-6: 0.02, 0.2e-6: 0.04}[width]


def test_older_stored_config_resumes_without_surface_tension():
    from pfsim.build import _older_creep

    stored = {"model": {"kind": "li_stripping", "creep": {"model": "solved", "exponent": 5.0}}}
    assert _older_creep(stored)["model"]["creep"]["surface_tension"] is False
    now = {"model": {"kind": "li_stripping", "creep": {"model": "solved", "surface_tension": True}}}
    assert _older_creep(now) == now
    plating = {"model": {"kind": "li_plating", "kinetics": {"creep": {"exponent": 5.0}}}}
    assert _older_creep(plating) == plating


def test_a_plating_store_of_the_reduced_default_days_resumes(in_tmp):
    # a stored plating config lists the stripping model's creep `model` at its old default,
    # `reduced`; plating refuses a non-default value of that key, so the resume drops it
    from conftest import CONFIGS, run_cli
    from pfsim.build import _older_creep
    from pfsim.io.store import RunStore

    cfg = CONFIGS / "filament_plating.yaml"
    small = ["--set", "grid.shape=[24,40]", "--set", "time.max_steps=2", "--set", "output.fields_every=1 s"]
    assert run_cli("run", cfg, "-o", "p.zarr", *small) == 0
    store = RunStore.open("p.zarr")
    creep = store.meta["config"]["model"]["mechanics"]["creep"]
    assert creep["model"] == "solved"
    creep["model"] = "reduced"  # as an older pfsim stored it
    store._commit()
    assert run_cli("run", "--resume", "p.zarr", "--set", "time.max_steps=4") == 0
    cycling = {"model": {"kind": "li_cycling", "plating": {"mechanics": {"creep": {"model": "reduced", "exponent": 5.0}}},
                         "stripping": {"creep": {"model": "reduced"}}}}
    assert _older_creep(cycling)["model"]["plating"]["mechanics"]["creep"] == {"exponent": 5.0}
    assert _older_creep(cycling)["model"]["stripping"]["creep"] == {"model": "reduced"}  # stripping reads it


def test_plating_refuses_the_stripping_surface_tension_key():
    from pfsim.models.plating import MechanicsConfig

    with pytest.raises(ValueError, match="surface_tension"):
        MechanicsConfig(creep={"surface_tension": False})
