"""Section `elliptic`: multigrid-preconditioned CG on a conductivity contrast of 1e10, to a
relative residual of 1e-8, and that time in explicit Cahn-Hilliard steps of the same grid; on
the CPU also the sparse solvers of pfsim.solvers.sparse (SuperLU, PyAMG), each timed with the
work a new diagonal costs (a new factor, new Galerkin products), as every step of a model does."""

import numpy as np

from ..solvers import EllipticProblem
from ..solvers.sparse import SparseProblem
from . import cases
from .kernels import _ch_step
from .report import grid_label, row

RTOL = 1e-8


def elliptic(ctx):
    rows = []
    be = cases.with_precision(ctx.backend, "float64")
    for shape in ctx.solve_shapes:
        ctx.say(f"elliptic: {grid_label(shape)}")
        rows += solve_rows(ctx, be, tuple(shape))
        ctx.free()
    return rows


def solve_rows(ctx, be, shape):
    g, k, mask, b = cases.contrast_problem(shape)
    xp = be.xp
    k, mask, b = xp.asarray(k), xp.asarray(mask), be.asarray(b)
    setup = ctx.timer.measure(lambda: EllipticProblem(g, be, k, 0.0, mask), warmup=1, budget=0, min_repeats=3)
    problem, result = EllipticProblem(g, be, k, 0.0, mask), {}

    def solve():
        result["u"], result["info"] = problem.solve(b, rtol=RTOL)

    t = ctx.timer.measure(solve, warmup=1, budget=ctx.timer.budget, min_repeats=3)
    info = result["info"]
    step = ctx.ch_step_seconds.get((be.name, "float64", shape))
    if step is None:
        step = ctx.timer.measure(_ch_step(be, shape)).seconds
        ctx.ch_step_seconds[(be.name, "float64", shape)] = step
    note = (f"contrast 1e10, {info.iterations} iterations, residual {info.scaled_residual:.1e} (scaled), "
            f"{info.residual:.1e} (plain), converged {info.converged}")
    common = {"backend": be.name, "precision": "float64", "grid": grid_label(shape), "cells": int(np.prod(shape))}
    rows = [
        row("elliptic", "solve to 1e-8", **common, time_s=t.seconds, time_per="per solve", repeats=t.repeats,
            value=info.iterations, unit="iterations", ratio=t.seconds / step, ratio_to="CH step", note=note),
        row("elliptic", "setup (multigrid)", **common, time_s=setup.seconds, time_per="per setup",
            repeats=setup.repeats, ratio=setup.seconds / step, ratio_to="CH step",
            note="EllipticProblem(): faces, Galerkin levels, coarsest inverse"),
    ]
    if not be.is_gpu:
        rows += sparse_rows(ctx, be, shape, g, k, mask, b, step, common)
    return rows


def sparse_rows(ctx, be, shape, g, k, mask, b, step, common):
    rows = []
    for method in ("direct", "amg"):
        setup = ctx.timer.measure(lambda: SparseProblem(g, be, k, 0.0, mask, method), warmup=1, budget=0,
                                  min_repeats=3)
        problem, result = SparseProblem(g, be, k, 0.0, mask, method), {}

        def solve():
            problem.set_diagonal(0.0)
            result["u"], result["info"] = problem.solve(b, rtol=RTOL)

        t = ctx.timer.measure(solve, warmup=1, budget=ctx.timer.budget, min_repeats=3)
        info = result["info"]
        work = "a new factor" if method == "direct" else "new Galerkin products"
        rows += [
            row("elliptic", f"solve to 1e-8 ({method})", **common, time_s=t.seconds, time_per="per solve",
                repeats=t.repeats, value=info.iterations or "", unit="iterations" if info.iterations else "",
                ratio=t.seconds / step,
                ratio_to="CH step", note=f"contrast 1e10, {work} included, residual {info.scaled_residual:.1e} "
                                         f"(scaled), converged {info.converged}"),
            row("elliptic", f"setup ({method})", **common, time_s=setup.seconds, time_per="per setup",
                repeats=setup.repeats, ratio=setup.seconds / step, ratio_to="CH step",
                note="SparseProblem(): assembly" + (", aggregation hierarchy" if method == "amg" else "")),
        ]
    return rows
