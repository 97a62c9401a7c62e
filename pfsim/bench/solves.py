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


# what each solver's rows say: its setup, and the work a sparse solve includes (a new diagonal's)
SETUP = {"multigrid": "EllipticProblem(): faces, Galerkin levels, coarsest inverse",
         "direct": "SparseProblem(): assembly", "amg": "SparseProblem(): assembly, aggregation hierarchy"}
WORK = {"direct": "a new factor", "amg": "new Galerkin products"}


def solve_rows(ctx, be, shape):
    g, k, mask, b = cases.contrast_problem(shape)
    xp = be.xp
    k, mask, b = xp.asarray(k), xp.asarray(mask), be.asarray(b)
    common = {"backend": be.name, "precision": "float64", "grid": grid_label(shape), "cells": int(np.prod(shape))}
    rows = []
    for method in ("multigrid",) if be.is_gpu else ("multigrid", "direct", "amg"):
        def make():
            return EllipticProblem(g, be, k, 0.0, mask) if method == "multigrid" else \
                SparseProblem(g, be, k, 0.0, mask, method)

        setup = ctx.timer.measure(make, warmup=1, budget=0, min_repeats=3)
        problem, result = make(), {}

        def solve():
            if method != "multigrid":
                problem.set_diagonal(0.0)
            result["u"], result["info"] = problem.solve(b, rtol=RTOL)

        t = ctx.timer.measure(solve, warmup=1, budget=ctx.timer.budget, min_repeats=3)
        info, step = result["info"], _ch_step_seconds(ctx, be, shape)
        if method == "multigrid":
            name, value = "solve to 1e-8", info.iterations
            note = (f"contrast 1e10, {info.iterations} iterations, residual {info.scaled_residual:.1e} (scaled), "
                    f"{info.residual:.1e} (plain), converged {info.converged}")
        else:
            name, value = f"solve to 1e-8 ({method})", info.iterations or ""
            note = (f"contrast 1e10, {WORK[method]} included, residual {info.scaled_residual:.1e} (scaled), "
                    f"converged {info.converged}")
        rows += [
            row("elliptic", name, **common, time_s=t.seconds, time_per="per solve", repeats=t.repeats, value=value,
                unit="iterations" if value != "" else "", ratio=t.seconds / step, ratio_to="CH step", note=note),
            row("elliptic", f"setup ({method})", **common, time_s=setup.seconds, time_per="per setup",
                repeats=setup.repeats, ratio=setup.seconds / step, ratio_to="CH step", note=SETUP[method]),
        ]
    return rows


def _ch_step_seconds(ctx, be, shape):
    """The time of one explicit Cahn-Hilliard step of this grid (the kernels section's, or measured)."""
    key = (be.name, "float64", shape)
    if key not in ctx.ch_step_seconds:
        ctx.ch_step_seconds[key] = ctx.timer.measure(_ch_step(be, shape)).seconds
    return ctx.ch_step_seconds[key]
