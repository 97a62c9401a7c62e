"""The starting interface of the stripping model (model.initial_contact: pores at the Li|SSE
interface) and the interphase ASR of the material sets (docs/stripping.md, The initial
interface; docs/validation.md)."""

import numpy as np
import pytest

from conftest import CONFIGS, advance, run_cli
from test_stripping import scenario
from pfsim.models.stripping import nucleation, pores
from pfsim.physics.constants import FARADAY, GAS


def porous(contact=0.7, seed=1, shape=(160, 80), spacing="0.125 um", width="0.25 um", roughness=None,
           mean="0.6 um", spread=0.3, resolve=None, **kw):
    geometry = {"electrolyte_thickness": "4 um"}
    if roughness:
        geometry["roughness"] = roughness
    ic = {"contact_fraction": contact, "mean_radius": mean, "radius_spread": spread}
    if resolve:
        ic["resolve_radius"] = resolve
    extra = {"initial_contact": ic, "geometry": geometry} | kw.pop("extra_model", {})
    return scenario(shape=shape, spacing=spacing, sse="4 um", width=width, seed=seed, extra_model=extra, **kw)


@pytest.mark.parametrize("contact", [0.6, 0.8])
@pytest.mark.parametrize("seed", [1, 2])
def test_initial_contact_fraction_is_the_requested_one(contact, seed):
    """Flat surface, pores of 0.6 um on a 0.125 um grid (interface 0.25 um): within 0.02."""
    m, s = porous(contact, seed)
    assert (m.subgrid(s) == 0).all()
    assert abs(m.contact_fraction(s["xi"]) - contact) < 0.02


def test_initial_contact_on_a_rough_surface_and_pores_in_its_valleys():
    """rms 0.2 um, correlation 2 um: within 0.03; the pores sit lower than the mean surface."""
    rough = {"rms": "0.2 um", "correlation_length": "2 um"}
    for seed in (1, 2):
        m, s = porous(0.7, seed, roughness=rough)
        assert abs(m.contact_fraction(s["xi"]) - 0.7) < 0.03
        drawn = pores.draw(m, m.params.initial_contact)
        assert np.mean([m.surface[col] for col, _, _ in drawn]) < m.surface.mean()


def test_the_same_seed_gives_the_same_pores():
    a, b, c = (porous(0.7, seed)[0] for seed in (3, 3, 4))
    pa, pb, pc = (pores.draw(m, m.params.initial_contact) for m in (a, b, c))
    assert pa == pb and pa != pc


def test_small_pores_are_subgrid_voids_that_hold_their_volume():
    m, s = porous(0.9, 1, shape=(80, 40), spacing="0.25 um", width="0.5 um", mean="0.2 um", spread=0.2)
    v = m.subgrid(s)
    assert (v > 0).sum() >= 3 and m.contact_fraction(s["xi"]) == pytest.approx(1.0)
    assert m.ledger(s, "subgrid_void_volume") == pytest.approx(v.sum(), rel=1e-12)


def test_pores_grow_without_nucleation_and_li_sites_balance():
    """Resolved pores, sinks 1 um apart (S - 1 about 0.14 per mA/cm^2): they grow by any S > 1."""
    m, s = porous(0.8, 1, shape=(80, 40), spacing="0.25 um", width="0.5 um", mean="1 um", nucleation=False,
                  creep=False, pressure="0 MPa", current="2 mA/cm^2", extra_model={"lithium": {"sink_length": "1 um"}})
    void0 = m.observables(s, 0.0)["void_volume_fraction"]
    advance(m, s, 1.5, 100)
    obs = m.observables(s, 150.0)
    assert obs["nucleation_events"] == 0
    assert obs["void_volume_fraction"] > void0 * 1.05
    assert obs["li_site_balance_error"] < 1e-9


def test_subgrid_pores_above_the_critical_radius_grow_below_it_dissolve():
    """A sub-grid pore grows where S exceeds its Gibbs-Thomson value S_r (radius above the
    critical radius 2 gamma / ((kT / Omega_a) ln S - sigma_c)) and shrinks where S is under it."""
    common = dict(shape=(40, 24), spacing="0.25 um", width="0.5 um", mean="0.2 um", spread=0.0, resolve="1 um",
                  nucleation=False, creep=False, contact=0.97)
    m, s = porous(current="1 mA/cm^2", pressure="0 MPa", **common)  # no sinks: S rises far above S_r
    v0 = m.subgrid(s).copy()
    advance(m, s, 1.0, 5)
    assert (m.subgrid(s)[v0 > 0] > v0[v0 > 0]).all()
    m, s = porous(current="0 mA/cm^2", pressure="1 MPa", extra_model={"lithium": {"sink_length": "1 um"}}, **common)
    v0 = m.subgrid(s).copy()
    _, S_r = nucleation.subgrid_sink(m, s, 1e6)
    assert (S_r[v0 > 0] > 1).all()
    advance(m, s, 1.0, 5)
    assert (m.subgrid(s)[v0 > 0] < v0[v0 > 0]).all()


def test_interphase_resistance_adds_in_series():
    """Flat interface: cell voltage = BV overpotential + ASR(t) j + j L / sigma, ASR(t) = ASR0 + k sqrt(t / 1 h)."""
    j = 10.0  # 1 mA/cm^2
    kin = {"interphase_resistance": 20.0, "interphase_growth": 10.0}  # Ohm cm^2, Ohm cm^2 / sqrt(h)
    m, s = scenario(nucleation=False, creep=False, extra_model={"kinetics": kin})
    for t in (0.0, 3600.0 * 4):
        V, _ = _solve(m, s, t)
        asr = 1e-4 * (20.0 + 10.0 * np.sqrt(t / 3600.0))
        eta = 2 * GAS * m.temperature / FARADAY * np.arcsinh(j / (2 * m.params.kinetics.exchange_current_density))
        expected = eta + asr * j + j * 3e-6 / m.params.electrolyte.conductivity
        assert V == pytest.approx(expected, rel=0.02), (t, V, expected)


def _solve(m, s, t):
    from pfsim.models.stripping import potential

    m.follow_temperature(s, t)
    return potential.solve(m, s, m.current(t))


def test_a_resumed_run_with_initial_pores_equals_the_uninterrupted_one(in_tmp):
    cfg = CONFIGS / "materials" / "li_lpscl.yaml"
    common = ["--backend", "numpy", "--set", "time.stop=240", "--set", "grid.shape=[48,40]"]
    assert run_cli("run", cfg, "-o", "full.zarr", *common) == 0
    assert run_cli("run", cfg, "-o", "part.zarr", *common, "--set", "time.max_steps=60") == 0
    assert run_cli("run", "--resume", "part.zarr", "--set", "time.max_steps=null") == 0
    import xarray as xr

    a, b = xr.open_zarr("full.zarr"), xr.open_zarr("part.zarr")
    assert a.contact_fraction.values[0] < 0.9
    assert np.array_equal(a.xi.values, b.xi.values)
    assert np.array_equal(a.cell_voltage.values, b.cell_voltage.values)
    assert float(np.nanmax(a.li_site_balance_error.values)) < 1e-9


@pytest.mark.parametrize("name", ["li_llzo.yaml", "li_lpscl.yaml"])
def test_material_scenarios_validate(name):
    assert run_cli("validate", CONFIGS / "materials" / name) == 0
