"""Decomposed runs: `pfsim run` launched as several MPI ranks (mpirun, srun).

Every rank builds the same config, time step and schedule of steps, steps its own slab and
writes its own chunks; rank 0 reports and writes metadata and observables. What could differ
between ranks is agreed on once per step (signals received, wall-clock schedules as rank 0
sees them), so all ranks stop, checkpoint and write at the same steps.
"""

import sys
from types import SimpleNamespace

import numpy as np

from ..config import check_consistency, load_config
from ..errors import SimulationBlowUp
from ..initial import initial_field
from ..io.store import RunStore
from ..runner import Run, default_store_path
from ..simulation import Clock, Simulation, WallTimeInterval
from .comm import ParallelError, RankError, collective, global_sums, use_node_gpu
from .decomp import Domain, LocalGrid, SlabLayout
from .extent import SlabExtent
from .model import SlabModel, halo_width
from .store import SlabStore


class _Agreed:
    """A wall-clock schedule as rank 0 sees it, shared with every rank at the end of each step."""

    def __init__(self, inner):
        self.inner, self.flag = inner, False

    def next_time(self, t):
        return np.inf

    def due(self, clock, last_time):
        return self.flag


class SlabSimulation(Simulation):
    _pending = ""  # a stop asked of this rank, agreed at the end of the step
    _walls = ()

    def run(self, resumed=False):
        self._walls = []
        for cb in self.callbacks:
            if isinstance(cb.schedule, WallTimeInterval):
                cb.schedule = _Agreed(cb.schedule)
                self._walls.append(cb.schedule)
        super().run(resumed)

    def request_stop(self, why):
        self._pending = self._pending or why

    def time_step(self, dt, lands_on=None):
        super().time_step(dt, lands_on)
        comm = self.model.domain.comm
        walls = [w.inner.due(self.clock, None) if comm.rank == 0 else False for w in self._walls]
        agreed = global_sums(comm, [bool(self._pending)] + walls) > 0
        if agreed[0] and not self.stop_requested:
            self.stop_requested = self._pending or "signal to another rank"
        for w, flag in zip(self._walls, agreed[1:]):
            w.flag = bool(flag)

    def check_finite(self):
        m, own = self.model, self.model.domain.owned
        bad = []
        for name in m.fields:
            peak = float(m.xp.max(m.xp.abs(self.state[name][own])))
            bad.append(not np.isfinite(peak) or peak > m.blowup_bound)
        for name, flag in zip(m.fields, global_sums(m.domain.comm, bad)):
            if flag:
                raise SimulationBlowUp(name, self.clock.iteration, self.clock.time)


class _Quiet:
    def write(self, text):
        pass

    def flush(self):
        pass


class SlabRun(Run):
    """A Run on one slab; build with `SlabRun.new` or `SlabRun.resume` on every rank."""

    simulation_class = SlabSimulation

    @classmethod
    def new(cls, comm, cfg, raw, *, store_path=None, overwrite=False, backend=None, say=print, command=""):
        def plan():
            grid, proto = check_consistency(cfg)
            row_bytes = int(np.prod(grid.shape[1:])) * np.dtype(cfg.precision).itemsize
            layout = SlabLayout.balanced(grid.shape[0], comm.size, halo_width(cfg.model.kind), grid.periodic[0],
                                         row_bytes, f" (the stencil reach of {cfg.model.kind})")
            return grid, proto, layout

        def build():
            be = _backend(backend or cfg.backend, cfg.precision, say)
            domain = Domain(comm, grid, layout, be)
            model = _slab_model(cfg, proto, domain, be)
            if model.needs_initial:
                state = {name: domain.pad(be.asarray(owned_initial(cfg, model, domain))) for name in model.fields}
            else:  # built on the padded slab from the geometry: ghost rows included
                state = model.initial_state()
            meta = dict(cls.new_meta(cfg, raw, be, model, command), parallel=_describe(domain))
            return be, domain, model, state, meta

        # collective() blocks hold no communication of their own: a rank that fails in one must
        # not leave another waiting in a halo exchange
        grid, proto, layout = collective(comm, plan)
        _bind_gpu(comm, backend or cfg.backend)
        be, domain, model, state, meta = collective(comm, build)
        domain.exchange([a for a in state.values() if a.shape == domain.padded_shape])
        model.enforce(state, 0.0)
        for t_event, action in model.events():
            if t_event == 0:
                action(state)
        path = store_path or default_store_path(cfg)
        store = SlabStore.create(domain, path, grid, cls._field_units(cfg, model), model.observable_units, meta,
                                 dtype=cfg.precision, overwrite=overwrite,
                                 compression_level=cfg.output.compression_level, static=model.static_fields())
        say(f"writing {path} from {comm.size} ranks ({meta['parallel']['rows_per_rank']} rows of x each)")
        run = cls(cfg, be, grid, model, state, Clock(), store, False, say)
        run.history_extra = {"ranks": comm.size}
        return run

    @classmethod
    def resume(cls, comm, store_path, overrides=None, *, backend=None, say=print):
        def plan():
            whole = RunStore.open(store_path)
            cfg, grid, proto, info = Run.resume_plan(whole, overrides)
            halo = halo_width(cfg.model.kind)
            chunk = _store_chunk(whole, cfg, proto)
            layout = SlabLayout.from_chunk(grid.shape[0], comm.size, chunk, halo, grid.periodic[0])
            if layout is None:
                nchunks = -(-grid.shape[0] // chunk)
                raise ParallelError(f"{store_path}: its fields are chunked by {chunk} nodes along x ({nchunks} chunks), "
                                    f"which {comm.size} ranks cannot share with at least {halo} nodes each (a rank "
                                    "writes whole chunks); resume it on fewer ranks")
            return whole, cfg, grid, proto, info, layout

        def build():
            be = _backend(backend or cfg.backend, cfg.precision, say)
            domain = Domain(comm, grid, layout, be)
            store = SlabStore(store_path, whole.group, domain)
            slab, _ = store.read_slab()
            model = _slab_model(cfg, proto, domain, be)
            state = {}
            for name in model.checkpoint_names:
                if name in model.fields:
                    state[name] = domain.pad(be.asarray(slab[name]))
                elif store.is_gridded(slab[name]):  # a field-shaped part of the state (a mask, an operator's field)
                    state[name] = domain.pad(be.xp.asarray(slab[name]))
                else:  # scalars and ledgers: the same on every rank
                    state[name] = be.xp.asarray(slab[name])
            return be, domain, model, state, store

        whole, cfg, grid, proto, info, layout = collective(comm, plan)
        _bind_gpu(comm, backend or cfg.backend)
        be, domain, model, state, store = collective(comm, build)
        domain.exchange([a for a in state.values() if a.shape == domain.padded_shape])
        store.truncate(info["frames"], info["samples"])
        store.meta["config"] = cfg.model_dump(mode="json")
        say(f"resuming {store_path} from t = {info['time']:.6g} s (step {info['iteration']}) on {comm.size} ranks")
        run = cls(cfg, be, grid, model, state, Clock(info["time"], info["iteration"]), store, True, say)
        run.history_extra = {"ranks": comm.size}
        return run

    def _attach_callbacks(self):
        super()._attach_callbacks()
        if self.model.domain.rank != 0:
            self.progress.stream, self.progress.live = _Quiet(), False

    def _last_time(self, which):
        mine = super()._last_time(which) if self.model.domain.rank == 0 else None
        return self.model.domain.comm.bcast(mine)


def _bind_gpu(comm, name):
    if name != "numpy":
        use_node_gpu(comm)


def _backend(name, precision, say):
    from ..backend import select_backend

    return select_backend(name, precision, announce=say)


def _slab_model(cfg, proto, domain, backend):
    """The model on this rank's padded slab, reducing and solving across ranks through its extent.
    Its construction holds collective sums: every rank builds it, and a config error is raised
    by all of them alike before the first one."""
    inner = type(proto)(cfg.model, domain.grid, backend, drive=cfg.drive, seed=cfg.seed, extent=SlabExtent(domain))
    return SlabModel(inner, domain)


def _describe(domain):
    lay = domain.layout
    return {"ranks": lay.ranks, "axis": "x", "rows_per_rank": list(lay.counts), "chunk_rows": lay.chunk,
            "halo": lay.halo, "halo_exchange": domain.halo.mode}


def _store_chunk(store, cfg, model) -> int:
    """Rows along x of the store's field chunks: a resumed run's slabs must be whole chunks."""
    for name in cfg.output.fields or model.fields:
        if name in store.group:
            return int(store.group[name].chunks[1])
    return store.group["x"].shape[0]


def owned_initial(cfg, model, domain) -> np.ndarray:
    """The initial field on this rank's rows, equal to those rows of the single-process one."""
    owned = LocalGrid.slab(domain.whole, np.arange(domain.start, domain.start + domain.count))
    init = cfg.initial
    if init.kind == "random":
        # pfsim.initial draws the whole grid in C order from Philox stream (seed, 0): skip the
        # draws of the rows before this slab (Philox advances in blocks of four draws)
        skip = domain.start * int(np.prod(owned.shape[1:]))
        bits = np.random.Philox(key=[cfg.seed, 0])
        bits.advance(skip // 4)
        gen = np.random.Generator(bits)
        gen.random(skip % 4)
        return init.mean + init.amplitude * gen.uniform(-1.0, 1.0, size=owned.shape)
    return initial_field(init, SimpleNamespace(grid=owned, params=model.params), cfg.seed)


def run_distributed(comm, args, say, command="") -> int:
    """`pfsim run` on every rank; returns the exit code (0 done, 3 interrupted)."""
    root = comm.rank == 0
    report = say if root else (lambda msg: None)
    try:
        def check_usage():
            if args.resume and (args.config or args.output or args.overwrite):
                raise ParallelError("--resume STORE takes no CONFIG, -o or --overwrite")
            if not args.resume and not args.config:
                raise ParallelError("give a CONFIG file, or --resume STORE")

        collective(comm, check_usage)
        if args.resume:
            run = SlabRun.resume(comm, args.resume, args.set, backend=args.backend, say=report)
        else:
            cfg, raw = collective(comm, lambda: load_config(args.config, args.set))
            run = SlabRun.new(comm, cfg, raw, store_path=args.output, overwrite=args.overwrite,
                              backend=args.backend, say=report, command=command)
        status = run.execute()
    except (RankError, SimulationBlowUp) as exc:  # raised on every rank alike: rank 0 reports it
        if root:
            label = "error" if exc.exit_code == 2 else "run failed"
            for line in str(exc).splitlines():
                print(f"pfsim: {label}: {line}", file=sys.stderr, flush=True)
        comm.Barrier()  # no rank exits before the report is out (mpirun kills the rest on a failure)
        return exc.exit_code
    except Exception as exc:  # this rank alone failed: the others may wait for it forever
        print(f"pfsim: run failed on rank {comm.rank}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        comm.Abort(getattr(exc, "exit_code", 1))
    report(f"{status}: t = {run.sim.clock.time:.6g} s after {run.sim.clock.iteration} steps "
           f"({run.sim.stopped_reason}); store {run.store.path}")
    comm.Barrier()
    return 3 if status == "interrupted" else 0
