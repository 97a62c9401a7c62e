"""Surface tension of the metal on the MAC grid of pfsim.solvers.creep_flow: a continuum surface
force (docs/stripping.md, "Solved mechanics", surface tension).

A surface of tension gamma pulls on the metal with gamma kappa n per area (kappa its mean
curvature, n its unit normal into the metal). Spread over a diffuse metal fraction xi this is the
body force

    f = gamma kappa grad xi,    kappa = -div(grad xi / |grad xi|),

whose integral across the interface is gamma kappa n for any monotone profile, so the diffuse
width enters only through how well kappa is resolved. For a void of radius R in the metal kappa
is -1/R (2D) or -2/R (3D) and f pulls the metal into the void: its surface is loaded as a void
under a remote pressure gamma/R (2 gamma/R) is, the sintering stress.

Discretisation: grad xi on the faces between two metal-side cells (zero on the walls and on faces
touching a solid cell: the SSE carries no Li surface), the cells' normals from the mean of their
open faces' gradients, kappa at cells as minus the divergence of the normals averaged to the faces
(a face on a wall or a solid takes its one metal-side cell's normal, so the surface meets the solid
at the angle it has, not at one imposed), and f on the open faces from kappa averaged there.
Plain array arithmetic on the host: the flow solve assembles its loads there.
"""

import numpy as np

from .creep_flow import _take

FLAT_GRADIENT = 1e-6  # |grad xi| h where the normals fade to zero (a flat profile's plateaus: no false curvature)


def _sides(flow, c, a):
    """The cells below and above each face of axis a (a bounded wall: the cell inside, twice)."""
    if flow.periodic[a]:
        return np.roll(c, 1, axis=a), c
    return (np.concatenate([_take(c, a, slice(0, 1)), c], axis=a),
            np.concatenate([c, _take(c, a, slice(-1, None))], axis=a))


def _lower_upper(flow, f, a):
    """A face array's lower and upper face of each cell along a."""
    if flow.periodic[a]:
        return f, np.roll(f, -1, axis=a)
    n = flow.shape[a]
    return _take(f, a, slice(0, n)), _take(f, a, slice(1, n + 1))


def _open_faces(flow, a):
    """Faces of axis a between two cells of the metal side (not a wall, not touching a solid)."""
    lo, hi = _sides(flow, flow.solid, a)
    open_ = ~lo & ~hi
    if not flow.periodic[a]:
        _take(open_, a, slice(0, 1))[...] = False
        _take(open_, a, slice(-1, None))[...] = False
    return open_


def curvature(flow, xi):
    """(kappa at cells (1/m, 0 in solid cells), grad xi on the faces per axis (1/m)) of the metal
    fraction xi (cells, 1 = metal); kappa < 0 round a void."""
    x = np.asarray(xi, dtype=float).reshape(flow.shape)
    nd, h = flow.nd, flow.h
    grad, cell_grad = [], []
    for a in range(nd):
        lo, hi = _sides(flow, x, a)
        open_ = _open_faces(flow, a)
        g = np.where(open_, (hi - lo) / h[a], 0.0)
        below, above = _lower_upper(flow, g, a)
        ob, oa = _lower_upper(flow, open_.astype(float), a)
        grad.append(g)
        cell_grad.append((below + above) / np.maximum(ob + oa, 1.0))
    size = np.sqrt(sum(c * c for c in cell_grad))
    eps = FLAT_GRADIENT / float(h.min())
    normal = [c / np.sqrt(size * size + eps * eps) for c in cell_grad]
    kappa = np.zeros(flow.shape)
    for a in range(nd):
        n_lo, n_hi = _sides(flow, normal[a], a)
        s_lo, s_hi = _sides(flow, flow.solid, a)
        face = np.where(s_lo, n_hi, np.where(s_hi, n_lo, 0.5 * (n_lo + n_hi)))
        face = np.where(s_lo & s_hi, 0.0, face)
        below, above = _lower_upper(flow, face, a)
        kappa -= (above - below) / h[a]
    kappa[flow.solid] = 0.0
    return kappa, grad


def capillary_force(flow, xi, gamma):
    """(body force per axis on the faces (N/m^3, face-shaped arrays for CreepSolver.solve's
    body_force), its stress scale gamma max|kappa| over the cells that carry a surface (Pa))."""
    kappa, grad = curvature(flow, xi)
    force = []
    for a in range(flow.nd):
        k_lo, k_hi = _sides(flow, kappa, a)
        force.append(gamma * 0.5 * (k_lo + k_hi) * grad[a])
    on_surface = _surface_cells(flow, grad)
    scale = gamma * float(np.abs(kappa[on_surface]).max()) if on_surface.any() else 0.0
    return force, scale


def _surface_cells(flow, grad):
    """Cells with a face whose xi step is at least a tenth: the ones the surface passes through."""
    out = np.zeros(flow.shape, bool)
    for a in range(flow.nd):
        step = np.abs(grad[a]) * flow.h[a] >= 0.1
        below, above = _lower_upper(flow, step, a)
        out |= below | above
    return out & ~flow.solid
