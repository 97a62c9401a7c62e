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

from .build import Single, field_units, resume_plan
from .config import check_consistency
from .errors import ConfigError, StoreError
from .grid import Grid
from .initial import initial_field
from .io.store import RunStore
from .models.base import Model
from .runner import Run

# models whose step is local explicit stencil updates of fields (no elliptic solves, ledgers
# or random streams of their own but allen_cahn's nucleation, drawn per member), on 2D grids
# (the kernels step at most three axes)
BATCHABLE = ("cahn_hilliard", "allen_cahn")
# config keys in which members of one ensemble may differ
FREE_KEYS = ("name", "seed", "initial", "output.store", "model.nucleation")


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


def _of_inner(name):
    def method(self, *args):
        return getattr(self.inner, name)(*args)
    return method


class EnsembleModel(Model):
    """The members' model on the stacked grid; observables per member."""

    def __init__(self, members: list[Model]):
        first = members[0]
        self.members = members
        self.inner = type(first)(first.params, StackedGrid.of(first.grid, len(members)), first.backend)
        self.inner.members = members  # what differs per member in a step (allen_cahn's nucleation)
        self.inner.cfl = first.cfl
        super().__init__(first.params, self.inner.grid, first.backend)
        self.fields, self.field_units = first.fields, first.field_units
        self.observable_units, self.blowup_bound = first.observable_units, first.blowup_bound

    # the step on the stacked grid: the inner model's
    rate, euler_step, enforce, stability_limit, events = (
        _of_inner(name) for name in ("rate", "euler_step", "enforce", "stability_limit", "events"))

    def observables(self, state, t) -> list[dict]:
        return [m.observables({k: state[k][i] for k in self.fields}, t) for i, m in enumerate(self.members)]


def _on_every(name):
    def method(self, *args, **kwargs):
        for s in self.stores:
            getattr(s, name)(*args, **kwargs)
    return method


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

    def write_checkpoint(self, state, clock, extra=None):
        for i, s in enumerate(self.stores):
            s.write_checkpoint({k: v[i] for k, v in state.items()}, clock, extra)

    # the same call on every member's store (acquire_lock: Run.resume releases those taken if one fails)
    flush_observables, update_meta, heartbeat, watch, acquire_lock, release_lock, select_checkpoint = (
        _on_every(name) for name in ("flush_observables", "update_meta", "heartbeat", "watch", "acquire_lock",
                                     "release_lock", "select_checkpoint"))


class Stacked(Single):
    """The placement (pfsim.build) of an ensemble: the members' models (one per config, each
    checked) behind one EnsembleModel on the stacked grid, their fields stacked along the first
    axis, one store per member behind a StoreFanout. `members`: [(config, raw config, store path,
    overwrite)] of a new ensemble; none for one to resume (its stores' configs are read then)."""

    def __init__(self, members=()):
        self.members = list(members)
        if self.members:
            self._take([m[0] for m in self.members])

    def _take(self, cfgs):
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

    def restore(self, fanout, model):
        saved = [s.read_checkpoint()[0] for s in fanout.stores]
        return fanout, {name: model.backend.asarray(np.stack([s[name] for s in saved])) for name in model.fields}

    def new_store(self, path, cfg, setup, meta, *, overwrite=False, say=print):
        """Each member's store at its own path, with its own config in its provenance (`meta`, of
        member 0, otherwise the same for every member) and the ensemble it runs in."""
        stores = []
        try:
            for i, ((c, raw, p, again), m) in enumerate(zip(self.members, setup.model.members)):
                ensemble = {"members": len(self.members), "index": i}
                own = dict(meta, config=c.model_dump(mode="json"), config_source=raw, ensemble=ensemble)
                stores.append(RunStore.create(p, setup.grid, field_units(c, m), m.observable_units, own,
                                              dtype=c.precision, overwrite=again,
                                              compression_level=c.output.compression_level, say=say))
        except BaseException:
            for s in stores:
                s.release_lock()
            raise
        self.fanout, self.note = StoreFanout(stores), ", stepped together"
        return self.fanout

    def open(self, paths):
        self.fanout = StoreFanout([RunStore.open(p) for p in paths])
        return self.fanout

    def plan(self, fanout, overrides, say):
        """Members that stopped together (same checkpoint time and step) resume together."""
        fanout.select_checkpoint(say)
        self.plans = [resume_plan(s, overrides) for s in fanout.stores]
        self._take([cfg for cfg, _ in self.plans])
        first = self.plans[0][1]
        if any((i["time"], i["iteration"]) != (first["time"], first["iteration"]) for _, i in self.plans):
            raise StoreError(f"{fanout.stores[0].path} ...: the members' checkpoints are at different times; resume "
                             "them one by one")
        return self.plans[0]

    def rewind(self, fanout, cfg, info):
        for s, (c, i) in zip(fanout.stores, self.plans):
            super().rewind(s, c, i)

    def named(self, path):
        stores = self.fanout.stores
        return f"{len(stores)} member stores " + (f"({stores[0].path} ...)" if self.members else "together")


def run_together(members, **options):
    """The Run of a new ensemble: `members` [(config, raw config, store path, overwrite)], at
    least one; `options` those of Run.new (backend, say, command)."""
    cfg, raw = members[0][:2]
    return Run.new(cfg, raw, placement=Stacked(members), **options)


def resume_together(paths, **options):
    """The Run of member stores that stopped together; `options` those of Run.resume."""
    return Run.resume(paths, placement=Stacked(), **options)
