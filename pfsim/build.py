"""One set-up path for every run (`pfsim run`, resume, sweeps, ensembles, the benchmarks): from a
validated config, and a run store to resume, to the backend, the grid, the model (built once, the
config checked on it), the state at the start and the time step.

What differs between a run in one process, one decomposed into MPI slabs and an ensemble of
stacked members is its *placement* (as Oceananigans' CPU / GPU / Distributed architectures):
`Single` here, pfsim.parallel.run.Slab and pfsim.ensemble.Stacked. A placement gives

    guarded(fn)                  fn() run so that an error in it is raised by every process alike
    prepare(cfg, store)          what comes before the backend (the slabs' layout, the GPU binding)
    model(cfg, backend)          (the whole grid, the model on its part of it: its extent)
    initial(cfg, model)          the fields made from cfg.initial (models with `needs_initial`)
    restore(store, model)        (the store a resumed run writes, the state of its last checkpoint)
    settle(state)                after the state is made or read (the slabs' halo exchange)
    create_store(path, ...)      a new run store (RunStore.create's arguments), under its writer's lock
    lock(store, say)             the writer's lock of a store to resume (rank 0 holds it)
"""

from dataclasses import dataclass

from .backend import Backend, select_backend
from .config import check_consistency, run_time_step, sampling_warnings
from .errors import StoreError
from .initial import initial_field
from .io.store import RunStore
from .memory import check_fits
from .simulation import Clock


time_step = run_time_step  # the run's step: time.dt, or time.cfl of the model's stability limit


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


class Single:
    """The whole grid in one process (stateless: one instance serves every run)."""

    note = ""  # added to the run's "writing" and "resuming" lines
    meta, history = {}, {}  # added to a new store's provenance, to each run's entry of its history

    def guarded(self, fn):
        return fn()

    def prepare(self, cfg, store=None):
        pass

    def model(self, cfg, backend):
        check_fits(cfg, backend.name)  # before any grid-sized array
        return check_consistency(cfg, backend)

    def initial(self, cfg, model):
        return {name: model.backend.asarray(initial_field(cfg.initial, model, cfg.seed)) for name in model.fields}

    def restore(self, store, model):
        saved, be = store.read_checkpoint()[0], model.backend
        return store, {name: be.asarray(saved[name]) if name in model.fields else be.xp.asarray(saved[name])
                       for name in model.checkpoint_names}

    def settle(self, state):
        pass

    def lock(self, store, say):
        store.acquire_lock(say, "resume")

    create_store = staticmethod(RunStore.create)


def _check_ledger(state, model, store):
    """A checkpoint whose ledger does not match the model's (a store of another pfsim version) is
    refused: its entries cannot be matched to this version's."""
    names = getattr(model, "ledger_names", ())
    if names and "ledger" in state and len(state["ledger"]) != len(names):
        raise StoreError(f"{store.path}: its checkpoint holds {len(state['ledger'])} ledger entries where this "
                         f"pfsim's {model.params.kind} keeps {len(names)} (a store of another version); resume it "
                         f"with the pfsim that wrote it, or start a new run")


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
    return Setup(be, grid, model, state, clock, dt, writer)
