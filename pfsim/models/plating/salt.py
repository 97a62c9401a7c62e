"""Plating step 2b, docs/plating.md section 2 (Salt; `model.electrolyte.salt`): the Li+ (=
anion) concentration c of a binary, electroneutral liquid electrolyte,

    s dc/dt = div(D s grad c) + (1 - t+) w i noise / F        (+ the counter electrode's release)

s(x, xi) = (1 - h(xi)) [within one node of the electrolyte] + 1e-10 the electrolyte's share of a
node, the weighting of the ionic conductivity (potentials.py); D the ambipolar diffusivity; w i
noise the Faradaic current per volume that moves the metal (i < 0 plates: salt is consumed). Of
the Li+ that plating takes, t+ is brought in by migration and (1 - t+) by diffusion, which leaves
the anion behind: the salt falls by (1 - t+) i / F. The salt of the cell is the integral of s c:
the metal holds none. Where it grows, the electrolyte it takes leaves with its salt at its
concentration (s dc/dt, not d(s c)/dt): in a Li | Li cell the counter electrode recedes as the
front advances and the electrolyte between them moves as a whole, keeping its concentration;
pfsim's counter electrode is a fixed wall, and pushing that salt into the electrolyte left would
raise c by the advance over the gap (a closed rigid cell). The counter electrode (Li, the first
node row) returns what the front took, spread evenly over its row. Ledger: salt now = initial +
taken at the front + returned at the counter + carried off by the metal's advance. Backward
Euler in one elliptic solve (the solver of the potentials, NumPy or CuPy alike): no limit on the
time step. The reaction is that of the step (the potentials were solved with c of the step's
start), so Li and salt stay balanced node by node. The kinetics take c through the cathodic
branch (c / c0)."""

import numpy as np

from ...errors import StopRun
from ...kernels import plating as pk
from ...physics.constants import FARADAY
from ...solvers.elliptic import face_conductivities

FIELD = "salt_concentration"
UNITS = {"salt_concentration_front_min": "mol/m^3", "salt_concentration_front_mean": "mol/m^3",
         "salt_balance_error": "1"}
LEDGER = ("initial_salt", "salt_reacted", "salt_released", "salt_displaced")  # mol (per metre of depth in 2D)
# the residual of a solve is salt lost: the change of a step is solved to near the float64 floor
# (a few more CG iterations than the potentials' 1e-9), so the balance holds to ~1e-14
TOLERANCE = 1e-13
PRESENT = 1e-6  # the least electrolyte share of a node whose c counts for depletion


def share(m, xi_operator):
    """s: the electrolyte's share of each node, from the xi the potential operators are built from."""
    return electrolyte_share(m, pk.h_of(xi_operator))


def electrolyte_share(m, h):
    """(1 - h) where ions may be, plus the floor: the weight of the ionic conductivity and of c."""
    return (1 - h) * m.ion_space + pk.ION_FLOOR


def operator(m, h):
    """The diffusion operator on the xi the ionic operator is built from (the same refresh)."""
    m.salt_share = electrolyte_share(m, h)
    k = m.params.electrolyte.salt.diffusivity * m.salt_share
    m.salt_problem = m.extent.elliptic(k=k, c=m.salt_share, mask=None)  # every node carries c: no Dirichlet row
    m.salt_faces = face_conductivities(m.grid, k, m.xp)  # the solver's faces (D s / h^2), for the explicit flux
    m.salt_dt = None  # the diagonal s / dt is set by the next step


def cathodic_factor(m, state):
    """c / c0 for the kinetics' cathodic branch (None without salt: the plain Butler-Volmer)."""
    if m.params.electrolyte.salt is None:
        return None
    return m.xp.maximum(state[FIELD], 0.0) * (1.0 / m.params.electrolyte.salt.concentration)


def step(m, state, w, current, noise, share_before, t, dt):
    """Backward Euler of c over dt with the step's reaction; share_before: s of the step's start
    (the salt the metal's advance carries off is (s - s_before) c of the start). The step that
    would take c to 0 or below where there is electrolyte (the front: Sand's time) ends the run
    before it changes the salt or the metal (no clipping is needed: c stays positive up to that
    step); the depletion time is interpolated within the step."""
    xp, salt = m.xp, m.params.electrolyte.salt
    rate = ((1 - salt.transference_number) / FARADAY) * w * current * noise  # mol/(m^3 s), < 0 plating
    reacted = m.extent.total(rate) * m.node_volume  # mol/s
    counter_nodes = int(np.prod(m.extent.whole.shape[:-1]))
    release = -reacted / (counter_nodes * m.node_volume)  # the counter electrode returns it
    c_old = state[FIELD]
    if m.salt_dt != dt:
        m.salt_problem.set_diagonal(m.salt_share * (1.0 / dt))
        m.salt_dt = dt
    # solved for the change: A (c_new - c_old) = sources + div(D s grad c_old) with
    # A = s / dt - div D s grad, so the tolerance is relative to the step's change, not to c
    # (the residual of the solve is salt lost); the divergence as face fluxes, which sum to 0
    sources = rate + xp.where(m.bottom, release, 0.0)
    rhs = sources + divergence(m.salt_faces, c_old, xp)
    change, _ = m.salt_problem.solve(rhs, rtol=TOLERANCE)
    c_new = c_old + change
    # depletion where there is electrolyte (c in the metal's far tail carries no salt)
    present = m.salt_share > PRESENT
    low_new = m.extent.least(xp.where(present, c_new, np.inf))
    if low_new <= 0:
        low_old = m.extent.least(xp.where(present, c_old, np.inf))
        t_zero = t + dt * low_old / (low_old - low_new)  # c at its least node falls linearly within the step
        raise StopRun(f"Li+ depleted at the front (Sand's time) at t = {t_zero:.6g} s",
                      {"kind": "salt_depletion", "time": t_zero,
                       "capacity": abs(m.ledger(state, "faradaic_charge"))})
    displaced = m.extent.total((m.salt_share - share_before) * c_old) * m.node_volume
    state[FIELD][...] = c_new
    m._add(state, "salt_reacted", reacted * dt)
    m._add(state, "salt_released", -reacted * dt)
    m._add(state, "salt_displaced", displaced)


def divergence(faces, c, xp):
    """div(D s grad c) on the solver's faces: the flux K (c_up - c) through each node's upper face
    (0 beyond a bounded wall, where the solver has no face), less that through its lower face."""
    out = 0.0
    for axis, K in enumerate(faces):
        flux = K * (xp.roll(c, -1, axis=axis) - c)
        out = out + flux - xp.roll(flux, 1, axis=axis)
    return out


def total(m, state):
    """The salt in the cell, the integral of s c (mol; per metre of depth in 2D)."""
    return m.extent.total(share(m, state["xi_operator"]) * state[FIELD]) * m.node_volume


def observables(m, state):
    """The least and the interface-weighted mean c at the front (the band where the interface
    weight w of the state's metal exceeds 0.1 per spacing, as the peak current's; mean weighted
    by w), and the salt balance: salt now - (initial + taken by the front + released at the
    counter electrode + carried off by the metal's advance), relative to what the front took.
    From the state alone (a resumed run's first sample is the uninterrupted run's)."""
    xp, ext, c, p = m.xp, m.extent, state[FIELD], m.params
    out = {}
    w, _ = pk.interface_terms(m.backend, m.grid, state["xi"], p.interface.width, m.tau, m.aniso)
    w = xp.where(m.bottom, 0.0, w) * m.ion_space  # the model's reaction weight with the salt
    band = w * max(ext.whole.spacing) > 0.1
    if ext.any(bool(band.any())):
        out["salt_concentration_front_min"] = ext.least(xp.where(band, c, np.inf))
        wsum, wc = ext.total(w, w * c)
        out["salt_concentration_front_mean"] = wc / wsum
    reacted = m.ledger(state, "salt_reacted")
    gained = total(m, state) - m.ledger(state, "initial_salt")
    error = gained - reacted - m.ledger(state, "salt_released") - m.ledger(state, "salt_displaced")
    out["salt_balance_error"] = abs(error) / abs(reacted) if reacted != 0 else 0.0
    return out
