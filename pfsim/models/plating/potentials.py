"""Plating steps 1-2, docs/plating.md section 2 (Ions, Electrons, Galvanostatic control): the
electron potential -div(sigma grad phi_e) = -w i(eta) and the Li+ potential
-div(kappa grad phi) = w i(eta), with i Butler-Volmer at eta = phi_e - phi + Omega p / F."""

import numpy as np

from ...errors import StopRun
from ...kernels import plating as pk
from ...solvers.elliptic import face_conductivities
from . import salt
from .connectivity import metal_components

NEWTON_STEP = 0.05  # V: the largest change of the cell voltage per Newton iteration


def operators(m, state):
    """Ionic (and electronic) problems, rebuilt when h(xi) has moved by operator_refresh."""
    xp = m.xp
    ref = state["xi_operator"]  # checkpointed: a resumed run rebuilds exactly when this one does
    moved = m.extent.peak(xp.abs(pk.h_of(state["xi"]) - pk.h_of(ref)))
    if moved > m.params.operator_refresh:
        ref[...] = state["xi"]
        m._ops_xi = None
    if m._ops_xi is None:
        h = pk.h_of(ref)
        kappa = m.kappa_map * salt.electrolyte_share(m, h)
        m.ionic = m.extent.elliptic(k=kappa, c=0.0, mask=~m.bottom)
        # k_face / h^2 between the counter electrode's row and the next (the solver's faces)
        m.counter_faces = face_conductivities(m.grid, kappa, xp)[-1][..., 0].astype(m.backend.dtype)
        if m.leakage:
            # metal joined to the anode is at V (Li conducts ~1e15 times better than the SSE);
            # isolated metal is a conductor 1e6 times the SSE's best, floating
            labels, anode = metal_components(m, ref, threshold=0.01)  # with its diffuse rim
            held = np.isin(labels, list(anode)) if anode else np.zeros(labels.shape, bool)
            m.anode_metal = xp.asarray(m.extent.local(held))
            top = m.sigma_e_top
            sig = 1e6 * top * h + m.sigma_e_map * (1 - h) + 1e-6 * top
            m.electronic = m.extent.elliptic(k=sig, c=0.0, mask=~(m.bottom | m.top | m.anode_metal))
        if m.params.electrolyte.salt is not None:
            salt.operator(m, h)
        m._ops_xi = True


def reaction_current(m, eta):
    """i(eta) per node; with the salt, the cathodic branch scaled by c / c0 (m.cathodic)."""
    return m.i0_ratio * m.kinetics.current(eta, m.xp, m.cathodic)


def solve_electrons(m, state, w, stress):
    """phi_e with the previous step's reaction as its source; V lagged on the collector.
    stress: the step's Monroe-Newman shift Omega p / F of eta (V)."""
    xp, bv = m.xp, m.kinetics
    V = m.ledger(state, "voltage")
    phi_e0 = state["electron_potential"]
    eta = phi_e0 - state["potential"] + stress
    # electrons released by the anodic reaction, linearised in phi_e (stable for any sigma_e)
    slope = w * m.i0_ratio * bv.slope(eta, xp, m.cathodic)
    source = -w * reaction_current(m, eta) + slope * phi_e0
    held = m.top | m.anode_metal
    m.electronic.set_diagonal(xp.where(held | m.bottom, 0.0, slope))
    b = xp.where(held, V, xp.where(m.bottom, 0.0, source))
    phi_e, _ = m.electronic.solve(b, x0=phi_e0, rtol=m.params.potential_tolerance)
    state["electron_potential"][...] = phi_e
    # the anode and its rim follow V within the step; elsewhere phi_e is as solved
    return xp.where(held, 0.0, phi_e), held.astype(phi_e.dtype)


def solve_ions(m, state, w, E, coupled, j_applied, stress):
    """Newton on the Butler-Volmer source with the galvanostatic constraint. The slope (the
    operator's diagonal, and V's response phi_b) is kept while V converges fast (chord
    steps, one solve each) and refreshed when it does not. stress: as in solve_electrons."""
    xp, bv, prob = m.xp, m.kinetics, m.ionic
    phi, V = state["potential"], m.ledger(state, "voltage")
    active = ~m.bottom
    shift = E + stress
    tol = m.params.potential_tolerance
    change, refresh = np.inf, True
    for _ in range(200):
        eta0 = shift + coupled * V - phi
        if refresh:
            slope = m.i0_ratio * bv.slope(eta0, xp, m.cathodic)
            c = xp.where(active, w * slope, 0.0)
            prob.set_diagonal(c)
            phi_b, _ = prob.solve(c * coupled, rtol=tol)
            per_volt = m.extent.total(c * coupled - c * phi_b) * m.node_volume
            if per_volt <= 0:
                raise StopRun("the anode gets no Li+ (no contact, or metal spans the electrolyte)")
        i_k = m.i0_ratio * bv.current(eta0, xp, m.cathodic)
        b_a = xp.where(active, w * (i_k + slope * (shift - eta0)), 0.0)
        phi_a, _ = prob.solve(b_a, x0=phi - V * phi_b, rtol=tol)
        base = m.extent.total(b_a - c * phi_a) * m.node_volume
        V_new = (j_applied * m.lateral_area - base) / per_volt
        damped = abs(V_new - V) > NEWTON_STEP
        if damped:  # far from the root of an exponential: small steps, fresh slopes
            V_new = V + np.copysign(NEWTON_STEP, V_new - V)
            phi_a, _ = prob.solve(b_a + c * coupled * V_new, x0=phi, rtol=tol)
            phi, phi_a = phi_a, None
        else:
            phi = phi_a + V_new * phi_b
        done = not damped and abs(V_new - V) <= 1e-10 + 1e-8 * abs(V_new)
        refresh = damped or abs(V_new - V) > 0.25 * change
        change, V = abs(V_new - V), V_new
        if done:
            break
    if abs(V) > m.params.voltage_limit:
        raise StopRun(f"cell voltage {V:.3g} V beyond the limit {m.params.voltage_limit:g} V")
    state["potential"][...] = phi
    m._set(state, "voltage", V)
    return V


def ionic_flux_to_counter(m, phi):
    """Ionic current from the counter electrode into the SSE (A; per unit depth in 2D), with the
    sign of the Faradaic current: the flux through the faces of the Dirichlet row."""
    return m.extent.total(m.counter_faces * (phi[..., 1] - phi[..., 0])) * m.node_volume


def record_diagnostics(m, state, w, current, eta):
    """The reaction-weighted mean overpotential, the peak |i| in the interface band; the
    step's arrays are kept in `last_step` for analysis (not checkpointed)."""
    xp, ext = m.xp, m.extent
    m.last_step = {"w": w, "current": current, "eta": eta}
    wi = w * xp.abs(current)
    wsum, weta = ext.total(wi, wi * eta)
    if wsum > 0:
        band = w * max(ext.whole.spacing) > 0.1
        m.record_step(state, ext.peak(xp.abs(current) * band), weta / wsum)
    else:
        m.record_step(state, np.nan, np.nan)
