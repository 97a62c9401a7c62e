"""One set-up path for every run (`pfsim run`, resume, sweeps, ensembles, the benchmarks): from a
validated config, and a run store to resume, to the backend, the grid, the model (built once, the
config checked on it), the state at the start and the time step.

What differs between a run in one process, one decomposed into MPI slabs and an ensemble of
stacked members is its *placement* (as Oceananigans' CPU / GPU / Distributed architectures):
`Single` here, pfsim.parallel.run.Slab and pfsim.ensemble.Stacked. pfsim.runner.Run serves all
three through it. A placement gives

    guarded(fn)                  fn() run so that an error in it is raised by every process alike
    prepare(cfg, store)          what comes before the backend (the slabs' layout, the GPU binding)
    model(cfg, backend)          (the whole grid, the model on its part of it: its extent)
    initial(cfg, model)          the fields made from cfg.initial (models with `needs_initial`)
    restore(store, model)        (the store a resumed run writes, the state of its last checkpoint)
    settle(state)                after the state is made or read (the slabs' halo exchange)
    new_store(path, cfg, ...)    the new run store(s) of a run, under their writer's lock
    open(path)                   the store(s) of a run to resume
    lock(store, say)             their writer's lock (rank 0 holds a decomposed run's)
    plan(store, overrides, say)  (config, checkpoint info) of resuming them (resume_plan)
    rewind(store, cfg, info)     back to that checkpoint, before the run continues
    named(path), note            how the run's first line ("writing ...", "resuming ...") names its store(s)
    simulation_class, progress(stop, every), agree(fn)   the loop, its report, rank 0's value
"""

from dataclasses import dataclass

import numpy as np

from .backend import Backend, select_backend
from .config import (BUILD_CHECK_CELLS, apply_overrides, check_consistency, run_time_step, sampling_warnings,
                     validate)
from .errors import ConfigError, StoreError
from .initial import initial_field
from .io.frames import last_frame
from .io.store import RunStore
from .memory import check_fits
from .progress import Progress
from .simulation import Clock, Simulation

time_step = run_time_step  # the run's step: time.dt, or time.cfl of the model's stability limit

# keys a resumed run may change (the rest of the physics is fixed by the store)
RESUMABLE_KEYS = ("time.stop", "time.max_steps", "backend", "checkpoint.wall_every", "monitor.progress_every")


@dataclass
class Setup:
    """What a run starts from."""

    backend: object
    grid: object  # the whole grid
    model: object
    state: dict
    clock: Clock
    dt: float
    store: object = None  # on resume: the store it continues


def resume_plan(store, overrides=None):
    """(config, checkpoint info) of resuming `store` with --set `overrides`; raises if the
    overrides change the physics or there is nothing left to run."""
    for item in overrides or []:
        key = item.split("=", 1)[0].strip()
        if key not in RESUMABLE_KEYS:
            raise ConfigError(f"--set {key}: cannot change on resume (allowed: {', '.join(RESUMABLE_KEYS)})")
    cfg = validate(apply_overrides(_older_creep(_older_surfaces(store.meta["config"])), overrides or []))
    if store.meta.get("status") == "ended":
        raise StoreError(f"{store.path}: the run ended ({store.meta.get('stop_reason')}); nothing to resume")
    _, info = store.checkpoint_group()
    if info["time"] >= cfg.time.stop * (1 - 1e-12) or (cfg.time.max_steps and info["iteration"] >= cfg.time.max_steps):
        raise StoreError(f"{store.path}: already at t = {info['time']:.6g} s, step {info['iteration']}; "
                         "raise time.stop (or time.max_steps) with --set to continue")
    return cfg, info


def _older_surfaces(config):
    """A stored config without `roughness.sampling` was written before the key existed, when the
    surface was drawn on the grid's nodes: it resumes on that surface."""
    if isinstance(config, dict):
        return {k: ({"sampling": "nodes", **v} if k == "roughness" and isinstance(v, dict) else _older_surfaces(v))
                for k, v in config.items()}
    if isinstance(config, list):
        return [_older_surfaces(v) for v in config]
    return config


def _older_creep(config):
    """A stored stripping config whose creep block lacks `surface_tension` was written before the
    solved flow carried the Li surface tension: it resumes without it. A stored plating creep
    block (`mechanics.creep` of li_plating, or of li_cycling's plating block) lists the stripping
    model's `model` key at the default of its day, `reduced` (the default became `solved` on
    2026-12-07): plating never reads it, so it is dropped."""
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict):
        return config
    if model.get("kind") in ("li_plating", "li_cycling"):
        return {**config, "model": _plating_creep_without_model(model)}
    creep = model.get("creep")
    if isinstance(creep, dict) and "model" in creep and "surface_tension" not in creep:
        return {**config, "model": {**model, "creep": {**creep, "surface_tension": False}}}
    return config


def _plating_creep_without_model(block):
    """`block` with `model: reduced` left out of every mechanics.creep below it."""
    out = {}
    for key, value in block.items():
        if key == "mechanics" and isinstance(value, dict) and isinstance(value.get("creep"), dict):
            creep = {k: v for k, v in value["creep"].items() if not (k == "model" and v == "reduced")}
            value = {**value, "creep": creep}
        elif isinstance(value, dict):
            value = _plating_creep_without_model(value)
        out[key] = value
    return out


def field_units(cfg, model) -> dict:
    """{name: unit} of the fields a run's frames hold (output.fields, default all)."""
    return {n: model.field_units.get(n, "1") for n in cfg.output.fields or list(model.fields)}


class Single:
    """The whole grid in one process (stateless: one instance serves every run)."""

    note = ""  # added to the run's "writing" and "resuming" lines
    meta, history = {}, {}  # added to a new store's provenance, to each run's entry of its history
    simulation_class = Simulation

    def guarded(self, fn):
        return fn()

    agree = guarded  # fn() as the reporting process (rank 0) finds it, on every process

    def progress(self, stop, every):
        return Progress(stop, every)

    def prepare(self, cfg, store=None):
        pass

    def model(self, cfg, backend):
        check_fits(cfg, backend.name)  # before any grid-sized array
        return check_consistency(cfg, backend)

    def initial(self, cfg, model):
        return {name: model.backend.asarray(initial_field(cfg.initial, model, cfg.seed)) for name in model.fields}

    def restore(self, store, model):
        saved, be = store.read_checkpoint()[0], model.backend
        for name in model.checkpoint_names:
            if name not in saved and hasattr(model, "missing_state"):  # a checkpoint of an older pfsim
                saved[name] = model.missing_state(name)
        return store, {name: be.asarray(saved[name]) if name in model.fields else be.xp.asarray(saved[name])
                       for name in model.checkpoint_names}

    def settle(self, state):
        pass

    create_store = staticmethod(RunStore.create)

    def new_store(self, path, cfg, setup, meta, *, overwrite=False, say=print):
        return self.create_store(path, setup.grid, field_units(cfg, setup.model), setup.model.observable_units,
                                 dict(meta, **self.meta), dtype=cfg.precision, overwrite=overwrite,
                                 compression_level=cfg.output.compression_level, static=setup.model.static_fields(),
                                 say=say)

    def open(self, path):
        return self.guarded(lambda: RunStore.open(path))

    def lock(self, store, say):
        store.acquire_lock(say, "resume")

    def plan(self, store, overrides, say):
        self.guarded(lambda: store.select_checkpoint(say))  # an intact one, or refused
        return self.guarded(lambda: resume_plan(store, overrides))

    def rewind(self, store, cfg, info):
        store.truncate(info["frames"], info["samples"])
        store.meta["config"] = cfg.model_dump(mode="json")

    def named(self, path):
        return path


def _check_ledger(state, model, store):
    """A checkpoint whose ledger does not match the model's (a store of another pfsim version) is
    refused: its entries cannot be matched to this version's."""
    names = getattr(model, "ledger_names", ())
    if names and "ledger" in state and len(state["ledger"]) != len(names):
        raise StoreError(f"{store.path}: its checkpoint holds {len(state['ledger'])} ledger entries where this "
                         f"pfsim's {model.params.kind} keeps {len(names)} (a store of another version); resume it "
                         f"with the pfsim that wrote it, or start a new run")


def take_inputs(params, model):
    """What a model starts from in other run stores, read here so that models open none: the
    last xi frame of `model.initial_metal` (li_plating), handed to the model's start_from_metal."""
    path = getattr(params, "initial_metal", None)
    if path is None:
        return
    try:
        frame = last_frame(path)
    except ValueError as err:
        raise ConfigError(f"model.initial_metal: {err}") from None
    try:
        model.start_from_metal(*frame)
    except ValueError as err:  # another grid or electrolyte
        raise ConfigError(str(err)) from None


def build_model(params, grid, backend, drive=None, seed=0):
    """A model outside a run (tests, studies), with its inputs from other stores (take_inputs)."""
    from .models import build_model as construct

    model = construct(params, grid, backend, drive=drive, seed=seed)
    take_inputs(params, model)
    return model


def check_inputs(cfg):
    """For `pfsim validate`, a sweep's members and `pfsim submit`, after check_config: what the
    model starts from in other stores, checked on the model itself on a grid of at most
    BUILD_CHECK_CELLS cells (larger ones: when the run builds its model)."""
    if getattr(cfg.model, "initial_metal", None) is not None and np.prod(cfg.grid.shape) <= BUILD_CHECK_CELLS:
        take_inputs(cfg.model, check_consistency(cfg)[1])


def build(cfg, backend=None, placement=Single(), *, say=lambda msg: None, store=None) -> Setup:
    """The backend (`backend`: one made, a name, or None for cfg.backend), the grid, the model and
    the state at the start of a run of `cfg` on `placement` (default: one process): the initial state,
    with the constraints and the events at t = 0 applied, or, given a run `store`, its last checkpoint."""
    placement.prepare(cfg, store)
    notes = []  # the backend's announcement waits for the config's checks on the model

    def make():
        be = backend if isinstance(backend, Backend) else select_backend(
            backend or cfg.backend, cfg.precision, announce=notes.append, elliptic=cfg.elliptic_solver,
            cpu_kernels=cfg.cpu_kernels)
        grid, model = placement.model(cfg, be)
        if store is not None:
            writer, state = placement.restore(store, model)
            _check_ledger(state, model, store)
            return be, grid, model, state, writer
        take_inputs(cfg.model, model)
        state = placement.initial(cfg, model) if model.needs_initial else model.initial_state()
        return be, grid, model, state, None

    # the halo exchange of `settle` stays outside: no process waits in it for one that failed
    be, grid, model, state, writer = placement.guarded(make)
    for note in notes:
        say(note)
    dt = time_step(cfg, model)
    for warning in sampling_warnings(cfg, dt):
        say(f"warning: {warning}")
    placement.settle(state)
    if store is None:
        model.enforce(state, 0.0)
        for t_event, action in model.events():
            if t_event == 0:
                action(state)
        clock = Clock()
    else:
        _, info = writer.checkpoint_group()
        clock = Clock(info["time"], info["iteration"])
        if cfg.time.integrator == "semi_implicit":  # the adaptive step goes on from the checkpoint's
            dt = float(info["dt"])
    return Setup(be, grid, model, state, clock, dt, writer)
