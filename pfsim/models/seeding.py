"""Random nucleation during a run of the generic Allen-Cahn model (`model.nucleation`), and the
observables of a nucleation-and-growth (KJMA) study.

Seeds are drawn at the times k * every (k = 1, 2, ...): at each, a Poisson number of centres
with mean rate * V * every (V the domain's volume, its area in 2D), uniform over the domain, from
the Philox stream keyed by (run seed, NUCLEATION_STREAM) at counter (0, 0, 0, k). The draws of
draw time k depend on the run seed and k alone, not on the time step or on when the run was
stopped and resumed: a resumed run draws the same seeds as an uninterrupted one. The step that
reaches (or passes) k * every plants that draw's seeds at its end. A centre that falls in the
transformed phase (eta > 1/2 at its nearest node) is a phantom nucleus, as in the KJMA theory,
and is skipped; the others are tanh spheres (discs) of eta of the given radius and the model's
equilibrium width, distances measured to the nearest periodic image on periodic axes, combined
with the field by their maximum or by a sum clipped to 1.
"""

from typing import Literal

import numpy as np
from pydantic import Field

from ..schema import Duration, Length, Section, Time

# second word of the Philox key of the nucleation draws (the fields' initial streams use 0, 1, ...)
NUCLEATION_STREAM = 0x5EED
# the most seeds a draw may expect (rate * V * every): more would stall the run
MAX_EXPECTED = 1.0e4


class Nucleation(Section):
    """Random seeds during the run: a rate per volume (area in 2D) per time, drawn every `every`."""

    rate: float = Field(gt=0, description="seeds per unit volume (area in 2D) per unit time")
    radius: Length = Field(description="radius of a new seed where its profile is half-way")
    every: Duration = Field(description="time between draws (each draws rate * volume * every seeds on average)")
    until: Time | None = Field(None, description="no draws after this time (none: to the end of the run)")
    combine: Literal["max", "clipped_sum"] = Field(
        "max", description="how a seed combines with the field: their maximum, or their sum clipped to 1")


def lengths(grid):
    """The domain's length on every axis of the whole grid (periodic: n h; bounded: (n - 1) h)."""
    whole = getattr(grid, "whole", None) or grid
    return [(n if p else n - 1) * h for n, h, p in zip(whole.shape, whole.spacing, whole.periodic)]


def draws_due(cfg: Nucleation, t: float, dt: float) -> range:
    """The draw indices k whose time k * every falls in the step (t, t + dt] (the tolerance of
    pfsim.simulation.TimeInterval)."""
    def passed(s):
        return int(np.floor(s / cfg.every * (1 + 1e-12) + 1e-9))

    end = t + dt if cfg.until is None else min(t + dt, cfg.until)
    return range(passed(t) + 1, passed(end) + 1)


def centres(cfg: Nucleation, grid, seed: int, k: int) -> np.ndarray:
    """The centres of draw k (rows of coordinates), from the stream of (seed, k)."""
    whole = getattr(grid, "whole", None) or grid
    span = lengths(grid)
    stream = np.random.Generator(np.random.Philox(key=[seed, NUCLEATION_STREAM], counter=[0, 0, 0, k]))
    count = stream.poisson(cfg.rate * float(np.prod(span)) * cfg.every)
    return np.asarray(whole.origin) + stream.uniform(0.0, 1.0, size=(count, len(span))) * np.asarray(span)


def check(cfg: Nucleation, grid, where="model.nucleation"):
    if getattr(grid, "member", None) is not None:
        return  # the stacked grid of an ensemble (pfsim.ensemble): its members are checked
    expected = cfg.rate * float(np.prod(lengths(grid))) * cfg.every
    if expected > MAX_EXPECTED:
        raise ValueError(f"{where}: rate * volume * every = {expected:.3g} seeds per draw; at most "
                         f"{MAX_EXPECTED:.0f} (draw more often)")


def _nearest_node(grid, centre):
    """Index of the node nearest to `centre` on the whole grid."""
    whole = getattr(grid, "whole", None) or grid
    out = []
    for x0, o, h, n, p in zip(centre, whole.origin, whole.spacing, whole.shape, whole.periodic):
        i = int(np.rint((x0 - o) / h))
        out.append(i % n if p else min(max(i, 0), n - 1))
    return tuple(out)


def transformed_at(model, eta, centre) -> bool:
    """Whether eta > 1/2 at the node nearest `centre` (on a decomposed grid: on the rank that holds it)."""
    node = _nearest_node(model.grid, centre)
    ext = model.extent
    if not ext.decomposed:
        return float(eta[node]) > 0.5
    return bool(ext.gather(eta)[node] > 0.5)


# tanh(x) is 1 to the last bit of a float64 beyond x = 19.1: a seed's profile is exactly 0 there
TANH_REACH = 20.0


def window(grid, centre, reach):
    """Per axis, the node indices within `reach` of `centre` (wrapping round periodic axes; all
    of an axis shorter than the window), as NumPy arrays; on a rank's slab of a decomposed grid,
    every node."""
    if getattr(grid, "whole", None) is not None:
        return [np.arange(n) for n in grid.shape]
    out = []
    for x0, o, h, n, p in zip(centre, grid.origin, grid.spacing, grid.shape, grid.periodic):
        c = (x0 - o) / h
        lo, hi = int(np.floor(c - reach / h)) - 1, int(np.ceil(c + reach / h)) + 1
        if p:
            out.append(np.arange(n) if hi - lo + 1 >= n else np.arange(lo, hi + 1) % n)
        else:
            out.append(np.arange(max(lo, 0), min(hi, n - 1) + 1))
    return out


def profile(model, centre, radius, xp, index=None):
    """(1 - tanh((r - radius) / w)) / 2 at the nodes of `index` (window(); default every node),
    r to the nearest periodic image of `centre`, w the model's interface width (its equilibrium
    profile); broadcast over the axes of `index`."""
    grid = model.grid
    whole = getattr(grid, "whole", None) or grid
    index = index if index is not None else [np.arange(n) for n in grid.shape]
    r2 = 0.0
    for a, (idx, x0, length, periodic) in enumerate(zip(index, centre, lengths(grid), whole.periodic)):
        shape = [1] * grid.ndim
        shape[a] = len(idx)
        d = grid.coords(a)[idx] - x0  # per axis on the host; broadcast on the backend
        if periodic:
            d = d - length * np.round(d / length)
        d = xp.asarray(d.reshape(shape))
        r2 = r2 + d * d
    return 0.5 * (1 - xp.tanh((xp.sqrt(r2) - radius) / model.interface_width()))


def plant(model, eta, centre, radius, combine):
    """A seed at `centre` into eta, in place, on the nodes within TANH_REACH widths of its
    surface (beyond, its profile is 0: max leaves eta >= 0 as it is, a sum adds nothing)."""
    xp = model.xp
    index = window(model.grid, centre, radius + TANH_REACH * model.interface_width())
    if any(len(i) == 0 for i in index):
        return
    block = xp.ix_(*(xp.asarray(i) for i in index))
    seed = profile(model, centre, radius, xp, index).astype(eta.dtype)
    if combine == "max":
        eta[block] = xp.maximum(eta[block], seed)
    else:
        eta[block] = xp.minimum(eta[block] + seed, 1)


def nucleate(model, eta, t, dt, seed) -> int:
    """The seeds drawn within the step (t, t + dt] planted into eta (in place); the number planted."""
    cfg = model.params.nucleation
    if cfg is None:
        return 0
    planted = 0
    for k in draws_due(cfg, t, dt):
        for centre in centres(cfg, model.grid, seed, k):
            if transformed_at(model, eta, centre):
                continue  # a phantom nucleus
            plant(model, eta, centre, cfg.radius, cfg.combine)
            planted += 1
    return planted


def after_step(model, state, t, dt):
    """The nucleation of a step of `model` (an AllenCahn): of each member of a stacked ensemble
    (pfsim.ensemble, `model.members`), with that member's parameters and seed, into its slice."""
    members = getattr(model, "members", None)
    if members is None:
        nucleate(model, state["eta"], t, dt, model.seed)
        return
    for i, member in enumerate(members):
        nucleate(member, state["eta"][i], t, dt, member.seed)


# --- observables of a nucleation-and-growth study ------------------------------------------
OBSERVABLE_UNITS = {"transformed_fraction": "1", "particle_count": "1"}


def particle_count(mask, periodic) -> int:
    """Connected regions of `mask` (face neighbours), joined across the periodic walls (as
    pfsim.physics.geometry.periodic_labels, on every periodic axis)."""
    from scipy import ndimage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    labels, n = ndimage.label(mask)
    if n == 0:
        return 0
    lo = np.concatenate([np.take(labels, 0, axis=a).ravel() for a, p in enumerate(periodic) if p] + [[]])
    hi = np.concatenate([np.take(labels, -1, axis=a).ravel() for a, p in enumerate(periodic) if p] + [[]])
    both = (lo > 0) & (hi > 0)  # a region touching the far side of a wall continues across it
    links = coo_matrix((np.ones(both.sum()), (lo[both].astype(int), hi[both].astype(int))), shape=(n + 1, n + 1))
    return int(connected_components(links, directed=False)[0]) - 1  # less the background, label 0


def observables(model, eta) -> dict:
    """transformed_fraction: the fraction of nodes with eta > 1/2; particle_count: the regions
    they form (labelled on the whole grid, joined across periodic walls)."""
    ext = model.extent
    mask = eta > 0.5
    whole = getattr(model.grid, "whole", None) or model.grid
    return {"transformed_fraction": ext.total(mask) / ext.whole.size,
            "particle_count": particle_count(ext.gather(mask), whole.periodic)}
