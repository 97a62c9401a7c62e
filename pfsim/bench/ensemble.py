"""Section `ensemble`: many small runs stacked into the same launches (pfsim.ensemble) against
one large run of as many cells ("large") and one small run alone ("alone"), in cell updates per
second. The aim: B members of n^2 reach at least 70 % of the rate of one run of B n^2 cells."""

from ..ensemble import EnsembleModel
from . import cases, costs
from .report import row

# (members B, member grid n, one large grid N with N^2 = B n^2)
SIZES = {"full": (64, 256, 2048), "quick": (64, 128, 1024)}
MODELS = {"ch_step": cases.cahn_hilliard, "ac_step": cases.allen_cahn}


def stacked(make, be, members, n):
    """An ensemble of `members` copies of the model on n^2, each member with its own random state
    (the case's random field on the stacked shape)."""
    member, _ = make(be, (n, n))
    _, state = make(be, (members, n, n))
    return EnsembleModel([member] * members), state


def ensemble(ctx):
    members, n, big = SIZES["quick" if ctx.quick else "full"]
    if ctx.args.sizes:  # --sizes N2D,N3D: one N2D^2 run against 64 members of (N2D / 8)^2
        big = ctx.kernel_shapes[0][0]
        n = max(3, big // 8)
    rows = []
    for precision in ("float64", "float32"):
        be = cases.with_precision(ctx.backend, precision)
        for name, make in MODELS.items():
            ctx.say(f"ensemble: {name} {members} x {n}^2 against {big}^2, {precision}")
            rates = {}
            cases_ = {"large": lambda: cases.stepper(*make(be, (big, big))),
                      "alone": lambda: cases.stepper(*make(be, (n, n))),
                      "ensemble": lambda: cases.stepper(*stacked(make, be, members, n))}
            for label, build in cases_.items():
                t = ctx.timer.measure(build())
                cells = {"large": big * big, "alone": n * n}.get(label, members * n * n)
                rates[label] = cells / t.seconds
                per_cell = costs.bytes_per_cell(name, 2, be.dtype.itemsize)
                gbps = per_cell * rates[label] / 1e9
                grid = f"{big}x{big}" if label == "large" else (f"{n}x{n}" if label == "alone" else f"{members} x {n}x{n}")
                rows.append(row("ensemble", f"{name} {label}", backend=be.name, precision=precision, grid=grid,
                                cells=cells, time_s=t.seconds, time_per="per step", repeats=t.repeats,
                                value=rates[label], unit="cell/s", bytes_per_cell=per_cell, gbps=gbps,
                                frac_copy=gbps / ctx.copy_gbps if ctx.copy_gbps else "",
                                ratio=rates[label] / rates["large"], ratio_to=f"{name} large",
                                note="target >= 0.7 of the large run" if label == "ensemble" else ""))
                ctx.free()
    return rows
