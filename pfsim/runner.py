"""From a validated config to a finished run store: the set-up (pfsim.build, on a placement), the
simulation and its callbacks; and the same from a store's checkpoint (resume). One Run serves a
run in one process, a run decomposed over MPI ranks and an ensemble of stacked members: what
differs between them is the placement's (pfsim.build lists what it gives)."""

import signal
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import __version__
from .build import Single, build, time_step  # noqa: F401 - time_step: the run's step rule, also read from here
from .config import RunConfig, load_config
from .errors import SimulationBlowUp, UsageError
from .io.lock import slurm_job
from .io.store import RunStore, now
from .simulation import DT_MIN_FRACTION, IterationInterval, SpecifiedTimes, TimeInterval, WallTimeInterval


def git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def default_store_path(cfg: RunConfig) -> Path:
    return Path(cfg.output.store) if cfg.output.store else Path("runs") / f"{cfg.name}.zarr"


class Run:
    """A simulation bound to its store: build with `Run.new` or `Run.resume` on a placement
    (pfsim.build: Single, the default; pfsim.parallel.run.Slab; pfsim.ensemble.Stacked), then
    `execute`."""

    def __init__(self, cfg, setup, store, resumed, say, placement):
        self.cfg, self.backend, self.grid, self.model = cfg, setup.backend, setup.grid, setup.model
        self.store, self.resumed, self.say, self.placement = store, resumed, say, placement
        self._from_time = setup.clock.time
        self.sim = placement.simulation_class(setup.model, setup.state, cfg.time.stop, setup.dt, cfg.time.integrator,
                                              setup.clock, cfg.time.max_steps)
        if cfg.time.integrator == "semi_implicit":
            rejected = store.checkpoint_group()[1].get("rejected_steps", 0) if resumed else 0
            self.sim.set_step_control(cfg.time.step_tolerance, DT_MIN_FRACTION * setup.model.stability_limit(),
                                      cfg.time.dt_max, rejected)
        self._attach_callbacks()

    # --- construction ------------------------------------------------------------------
    @classmethod
    def new(cls, cfg, raw, *, store_path=None, overwrite=False, backend=None, say=print, command="",
            placement=Single()):
        """The run of `cfg` (`raw`: the config as written) into a new store (default
        runs/NAME.zarr; an ensemble's placement names its members' stores)."""
        setup = build(cfg, backend, placement, say=say)
        path = Path(store_path) if store_path else default_store_path(cfg)
        meta = {  # the provenance a new store starts with
            "pfsim_version": __version__, "git_commit": git_commit(), "backend": setup.backend.name,
            "device": setup.backend.device, "precision": cfg.precision, "host": socket.gethostname(),
            "command": command, "config": cfg.model_dump(mode="json"), "config_source": raw,
            "dt": setup.dt, "history": [],
        }
        store = placement.new_store(path, cfg, setup, meta, overwrite=overwrite, say=say)
        say(f"writing {placement.named(path)}{placement.note}")
        return cls(cfg, setup, store, False, say, placement)

    @classmethod
    def resume(cls, store_path, overrides=None, *, backend=None, say=print, placement=Single()):
        """The run continued from the last intact checkpoint of the store at `store_path` (an
        ensemble's placement: the paths of its members' stores)."""
        whole = placement.open(store_path)
        try:
            placement.lock(whole, say)  # the writer's lock: a store written by a live run is refused
            cfg, info = placement.plan(whole, overrides, say)
            setup = build(cfg, backend, placement, say=say, store=whole)
            placement.rewind(setup.store, cfg, info)
        except BaseException:
            whole.release_lock()  # only a lock this run took
            raise
        say(f"resuming {placement.named(store_path)} from t = {info['time']:.6g} s (step {info['iteration']})"
            f"{placement.note}")
        return cls(cfg, setup, setup.store, True, say, placement)

    @classmethod
    def from_args(cls, args, say, command, placement=Single()):
        """The run of `pfsim run CONFIG [-o STORE] [--overwrite]` or `pfsim run --resume STORE`."""

        def usage():
            if args.resume and (args.config or args.output or args.overwrite):
                raise UsageError("--resume STORE takes no CONFIG, -o or --overwrite")
            if not args.resume and not args.config:
                raise UsageError("give a CONFIG file, or --resume STORE")

        placement.guarded(usage)
        if args.resume:
            return cls.resume(args.resume, args.set, backend=args.backend, say=say, placement=placement)
        # checked on the model that Run.new builds
        cfg, raw = placement.guarded(lambda: load_config(args.config, args.set, check=False))
        return cls.new(cfg, raw, store_path=args.output, overwrite=args.overwrite, backend=args.backend, say=say,
                       command=command, placement=placement)

    @staticmethod
    def done_already(args) -> str | None:
        """For `pfsim run CONFIG` without --overwrite or --resume: a message when the store it would
        write already holds the completed run of the same resolved config (the command can then
        be repeated, e.g. the README's first one), else None (and the run goes on as usual)."""
        if args.resume or args.overwrite or not args.config:
            return None
        try:
            cfg, _ = load_config(args.config, args.set, check=False)
            path = Path(args.output) if args.output else default_store_path(cfg)
            if not (path / "zarr.json").is_file():
                return None
            meta = RunStore.open(path).meta
        except Exception:  # anything unusual: the run's own checks give the message
            return None
        if meta.get("status") in ("finished", "ended") and meta.get("config") == cfg.model_dump(mode="json"):
            return (f"{path} already holds the {meta['status']} run of this config; nothing to do (--overwrite "
                    f"runs it again, -o PATH writes another store)")
        return None

    # --- callbacks ---------------------------------------------------------------------
    def _attach_callbacks(self):
        sim, cfg = self.sim, self.cfg
        stop = cfg.time.stop
        if hasattr(self.model, "start"):  # a new run's first sample and frame: the solved state at t = 0
            sim.add_callback("start", SpecifiedTimes([]), lambda s: self.model.start(s.state, s.clock.time), at_start=True)
        for t_event, action in self.model.events():
            if t_event > 0:
                sim.add_callback("event", SpecifiedTimes([t_event]), lambda s, a=action: a(s.state))
        sim.add_callback("nan_check", IterationInterval(cfg.monitor.nan_check_every), lambda s: s.check_finite())
        sim.add_callback("observables", TimeInterval(cfg.output.observables_every or stop / 200),
                         self.write_observables, at_start=True, at_end="finished")
        sim.add_callback("fields", TimeInterval(cfg.output.fields_every or stop / 20),
                         self.write_fields, at_start=True, at_end="finished")
        if cfg.checkpoint.every:
            sim.add_callback("checkpoint", TimeInterval(cfg.checkpoint.every), self.write_checkpoint)
        sim.add_callback("checkpoint_wall", WallTimeInterval(cfg.checkpoint.wall_every), self.write_checkpoint,
                         at_start=True, at_end=True)
        self.store.watch(sim.clock)  # every commit records a heartbeat; one at least every HEARTBEAT_EVERY s
        sim.add_callback("heartbeat", WallTimeInterval(5.0), lambda s: self.store.heartbeat())
        self.progress = self.placement.progress(stop, cfg.monitor.progress_every)
        refresh = 0.5 if self.progress.live else cfg.monitor.progress_every
        sim.add_callback("progress", WallTimeInterval(refresh), self.progress.update)

    # the last sample's and frame's times as the reporting process's store has them (on every rank)
    def write_observables(self, sim):
        if self.placement.agree(self.store.last_sample_time) == sim.clock.time:
            if sim.ended_by_model and hasattr(self.store, "amend_last_sample"):  # that sample, with what ended the run
                self.store.amend_last_sample(self.model.observables(sim.state, sim.clock.time))
            return
        sim.check_finite()
        self.store.append_observables(sim.clock.time, self.model.observables(sim.state, sim.clock.time))

    def write_fields(self, sim):
        if self.placement.agree(self.store.last_frame_time) == sim.clock.time:
            return
        sim.check_finite()
        names = self.cfg.output.fields or self.model.fields
        self.store.append_frame(sim.clock.time, {n: self.backend.to_host(sim.state[n]) for n in names})

    def write_checkpoint(self, sim):
        if self.store.meta.get("checkpoint_time") == sim.clock.time and self.store.meta.get("checkpoint"):
            return
        sim.check_finite()
        state = {n: self.backend.to_host(sim.state[n]) for n in self.model.checkpoint_names}
        self.store.write_checkpoint(state, sim.clock, {"dt": sim.dt, "rejected_steps": sim.rejected_steps})

    # --- running -----------------------------------------------------------------------
    def summary(self, status) -> str:
        """The last line of `pfsim run`."""
        clock = self.sim.clock
        rejected = f", {self.sim.rejected_steps} rejected" if self.cfg.time.integrator == "semi_implicit" else ""
        return (f"{status}: t = {clock.time:.6g} s after {clock.iteration} steps{rejected} "
                f"({self.sim.stopped_reason}); "
                f"store {self.store.path}")

    def execute(self) -> str:
        """Run to the stop time; returns the final status. Raises SimulationBlowUp."""
        try:
            return self._execute()
        finally:
            self.store.release_lock()  # the writer's lock goes with the run: done, signalled or failed

    def _execute(self) -> str:
        started = now()
        job = slurm_job()
        self.store.update_meta(status="running", **({"slurm_job": job} if job else {}))
        self.progress.start(self.sim)
        try:
            # overflow on the way to a blow-up is reported by the NaN check, not by NumPy warnings
            with _stop_on_signals(self.sim), np.errstate(over="ignore", invalid="ignore"):
                self.sim.run(resumed=self.resumed)
        except SimulationBlowUp as exc:
            self.progress.finish(self.sim)
            self.store.flush_observables()
            self._record(started, "blew_up", str(exc))
            raise
        except Exception as exc:  # an error of the program or of the machine: the store says so
            self.progress.finish(self.sim)
            try:
                self.store.flush_observables()
                self._record(started, "failed", f"{type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001 - the store may be what failed: the first error counts
                pass
            raise
        self.progress.finish(self.sim)
        if self.sim.stop_requested:
            status = "interrupted"
        elif self.sim.ended_by_model:
            status = "ended"  # the cell reached an end state (contact lost, short circuit)
        else:
            status = "finished" if self.sim.stopped_reason == "stop time reached" else "stopped"
        self._record(started, status, self.sim.stopped_reason)
        return status

    def _record(self, started, status, reason):
        history, job = list(self.store.meta.get("history", [])), slurm_job()
        history.append({"started": started, "ended": now(), "backend": self.backend.name,
                        "device": self.backend.device, "from_time": self._from_time, "to_time": self.sim.clock.time,
                        "steps_to": self.sim.clock.iteration, "status": status,
                        **({"slurm_job": job} if job else {}), **self.placement.history})
        failure = self.sim.end_details
        if failure and hasattr(self.model, "failure_record"):  # completed: time, current, cycle, half-cycle
            failure = self.model.failure_record(failure, self.sim.clock.time)
        extra = {"failure": failure} if failure else {}
        self.store.update_meta(status=status, stop_reason=reason, finished=now(), history=history, **extra,
                               time=self.sim.clock.time, iteration=self.sim.clock.iteration)


@contextmanager
def _stop_on_signals(sim):
    """SIGINT, SIGTERM and SIGUSR1 ask the loop to stop after the current step."""
    def handler(signum, frame):
        sim.request_stop(signal.Signals(signum).name)

    wanted = [signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGUSR1", None)]
    previous = {}
    try:
        for s in filter(None, wanted):
            try:
                previous[s] = signal.signal(s, handler)
            except ValueError:  # not the main thread
                pass
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
