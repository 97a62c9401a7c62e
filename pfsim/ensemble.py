"""Ensembles: many small runs of one explicit model advanced together, in the same launches.

The members of an ensemble share the model, its parameters, the grid, the time step and the
output schedule; they differ in seed and initial state (what a sweep over seeds or initial
conditions varies). Their fields are stacked along a leading member axis: a 2D member grid
(nx, ny) becomes one array (B, nx, ny) that the stencils step as a 3D grid with no coupling
along its first axis (1/h^2 = 0 there; kernels/stencil.cuh and pfsim/stencil.py skip those
neighbours). One launch then updates every member: a 256^2 run alone leaves most of a GPU idle,
64 of them stacked fill it like one 2048^2 run. Per node the operations and their order are
those of the member run alone, so each member's result is the same to the bit.

Each member still writes its own run store, the same as a run made alone (plus the ensemble it
ran in, in its metadata); a member store resumes alone, or with the rest of its ensemble.
"""

import math
from dataclasses import dataclass

import numpy as np

from .build import Single, build
from .config import check_consistency
from .errors import ConfigError, StoreError
from .grid import Grid
from .initial import initial_field
from .io.store import RunStore
from .models.base import Model
from .runner import Run

# models whose step is local explicit stencil updates of fields (no elliptic solves, ledgers
# or random streams of their own), on 2D grids (the kernels step at most three axes)
BATCHABLE = ("cahn_hilliard", "allen_cahn")
# config keys in which members of one ensemble may differ
FREE_KEYS = ("name", "seed", "initial", "output.store")


@dataclass(frozen=True)
class StackedGrid(Grid):
    """B copies of a member grid along a new, uncoupled first axis."""

    member: Grid | None = None

    @classmethod
    def of(cls, member: Grid, members: int) -> "StackedGrid":
        return cls((members,) + member.shape, (math.inf,) + member.spacing, (0.0,) + member.origin,
                   (("no_flux", "no_flux"),) + member.sides, member)

    @property
    def spatial_ndim(self) -> int:
        return self.member.ndim

    def mesh(self, xp=np):
        """The member grid's coordinates, broadcastable to the stacked shape."""
        return [m[None] for m in self.member.mesh(xp)]


def batch_problem(cfgs) -> str | None:
    """Why these configs cannot run as one ensemble, or None when they can."""
    first = cfgs[0]
    if first.model.kind not in BATCHABLE:
        return f"model.kind: {first.model.kind} cannot be batched (batchable: {', '.join(BATCHABLE)})"
    if len(first.grid.shape) != 2:
        return "grid.shape: only 2D members can be batched (the stack is the third axis)"
    if getattr(first.model, "source", None) is not None:
        return "model.source: a manufactured source depends on the node's position, which the stack does not carry"
    ref = _comparable(first)
    for i, cfg in enumerate(cfgs[1:], 1):
        key = _first_difference(ref, _comparable(cfg))
        if key:
            return f"{key}: differs between members 0 and {i} (an ensemble's members may differ only in " \
                   f"{', '.join(FREE_KEYS)})"
    return None


def _comparable(cfg):
    d = cfg.model_dump(mode="json")
    for key in FREE_KEYS:
        *parents, last = key.split(".")
        node = d
        for p in parents:
            node = node.get(p, {})
        node.pop(last, None)
    return d


def _first_difference(a, b, prefix=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            key = _first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
            if key:
                return key
        return None
    return None if a == b else prefix.rstrip(".")


class EnsembleModel(Model):
    """The members' model on the stacked grid; observables per member."""

    def __init__(self, members: list[Model]):
        first = members[0]
        self.members = members
        self.inner = type(first)(first.params, StackedGrid.of(first.grid, len(members)), first.backend)
        self.inner.cfl = first.cfl
        super().__init__(first.params, self.inner.grid, first.backend)
        self.fields, self.field_units = first.fields, first.field_units
        self.observable_units, self.blowup_bound = first.observable_units, first.blowup_bound

    def rate(self, state, t):
        return self.inner.rate(state, t)

    def euler_step(self, state, t, dt):
        self.inner.euler_step(state, t, dt)

    def enforce(self, state, t):
        self.inner.enforce(state, t)

    def stability_limit(self):
        return self.inner.stability_limit()

    def events(self):
        return self.inner.events()

    def observables(self, state, t) -> list[dict]:
        return [m.observables({k: state[k][i] for k in self.fields}, t) for i, m in enumerate(self.members)]


class StoreFanout:
    """The members' stores behind the one-store interface `Run` writes to: stacked arrays are
    split along the member axis, everything else goes to every store; reads come from the first."""

    def __init__(self, stores):
        self.stores = stores

    def __getattr__(self, name):  # path, meta, frames, samples, group, last_sample_time: member 0's
        return getattr(self.stores[0], name)

    def append_frame(self, time, fields):
        for i, s in enumerate(self.stores):
            s.append_frame(time, {k: v[i] for k, v in fields.items()})

    def append_observables(self, time, values):
        for s, v in zip(self.stores, values):
            s.append_observables(time, v)

    def flush_observables(self, commit=True):
        for s in self.stores:
            s.flush_observables(commit)

    def write_checkpoint(self, state, clock, extra=None):
        for i, s in enumerate(self.stores):
            s.write_checkpoint({k: v[i] for k, v in state.items()}, clock, extra)

    def update_meta(self, **values):
        for s in self.stores:
            s.update_meta(**values)

    def heartbeat(self):
        for s in self.stores:
            s.heartbeat()

    def watch(self, clock):
        for s in self.stores:
            s.watch(clock)

    def release_lock(self):
        for s in self.stores:
            s.release_lock()


class Stacked(Single):
    """The placement (pfsim.build) of an ensemble: the members' models (one per config, each
    checked) behind one EnsembleModel on the stacked grid, their fields stacked along the first
    axis, one store per member behind a StoreFanout."""

    def __init__(self, cfgs):
        problem = batch_problem(cfgs)
        if problem:
            raise ConfigError(problem)
        self.cfgs = cfgs

    def model(self, cfg, backend):
        built = [check_consistency(c, backend) for c in self.cfgs]
        return built[0][0], EnsembleModel([m for _, m in built])

    def initial(self, cfg, model):
        return {name: model.backend.asarray(np.stack([initial_field(c.initial, m, c.seed)
                                                      for c, m in zip(self.cfgs, model.members)]))
                for name in model.fields}

    def restore(self, stores, model):
        saved = [s.read_checkpoint()[0] for s in stores]
        return StoreFanout(stores), {name: model.backend.asarray(np.stack([s[name] for s in saved]))
                                     for name in model.fields}


class EnsembleRun(Run):
    """Members run as one simulation: `EnsembleRun.new(members)` or `.resume(paths)`."""

    @classmethod
    def new(cls, members, *, backend=None, say=print, command=""):
        """members: [(config, raw config, store path, overwrite)] (at least one)."""
        placement = Stacked([m[0] for m in members])
        setup = build(members[0][0], backend, placement, say=say)
        stores = []
        try:
            for i, ((cfg, raw, path, overwrite), m) in enumerate(zip(members, setup.model.members)):
                meta = dict(cls.new_meta(cfg, raw, setup, command), ensemble={"members": len(members), "index": i})
                stores.append(RunStore.create(path, setup.grid, cls._field_units(cfg, m), m.observable_units, meta,
                                              dtype=cfg.precision, overwrite=overwrite,
                                              compression_level=cfg.output.compression_level, say=say))
        except BaseException:
            for s in stores:
                s.release_lock()
            raise
        say(f"writing {len(stores)} member stores ({stores[0].path} ...), stepped together")
        return cls(members[0][0], setup, StoreFanout(stores), False, say, placement)

    @classmethod
    def resume(cls, paths, *, backend=None, say=print):
        """Continue member stores that stopped together (same checkpoint time and step)."""
        stores = [RunStore.open(p) for p in paths]
        try:
            for s in stores:  # each member's writer's lock, and an intact checkpoint of each
                s.acquire_lock(say, "resume")
                s.select_checkpoint(say)
            cfgs, infos = zip(*(Run.resume_plan(s) for s in stores))
            placement = Stacked(cfgs)
            if any((i["time"], i["iteration"]) != (infos[0]["time"], infos[0]["iteration"]) for i in infos):
                raise StoreError(f"{paths[0]} ...: the members' checkpoints are at different times; resume them one "
                                 "by one")
            setup = build(cfgs[0], backend, placement, say=say, store=stores)
            for s, cfg, info in zip(stores, cfgs, infos):
                s.truncate(info["frames"], info["samples"])
                s.meta["config"] = cfg.model_dump(mode="json")
        except BaseException:
            for s in stores:
                s.release_lock()
            raise
        info = infos[0]
        say(f"resuming {len(stores)} member stores together from t = {info['time']:.6g} s (step {info['iteration']})")
        return cls(cfgs[0], setup, setup.store, True, say, placement)
