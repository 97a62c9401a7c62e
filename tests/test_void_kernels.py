"""The stripping model's void kernels (pfsim/kernels/voids.py, kernels/voids.cu).

NumPy forms against the CUDA forms run on the CPU through tests/cuda_shim (ShimBackend),
the masked Laplacian against the model's shape operator (EllipticProblem.apply), and one
step of LiStripping.euler_step (pfsim/models/stripping/voids.py) against the same step computed with these functions.
"""

import numpy as np
import pytest

from cuda_shim import harness
from cuda_shim.cases import GRIDS, PRECISIONS, assert_close, grid, numpy_backend
from pfsim.backend import Backend, cuda_status, select_backend
from pfsim.config import validate
from pfsim.grid import Grid
from pfsim.models import build_model
from pfsim.models.stripping import creep, nucleation, voids
from pfsim.bench.kernels import masked_laplacian
from pfsim.kernels import voids as vk
from pfsim.solvers.elliptic import EllipticProblem

RTOL = {"float64": 1e-12, "float32": 1e-5}

# periodic lateral axes, a bounded normal (last) axis, as the stripping model needs; unequal
# spacings, node counts not multiples of 256 (the last block's bounds check is exercised)
INTERFACE_GRIDS = {
    "2d": dict(shape=[37, 23], spacing=[0.7, 1.3], boundaries={"y": "no_flux"}),
    "3d": dict(shape=[9, 8, 13], spacing=[0.9, 1.1, 0.8], boundaries={"z": "no_flux"}),
    "3d-odd": dict(shape=[7, 5, 11], spacing=[1.0, 0.6, 1.2], boundaries={"z": "no_flux"}),
}


def interface_mask(g, seed):
    """Li side as 0/1 floats: electrolyte in the bottom rows of the last axis (n nodes), a rough
    surface (heights lo..lo+2, lo = n // 6), a pit (lo - 2) and a bump (lo + 5, at most n - 3)."""
    rng = np.random.default_rng(seed)
    lateral, n = g.shape[:-1], g.shape[-1]
    lo = max(1, n // 6)
    height = rng.integers(lo, lo + 3, size=lateral)
    idx = np.indices(lateral)
    pit = np.all([np.abs(i - n // 3) <= max(n // 6, 0) for i, n in zip(idx, lateral)], axis=0)
    bump = np.all([np.abs(i - (2 * n) // 3) <= max(n // 8, 0) for i, n in zip(idx, lateral)], axis=0)
    height[pit], height[bump] = max(lo - 2, 0), min(lo + 5, n - 3)
    z = np.arange(g.shape[-1])
    return (z > height[..., None]).astype(float), height


def random_inputs(g, precision, seed):
    """xi in [0, 1] with many exact 0s and 1s, S from 0.5 to 100, the Li-side mask and a band."""
    rng = np.random.default_rng(seed)
    li, height = interface_mask(g, seed)
    xi = np.clip(rng.uniform(-0.3, 1.3, g.shape), 0, 1)
    S = np.exp(rng.uniform(np.log(0.5), np.log(100.0), g.shape))
    z = np.arange(g.shape[-1])
    band = li * (z <= height[..., None] + 3)
    cast = lambda a: np.ascontiguousarray(a, dtype=precision)
    return cast(xi), cast(S), cast(li), cast(band)


def shim(precision):
    """The CUDA code path on the CPU (kernels compiled by g++); skips without g++."""
    harness.require_gxx()
    return harness.ShimBackend(precision)


def all_grids():
    return [pytest.param(INTERFACE_GRIDS[k], id=k) for k in INTERFACE_GRIDS]


PARAMS = dict(kappa=0.37, barrier=2.9, mobility=1.7)  # model-like ratios, arbitrary units


def lagrange_multiplier(relax, q):
    """sum(relax) / max(sum(q), 1e-300), the model's volume-conserving multiplier (a float)."""
    return float(relax.sum(dtype=np.float64)) / max(float(q.sum(dtype=np.float64)), vk.LAGRANGE_FLOOR)


def update_scalars(relax, q):
    """x_v0, condensation_rate, lagrange, eps_dot, dt of a step that changes xi by O(0.1)."""
    dt = 0.3 / float(np.abs(relax).max())
    x_v0 = 1e-3
    return dict(x_v0=x_v0, condensation_rate=1e-2 / (x_v0 * dt), lagrange=lagrange_multiplier(relax, q),
                eps_dot=2.0 / dt, dt=dt)


# --- NumPy form against the CUDA form (CPU shim) -------------------------------------------
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cfg", all_grids())
def test_void_rates_cuda_matches_numpy(cfg, precision):
    g = grid(cfg)
    xi, _, li, _ = random_inputs(g, precision, seed=1)
    ref = vk.void_rates(numpy_backend(precision), g, xi, li, **PARAMS)
    got = vk.void_rates(shim(precision), g, xi, li, **PARAMS)
    for a, b in zip(got, ref):
        assert_close(a, b, RTOL[precision])
    relax = ref[0]
    assert (relax[li == 0] == 0).all() and (relax[li != 0] != 0).any()


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cfg", all_grids())
def test_void_update_cuda_matches_numpy(cfg, precision):
    g = grid(cfg)
    xi, S, li, band = random_inputs(g, precision, seed=2)
    nb = numpy_backend(precision)
    relax, q = vk.void_rates(nb, g, xi, li, **PARAMS)
    sc = update_scalars(relax, q)
    ref = vk.void_update(nb, xi, S, li, band, relax=relax, **sc)
    got = vk.void_update(shim(precision), xi, S, li, band, relax=relax, **sc)
    for a, b in zip(got, ref):
        assert_close(a, b, RTOL[precision])
    xi_new, exchange, closed = ref
    on = li != 0
    assert (xi_new[~on] == 0).all() and xi_new.min() >= 0 and xi_new.max() <= 1
    assert ((xi_new[on] == 0) & (xi[on] > 0)).any() and ((xi_new[on] == 1) & (xi[on] < 1)).any()  # clipped both ways
    assert (closed[band == 0] == 0).all() and closed.max() > 0
    assert np.abs(exchange).max() > 0


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cfg", all_grids())
def test_contact_weight_cuda_matches_numpy(cfg, precision):
    g = grid(cfg)
    xi, _, li, _ = random_inputs(g, precision, seed=3)
    ref = vk.contact_weight(numpy_backend(precision), g, xi, li)
    got = vk.contact_weight(shim(precision), g, xi, li)
    assert_close(got, ref, RTOL[precision])
    assert (ref[li != 0] == 0).all() and ref.max() > 0


SURFACE = dict(kappa=0.37, barrier=2.9, wall_energy=-1.3)  # the surface-diffusion kernels' scalars


def wall_of(li):
    """A wall density: 1 on Li-side nodes next to the electrolyte rows below them, else 0."""
    below = np.roll(li, 1, axis=-1)
    below[..., 0] = 1
    return (li * (1 - below)).astype(li.dtype)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cfg", all_grids())
def test_surface_diffusion_kernels_cuda_match_numpy(cfg, precision):
    g = grid(cfg)
    xi, _, li, _ = random_inputs(g, precision, seed=7)
    wall = wall_of(li)
    nb, sb = numpy_backend(precision), shim(precision)
    mu = vk.void_chemical_potential(nb, g, xi, li, wall, **SURFACE)
    assert_close(vk.void_chemical_potential(sb, g, xi, li, wall, **SURFACE), mu, RTOL[precision])
    assert (mu[li == 0] == 0).all() and wall.sum() > 0
    relax = vk.void_surface_diffusion(nb, g, xi, mu, li, 1.7)
    assert_close(vk.void_surface_diffusion(sb, g, xi, mu, li, 1.7), relax, RTOL[precision])
    assert (relax[li == 0] == 0).all() and (relax[li != 0] != 0).any()


@pytest.mark.parametrize("cfg", all_grids())
def test_surface_diffusion_conserves_xi(cfg):
    """The flux form: each Li-Li face's two terms cancel, nothing crosses into the SSE or a
    bounded wall, so the rate sums to zero (to rounding) over the grid and over any region the
    mobility q isolates (here: xi = 1 rows split the grid)."""
    g = grid(cfg)
    xi, _, li, _ = random_inputs(g, "float64", seed=8)
    nb = numpy_backend("float64")
    mu = vk.void_chemical_potential(nb, g, xi, li, wall_of(li), **SURFACE)
    relax = vk.void_surface_diffusion(nb, g, xi, mu, li, 1.7)
    assert abs(relax.sum()) < 1e-12 * np.abs(relax).sum()
    k = g.shape[-1] // 2
    xi[..., k:k + 2] = 1.0  # two planes of bulk metal: the face between them has q(1) = 0
    mu = vk.void_chemical_potential(nb, g, xi, li, wall_of(li), **SURFACE)
    relax = vk.void_surface_diffusion(nb, g, xi, mu, li, 1.7)
    upper = relax[..., k + 1:]
    assert abs(upper.sum()) < 1e-12 * np.abs(relax).sum() and np.abs(upper).max() > 0


def test_surface_diffusion_relaxes_a_surface_wave_at_mullins_rate():
    """A sinusoidal void surface (wavelength 10 interface widths, amplitude 0.05 of it) decays as
    exp(-B q^4 t), Mullins' rate with B = M0 gamma 4 delta / 3 (docs/stripping.md section 4):
    measured 0.964 B q^4 at lambda = 10 delta (0.969 at 16, 0.973 at 20) with delta = 2 h."""
    gamma, delta, lam, amp = 1.0, 0.2, 2.0, 0.05
    h, M0 = delta / 2, 1.0
    n = int(round(lam / h))
    g = grid(dict(shape=[n, n], spacing=h, boundaries={"y": "no_flux"}))
    X, Y = np.meshgrid(np.arange(n) * h, np.arange(n) * h, indexing="ij")
    q = 2 * np.pi / lam
    xi = 0.5 * (1 + np.tanh((Y - lam / 2 - amp * np.cos(q * X)) / delta))
    li, wall = np.ones_like(xi), np.zeros_like(xi)
    kappa, W = 3 * gamma * delta, 6 * gamma / delta
    B = M0 * gamma * 4 * delta / 3
    L = 8 / h**2
    dt = 0.4 * 2 / (M0 * L * (kappa * L + 2 * W))
    steps = int(0.25 / (B * q**4) / dt)
    nb = numpy_backend("float64")

    def wave(xi):  # first Fourier mode of the void's thickness per column
        return 2 * np.abs(np.fft.rfft((1 - xi).sum(axis=1) * h)[1]) / n

    start, volume = wave(xi), xi.sum()
    for _ in range(steps):
        mu = vk.void_chemical_potential(nb, g, xi, li, wall, kappa, W, 0.0)
        xi = xi + dt * vk.void_surface_diffusion(nb, g, xi, mu, li, M0)
    rate = -np.log(wave(xi) / start) / (steps * dt)
    assert rate == pytest.approx(B * q**4, rel=0.05)
    assert abs(xi.sum() - volume) < 1e-12 * volume


# --- the masked Laplacian is the model's shape operator ------------------------------------
def shape_operator(g, backend, li):
    return EllipticProblem(g, backend, k=np.where(li != 0, 1.0, 0.0), c=np.zeros(g.shape), mask=li != 0)


@pytest.mark.parametrize("form", ["numpy", "cuda"])
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cfg", all_grids() + [pytest.param(GRIDS[k], id=k) for k in GRIDS])
def test_masked_laplacian_is_the_shape_operator(cfg, precision, form):
    """On every Li-side node: -EllipticProblem(k = li, c = 0, mask = li).apply(f), bounded walls
    (no face across them) and periodic wraps included; 0 on electrolyte nodes."""
    g = grid(cfg)
    rng = np.random.default_rng(4)
    li, _ = interface_mask(g, 4)
    li = li.astype(precision)
    f = rng.uniform(0, 1, g.shape).astype(precision)  # values on the SSE side must not leak in
    nb = numpy_backend(precision)
    backend = nb if form == "numpy" else shim(precision)
    lap = masked_laplacian(backend, g, f, li)
    op = shape_operator(g, nb, li)
    expected = -op.apply(f)
    on = op.active  # Li-side nodes with a Li-side neighbour
    isolated = (li != 0) & ~on  # see test_isolated_li_node_has_zero_laplacian
    assert on.sum() > 0.2 * g.size
    assert_close(np.where(on, lap, 0), np.where(on, expected, 0).astype(precision), RTOL[precision])
    if precision == "float64":
        assert np.array_equal(lap[on], expected[on])  # same sums in the same order
    assert (lap[~on] == 0).all() and (lap[isolated] == 0).all()
    # the walls of a bounded axis: one face, not the mirrored pair of pfsim.stencil
    for a, periodic in enumerate(g.periodic):
        if not periodic:
            wall = [slice(None)] * g.ndim
            wall[a] = -1
            assert np.array_equal(lap[tuple(wall)][on[tuple(wall)]], expected[tuple(wall)][on[tuple(wall)]])


def test_isolated_li_node_has_zero_laplacian():
    """A Li node with no Li neighbour: zero flux (0), where the elliptic operator's identity row
    gives -f (documented difference; the model's geometries never make such a node)."""
    g = grid(INTERFACE_GRIDS["2d"])
    li, _ = interface_mask(g, 5)
    li[:, :] = 0
    li[:, 15:] = 1
    li[10, 8] = 1  # inside the electrolyte
    f = np.random.default_rng(5).uniform(0.2, 1, g.shape)
    nb = numpy_backend("float64")
    for backend in (nb, shim("float64")):
        assert masked_laplacian(backend, g, f, li)[10, 8] == 0
    assert -shape_operator(g, nb, li).apply(f)[10, 8] == -f[10, 8]


def test_void_rates_match_the_models_formula():
    g = grid(INTERFACE_GRIDS["3d"])
    xi, _, li, _ = random_inputs(g, "float64", seed=6)
    nb = numpy_backend("float64")
    lap = -shape_operator(g, nb, li).apply(xi)
    p = PARAMS
    expected = p["mobility"] * (p["kappa"] * lap - p["barrier"] * (2 * xi * (1 - xi) * (1 - 2 * xi))) * (li != 0)
    relax, q = vk.void_rates(nb, g, xi, li, **p)
    np.testing.assert_allclose(relax, expected, rtol=1e-13, atol=1e-13 * np.abs(expected).max())
    assert np.array_equal(q, 16 * xi**2 * (1 - xi) ** 2)


# --- one step of the model ---------------------------------------------------------------
def scenario(shape=(24, 30), spacing="0.2 um", pressure="0.2 MPa", seed=1):
    """A small stripping run (as tests/test_stripping.py builds them)."""
    raw = {
        "name": "t", "seed": seed,
        "grid": {"shape": list(shape), "spacing": spacing, "boundaries": {"x": "periodic", "y": "no_flux"}},
        "model": {"kind": "li_stripping", "geometry": {"electrolyte_thickness": "3 um"},
                  "interface": {"width": "0.5 um", "relaxation_time": "60 s"},
                  "creep": {"model": "reduced"}},  # its closure band is the void kernel's eps_dot term
        "drive": {"current_density": "1 mA/cm^2", "stack_pressure": pressure},
        "time": {"stop": 1.0},
    }
    cfg = validate(raw)
    m = build_model(cfg.model, Grid.from_config(cfg.grid), Backend("numpy", np.dtype("float64"), "cpu"),
                    drive=cfg.drive, seed=cfg.seed)
    return m, m.initial_state()


def models_void_step(m, xi, S_new, eps_dot, dt):
    """Step 4 of LiStripping.euler_step, pfsim/models/stripping/voids.py written out."""
    xp = np
    q = 16 * xi**2 * (1 - xi) ** 2
    cond = m.condensation_rate * q
    excess = S_new - 1.0
    condensed = cond * excess * dt
    lap = -shape_operator(m.grid, m.backend, m.li_side).apply(xi)
    relax = m.mobility * (m.kappa * lap - m.barrier * 2 * xi * (1 - xi) * (1 - 2 * xi)) * m.li_side
    relax += m.wetting_rate * xi * (1 - xi) * m.wall_density  # the contact angle at the SSE
    relax -= q * (float(relax.sum()) / max(float(q.sum()), 1e-300))
    closed = (1 - xi) * (1 - np.exp(-1.5 * eps_dot * dt)) * creep.closure_band(m) * m.li_side
    xi_new = xi - m.x_v0 * condensed + dt * relax + closed
    xi_new = xp.where(m.li_side, xi_new, 0.0)
    clipped = xp.clip(xi_new, 0.0, 1.0)
    exchange = clipped - xi_new  # what clipping changed
    return clipped, exchange, closed


@pytest.fixture(scope="module")
def captured_step():
    """A run with a resolved void, then one step (no new nuclei, no sub-grid void resolved) with
    what its void stage got recorded: the sub-steps' time-mean S (what condenses), the solved S,
    eps_dot."""
    m, state = scenario()
    dt, t = 2.0, 0.0
    for _ in range(60):
        m.euler_step(state, t, dt)
        t += dt
    got, rates = {}, []

    strain_rate, draw, resolve, step = creep.strain_rate, nucleation.draw, nucleation.resolve, voids.step
    update = vk.void_update

    def recording_step(m_, state_, dt_, S_new, eps_dot, S_mean=None):
        got["S_new"], got["S_mean"] = S_new.copy(), S_mean.copy()
        return step(m_, state_, dt_, S_new, eps_dot, S_mean)

    def recording_update(*args):
        got["update"] = args
        return update(*args)

    creep.strain_rate = lambda *a: rates.append(strain_rate(*a)) or rates[-1]
    nucleation.draw = lambda *a, **k: (np.zeros(0, int), False)
    nucleation.resolve = lambda *a, **k: None
    voids.step, vk.void_update = recording_step, recording_update
    before = {k: v.copy() for k, v in state.items()}
    try:
        m.euler_step(state, t, dt)
    finally:
        creep.strain_rate, nucleation.draw, nucleation.resolve, voids.step = strain_rate, draw, resolve, step
        vk.void_update = update
    assert len(rates) == 1 and got["update"][2] is not None
    return m, before, state, got["S_mean"], got["S_new"], rates[0], dt, got["update"]


@pytest.mark.parametrize("form", ["numpy", "cuda"])
def test_step_reproduces_the_model(captured_step, form):
    m, before, after, S_mean, S_new, eps_dot, dt, model_args = captured_step
    xi = before["xi"]
    li = m.li_side.astype(float)
    on = m.li_side
    assert ((xi > 0.05) & (xi < 0.95) & on).sum() > 20 and eps_dot > 0  # voids and creep in play
    backend = m.backend if form == "numpy" else shim("float64")
    relax, q = vk.void_rates(backend, m.grid, xi, li, m.kappa, m.barrier, m.mobility)
    relax = relax + m.wetting_rate * xi * (1 - xi) * m.wall_density  # the model adds the contact angle
    lagrange = lagrange_multiplier(relax, q)
    assert lagrange == pytest.approx(model_args[8], rel=1e-12, abs=1e-300)
    band = creep.closure_band(m)
    xi_new, exchange, closed = vk.void_update(backend, xi, S_mean, li, band, m.x_v0, m.condensation_rate, relax,
                                              lagrange, eps_dot, dt)
    # against the model's own step
    np.testing.assert_allclose(xi_new, after["xi"], rtol=0, atol=1e-13)
    S_after = np.where(on, S_new + float(exchange.sum()) / (m.x_v0 * m.li_nodes), 0.0)
    assert_close(S_after, after["supersaturation"], 1e-12)
    # and pointwise against the model's formulas, at the run's dt and at one long enough to clip
    for step in (dt, 1e4 * dt):
        out = vk.void_update(backend, xi, S_mean, li, band, m.x_v0, m.condensation_rate, relax, lagrange, eps_dot, step)
        ref = models_void_step(m, xi, S_mean, eps_dot, step)
        for a, b in zip(out, ref):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-13 * max(float(np.abs(b).max()), 1e-300))
    assert closed.max() > 0 and not np.array_equal(xi_new, xi)
    assert np.abs(out[1]).max() > 0.01  # clipped at 1e4 dt


@pytest.mark.parametrize("form", ["numpy", "cuda"])
def test_contact_weight_is_the_models(captured_step, form):
    m, before, *_ = captured_step
    xi = before["xi"]
    backend = m.backend if form == "numpy" else shim("float64")
    w = vk.contact_weight(backend, m.grid, xi, m.li_side.astype(float))
    assert np.array_equal(w, m.contact_weight(xi))
    ones = np.ones_like(xi)
    assert np.array_equal(vk.contact_weight(backend, m.grid, ones, m.li_side), m.contact_weight(ones))


# --- real GPU (select with -m gpu) -----------------------------------------------------------
_OK, _WHY = cuda_status()
GPU_RTOL = {"float64": 1e-12, "float32": 1e-4}  # the GPU fuses multiply-adds


@pytest.mark.gpu
@pytest.mark.skipif(not _OK, reason=_WHY)
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cfg", all_grids())
def test_gpu_matches_numpy(cfg, precision):
    g = grid(cfg)
    gpu, nb = select_backend("cupy", precision), numpy_backend(precision)
    xi, S, li, band = random_inputs(g, precision, seed=7)
    rtol = GPU_RTOL[precision]
    dev = [gpu.asarray(a) for a in (xi, S, li, band)]

    assert_close(gpu.to_host(masked_laplacian(gpu, g, dev[0], dev[2])), masked_laplacian(nb, g, xi, li), rtol)
    assert_close(gpu.to_host(vk.contact_weight(gpu, g, dev[0], dev[2])), vk.contact_weight(nb, g, xi, li), rtol)
    relax, q = vk.void_rates(nb, g, xi, li, **PARAMS)
    relax_d, q_d = vk.void_rates(gpu, g, dev[0], dev[2], **PARAMS)
    assert_close(gpu.to_host(relax_d), relax, rtol)
    assert_close(gpu.to_host(q_d), q, rtol)
    sc = update_scalars(relax, q)
    ref = vk.void_update(nb, xi, S, li, band, relax=relax, **sc)
    got = vk.void_update(gpu, *dev, relax=gpu.asarray(relax), **sc)
    for a, b in zip(got, ref):
        assert_close(gpu.to_host(a), b, rtol)
