"""Stripping step 1, docs/stripping.md section 1: the ionic potential phi in the SSE,
-div(sigma grad phi) = j / h at the contact, with the Butler-Volmer current of the
equipotential metal at V; V found so that the total current is the applied one."""

import numpy as np

from ... import stencil
from ...errors import StopRun


def solve(m, state, j_applied):
    """Newton on the Butler-Volmer contact with the galvanostatic constraint (superposition in V)."""
    xp, bv, prob = m.xp, m.kinetics, m.potential_problem
    phi, V = state["potential"], m.ledger(state, "voltage")
    w = m.contact_weight(state["xi"])
    contact = m.extent.total(w) / m.full_contact
    if contact < m.params.failure_contact_fraction:
        reason = f"contact failure: contact fraction {contact:.3g} under {m.params.failure_contact_fraction:g}"
        raise StopRun(reason, {"kind": "contact", "current_density": j_applied, "contact_fraction": contact,
                               "reason": reason})
    # phi_b starts from zero every step, so a resumed run repeats the same iterations
    phi_b = None
    tol = m.params.potential_tolerance
    for _ in range(50):
        eta = V - phi
        j0, jp = bv.current(eta, xp), bv.slope(eta, xp)
        c = w * jp
        b0 = w * (j0 - jp * eta)
        del eta, j0, jp  # (dropped before the solves: the step's peak memory is in them)
        prob.set_diagonal(c)
        phi_a = None
        phi_a, _ = prob.solve(b0, x0=phi, rtol=tol)
        phi_b, _ = prob.solve(c, x0=phi_b, rtol=tol)
        base, per_volt = (v * m.node_volume for v in m.extent.total(b0 - c * phi_a, c - c * phi_b))
        V_new = (j_applied * m.lateral_area - base) / per_volt
        phi = phi_a + V_new * phi_b
        if abs(V_new) > m.params.voltage_limit:
            reason = f"contact failure: cell voltage {V_new:.3g} V beyond the limit {m.params.voltage_limit:g} V"
            raise StopRun(reason, {"kind": "voltage", "current_density": j_applied, "cell_voltage": V_new,
                                   "contact_fraction": contact, "reason": reason})
        done = abs(V_new - V) <= 1e-10 + 1e-8 * abs(V_new)
        V = V_new
        if done:
            break
    state["potential"][...] = phi
    state["ledger"][m.ledger_names.index("voltage")] = V
    return V, bv.current(V - phi, xp)


def solve_at(m, state, t):
    """The potentials, cell voltage and diagnostics of the state at t, nothing moved (the
    model's solve_potentials: the t = 0 sample of a new run is the solved state)."""
    m.refresh_contact(state)
    m.follow_temperature(state, t)
    _, j_sse = solve(m, state, m.current(t))
    record_diagnostics(m, state, j_sse)


def metal_side_current(m, j_sse, xi):
    """Faradaic current per volume (A/m^3) at each Li-side node from its contact faces."""
    r = m.xp.zeros(m.grid.shape, dtype=xi.dtype)
    for a, step, inv_h, mask in m.faces:
        r += stencil.shifted(mask * j_sse, m.grid, a, -step, m.xp) * inv_h
    return r * xi


def record_diagnostics(m, state, j_sse):
    """Peak |j| on a contact face, and the contact-weighted mean of V - phi at the contact."""
    ext, w = m.extent, m.contact_weight(state["xi"])
    w_sum, w_eta = ext.total(w, w * (m.ledger(state, "voltage") - state["potential"]))
    if w_sum > 0:
        m.record_step(state, ext.peak(m.xp.abs(j_sse * (w > 0))), w_eta / w_sum)
    else:
        m.record_step(state, np.nan, np.nan)
