"""Stripping model (li_stripping): analytic limits, balances and trends (docs/stripping.md)."""

import numpy as np
import pytest
from scipy.special import erfc

from conftest import advance, CONFIGS, run_cli
from pfsim.backend import Backend
from pfsim.config import ConfigError, load_config, validate
from pfsim.grid import Grid
from pfsim.models import build_model
from pfsim.models.stripping import nucleation, potential
from pfsim.physics.constants import FARADAY, GAS


def scenario(shape=(40, 40), spacing="0.2 um", sse="3 um", current="1 mA/cm^2", pressure="0.2 MPa",
             nucleation=True, creep=True, width="0.5 um", extra_model=None, seed=1, precision="float64",
             creep_model="reduced"):
    # the limits checked here are the reduced creep model's (its planar front at full contact, its
    # feed); the solved flow, the default, has its own checks (tests/test_creep_flow.py)
    model = {
        "kind": "li_stripping",
        "geometry": {"electrolyte_thickness": sse},
        "interface": {"width": width, "relaxation_time": "60 s"},
        "nucleation": {"enabled": nucleation},
        "creep": {"enabled": creep, "model": creep_model},
    }
    model.update(extra_model or {})
    raw = {
        "name": "t", "seed": seed, "grid": {"shape": list(shape), "spacing": spacing,
                                            "boundaries": {"x": "periodic", "y": "no_flux"}},
        "model": model, "drive": {"current_density": current, "stack_pressure": pressure},
        "time": {"stop": 1.0},
    }
    cfg = validate(raw)
    grid = Grid.from_config(cfg.grid)
    m = build_model(cfg.model, grid, Backend("numpy", np.dtype(precision), "cpu"), drive=cfg.drive, seed=cfg.seed)
    return m, m.initial_state()



def test_flat_interface_overpotential_is_butler_volmer():
    m, s = scenario(nucleation=False, creep=False)
    advance(m, s, 0.1, 2)
    obs = m.observables(s, 0.2)
    j, i0 = 10.0, m.params.kinetics.exchange_current_density
    eta = 2 * GAS * m.temperature / FARADAY * np.arcsinh(j / (2 * i0))
    assert abs(obs["interface_overpotential"] - eta) / eta < 0.02
    ohmic = j * 3e-6 / m.params.electrolyte.conductivity  # SSE from the counter electrode to the surface
    assert abs(obs["cell_voltage"] - (eta + ohmic)) / (eta + ohmic) < 0.02


def test_planar_front_moves_at_faraday_velocity():
    # creep at high pressure replaces every stripped atom: a planar front, no vacancies
    m, s = scenario(pressure="5 MPa", nucleation=False)
    L0 = m.li_content(s) / m.lateral_area
    t = advance(m, s, 10.0, 30)
    velocity = (L0 - m.observables(s, t)["li_thickness"]) / t
    expected = 10.0 * m.omega / FARADAY  # 4.85 um/h per mA/cm^2
    assert abs(velocity - expected) / expected < 0.02
    assert float(np.max(s["supersaturation"][m.backend.to_host(m.li_side)])) < 1 + 1e-6


def test_constant_flux_vacancy_profile_matches_analytic():
    # 1D: no sinks, no creep, no nucleation; a Li column much deeper than sqrt(D t)
    m, s = scenario(shape=(3, 260), spacing="0.1 um", sse="1 um", nucleation=False, creep=False, width="0.2 um")
    t_end, steps = 2e-6, 400
    advance(m, s, t_end / steps, steps)
    S = s["supersaturation"][0]
    k0 = int(np.argmax(~m.backend.to_host(m.sse)[0]))
    flux = 10.0 * m.omega / FARADAY / m.x_v0  # S * m/s through the interface
    D, h = m.d_vac, 0.1e-6
    depth = (np.arange(S.size - k0) + 0.5) * h  # the contact is the face below the first Li node
    root = 2 * np.sqrt(D * t_end)
    ierfc = np.exp(-(depth / root) ** 2) / np.sqrt(np.pi) - depth / root * erfc(depth / root)
    analytic = 1 + 2 * flux / D * np.sqrt(D * t_end) * ierfc
    near = depth < 2 * root
    err = np.abs(S[k0:][near] - analytic[near]) / (analytic[0] - 1)
    assert err.max() < 0.02, err.max()
    # the surface value: x_v(0, t) - x_v0 = (2 j Omega / F) sqrt(t / (pi D))
    assert abs((S[k0] - 1) - 2 * flux * np.sqrt(t_end / (np.pi * D))) / (S[k0] - 1) < 0.02


def test_li_sites_balance_over_a_run_with_voids():
    m, s = scenario()
    t = advance(m, s, 2.0, 80)
    obs = m.observables(s, t)
    assert obs["void_volume_fraction"] > 0.01 and obs["void_count"] >= 1
    assert obs["li_site_balance_error"] < 5e-3


def test_float32_run_follows_the_float64_run():
    # x_v0 ~ 3.5e-9: one float32 rounding of xi is worth ~17 in S, so nothing of xi's rounding
    # may reach the vacancy field (it did through the exchange sum: S wandered by 10 % a step)
    runs = {}
    for precision in ("float64", "float32"):
        m, s = scenario(precision=precision)
        t = advance(m, s, 2.0, 40)  # a nucleus grows sub-grid, then as a resolved void
        obs = m.observables(s, t)
        S = s["supersaturation"][m.backend.to_host(m.li_side)].astype(np.float64)
        runs[precision] = (S.mean(), S.max(), obs["void_volume_fraction"], obs["cell_voltage"], obs["contact_fraction"])
    assert runs["float64"][2] > 0.01  # voids grew
    np.testing.assert_allclose(runs["float32"], runs["float64"], rtol=1e-4)


def test_higher_pressure_never_more_voids_and_contact_holds_longer():
    voids, contacts = [], []
    for p in ("0.1 MPa", "0.6 MPa", "2 MPa"):
        m, s = scenario(pressure=p)
        t = advance(m, s, 2.0, 60)
        obs = m.observables(s, t)
        voids.append(obs["void_volume_fraction"])
        contacts.append(obs["contact_fraction"])
    assert all(a >= b - 1e-12 for a, b in zip(voids, voids[1:])), voids
    assert all(a <= b + 1e-12 for a, b in zip(contacts, contacts[1:])), contacts
    assert voids[0] > 0.01 and voids[-1] < 1e-6


def patch_current(width_um):
    """Local current along the interface with one contact patch of the given width (um)."""
    m, s = scenario(shape=(120, 40), spacing="0.25 um", nucleation=False, creep=False)
    x = m.grid.coords(0)
    void = np.abs(x - x.mean()) > width_um * 1e-6 / 2
    li = m.backend.to_host(m.li_side)
    k0 = int(np.argmax(li[0]))
    s["xi"][void, k0:k0 + 4] = 0.0
    V, j = potential.solve(m, s, 10.0)
    jrow = j[:, k0 - 1][~void]
    return jrow.max() / jrow[len(jrow) // 2]


def test_current_crowds_at_patch_edges_more_for_wider_patches():
    narrow, wide = patch_current(4.0), patch_current(20.0)
    assert narrow > 1.0 and wide > narrow, (narrow, wide)


@pytest.mark.parametrize("key,value,message", [
    ("model.electrolyte.conductivity", "-1 S/m", "model.electrolyte.conductivity"),
    ("drive.stack_pressure", "5 mA/cm^2", "expected a pressure"),
    ("model.geometry.pits", '[{center: ["50 um"], width: "1 um", depth: "0.5 um"}]', "outside the domain"),
    ("model.interface.width", "0.1 um", "two grid spacings"),
])
def test_bad_physical_input_is_refused(key, value, message):
    with pytest.raises(ConfigError) as err:
        load_config(CONFIGS / "void_stripping.yaml", [f"{key}={value}"])
    assert message in str(err.value)


def test_stripping_run_resumes_exactly(in_tmp):
    cfg = CONFIGS / "void_stripping.yaml"
    common = ["--backend", "numpy", "--set", "time.stop=120", "--set", "grid.shape=[50,30]", "--set", "seed=3"]
    assert run_cli("run", cfg, "-o", "full.zarr", *common) == 0
    assert run_cli("run", cfg, "-o", "part.zarr", *common, "--set", "time.max_steps=50") == 0
    assert run_cli("run", "--resume", "part.zarr", "--set", "time.max_steps=null") == 0
    import xarray as xr

    a, b = xr.open_zarr("full.zarr"), xr.open_zarr("part.zarr")
    assert np.array_equal(a.xi.values, b.xi.values)
    assert np.array_equal(a.cell_voltage.values, b.cell_voltage.values)


def onset_capacity(j_ma, S_c=1000.0, steps=100):
    """Charge per area stripped when the interface supersaturation first reaches S_c."""
    # Sand-type scaling holds while the diffusion length at onset is below the Li thickness;
    # with Li's D_v (2.7e-6 m^2/s) that takes a mm-thick layer, so the check slows D_v 3000x.
    m, s = scenario(shape=(3, 640), spacing="0.025 um", sse="0.5 um", current=f"{j_ma} mA/cm^2",
                    nucleation=False, creep=False, width="0.05 um",
                    extra_model={"lithium": {"tracer_diffusivity_prefactor": 1.4e-5 / 3000}})
    flux = j_ma * 10 * m.omega / FARADAY
    t_expected = np.pi * m.d_vac * (m.x_v0 * (S_c - 1) / (2 * flux)) ** 2
    dt = 1.5 * t_expected / steps
    k0 = int(np.argmax(m.backend.to_host(m.li_side)[0]))
    t, prev = 0.0, 1.0
    for _ in range(steps):
        m.euler_step(s, t, dt)
        t += dt
        cur = float(s["supersaturation"][0, k0])
        if cur >= S_c:
            assert np.sqrt(m.d_vac * t) < 0.25 * 15e-6  # still semi-infinite
            return j_ma * 10 * (t - dt * (cur - S_c) / (cur - prev))
        prev = cur
    raise AssertionError("no onset")


def test_capacity_at_void_onset_falls_as_one_over_current():
    currents = np.array([1.0, 3.16, 10.0])
    capacity = np.array([onset_capacity(j) for j in currents])
    slope = np.polyfit(np.log(currents), np.log(capacity), 1)[0]
    assert abs(slope + 1) <= 0.1, slope


def contact_loss_current(pressure, currents=(0.25, 0.5, 1.0, 2.0, 4.0), capacity=900.0):
    """Lowest current (mA/cm^2) whose contact falls under 90 % within 0.25 mAh/cm^2 (nuclei hold
    the Li of a critical nucleus: the first resolved void needs about 0.2 mAh/cm^2 of vacancies
    in this 6 um wide cell)."""
    for j in currents:
        m, s = scenario(shape=(24, 24), spacing="0.25 um", current=f"{j} mA/cm^2", pressure=pressure)
        t_end = capacity / (10 * j)
        steps = max(20, int(np.ceil(t_end / 2.5)))
        advance(m, s, t_end / steps, steps)
        if m.observables(s, t_end)["contact_fraction"] < 0.9:
            return j
    return np.inf


def test_current_that_loses_contact_rises_with_pressure():
    low, high = contact_loss_current("0.3 MPa"), contact_loss_current("0.6 MPa")
    assert high > low, (low, high)


def test_potential_converges_under_grid_refinement():
    """Cell voltage of a cell with one contact patch at h, h/2, h/4: observed order ~2."""
    volts = []
    for n, h in ((40, 0.5), (80, 0.25), (160, 0.125)):
        m, s = scenario(shape=(n, n // 2), spacing=f"{h} um", sse="5 um", nucleation=False, creep=False, width="1 um")
        x = m.grid.coords(0)
        li = m.backend.to_host(m.li_side)
        k0 = int(np.argmax(li[0]))
        void = np.abs(x - x.mean() - 0.5 * h * 1e-6) > 5e-6  # a 10 um patch (edges between nodes)
        s["xi"][void, k0:] = 0.0
        volts.append(potential.solve(m, s, 10.0)[0])
    e1, e2 = volts[0] - volts[1], volts[1] - volts[2]
    order = np.log2(abs(e1 / e2))
    assert abs(e2) < abs(e1) and order > 0.8, (volts, order)


@pytest.mark.parametrize("name", ["void_stripping.yaml", "void_stripping_3d.yaml", "gpu/void_stripping_large.yaml"])
def test_scenarios_validate(name):
    assert run_cli("validate", CONFIGS / name) == 0


def test_3d_scenario_steps_and_conserves(in_tmp):
    assert run_cli("run", CONFIGS / "void_stripping_3d.yaml", "--backend", "numpy", "-o", "s.zarr",
                   "--set", "time.max_steps=6", "--set", "grid.shape=[16,16,20]",
                   "--set", "output.observables_every=2") == 0
    import xarray as xr

    ds = xr.open_zarr("s.zarr")
    assert ds.xi.dims == ("time", "x", "y", "z")
    assert float(ds.li_site_balance_error[-1]) < 5e-3
    assert 5.0 < float(ds.cell_voltage[-1]) * 1e3 < 50.0


def test_first_voids_nucleate_at_the_surface_defect():
    m, s = scenario(shape=(60, 40), extra_model={"geometry": {"electrolyte_thickness": "3 um",
                    "pits": [{"center": ["4 um"], "width": "1 um", "depth": "0.6 um"}]}})
    advance(m, s, 2.0, 1)
    nuclei = np.flatnonzero(m.subgrid(s) > 0)  # columns holding a (sub-grid) void
    assert len(nuclei) and np.all(np.abs(m.grid.coords(0)[nuclei] - 4e-6) < 1.5e-6), nuclei


def plant_void(m, state, center):
    """Plant a resolved void seed at the node of whole-grid index `center` by hand: up to half of
    the vacancy excess goes into it, the rest of its Li is displaced into the bulk (ledger
    `displaced_volume`, so Li sites stay conserved)."""
    xp = m.xp
    xi, S = state["xi"], state["supersaturation"]
    new = xp.where(m.li_side, xp.minimum(xi, nucleation.seed_profile(m, center)), 0.0)
    removed, available = m.extent.total(xi - new, xp.maximum(S - 1, 0) * m.li_side)
    removed *= m.node_volume  # m^3 of metal lattice turned to void
    available *= m.x_v0 * m.node_volume
    from_vacancies = min(removed, 0.5 * available)
    if available > 0:
        S -= xp.maximum(S - 1, 0) * m.li_side * (from_vacancies / available)
    m._add(state, "displaced_volume", removed - from_vacancies)
    xi[...] = new


def void_growth(dt, t_end=24.0):
    """Contact fraction after t_end with one planted void, nucleation off (no random draws)."""
    m, s = scenario(shape=(40, 30), nucleation=False)
    plant_void(m, s, np.unravel_index(int(m.column_interface.ravel()[20]), m.grid.shape))
    advance(m, s, dt, int(round(t_end / dt)))
    return m.observables(s, t_end)["contact_fraction"]


def test_void_growth_converges_under_time_step_refinement():
    c = [void_growth(dt) for dt in (2.0, 1.0, 0.5)]
    e1, e2 = c[0] - c[1], c[1] - c[2]
    order = np.log2(abs(e1 / e2))
    assert abs(e2) < abs(e1) and 0.7 < order < 1.5, (c, order)  # first order (operator splitting)


def test_contact_failure_ends_the_run_cleanly(in_tmp, capsys):
    # a high current at no pressure: voids spread until the voltage limit is reached
    assert run_cli("run", CONFIGS / "void_stripping.yaml", "--backend", "numpy", "-o", "s.zarr",
                   "--set", "grid.shape=[40,30]", "--set", "drive.current_density=10 mA/cm^2",
                   "--set", "drive.stack_pressure=0", "--set", "model.voltage_limit=0.05 V",
                   "--set", "time.stop=600") == 0
    import xarray as xr

    meta = xr.open_zarr("s.zarr").attrs["pfsim"]
    assert meta["status"] == "ended" and "contact failure" in meta["stop_reason"]
    assert meta["time"] < 600
    assert run_cli("run", "--resume", "s.zarr") == 2


def test_a_model_rebuilt_from_the_checkpoint_observes_what_the_run_did():
    # the last step's diagnostics (peak local current density, interface overpotential) are part
    # of the checkpointed state: a resumed run's first sample equals the uninterrupted run's
    m, s = scenario(shape=(20, 30), pressure="0.1 MPa")
    t = advance(m, s, 2.0, 3)
    resumed = {name: np.array(s[name]) for name in m.checkpoint_names}
    fresh, _ = scenario(shape=(20, 30), pressure="0.1 MPa")
    for _ in range(2):
        a, b = m.observables(s, t), fresh.observables(resumed, t)
        assert "peak_local_current_density" in b and "interface_overpotential" in b
        assert a == b
        advance(m, s, 2.0, 1, t)
        t = advance(fresh, resumed, 2.0, 1, t)


def interface_supersaturation(li_um, foil, sink, times):
    """Peak interface S at `times` of a 1D column with li_um of resolved Li, nucleation and creep off."""
    n = 4 + int(round(li_um / 0.25))
    m, s = scenario(shape=(3, n), spacing="0.25 um", sse="0.875 um", nucleation=False, creep=False, pressure="0",
                    extra_model={"lithium": {"foil_thickness": foil, "sink_length": sink}})
    out, t = [], 0.0
    for end in times:
        while t < end * (1 - 1e-12):
            dt = min(end - t, max(t, 1e-7) * 0.25)
            m.euler_step(s, t, dt)
            t += dt
        out.append(m.sites_of(s["supersaturation"]).max())
    assert m.observables(s, t)["li_site_balance_error"] < 1e-6
    return np.array(out)


@pytest.mark.parametrize("sink", [None, "2 um"])
def test_the_unresolved_foil_stands_for_resolved_li(sink):
    # 4 um resolved + 16 um as the far-field condition against 20 um resolved: the same interface
    # supersaturation once the foil has equilibrated (t >> L^2 / D_v = 0.15 ms)
    times = [1e-3, 1e-2]
    full = interface_supersaturation(20, None, sink, times)
    part = interface_supersaturation(4, "20 um", sink, times)
    assert np.abs(part / full - 1).max() < 0.01, (part, full)


def void_onset(j_ma, li_um, foil="100 um", sink=None, t_max=7.2e4):
    """Charge (uAh/cm^2) stripped when the first nucleus is born: a 2 um wide column, h = 0.25 um,
    li_um of resolved Li, no pressure or creep; steps from 1 ms growing 1.2x to 60 s."""
    m, s = scenario(shape=(8, 4 + int(round(li_um / 0.25))), spacing="0.25 um", sse="0.875 um",
                    current=f"{j_ma} mA/cm^2", pressure="0", creep=False,
                    extra_model={"lithium": {"foil_thickness": foil, "sink_length": sink}})
    t, dt = 0.0, 1e-3
    while t < t_max:
        m.euler_step(s, t, dt)
        t += dt
        if m.ledger(s, "nucleation_events") >= 1:
            return m.ledger(s, "charge") / 3.6
        dt = min(1.2 * dt, 60.0)
    return np.inf


def test_void_onset_converges_with_the_resolved_li_thickness():
    # with the foil's far-field condition the onset does not depend on how much of the foil is
    # resolved; with a no-flux collector at the resolved layer it grows with the layer
    for j in (0.1, 1.0):
        foil = [void_onset(j, li) for li in (2, 4, 8, 16)]
        assert np.ptp(foil) / np.mean(foil) < 0.02, (j, foil)
        bare = [void_onset(j, li, foil=None) for li in (2, 16)]
        assert bare[1] > 3 * bare[0] and bare[1] < 0.5 * foil[0], (j, bare, foil)


def void_contact_angle(work_of_adhesion, h=0.2, n=40, nz=30, steps=800, relaxation="curvature_flow", relax_for=None):
    """Apparent contact angle (deg) of a void relaxed on a flat SSE, from its footprint half-width
    a and height H (a circular cap: H / a = tan(theta / 2)); no current, nucleation, creep.
    relax_for: the time in units of R^4 / B (surface diffusion), else `steps` model steps."""
    m, s = scenario(shape=(n, nz), spacing=f"{h} um", sse="1.5 um", current="1e-6 mA/cm^2", pressure="0",
                    nucleation=False, creep=False, width=f"{2.5 * h} um",
                    extra_model={"interface": {"width": f"{2.5 * h} um", "work_of_adhesion": work_of_adhesion,
                                               # surface diffusion: the step of l^4 / B, no bound
                                               "relaxation_time": "1 s" if relax_for is None else "1e6 s",
                                               "relaxation": relaxation}})
    k0 = int(m.column_height_index[n // 2])
    xi = s["xi"]
    radius = 1.2e-6
    xi[...] = np.where(m.li_side, np.minimum(xi, nucleation.seed_profile(m, (n // 2, k0), radius)), 0.0)
    if relax_for is not None:
        t_end = relax_for * radius**4 / m.surface_b
        steps = int(np.ceil(t_end / (0.5 * m.stability_limit())))
        advance(m, s, t_end / steps, steps)
    else:
        advance(m, s, 0.5 * m.stability_limit(), steps)
    void = (s["xi"] < 0.5) & m.li_side
    a, H = void[:, k0].sum() * h / 2, void[n // 2].sum() * h
    return np.degrees(2 * np.arctan(H / a)), m.void_contact_angle()


def relaxed_void(h, n, nz, t_end, length=None):
    """Footprint half-width and height (m) of a half-disc void of radius 1.2 um on a flat SSE after
    t_end of shape relaxation toward its 35 deg cap (W_ad = 0.0904 J/m^2), delta = 2.5 h."""
    interface = {"width": f"{2.5 * h} um", "relaxation_time": "1 s", "work_of_adhesion": 0.0904}
    if length is not None:
        interface["relaxation_length"] = length
    m, s = scenario(shape=(n, nz), spacing=f"{h} um", sse="1.5 um", current="1e-6 mA/cm^2", pressure="0",
                    nucleation=False, creep=False, width=f"{2.5 * h} um", extra_model={"interface": interface})
    k0 = int(m.column_height_index[n // 2])
    xi = s["xi"]
    xi[...] = np.where(m.li_side, np.minimum(xi, nucleation.seed_profile(m, (n // 2, k0), 1.2e-6)), 0.0)
    steps = int(np.ceil(t_end / (0.5 * m.relaxation_limit())))
    advance(m, s, t_end / steps, steps)
    void = (s["xi"] < 0.5) & m.li_side
    return void[:, k0].sum() * h * 1e-6 / 2, void[n // 2].sum() * h * 1e-6


def test_void_shape_relaxation_does_not_depend_on_the_interface_width():
    # the curvature-flow coefficient relaxation_length^2 / relaxation_time is held fixed: halving the
    # grid and the width leaves the footprint after 4 s (half way from 1.2 to the cap's 2.05 um) within
    # 5 %; the earlier mobility delta^2 / (kappa tau) (relaxation_length = delta) relaxed 4 times slower there
    coarse = relaxed_void(0.2, 40, 30, 4.0)
    fine = relaxed_void(0.1, 80, 60, 4.0)
    width_tied = relaxed_void(0.1, 80, 60, 4.0, length="0.25 um")
    assert abs(fine[0] / coarse[0] - 1) < 0.05 and abs(fine[1] - coarse[1]) <= 0.1e-6 + 1e-12, (coarse, fine)
    assert width_tied[0] / coarse[0] - 1 < -0.1, (coarse, width_tied)


def two_voids(conserve, t_end=3.0, relaxation="curvature_flow"):
    """Volumes (m^2 per depth) of a small and a large void, 6 um apart on a flat SSE, after t_end
    of shape relaxation (no current, tau = 1 s or surface diffusion at the default D_s, 90 deg)."""
    h, n, nz = 0.2, 60, 30
    m, s = scenario(shape=(n, nz), spacing=f"{h} um", sse="1.5 um", current="1e-6 mA/cm^2", pressure="0",
                    nucleation=False, creep=False, width=f"{2.5 * h} um",
                    extra_model={"interface": {"width": f"{2.5 * h} um", "relaxation_time": "1 s",
                                               "work_of_adhesion": 0.5, "conserve_volume": conserve,
                                               "relaxation": relaxation}})
    k0 = int(m.column_height_index[0])
    xi = s["xi"]
    for column, radius in ((15, 0.8e-6), (45, 1.6e-6)):
        xi[...] = np.minimum(xi, nucleation.seed_profile(m, (column, k0), radius))
    xi[...] = np.where(m.li_side, xi, 0.0)
    steps = int(np.ceil(t_end / (0.5 * m.relaxation_limit())))
    advance(m, s, t_end / steps, steps)
    void = (1 - s["xi"]) * m.li_side * (h * 1e-6) ** 2
    return void[: n // 2].sum(), void[n // 2:].sum()


def test_per_void_volume_keeps_distant_voids_apart():
    # one Lagrange multiplier ripens the small void into the large one at the curvature-flow rate
    # (measured at 5 s: 0.4 % of the small void left with domain, 100.5 % and 99.8 % with per_void)
    # (an exchange with no diffusion path); per_void keeps each void's volume (to 2 % here: what
    # the clipping at xi = 0, 1 trades with the vacancy field)
    start = two_voids("per_void", t_end=1e-9)
    domain, per_void = two_voids("domain"), two_voids("per_void")
    assert domain[0] < 0.5 * start[0], (start, domain)
    assert abs(per_void[0] / start[0] - 1) < 0.02 and abs(per_void[1] / start[1] - 1) < 0.02, (start, per_void)


def test_surface_diffusion_keeps_each_voids_volume():
    # the flux form moves Li along each void's surface only: no multiplier, no ripening of the
    # small void into the large one without the vacancy field (to 2 %, the clipping's exchange)
    start = two_voids("domain", t_end=1e-9, relaxation="surface_diffusion")
    end = two_voids("domain", relaxation="surface_diffusion")
    assert abs(end[0] / start[0] - 1) < 0.02 and abs(end[1] / start[1] - 1) < 0.02, (start, end)


@pytest.mark.slow
def test_surface_diffusion_relaxes_a_void_to_the_contact_angle():
    # the wall energy enters the chemical potential, so the contact angle is the same Young-Dupre
    # angle as with curvature flow; measured 56.1 deg for the 60 deg of W_ad = 0.25 J/m^2 after
    # 2 R^4 / B (67.4 deg after 0.5 R^4 / B: still relaxing), 2389 steps, about 3 min
    measured, model = void_contact_angle(0.25, relaxation="surface_diffusion", relax_for=2.0)
    assert abs(model - 60.0) < 1e-9 and abs(measured - 60.0) < 10, measured


def test_voids_grow_at_the_contact_angle_of_the_work_of_adhesion():
    # Young-Dupre: W_ad = gamma (1 + cos theta_Li), theta_void = 180 - theta_Li: 60, 90, 120 deg
    # for W_ad = 0.25, 0.5, 0.75 J/m^2 (gamma = 0.5); the same angle sets the nucleation factor
    for w, expected in ((0.25, 60.0), (0.5, 90.0), (0.75, 120.0)):
        measured, model = void_contact_angle(w)
        assert abs(model - expected) < 1e-9
        assert abs(measured - expected) < 10, (w, measured)
