"""Stripping step 3, docs/stripping.md section 3: backward Euler of the vacancy supersaturation,
(S' - S)/dt = div(D_v grad S') - k_s^2 D_v xi (S' - 1) - k_c q(xi) (S' - 1) + R_v."""

from ...kernels import voids as vk


def step(m, state, dt, injection):
    """(1/dt + k_s^2 D xi + k_c q(xi)) S - div(D grad S) = S/dt + (sinks + k_c q) 1 + injection.
    Returns the solved S."""
    xp, p = m.xp, m.params
    xi, S = state["xi"], state["supersaturation"]
    q = vk.interface_indicator(xi)
    sink = m.sink_k2 * m.d_vac * xi
    cond = m.condensation_rate * q
    del q
    m.vacancy_problem.set_diagonal(xp.where(m.li_side, 1 / dt + sink + cond, 1.0))
    rhs = xp.where(m.li_side, S / dt + sink + cond + injection, 0.0)
    del cond
    S_new, _ = m.vacancy_problem.solve(rhs, x0=S, rtol=p.potential_tolerance)
    del rhs
    m._add(state, "sink_volume", m.extent.total(sink * (S_new - 1.0)) * dt * m.x_v0 * m.node_volume)
    return S_new
