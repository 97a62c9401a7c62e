"""Plating step 6, docs/plating.md section 2 (Short circuit): metal joined to the anode that
reaches the counter electrode's first two rows; the cell voltage of the Li bridge (rows in
series, each row's metal in parallel); the penetration of the metal below the SSE surface."""

import numpy as np

from ...physics.geometry import periodic_labels


def metal_components(m, xi, threshold=0.5):
    """(labels, ids connected to the anode) of the metal (xi > threshold), lateral walls joined."""
    labels = periodic_labels(m.extent.gather(xi > threshold))  # the whole grid's
    anode = set(np.unique(labels[..., -1])) - {0}
    return labels, anode


def shorted(m, xi):
    if not m.extent.any(bool((m.extent.owned_rows(xi)[..., :2] > 0.5).any())):
        return False
    labels, anode = metal_components(m, xi)
    return bool(anode & (set(np.unique(labels[..., :2])) - {0}))


def short_voltage(m, xi, j):
    """Cell voltage once metal bridges the SSE: the applied current flows electronically through
    the bridge (Li's conductivity), its rows in series, each row's metal in parallel."""
    g = m.extent.whole
    labels, anode = metal_components(m, xi)
    ids = anode & (set(np.unique(labels[..., :2])) - {0})
    bridge = np.isin(labels, list(ids))
    per_row = bridge.sum(axis=tuple(range(g.ndim - 1))).astype(float)
    rows = (g.coords(g.ndim - 1) < m.flat) & (per_row > 0)
    face = g.spacing[0] if g.ndim == 2 else float(np.prod(g.spacing[:-1]))  # 2D: per unit depth
    resistance = float(np.sum(g.spacing[-1] / (m.params.lithium.electronic_conductivity * per_row[rows] * face)))
    return j * m.lateral_area * resistance


def penetration(m, xi):
    """(depth below the flat SSE surface reached by metal joined to the anode, per lateral
    column (m); the number of isolated metal bodies)."""
    g = m.extent.whole
    labels, anode = metal_components(m, xi)
    connected = np.isin(labels, list(anode)) if anode else np.zeros(labels.shape, bool)
    z = g.coords(g.ndim - 1)
    lowest = np.where(connected.any(axis=-1), z[np.argmax(connected, axis=-1)], np.inf)
    pen = np.clip(m.flat - lowest, 0, None)
    return np.where(np.isfinite(pen), pen, 0.0), len(set(np.unique(labels)) - anode - {0})
