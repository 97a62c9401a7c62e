"""Section `scenarios`: time to solution of the canonical scenarios in configs/bench/, through
the same Run machinery as `pfsim run` (run store, output and checkpoints included). With
--quick each one runs a fixed number of steps instead and reports the time per step."""

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..config import apply_overrides, read_config_file, validate
from ..runner import Run
from .report import grid_label, row


def bench_configs() -> Path:
    """configs/bench beside the package (a checkout), or the copy installed under share/."""
    here = Path(__file__).resolve().parents[2] / "configs" / "bench"
    return here if here.is_dir() else Path(sys.prefix) / "share" / "pfsim" / "configs" / "bench"

# --quick on a CPU: the same scenarios on fewer nodes (same spacing, geometry and drive)
QUICK_OVERRIDES = {"stripping_2d": ["grid.shape=[1024,128]"], "stripping_3d": ["grid.shape=[64,64,64]"],
                   "plating_2d": ["grid.shape=[256,256]", "grid.spacing=0.4 um", "model.interface.width=0.8 um",
                                  "model.microstructure.boundary_width=0.4 um"]}


def build(cfg, backend):
    """(model, state) as `pfsim run` builds them (pfsim.build), on `backend`."""
    from ..build import build as setup

    start = setup(cfg, backend)
    return start.model, start.state


def configs(ctx):
    """[(path, config, note)] of configs/bench/*.yaml (or --scenario-dir), with the quick
    overrides applied on a CPU."""
    folder = Path(ctx.args.scenario_dir) if ctx.args.scenario_dir else bench_configs()
    out = []
    for path in sorted(folder.glob("*.yaml")):
        overrides = QUICK_OVERRIDES.get(path.stem, []) if ctx.quick and not ctx.backend.is_gpu else []
        raw = apply_overrides(read_config_file(path), overrides)
        cfg = validate(raw)  # the model is built once, later, on the bench's backend
        out.append((path, (cfg, raw), path.name + (f" with {' '.join(overrides)}" if overrides else "")))
    return out


def scenarios(ctx):
    rows = []
    for path, (cfg, raw), note in configs(ctx):
        label = grid_label(cfg.grid.shape)
        common = dict(backend=ctx.backend.name, precision=cfg.precision, grid=label, cells=int(np.prod(cfg.grid.shape)))
        ctx.say(f"scenarios: {note}")
        if ctx.quick:
            seconds, steps, sim_dt, first = per_step(ctx, cfg)
            rows.append(row("scenarios", path.stem, **common, time_s=seconds, time_per="per step", repeats=steps,
                            value=cfg.time.stop / sim_dt, unit="steps to stop",
                            note=f"QUICK: time per step over {steps} steps after the first ({first:.3g} s), "
                                 f"not time to solution; dt {sim_dt:.3g} s; {note}"))
        else:
            seconds, run = to_solution(ctx, cfg, raw)
            clock = run.sim.clock
            rows.append(row("scenarios", path.stem, **common, time_s=seconds, time_per="to solution",
                            repeats=1, value=clock.iteration, unit="steps",
                            note=f"{run.sim.stopped_reason} at t = {clock.time:.4g} s; store, output and "
                                 f"checkpoints included; {note}"))
        ctx.free()
    folder = Path(ctx.args.scenario_dir) if ctx.args.scenario_dir else bench_configs()
    for p in sorted(folder.glob("*PLACEHOLDER*")):
        rows.append(row("scenarios", p.stem, backend=ctx.backend.name,
                        note=f"placeholder, not timed: {p.name}"))
    return rows


def per_step(ctx, cfg):
    from ..build import build as setup
    from ..simulation import Simulation

    start = setup(cfg, ctx.backend)
    sim = Simulation(start.model, start.state, cfg.time.stop, start.dt, cfg.time.integrator)
    _, first = ctx.timer.wall(lambda: sim.time_step(*sim.next_step()))  # warm-up: kernels, caches
    steps = ctx.scenario_steps
    _, seconds = ctx.timer.wall(lambda: [sim.time_step(*sim.next_step()) for _ in range(steps)])
    return seconds / steps, steps, start.dt, first


def to_solution(ctx, cfg, raw):
    folder = tempfile.mkdtemp(prefix="pfsim-bench-")
    try:
        run = Run.new(cfg, raw, store_path=str(Path(folder) / "run.zarr"), backend=ctx.backend.name,
                      say=lambda msg: None, command="pfsim bench")
        start = time.perf_counter()
        run.execute()
        ctx.timer.sync()
        return time.perf_counter() - start, run
    finally:
        shutil.rmtree(folder, ignore_errors=True)
