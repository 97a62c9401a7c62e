"""Plating step 2b, docs/plating.md section 2 (Salt; `model.electrolyte.salt`): the Li+ (=
anion) concentration c of a binary, electroneutral liquid electrolyte,

    dc/dt = div(D s(x, xi) grad c) + (1 - t+) w i noise / F        (+ the counter electrode's release)

D the ambipolar diffusivity, s = (1 - h(xi)) [within one node of the electrolyte] + 1e-10 the
weighting of the ionic conductivity (potentials.py), w i noise the Faradaic current per volume
that moves the metal (i < 0 plates: the salt is consumed). Of the Li+ that plating takes, t+ is
brought in by migration and (1 - t+) by diffusion, which leaves the anion behind: the salt falls
by (1 - t+) i / F. The counter electrode (Li, the first node row) returns what the front took,
spread evenly over its row, so the cell's salt is conserved. Backward Euler in one elliptic
solve (the solver of the potentials, NumPy or CuPy alike): no limit on the time step. The
reaction is that of the step (the potentials were solved with c of the step's start), so Li and
salt stay balanced node by node. The kinetics take c through the cathodic branch (c / c0)."""

import numpy as np

from ...errors import StopRun
from ...kernels import plating as pk
from ...physics.constants import FARADAY
from . import potentials

FIELD = "salt_concentration"
UNITS = {"salt_concentration_front_min": "mol/m^3", "salt_concentration_front_mean": "mol/m^3",
         "salt_balance_error": "1"}
LEDGER = ("initial_salt", "salt_reacted", "salt_released")  # mol (per metre of depth in 2D)
# the residual of a solve is salt lost: the change of a step is solved to near the float64 floor
# (a few more CG iterations than the potentials' 1e-9), so the balance holds to ~1e-12
TOLERANCE = 1e-13


def operator(m, h):
    """The diffusion operator on the xi the ionic operator is built from (the same refresh)."""
    salt = m.params.electrolyte.salt
    k = salt.diffusivity * ((1 - h) * m.ion_space + potentials.ION_FLOOR)
    m.salt_problem = m.extent.elliptic(k=k, c=1.0, mask=None)  # every node carries c: no Dirichlet row
    m.salt_dt = None  # the diagonal 1/dt is set by the first step


def cathodic_factor(m, state):
    """c / c0 for the kinetics' cathodic branch (None without salt: the plain Butler-Volmer)."""
    if m.params.electrolyte.salt is None:
        return None
    return m.xp.maximum(state[FIELD], 0.0) * (1.0 / m.params.electrolyte.salt.concentration)


def step(m, state, w, current, noise, t, dt):
    """Backward Euler of c over dt with the step's reaction. The step that would take c to 0 or
    below anywhere (the front: Sand's time) ends the run before it changes the salt or the metal
    (no clipping is needed: c stays positive up to that step); the depletion time is interpolated
    within the step."""
    xp, salt = m.xp, m.params.electrolyte.salt
    rate = ((1 - salt.transference_number) / FARADAY) * w * current * noise  # mol/(m^3 s), < 0 plating
    reacted = m.extent.total(rate) * m.node_volume  # mol/s
    counter_nodes = int(np.prod(m.extent.whole.shape[:-1]))
    release = -reacted / (counter_nodes * m.node_volume)  # the counter electrode returns it
    c_old = state[FIELD]
    if m.salt_dt != dt:
        m.salt_problem.set_diagonal(1.0 / dt)
        m.salt_dt = dt
    # solved for the change: (1/dt - div D s grad) (c_new - c_old) = sources + div D s grad c_old,
    # so the solve's tolerance is relative to the step's change, not to c (its residual is salt lost)
    sources = rate + xp.where(m.bottom, release, 0.0)
    change, _ = m.salt_problem.solve(sources + c_old * (1.0 / dt) - m.salt_problem.apply(c_old), rtol=TOLERANCE)
    c_new = c_old + change
    low_new = m.extent.least(c_new)
    if low_new <= 0:
        low_old = m.extent.least(c_old)
        t_zero = t + dt * low_old / (low_old - low_new)  # c at its least node falls linearly within the step
        raise StopRun(f"Li+ depleted at the front (Sand's time) at t = {t_zero:.6g} s",
                      {"kind": "salt_depletion", "time": t_zero,
                       "capacity": abs(m.ledger(state, "faradaic_charge"))})
    state[FIELD][...] = c_new
    m._add(state, "salt_reacted", reacted * dt)
    m._add(state, "salt_released", -reacted * dt)


def total(m, state):
    """The salt in the cell (mol; per metre of depth in 2D)."""
    return m.extent.total(state[FIELD]) * m.node_volume


def observables(m, state):
    """The least and the interface-weighted mean c at the front (the band where the interface
    weight w of the state's metal exceeds 0.1 per spacing, as the peak current's; mean weighted
    by w), and the salt balance: salt now - (initial + released at the counter electrode + taken
    by the front), relative to what the front took. From the state alone (a resumed run's
    first sample is the uninterrupted run's)."""
    xp, ext, c, p = m.xp, m.extent, state[FIELD], m.params
    out = {}
    w, _ = pk.interface_terms(m.backend, m.grid, state["xi"], p.interface.width, m.tau, m.aniso)
    w = xp.where(m.bottom, 0.0, w)
    band = w * max(ext.whole.spacing) > 0.1
    if ext.any(bool(band.any())):
        out["salt_concentration_front_min"] = ext.least(xp.where(band, c, np.inf))
        wsum, wc = ext.total(w, w * c)
        out["salt_concentration_front_mean"] = wc / wsum
    reacted = m.ledger(state, "salt_reacted")
    gained = total(m, state) - m.ledger(state, "initial_salt")
    error = gained - reacted - m.ledger(state, "salt_released")
    out["salt_balance_error"] = abs(error) / abs(reacted) if reacted != 0 else 0.0
    return out
