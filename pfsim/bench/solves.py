"""Section `elliptic`: multigrid-preconditioned CG on a conductivity contrast of 1e10, to a
relative residual of 1e-8, and that time in explicit Cahn-Hilliard steps of the same grid."""

import numpy as np

from ..solvers import EllipticProblem
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
    return [
        row("elliptic", "solve to 1e-8", **common, time_s=t.seconds, time_per="per solve", repeats=t.repeats,
            value=info.iterations, unit="iterations", ratio=t.seconds / step, ratio_to="CH step", note=note),
        row("elliptic", "setup (multigrid)", **common, time_s=setup.seconds, time_per="per setup",
            repeats=setup.repeats, ratio=setup.seconds / step, ratio_to="CH step",
            note="EllipticProblem(): faces, Galerkin levels, coarsest inverse"),
    ]
