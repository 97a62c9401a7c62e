"""Section `peers`: PFHub BM1a physics (periodic, dx = 1, to t = 10) in pfsim and in what
users would otherwise run: the plain NumPy script of benchmarks/peers/, the same script on
CuPy, and FiPy's implicit coupled Cahn-Hilliard. Every full run's F(10) is compared with a
converged reference computed here (Richardson extrapolation of pfsim's forward Euler at
dt = 1e-3 and 5e-4); a run too long for the budget is timed over fewer steps and the time
to t = 10 extrapolated, and says so. Each explicit code is timed in a fresh Python process.
"""

import json
import os
import statistics
import sys
from pathlib import Path

from ..backend import select_backend
from ..initial import PfhubBM1, initial_field
from ..simulation import Simulation
from . import cases, fipy_env
from .report import grid_label, row
from .timing import Timer

STOP = 10.0
DT = 2e-3  # explicit codes: 0.7 of forward Euler's stability limit at dx = 1
REF_DTS = (1e-3, 5e-4)
TOLERANCE = 0.01  # |F - F_ref| / F_ref for a run to count as a solution
FIPY_DTS = (1.0, 0.5, 0.25, 0.2, 0.125, 0.1, 0.05, 0.025, 0.01)  # each divides t = 10


def peers_dir() -> Path:
    """benchmarks/peers beside the package (a checkout), or the copy installed under share/."""
    here = Path(__file__).resolve().parents[2] / "benchmarks" / "peers"
    for c in (os.environ.get("PFSIM_PEERS_DIR"), here, Path(sys.prefix) / "share" / "pfsim" / "peers"):
        if c and (Path(c) / "numpy_bm1a.py").is_file():
            return Path(c)
    raise FileNotFoundError("benchmarks/peers not found; set PFSIM_PEERS_DIR")


# --- the explicit codes ----------------------------------------------------------------------------
def pfsim_code(be, n):
    model, _ = cases.cahn_hilliard(be, (n, n))
    state = {}

    def setup():
        state["c"] = be.asarray(initial_field(PfhubBM1(kind="pfhub_bm1"), model, 0))

    def advance(steps, dt=DT):
        Simulation(model, state, steps * dt, dt).run()

    return setup, advance, lambda: model.observables(state, STOP)["free_energy"]


def reference(ctx, n):
    """(F_ref, its estimated error) at t = 10 on n x n, or (None, why not)."""
    if n in ctx.references:
        return ctx.references[n]
    be = cases.with_precision(ctx.backend, "float64")
    setup, advance, energy = pfsim_code(be, n)
    setup()
    _, probe = ctx.timer.wall(lambda: advance(20, REF_DTS[0]))
    estimate = probe / 20 * sum(STOP / dt for dt in REF_DTS)
    if estimate > ctx.reference_budget:
        out = (None, f"reference not computed here (about {estimate:.0f} s on {be.name})")
    else:
        ctx.say(f"peers: reference at {n}^2 (about {estimate:.0f} s)")
        values = []
        for dt in REF_DTS:
            setup()
            advance(round(STOP / dt), dt)
            values.append(energy())
        out = (2 * values[1] - values[0], abs(values[1] - values[0]) / values[1])
    ctx.references[n] = out
    return out


def _budgeted(per_step, budget, full, partial):
    """(seconds to t = 10, F(10) or None, note): the median of 3 full runs (full() -> (seconds,
    F(10))) when they fit the budget, else 1, else a run of fewer steps (partial(k) -> seconds)
    extrapolated."""
    total = round(STOP / DT)
    if per_step * total <= budget:
        runs = [full() for _ in range(3 if 3 * per_step * total <= budget else 1)]
        how = f"median of {len(runs)} runs" if len(runs) > 1 else "1 run"
        return statistics.median(s for s, _ in runs), runs[-1][1], f"dt {DT:g}, {total} steps, {how}"
    k = int(max(20, min(total // 2, budget / 4 / per_step)))
    return partial(k) / k * total, None, f"dt {DT:g}; EXTRAPOLATED to {total} steps from {k} timed steps"


def time_explicit(timer, code, budget):
    """_budgeted's result for pfsim's own code (setup, advance, energy) in this process."""
    setup, advance, energy = code
    setup()
    _, probe = timer.wall(lambda: advance(10))  # also the warm-up

    def full():
        setup()
        return timer.wall(lambda: advance(round(STOP / DT)))[1], energy()

    return _budgeted(probe / 10, budget, full, lambda k: timer.wall(lambda: advance(k))[1])


def fresh_process(backend, n, budget):
    """time_explicit of pfsim in a new Python process, as a user runs a script: NumPy's speed
    with short-lived arrays depends on the allocator's history (glibc's mmap threshold), so
    no code may inherit another's."""
    return fipy_env.json_line([sys.executable, "-m", "pfsim.bench.peers", backend, str(n), repr(budget)],
                              f"pfsim on {backend}")


def script_process(name, n, budget):
    """(seconds to t = 10, F(10) or None, note) of benchmarks/peers/NAME.py run as a user runs
    it (a new process per run), with the budget rules of _budgeted."""

    def go(steps=None):
        cmd = [sys.executable, str(peers_dir() / f"{name}.py"), "--n", str(n), "--dt", repr(DT), "--stop", repr(STOP)]
        return fipy_env.json_line(cmd + (["--steps", str(steps)] if steps else []), name)

    def full():
        run = go()
        return run["seconds"], run["free_energy"]

    return _budgeted(go(20)["seconds"] / 20, budget, full, lambda k: go(k)["seconds"])


def _main(backend, n, budget):
    be = select_backend(backend, "float64")
    seconds, F, note = time_explicit(Timer(be), pfsim_code(be, int(n)), float(budget))
    print(json.dumps({"seconds": seconds, "free_energy": F, "note": note}))


def _accuracy(F, n, ctx):
    if F is None:
        return ""
    F_ref, err = reference(ctx, n)
    if F_ref is None:
        return f"; F(10) not checked: {err}"
    e = abs(F - F_ref) / F_ref
    ok = "within" if e <= TOLERANCE else "NOT within"
    return f"; F(10) {ok} 1 % of the reference ({e:.1e})"


def explicit_rows(ctx, n):
    gpu = ctx.backend.is_gpu
    codes = [("pfsim", ctx.backend.name)] + [("pfsim", "numpy")] * gpu + [("numpy np.roll script", "numpy")]
    if gpu:
        codes.append(("cupy (same script)", "cupy"))
    rows = []
    for name, backend in codes:
        ctx.say(f"peers: {name} on {backend}, {n}^2")
        try:
            if name == "pfsim":
                res = fresh_process(backend, n, ctx.peer_budget)
                seconds, F, note = res["seconds"], res["free_energy"], res["note"]
            else:
                script = "numpy_bm1a" if backend == "numpy" else "cupy_bm1a"
                seconds, F, note = script_process(script, n, ctx.peer_budget)
        except RuntimeError as exc:
            rows.append(row("peers", name, backend=backend, grid=grid_label((n, n)), note=f"failed: {exc}"))
            continue
        rows.append(_peer_row(name, backend, n, seconds, F, note + _accuracy(F, n, ctx)))
    if not gpu:
        rows.append(row("peers", "cupy (same script)", backend="cupy", grid=grid_label((n, n)),
                        note="skipped: no GPU (CuPy with a CUDA device) here"))
    return rows


def _peer_row(name, backend, n, seconds, F, note):
    return row("peers", name, backend=backend, precision="float64", grid=grid_label((n, n)), cells=n * n,
               time_s=seconds, time_per="to t = 10", value="" if F is None else F,
               unit="" if F is None else "F(10)", note=note)


# --- FiPy ------------------------------------------------------------------------------------------
def fipy_dt(ctx, python, script):
    """The largest dt of FIPY_DTS whose run to t = 10 on the search grid is within 1 %:
    (dt, the run's result, note), or (None, None, why not)."""
    n = ctx.fipy_search_grid
    F_ref, why = reference(ctx, n)
    if F_ref is None:
        return None, None, why
    tried = []

    def attempt(dt):
        ctx.say(f"peers: fipy dt = {dt:g} on {n}^2")
        res = fipy_env.run(python, script, n, dt, STOP, timeout=ctx.fipy_budget)
        res["error"] = abs(res["free_energy"] - F_ref) / F_ref
        tried.append(f"{dt:g}: {res['error']:.1e}")
        return res

    first = attempt(FIPY_DTS[0])
    if first["error"] <= TOLERANCE:
        return FIPY_DTS[0], first, f"dt search on {n}^2 (errors {', '.join(tried)})"
    # first-order in time: jump to the largest dt predicted within 0.9 of the tolerance
    slope = first["error"] / FIPY_DTS[0]
    for dt in [d for d in FIPY_DTS[1:] if slope * d <= 0.9 * TOLERANCE]:
        res = attempt(dt)
        if res["error"] <= TOLERANCE:
            return dt, res, f"dt search on {n}^2 (errors {', '.join(tried)})"
    return None, None, f"no dt met 1 % on {n}^2 (errors {', '.join(tried)})"


def fipy_rows(ctx):
    grid = lambda n: grid_label((n, n))
    script = peers_dir() / "fipy_bm1a.py"
    try:
        python, how = fipy_env.find(ctx.args.fipy_python, ctx.args.install_fipy, ctx.say)
        dt, searched, note = fipy_dt(ctx, python, script) if python is not None else (None, None, how)
    except Exception as exc:  # a failed FiPy install, a FiPy error or a timeout
        dt, searched, note = None, None, f"{type(exc).__name__}: {str(exc)[:200]}"
    if dt is None:
        return [row("peers", "fipy", backend="fipy", grid=grid(n), note=f"skipped: {note}") for n in ctx.peer_grids]
    rows = []
    for n in ctx.peer_grids:
        solver = f"FiPy {searched['fipy']} ({searched['solver']}), dt {dt:g}, {round(STOP / dt)} steps; {note}"
        if n == ctx.fipy_search_grid:
            rows.append(_peer_row("fipy", "fipy", n, searched["seconds"], searched["free_energy"],
                                  solver + f"; F(10) within 1 % of the reference ({searched['error']:.1e})"))
            continue
        ctx.say(f"peers: fipy {ctx.fipy_steps} steps on {n}^2")
        try:
            res = fipy_env.run(python, script, n, dt, STOP, steps=ctx.fipy_steps, timeout=ctx.fipy_budget)
        except Exception as exc:
            rows.append(row("peers", "fipy", backend="fipy", grid=grid(n),
                            note=f"not timed: {type(exc).__name__} (budget {ctx.fipy_budget:.0f} s); {solver}"))
            continue
        rows.append(_peer_row("fipy", "fipy", n, res["extrapolated_seconds"], None,
                              solver + f"; EXTRAPOLATED from {res['timed_steps']} timed steps"))
    return rows


def peers(ctx):
    rows = []
    for n in ctx.peer_grids:
        rows += explicit_rows(ctx, n)
    if not ctx.args.no_fipy:
        rows += fipy_rows(ctx)
    base = {r["grid"]: r["time_s"] for r in rows if r["case"] == "pfsim" and r["backend"] == ctx.backend.name}
    for r in rows:
        if r["time_s"] != "" and base.get(r["grid"]):
            r["ratio"], r["ratio_to"] = r["time_s"] / base[r["grid"]], f"pfsim {ctx.backend.name}"
    return rows


if __name__ == "__main__":
    _main(*sys.argv[1:4])
