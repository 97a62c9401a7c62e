"""Sub-grid voids that block the contact (model.nucleation.subgrid_contact: blocked;
pfsim/models/stripping/subgrid.py, docs/stripping.md section 5)."""

import numpy as np
import pytest

from conftest import advance
from test_initial_interface import porous
from pfsim.backend import Backend
from pfsim.config import validate
from pfsim.grid import Grid
from pfsim.models import build_model
from pfsim.models.stripping import subgrid

BLOCKED = {"nucleation": {"subgrid_contact": "blocked"}}


def cell_3d(contact=0.9):
    raw = {"name": "t", "seed": 1,
           "grid": {"shape": [24, 24, 20], "spacing": "0.25 um",
                    "boundaries": {"x": "periodic", "y": "periodic", "z": "no_flux"}},
           "model": {"kind": "li_stripping", "geometry": {"electrolyte_thickness": "2 um"},
                     "interface": {"width": "0.5 um", "relaxation_time": "60 s", "work_of_adhesion": "0.0904 J/m^2"},
                     "initial_contact": {"contact_fraction": contact, "mean_radius": "1 um", "radius_spread": 0.3}}
           | BLOCKED,
           "drive": {"current_density": "0.5 mA/cm^2", "stack_pressure": "0 MPa"}, "time": {"stop": 1.0}}
    cfg = validate(raw)
    return build_model(cfg.model, Grid.from_config(cfg.grid), Backend("numpy", np.dtype("float64"), "cpu"),
                       drive=cfg.drive, seed=1)


def blocked_cell(contact=0.9, mean="1 um", shape=(80, 32), spacing="0.25 um", width="0.5 um", seed=1, **kw):
    """Lithiophobic Li|SSE (work of adhesion 0.09 J/m^2: a 35 deg void), pores thinner than the interface."""
    extra = BLOCKED | {"interface": {"width": width, "relaxation_time": "60 s", "work_of_adhesion": "0.0904 J/m^2"},
                       "lithium": {"sink_length": "10 um", "foil_thickness": "100 um"}} | kw.pop("extra_model", {})
    return porous(contact, seed, shape=shape, spacing=spacing, width=width, mean=mean, extra_model=extra, **kw)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_thin_pores_are_subgrid_and_block_their_footprints(seed):
    """Every pore of 1 um at 35 deg is 0.18 um high, under the resolve height (1 um): all are
    sub-grid, and their footprints give the requested contact (0.9) to 0.5 %, where the open
    point sinks of the default leave the whole contact."""
    m, s = blocked_cell(seed=seed)
    assert (s["xi"][m.li_side] == 1).all() and (m.subgrid(s) > 0).sum() >= 2
    assert abs(m.contact_fraction(s["xi"]) - 0.9) < 0.005
    open_, s_open = blocked_cell(seed=seed, extra_model={"nucleation": {"subgrid_contact": "open", "resolve_height": None}},
                                 resolve="2 um")
    assert open_.contact_fraction(s_open["xi"]) > 0.99


def test_footprint_shares_hold_the_blocked_length_and_area():
    """2D: the covered shares of a trench sum to its footprint 2a over the column width; 3D: the
    disc's shares sum to pi a^2 over the column area."""
    m, _ = blocked_cell()
    v = np.zeros(m.columns)
    v[10] = 1.5e-12  # m^2 per unit depth: a trench of r = 3.3 um
    theta = subgrid.angles(m)[10]
    _, a, blocked, *_ , trench = subgrid.shape(m, v[10:11], np.array([theta]))
    assert trench[0]
    cols, share = subgrid.footprints(m, v)[10]
    assert share.sum() * 0.25e-6 == pytest.approx(2 * a[0], rel=1e-12)
    m3 = cell_3d()
    v3 = np.zeros(m3.columns)
    v3[100] = 2e-19  # m^3
    _, a3, area3, *_ = subgrid.shape(m3, v3[100:101], subgrid.angles(m3)[100:101])
    _, share3 = subgrid.footprints(m3, v3)[100]
    assert share3.sum() * 0.25e-6**2 == pytest.approx(area3[0], rel=1e-9)
    assert area3[0] == pytest.approx(np.pi * a3[0] ** 2)
    s3 = m3.initial_state()  # 3D pores: all sub-grid, the contact as asked to 2 %
    assert (m3.subgrid(s3) > 0).sum() >= 2 and abs(m3.contact_fraction(s3["xi"]) - 0.9) < 0.02


def test_overlapping_footprints_merge_and_keep_their_volume():
    m, _ = blocked_cell()
    v = np.zeros(m.columns)
    v[10], v[14], v[60] = 1.0e-12, 0.5e-12, 0.2e-12  # the first two overlap (footprints of 3 um and 2 um, 1 um apart)
    merged = subgrid.merge_overlapping(m, v)
    assert merged[10] == pytest.approx(1.5e-12) and merged[14] == 0 and merged[60] == 0.2e-12
    assert merged.sum() == pytest.approx(v.sum(), rel=1e-15)


def test_blocking_pores_grow_and_li_sites_balance():
    """0.5 mA/cm^2 for 2 min at 0 MPa: the stripped Li goes into the sub-grid pores (their volume
    grows by most of it), the contact falls, the Li-site balance holds to 1e-10."""
    m, s = blocked_cell(shape=(40, 32), current="0.5 mA/cm^2", pressure="0 MPa")
    v0, c0 = m.subgrid(s).sum(), m.contact_fraction(s["xi"])
    t = advance(m, s, 2.0, 60)
    obs = m.observables(s, t)
    stripped = 5.0 * 120.0 * m.omega / 96485.33212 * 10e-6  # m^2 per unit depth
    grown = m.subgrid(s).sum() - v0
    assert 0.5 * stripped < grown < stripped
    assert obs["contact_fraction"] < c0 - 0.02
    assert obs["li_site_balance_error"] < 1e-10


def test_a_subgrid_void_at_the_resolve_height_becomes_a_resolved_cap_of_its_footprint():
    """A trench just past the resolve height becomes an xi cap: the volume goes from the sub-grid
    ledger into xi (Li sites balance), the contact changes by less than 0.05 (measured 0.035 of a 20 um cell: the diffuse
    cap's rim uncovers about a tenth of the footprint)."""
    m, s = blocked_cell(shape=(80, 32), contact=1.0)
    theta = subgrid.angles(m)[40]
    v = np.zeros(m.columns)
    v[40] = 1.02 * subgrid.cap_volume(m, subgrid.resolve_height(m), theta)
    m.set_subgrid(s, v)
    from pfsim.models.stripping import nucleation
    nucleation.book(m, s, float(v.sum()))
    m._set(s, "initial_li", m.li_content(s))
    m.refresh_contact(s)
    before = m.contact_fraction(s["xi"])
    nucleation.resolve(m, s)
    m.refresh_contact(s)
    after = m.contact_fraction(s["xi"])
    assert m.subgrid(s)[40] < 0.02 * v[40]
    assert abs(after - before) < 0.05
    assert abs(m.li_content(s) - m.ledger(s, "initial_li")) < 1e-9 * m.li_content(s)


def test_creep_closes_subgrid_pores_and_li_sites_balance():
    """3 MPa on bulk-strength Li (reduced model), no current: the sub-grid pores close as
    exp(-1.5 eps_dot t), the contact rises, the Li sites balance."""
    m, s = blocked_cell(shape=(40, 32), current="0 mA/cm^2", pressure="3 MPa")
    v0, c0 = m.subgrid(s).sum(), m.contact_fraction(s["xi"])
    m._set(s, "initial_li", m.li_content(s))
    advance(m, s, 1.0, 5)
    v1 = m.subgrid(s).sum()
    assert v1 < 0.9 * v0 and m.contact_fraction(s["xi"]) > c0
    assert abs(m.li_content(s) - m.ledger(s, "initial_li")) < 1e-9 * m.li_content(s)


def test_a_resumed_run_with_blocking_pores_equals_the_uninterrupted_one(in_tmp):
    from conftest import CONFIGS, run_cli
    import xarray as xr

    cfg = CONFIGS / "materials" / "li_llzo.yaml"
    common = ["--backend", "numpy", "--set", "time.stop=600", "--set", "grid.shape=[80,32]",
              "--set", "model.nucleation.subgrid_contact=blocked"]
    assert run_cli("run", cfg, "-o", "full.zarr", *common) == 0
    assert run_cli("run", cfg, "-o", "part.zarr", *common, "--set", "time.max_steps=100") == 0
    assert run_cli("run", "--resume", "part.zarr", "--set", "time.max_steps=null") == 0
    a, b = xr.open_zarr("full.zarr"), xr.open_zarr("part.zarr")
    # the pores' footprints cover 0.1 of the projected surface; the contact is counted on the
    # faces of the stepped surface, and a pore in a valley blocks the valley's step faces too
    assert a.subgrid_void_count.values[0] >= 1 and abs(a.contact_fraction.values[0] - 0.9) < 0.03
    assert np.array_equal(a.contact_fraction.values, b.contact_fraction.values)
    assert np.array_equal(a.cell_voltage.values, b.cell_voltage.values)
    assert float(np.nanmax(a.li_site_balance_error.values)) < 1e-9


def test_dissolving_pores_hand_back_their_vacancies_gradually():
    """Pores of 0.3 um at 0.05 mA/cm^2 and 0 MPa: early on S is under their Gibbs-Thomson value
    and the smallest dissolve. Their volume goes to the vacancies through the solve, in sub-steps
    that take at most half of it at a time, so S stays near 1 and nothing nucleates (handing a
    pore's volume to the vacancies at once raised S by about 180 and planted a void at every
    open site, past the per-step cap)."""
    m, s = blocked_cell(contact=0.8, mean="0.3 um", shape=(160, 32), current="0.05 mA/cm^2", pressure="0 MPa")
    count0 = int((m.subgrid(s) > 0).sum())
    t, peak = 0.0, 0.0
    for _ in range(100):
        m.euler_step(s, t, 1.5)
        t += 1.5
        peak = max(peak, m.ledger(s, "step_peak_supersaturation"))
    obs = m.observables(s, t)
    assert int((m.subgrid(s) > 0).sum()) < count0  # some dissolved
    assert obs["nucleation_events"] == 0 and obs["nucleation_cap_hits"] == 0
    assert peak < 1.5
    assert obs["li_site_balance_error"] < 1e-10
