"""The rest of a symmetric Li | SSE | Li cell around the resolved stripping electrode
(docs/stripping.md, The symmetric cell): the SSE pellet beyond the resolved layer, an ohmic
resistance, and the counter electrode, which plates back the current the resolved electrode
strips through a Li | SSE contact of the same kinetics. Its voltage is what a cycler measures on
a symmetric cell: V_cell = V + j (L - L_resolved) / sigma + |eta_counter|."""

import numpy as np
from pydantic import Field

from ...physics.kinetics import ButlerVolmer
from ...schema import Section, quantity


class SymmetricCellConfig(Section):
    electrolyte_thickness: quantity("length", gt=0) = Field(
        description="SSE thickness between the two Li electrodes (the pellet; the resolved SSE layer, "
                    "geometry.electrolyte_thickness, is part of it): its ohmic drop joins the cell voltage")
    counter_contact_fraction: float = Field(
        1.0, gt=0, le=1, description="contact fraction of the counter electrode, which plates: its current density "
                                     "on the contact is j / counter_contact_fraction (1: plating fills the pores it meets)")


def counter_overpotential(kinetics, j, contact):
    """eta of the counter electrode plating j / contact (A/m^2) through `kinetics` (the
    ButlerVolmer of the resolved contact, interphase included): BV(eta) = -j / contact, eta <= 0
    for stripping currents j > 0. Newton from the linear estimate, which lies beyond the root of
    the convex (for j > 0, concave) branch, so the iterates approach it from one side."""
    target = -j / contact
    if target == 0:
        return 0.0
    eta = target * (kinetics.resistance + 1 / (kinetics.i0 * (kinetics.aa + kinetics.ac)))
    for _ in range(100):
        f = float(kinetics.current(np.float64(eta))) - target
        step = f / float(kinetics.slope(np.float64(eta)))
        eta -= step
        if abs(step) <= 1e-12 * (abs(eta) + 1e-6):
            return eta
    raise ArithmeticError(f"counter-electrode overpotential: no convergence at j = {j:g} A/m^2")


def observables(m, state, t):
    """The symmetric cell's voltage and its parts at t (nothing when model.symmetric_cell is unset)."""
    cell = m.params.symmetric_cell
    if cell is None:
        return {}
    j = m.current(t)
    bulk = j * (cell.electrolyte_thickness - m.params.geometry.electrolyte_thickness) / m.params.electrolyte.conductivity
    k = m.params.kinetics  # the counter contact: the resolved one's kinetics and interphase at t
    bv = ButlerVolmer(k.exchange_current_density, k.alpha_anodic, k.alpha_cathodic, m.temperature, m.interphase_resistance(t))
    counter = counter_overpotential(bv, j, cell.counter_contact_fraction)
    return {"symmetric_cell_voltage": m.ledger(state, "voltage") + bulk - counter,
            "counter_overpotential": counter, "pellet_ohmic_drop": bulk}


def check(params):
    """The pellet holds the resolved SSE layer."""
    cell = params.symmetric_cell
    if cell is not None and cell.electrolyte_thickness < params.geometry.electrolyte_thickness:
        raise ValueError(f"symmetric_cell.electrolyte_thickness: expected at least the resolved SSE layer "
                         f"(geometry.electrolyte_thickness, {params.geometry.electrolyte_thickness:g} m), "
                         f"got {cell.electrolyte_thickness:g} m")
