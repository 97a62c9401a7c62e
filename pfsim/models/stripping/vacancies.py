"""Stripping step 3, docs/stripping.md section 3: backward Euler of the vacancy supersaturation,

    (S' - S)/dt = div(D_v grad S') - k_s^2 D_v xi (S' - 1) - k_c q(xi) (S' - 1)
                  - k_n (S' - S_r) [sub-grid voids, at their sites] + R_v,

with the unresolved foil beyond the collector side as a Robin condition (the exact backward-Euler
solution of a 1D layer of that thickness with bulk sinks), in event-limited sub-steps that also
grow the sub-grid voids and draw nucleation (section 5)."""

import numpy as np

from ...kernels import voids as vk
from . import nucleation

MAX_LOSS = 0.5  # the largest share of its volume a dissolving sub-grid void may lose in one sub-step


def foil_robin(m, state, dt):
    """(g, S_inf, shape) per whole-grid column for a sub-step dt: the flux into the unresolved
    foil is g (S_top' - S_inf) (S m/s), the foil's new mean S_inf + (S_top' - S_inf) shape.
    The foil (thickness L, bulk sinks k_s, no flux at its far side, old mean S_f) solves
    (S' - S_f)/dt = D S'' - k_s^2 D (S' - 1): S' - S_inf ~ cosh(mu (L - z)), mu^2 = 1/(D dt) + k_s^2."""
    L, D = m.foil_layer, m.d_vac
    S_f = m.foil(state)
    if L <= 0:
        return np.zeros_like(S_f), S_f, np.ones_like(S_f)
    a = 1 / dt + m.sink_k2 * D
    S_inf = (S_f / dt + m.sink_k2 * D) / a
    mu = np.sqrt(a / D)
    mL = mu * L
    g = D * mu * np.tanh(mL)
    shape = np.tanh(mL) / mL
    return np.full_like(S_f, g), S_inf, np.full_like(S_f, shape)


def solve(m, state, dt, injection, k_n, S_r, g, S_inf):
    """One backward-Euler solve over dt: (1/dt + k_s^2 D xi + k_c q + k_n + g/h) S' - div(D grad S')
    = S/dt + (k_s^2 D xi + k_c q) 1 + k_n S_r + (g/h) S_inf + R_v. Returns (S', sinks): sinks is the
    vacancy volume (model units) the bulk sinks and the foil took."""
    xp, p = m.xp, m.params
    xi, S = state["xi"], state["supersaturation"]
    q = vk.interface_indicator(xi)
    sink = m.sink_k2 * m.d_vac * xi
    cond = m.condensation_rate * q
    del q
    extra_diag, extra_rhs = m.column_terms(k_n, k_n * S_r, g / m.grid.spacing[-1], g * S_inf / m.grid.spacing[-1])
    m.vacancy_problem.set_diagonal(xp.where(m.li_side, 1 / dt + sink + cond + extra_diag, 1.0))
    rhs = xp.where(m.li_side, S / dt + sink + cond + injection + extra_rhs, 0.0)
    del cond
    S_new, _ = m.vacancy_problem.solve(rhs, x0=S, rtol=p.potential_tolerance)
    del rhs
    to_sinks = m.extent.total(sink * (S_new - 1.0)) * dt * m.x_v0 * m.node_volume
    return S_new, to_sinks


def step(m, state, dt, injection, stress):
    """The vacancy, sub-grid void and nucleation stages over dt in event-limited sub-steps: each
    accepted sub-step changes the peak interface supersaturation by at most the fraction
    `max_supersaturation_change`, expects at most `max_expected_events` nucleation events and
    dissolves no sub-grid void above nucleation.dump_volume by more than MAX_LOSS of its volume
    (else it is retried with a shorter one). Returns the time-mean of the solved S over dt (what
    the resolved voids condensed, section 4)."""
    p, xp = m.params.nucleation, m.xp
    S = state["supersaturation"]
    h_min = dt * 1e-9
    h = m.ledger(state, "substep") or dt * 1e-6  # the proposed sub-step (carried across steps)
    done, n, mean, peak = 0.0, 0, xp.zeros_like(S), 0.0
    xi_site = m.sites_of(state["xi"])
    nucleating = p.enabled
    while done < dt * (1 - 1e-12):
        trial = min(h, dt - done)
        k_n, S_r = nucleation.subgrid_sink(m, state, stress, trial)
        g, S_inf, shape = foil_robin(m, state, trial)
        S_new, to_sinks = solve(m, state, trial, injection, k_n, S_r, g, S_inf)
        old_site, new_site = m.sites_of(S), m.sites_of(S_new)
        peak_old, peak_new = old_site.max(), new_site.max()
        change = abs(peak_new - peak_old) / max(peak_old, peak_new, 1e-300)
        events = nucleation.expected_events(m, state, new_site, xi_site, stress, trial) if nucleating else 0.0
        dv = nucleation.volume_change(m, k_n, S_r, new_site, trial)
        loss = nucleation.largest_loss(m, state, dv)
        factor = min(2.0, 0.8 * p.max_supersaturation_change / max(change, 1e-300),
                     0.8 * p.max_expected_events / max(events, 1e-300), 0.8 * MAX_LOSS / max(loss, 1e-300))
        too_far = change > p.max_supersaturation_change or events > p.max_expected_events or loss > MAX_LOSS
        if too_far and trial > h_min:
            h = max(trial * max(factor, 0.1), h_min)  # rejected: retry shorter
            continue
        # accepted: book the sinks and the foil, grow the sub-grid voids, draw nucleation
        top = m.top_of(S_new)
        to_foil = float((g * (top - S_inf)).sum()) * trial * m.x_v0 * m.node_volume / m.grid.spacing[-1]
        m.set_foil(state, S_inf + (top - S_inf) * shape)
        m._add(state, "sink_volume", to_sinks + to_foil)
        S[...] = xp.where(m.li_side, S_new, 0.0)
        del S_new
        mean += S * trial  # the solved S, before the sub-grid voids' corrections (what condensed)
        nucleation.grow(m, state, dv)
        if nucleating:
            chosen, capped = nucleation.draw(m, state, new_site, xi_site, stress, trial, n)
            nucleation.plant_nuclei(m, state, chosen, new_site, stress, capped)
        done += trial
        n += 1
        peak = max(peak, peak_new)
        proposal = max(trial * max(factor, 0.2), h_min)
        h = max(proposal, h) if (trial < h and factor >= 1) else proposal  # a step cut short by dt
    m._set(state, "substep", h)
    m._set(state, "substeps", n)
    m._set(state, "step_peak_supersaturation", peak)
    return mean / dt
