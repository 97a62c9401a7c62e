"""Decomposed runs: `pfsim run` launched as several MPI ranks (mpirun, srun).

Every rank builds the same config, time step and schedule of steps, steps its own slab and
writes its own chunks; rank 0 reports and writes metadata and observables. What could differ
between ranks is agreed on once per step (signals received, wall-clock schedules as rank 0
sees them), so all ranks stop, checkpoint and write at the same steps.
"""

import sys
from types import SimpleNamespace

import numpy as np

from ..build import Single
from ..config import check_consistency
from ..errors import SimulationBlowUp
from ..grid import Grid
from ..initial import initial_field
from ..models import MODELS
from ..progress import Progress
from ..runner import Run
from ..simulation import Simulation, WallTimeInterval
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


class Slab(Single):
    """The placement (pfsim.build) of one rank of a decomposed run: its slab of x rows, padded
    with ghost rows, the model on it reducing and solving across ranks through its extent, and
    a store written by every rank."""

    simulation_class = SlabSimulation

    def __init__(self, comm, backend=None):
        self.comm, self.backend, self.history = comm, backend, {"ranks": comm.size}

    def agree(self, fn):
        return self.comm.bcast(fn() if self.comm.rank == 0 else None)

    def progress(self, stop, every):
        """Rank 0 reports; the others keep their progress to themselves."""
        return super().progress(stop, every) if self.comm.rank == 0 else Progress(stop, every, _Quiet(), False)

    def guarded(self, fn):
        # collective() blocks hold no communication of their own: a rank that fails in one must
        # not leave another waiting in a halo exchange
        return collective(self.comm, fn)

    def prepare(self, cfg, store=None):
        def plan():
            grid, halo, n = Grid.from_config(cfg.grid), halo_width(cfg.model.kind), self.comm.size
            if store is None:
                row_bytes = int(np.prod(grid.shape[1:])) * np.dtype(cfg.precision).itemsize
                return grid, SlabLayout.balanced(grid.shape[0], n, halo, grid.periodic[0], row_bytes,
                                                 f" (the stencil reach of {cfg.model.kind})")
            # a resumed run's slabs are whole chunks of the store's fields along x
            names = [f for f in cfg.output.fields or MODELS[cfg.model.kind][1].fields if f in store.group]
            chunk = int(store.group[names[0]].chunks[1]) if names else store.group["x"].shape[0]
            layout = SlabLayout.from_chunk(grid.shape[0], n, chunk, halo, grid.periodic[0])
            if layout is None:
                raise ParallelError(f"{store.path}: its fields are chunked by {chunk} nodes along x "
                                    f"({-(-grid.shape[0] // chunk)} chunks), which {n} ranks cannot share with at "
                                    f"least {halo} nodes each (a rank writes whole chunks); resume it on fewer ranks")
            return grid, layout

        self.grid, self.layout = self.guarded(plan)
        n, rows = self.comm.size, list(self.layout.counts)  # the note ends the "writing" or "resuming" line
        self.note = f" from {n} ranks ({rows} rows of x each)" if store is None else f" on {n} ranks"
        if (self.backend or cfg.backend) != "numpy":
            use_node_gpu(self.comm)

    def model(self, cfg, backend):
        """The model on this rank's padded slab. Its construction holds collective sums: every
        rank builds it, and a config error is raised by all of them alike before the first one."""
        lay = self.layout
        self.domain = domain = Domain(self.comm, self.grid, lay, backend)
        self.meta = {"parallel": {"ranks": lay.ranks, "axis": "x", "rows_per_rank": list(lay.counts),
                                  "chunk_rows": lay.chunk, "halo": lay.halo, "halo_exchange": domain.halo.mode}}
        grid, inner = check_consistency(cfg, backend, extent=SlabExtent(domain))
        return grid, SlabModel(inner, domain)

    def initial(self, cfg, model):
        return {name: self.domain.pad(model.backend.asarray(owned_initial(cfg, model, self.domain)))
                for name in model.fields}

    def lock(self, store, say):
        collective(self.comm, lambda: store.acquire_lock(say, "resume"), root_only=True)

    def restore(self, whole, model):
        store = SlabStore(whole.path, whole.group, self.domain)
        store.lock, store.meta = whole.lock, whole.meta  # rank 0 holds the lock; the checkpoint selected
        _, state = super().restore(store, model)  # this rank's rows of what is field-shaped: padded
        return store, {k: self.domain.pad(a) if store.is_gridded(a) else a for k, a in state.items()}

    def settle(self, state):
        self.domain.exchange([a for a in state.values() if a.shape == self.domain.padded_shape])

    def create_store(self, path, *args, **options):
        return SlabStore.create(self.domain, path, *args, **options)


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
        run = Run.from_args(args, report, command, Slab(comm, args.backend))
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
    report(run.summary(status))
    comm.Barrier()
    return 3 if status == "interrupted" else 0
