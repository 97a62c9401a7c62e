"""The plating model's kernels (pfsim/kernels/plating.py, kernels/plating.cu): NumPy
forms against the CUDA forms run on the CPU through tests/cuda_shim, and the model's CUDA code
path against its NumPy path over several steps of a filament run (flaw, damage, noise,
electronic leakage and nucleation all active)."""

import numpy as np
import pytest

from cuda_shim import harness
from cuda_shim.cases import PRECISIONS, grid
from pfsim.backend import Backend
from pfsim.config import validate
from pfsim.grid import Grid
from pfsim.models import build_model
from pfsim.kernels import plating as pk

RTOL = {"float64": 1e-12, "float32": 2e-5}
GRIDS = {
    "2d": dict(shape=[37, 23], spacing=[0.7, 1.3], boundaries={"y": "no_flux"}),
    "3d": dict(shape=[9, 8, 13], spacing=[0.9, 1.1, 0.8], boundaries={"z": "no_flux"}),
    "3d-odd": dict(shape=[7, 5, 11], spacing=[1.0, 0.6, 1.2], boundaries={"z": "no_flux"}),
}


def shim(precision):
    harness.require_gxx()
    return harness.ShimBackend(precision)


def numpy_backend(precision):
    return Backend("numpy", np.dtype(precision), "cpu")


def fields(g, precision, seed):
    """A rough diffuse front (xi with exact 0s and 1s), and random maps for the update."""
    rng = np.random.default_rng(seed)
    z = np.arange(g.shape[-1]) * g.spacing[-1]
    height = z[-1] / 2 + rng.normal(0, 2 * g.spacing[-1], g.shape[:-1])
    xi = 0.5 * (1 + np.tanh((z - height[..., None]) / (2 * g.spacing[-1])))
    xi = np.where(rng.random(g.shape) < 0.1, np.round(xi), xi)
    cast = lambda a: np.ascontiguousarray(a, dtype=precision)
    current = rng.normal(0, 50, g.shape)
    gate = np.where(rng.random(g.shape) < 0.3, 0.0, rng.random(g.shape))
    noise = 1 + 0.3 * rng.uniform(-1, 1, g.shape)
    return cast(xi), cast(current), cast(gate), cast(noise)


def close(a, b, precision):
    scale = max(float(np.max(np.abs(b))), 1e-30)
    assert np.max(np.abs(np.asarray(a, dtype=float) - b)) <= RTOL[precision] * scale


@pytest.mark.parametrize("name", GRIDS)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_interface_terms_cuda_matches_numpy(name, precision):
    g = grid(GRIDS[name])
    xi, *_ = fields(g, precision, 1)
    delta, tau = 2.5 * min(g.spacing), 7.0
    w_np, r_np = pk.interface_terms(numpy_backend(precision), g, xi, delta, tau)
    w_cu, r_cu = pk.interface_terms(shim(precision), g, xi, delta, tau)
    close(w_cu, w_np, precision)
    close(r_cu, r_np, precision)
    assert float(w_np.min()) >= 0


@pytest.mark.parametrize("precision", PRECISIONS)
def test_metal_update_cuda_matches_numpy(precision):
    g = grid(GRIDS["3d"])
    xi, current, gate, noise = fields(g, precision, 2)
    be = numpy_backend(precision)
    w, relax = pk.interface_terms(be, g, xi, 2.0, 3.0)
    args = (w, relax, 0.013, current, gate, noise, 1.35e-3, 0.4)
    n_np, d_np = pk.metal_update(be, xi, *args)
    n_cu, d_cu = pk.metal_update(shim(precision), xi, *args)
    close(n_cu, n_np, precision)
    close(d_cu, d_np, precision)
    assert 0 <= float(n_np.min()) and float(n_np.max()) <= 1


def test_noise_is_identical_and_uniform():
    a = pk.uniform_noise(numpy_backend("float64"), 7, 123, (50, 40))
    b = pk.uniform_noise(shim("float64"), 7, 123, (50, 40))
    assert np.array_equal(a, b)
    assert -1 <= a.min() and a.max() < 1 and abs(a.mean()) < 0.05 and abs(a.std() - 1 / np.sqrt(3)) < 0.02
    assert not np.array_equal(a, pk.uniform_noise(numpy_backend("float64"), 7, 124, (50, 40)))
    assert not np.array_equal(a, pk.uniform_noise(numpy_backend("float64"), 8, 123, (50, 40)))
    # a slab of rows draws the whole grid's numbers for those rows, in both forms
    for be in (numpy_backend("float64"), shim("float64")):
        assert np.array_equal(pk.uniform_noise(be, 7, 123, (20, 40), first=10 * 40), a[10:30])


def test_volume_conserving_relaxation_keeps_metal_volume():
    g = grid(GRIDS["2d"])
    xi, current, gate, noise = fields(g, "float64", 3)
    be = numpy_backend("float64")
    w, relax = pk.interface_terms(be, g, xi, 2.0, 3.0)
    ones = np.ones_like(xi)
    lagrange = float(relax.sum()) / float(pk.q_of(xi).sum())
    new, displaced = pk.metal_update(be, xi, w, relax, lagrange, 0 * current, ones, ones, 1.0, 0.01)
    assert float(new.sum() + displaced.sum()) == pytest.approx(float(xi.sum()), rel=1e-12)


def model_run(backend, path, steps=10, interface=None, salt=False):
    gb = np.zeros((24, 32), bool)
    gb[10:12, :] = True
    np.save(path, gb)
    raw = {
        "name": "t", "seed": 5,
        "grid": {"shape": [24, 32], "spacing": "0.25 um", "boundaries": {"x": "periodic", "y": "no_flux"}},
        "model": {
            "kind": "li_plating",
            "geometry": {"electrolyte_thickness": "5 um", "pits": [{"center": ["3 um"], "width": "0.75 um", "depth": "2 um"}]},
            "interface": {"width": "0.5 um", **(interface or {})},
            "electrolyte": {"toughness": "0.2 MPa*m^(1/2)"},
            "microstructure": {"file": str(path), "boundaries": {"electronic_conductivity": "1e-3 S/m"}},
            "nucleation": {"boundary_contact_angle": 20},
            "noise": 0.3,
        },
        "drive": {"current_density": "-10 mA/cm^2"},
        "time": {"stop": 1.0},
    }
    if salt:  # the Li+ concentration (defaults): xp operations and the elliptic solver, no kernel of its own
        raw["model"]["electrolyte"]["salt"] = {}
    cfg = validate(raw)
    m = build_model(cfg.model, Grid.from_config(cfg.grid), backend, drive=cfg.drive, seed=cfg.seed)
    s = m.initial_state()
    for i in range(steps):
        m.euler_step(s, 0.5 * i, 0.5)
    return m, s, m.observables(s, 0.5 * steps)


CAPILLARY = {"capillarity": True, "mobility": 1e-7, "anisotropy": {"strength": 0.05, "orientation": "grains"}}


@pytest.mark.parametrize("interface,salt", [(None, False), (CAPILLARY, False), (None, True)],
                         ids=["plain", "capillary-anisotropic", "salt"])
def test_model_cuda_path_matches_numpy_path(tmp_path, interface, salt):
    # the NumPy path solves with the CUDA path's multigrid CG: the kernels are what is compared
    numpy_path = Backend("numpy", np.dtype("float64"), "cpu", elliptic="multigrid")
    m_np, s_np, o_np = model_run(numpy_path, tmp_path / "g.npy", interface=interface, salt=salt)
    m_cu, s_cu, o_cu = model_run(shim("float64"), tmp_path / "g.npy", interface=interface, salt=salt)
    if interface:
        assert m_np.cap_coeff > 0 and m_np.aniso is not None
    if salt:
        assert "salt_concentration" in m_np.fields and o_np["salt_balance_error"] < 1e-10
        assert o_np["salt_concentration_front_min"] < 0.999 * m_np.params.electrolyte.salt.concentration
    assert o_np["damaged_volume"] > 0 and o_np["nucleation_events"] > 0  # every part in play
    for name in m_np.fields:
        scale = max(float(np.abs(s_np[name]).max()), 1e-30)
        assert np.max(np.abs(s_cu[name] - s_np[name])) <= 1e-9 * scale, name
    for key, value in o_np.items():
        if np.isnan(value):
            assert np.isnan(o_cu[key]), key
        else:
            assert o_cu[key] == pytest.approx(value, rel=1e-8, abs=1e-12), key


def anisotropy(g, precision, seed, strength=0.05, fold=4):
    """Karma-Rappel anisotropy with a per-node orientation (two grains of different theta0)."""
    x = np.arange(g.shape[0]).reshape([-1] + [1] * (g.ndim - 1))
    theta0 = np.where(x < g.shape[0] // 2, 0.3, -0.7) * np.ones(g.shape)
    cast = lambda a: np.ascontiguousarray(a, dtype=precision)
    return pk.Anisotropy(strength, fold, cast(np.cos(theta0)), cast(np.sin(theta0)))


@pytest.mark.parametrize("name", GRIDS)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_anisotropic_interface_terms_and_capillarity_cuda_match_numpy(name, precision):
    g = grid(GRIDS[name])
    xi, *_ = fields(g, precision, 4)
    an = anisotropy(g, precision, 4)
    delta, tau = 2.5 * min(g.spacing), 7.0
    w_np, r_np = pk.interface_terms(numpy_backend(precision), g, xi, delta, tau, an)
    w_cu, r_cu = pk.interface_terms(shim(precision), g, xi, delta, tau, an)
    close(w_cu, w_np, precision)
    close(r_cu, r_np, precision)
    for aniso in (None, an):
        c_np = pk.capillary_term(numpy_backend(precision), g, xi, 0.37, delta, aniso)
        c_cu = pk.capillary_term(shim(precision), g, xi, 0.37, delta, aniso)
        close(c_cu, c_np, precision)
    if g.ndim == 2:  # the anisotropy acts: w differs from the isotropic one where the front tilts
        w_iso, _ = pk.interface_terms(numpy_backend(precision), g, xi, delta, tau)
        assert 0.01 < np.max(np.abs(w_np - w_iso)) / np.max(w_iso) < 0.06
        c_iso = pk.capillary_term(numpy_backend(precision), g, xi, 0.37, delta)
        assert np.max(np.abs(c_np - c_iso)) > 1e-3 * np.max(np.abs(c_iso))


def test_isotropic_capillarity_is_allen_cahn_and_keeps_a_flat_profile():
    # no anisotropy: coeff (lap xi - 2 g'(xi) / delta^2); the tanh profile of width delta is its
    # flat equilibrium, and a zero-strength anisotropy gives the same numbers
    g = grid(GRIDS["2d"])
    be = numpy_backend("float64")
    z = np.arange(g.shape[-1]) * g.spacing[-1]
    delta = 4 * g.spacing[-1]
    xi = np.broadcast_to(0.5 * (1 + np.tanh((z - z[-1] / 2) / delta)), g.shape).copy()
    cap = pk.capillary_term(be, g, xi, 1.0, delta)
    assert np.max(np.abs(cap[:, 2:-2])) < 0.05 * 1.0 / delta**2  # (the walls cut the tails)
    zero = pk.Anisotropy(0.0, 4, np.ones(g.shape), np.zeros(g.shape))
    assert np.allclose(pk.capillary_term(be, g, xi, 1.0, delta, zero), cap, rtol=0, atol=1e-12 / delta**2)
