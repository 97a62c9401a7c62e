"""Section `memory`: bytes per cell of each model: its state, everything it holds after set-up
(state, masks, solver hierarchies, work arrays), and the peak while stepping. On the CPU from
tracemalloc (NumPy reports its buffers to it); on a GPU from CuPy's memory pool, whose held
bytes after the steps bound the peak from above (blocks are rounded up to 512 bytes)."""

import tracemalloc

import numpy as np

from ..build import build
from . import cases, scenarios
from .report import grid_label, row

STEPS = 1


def _field_model(builder):
    def make(be, shape):
        model, state = builder(be, shape)
        return model, state, cases.stepper(model, state)
    return make


def _scenario(cfg):
    def make(be, shape):
        start = build(cfg, be)
        return start.model, start.state, cases.stepper(start.model, start.state, start.dt)
    return make


def footprint(ctx, be, make, shape):
    """(state, after set-up, peak) in bytes."""
    if be.is_gpu:
        pool = be.xp.get_default_memory_pool()
        ctx.free()
        base = pool.used_bytes()
        model, state, step = make(be, shape)
        ctx.timer.sync()
        held = pool.used_bytes() - base
        pool.free_all_blocks()  # from here the pool's size follows the high-water mark
        for _ in range(STEPS):
            step()
        ctx.timer.sync()
        peak = pool.total_bytes() - base
    else:
        tracemalloc.start()
        try:
            model, state, step = make(be, shape)
            held = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            for _ in range(STEPS):
                step()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    state_bytes = sum(a.nbytes for k, a in state.items() if k in model.fields)
    return state_bytes, held, max(peak, held)


def _doubled(cfg):
    """cfg with twice the nodes along every axis, same spacing: the multigrid gains one level
    and its coarsest (fixed-size) level stays about the size it was."""
    shape = [2 * n for n in cfg.grid.shape]
    return cfg.model_copy(update={"grid": cfg.grid.model_copy(update={"shape": shape})})


def memory(ctx):
    """float64 for every model; float32 too for the stripping scenarios (the issue's 64 B/cell aim).

    The stripping scenarios are measured on their grid and on one with twice the nodes along
    every axis, and the difference per added cell is reported too (case "..., per added cell"): the solvers hold
    a few fixed-size arrays (the coarsest level's dense inverse: up to 400^2 words), which
    weigh on a small grid but not on the 1024^3 the aim is about.
    """
    todo = []
    for shape in ctx.kernel_shapes:
        todo.append(("cahn_hilliard", _field_model(cases.cahn_hilliard), tuple(shape), "float64", None))
        todo.append(("allen_cahn", _field_model(cases.allen_cahn), tuple(shape), "float64", None))
    for path, (cfg, _), note in scenarios.configs(ctx):
        if cfg.model.kind == "li_stripping":
            wide = _doubled(cfg)
            for precision in ("float64", "float32"):
                name = f"li_stripping ({path.stem})"
                # a first build leaves caches behind (compiled kernels, tables): not the grid's
                todo.append((name, _scenario(cfg), tuple(cfg.grid.shape), precision, "warm-up"))
                todo.append((name, _scenario(cfg), tuple(cfg.grid.shape), precision, None))
                todo.append((name, _scenario(wide), tuple(wide.grid.shape), precision, "per added cell"))
    rows, last = [], None
    how = "CuPy pool" if ctx.backend.is_gpu else "tracemalloc"
    for name, make, shape, precision, marginal in todo:
        be = cases.with_precision(ctx.backend, precision)
        ctx.say(f"memory: {name} {grid_label(shape)} {precision}")
        state, held, peak = footprint(ctx, be, make, shape)
        cells = int(np.prod(shape))
        if marginal == "warm-up":
            ctx.free()
            continue
        if marginal:  # the difference from the previous row's grid
            cells0, held0, peak0, _ = last
            added = cells - cells0
            rows.append(row("memory", f"{name}, {marginal}", backend=be.name, precision=precision,
                            grid=f"{grid_label(shape)} - {last[3]}", cells=added,
                            value=(peak - peak0) / added, unit="B/cell (peak)",
                            note=f"after set-up {(held - held0) / added:.0f} B/cell; difference of two grids' "
                                 f"peaks over {STEPS} step ({how})"))
        else:
            rows.append(row("memory", name, backend=be.name, precision=precision, grid=grid_label(shape),
                            cells=cells, value=peak / cells, unit="B/cell (peak)",
                            note=f"state {state / cells:.0f} B/cell, after set-up {held / cells:.0f} B/cell; "
                                 f"peak over {STEPS} step ({how})"))
        last = (cells, held, peak, grid_label(shape))
        ctx.free()
    return rows
