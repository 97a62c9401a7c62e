"""The CPU path's figures (docs/performance.md, "The CPU path"): run it on an idle machine.

    python benchmarks/cpu_path.py [--baseline CHECKOUT] [--out DIR] [--only SECTION ...]

Sections:
  scenarios  CPU time (user + sys) and wall time of `pfsim run` on configs/void_stripping.yaml,
             filament_plating.yaml and cycling.yaml; with --baseline, the same commands on another
             checkout of pfsim (PYTHONPATH) in the same invocation, and the ratios
  steps      Allen-Cahn NumPy steps at 625^2 (time per step, system-time share) and Cahn-Hilliard
             NumPy steps at 1024^2 (cell updates/s, fraction of the measured copy bandwidth with
             the bench's 16 bytes per cell), the same with cpu_kernels numba where Numba is
             installed, and `pfsim run` of a 625^2 Allen-Cahn config; with --baseline, the same
             in that checkout
  scaling    one stripping step (configs/void_stripping.yaml with the reduced creep model, same 20 x 10 um cell, refined) at
             80x40 ... 640x320 with the sparse direct solver and with AMG, and the fitted exponent
             of time per step against the node count
  memory     bytes allocated at the peak of a steady-state step beyond what the step starts
             with (tracemalloc), in grid arrays, for Allen-Cahn, Cahn-Hilliard and stripping

Prints a table per section and writes cpu_path.json into --out.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("void_stripping", "filament_plating", "cycling")
SCALING = ((80, 40), (160, 80), (320, 160), (640, 320))


def run_scenario(name, checkout):
    """(user + sys CPU seconds, wall seconds, last line) of `pfsim run` on one config."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(checkout))
        cmd = [sys.executable, "-m", "pfsim.cli", "run", str(ROOT / "configs" / f"{name}.yaml"),
               "--output", str(Path(tmp) / "run.zarr")]
        before = os.times()
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - start
        after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"{name} on {checkout} failed: {done.stderr.strip().splitlines()[-1:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return cpu, wall, done.stderr.strip().splitlines()[-1]


def scenarios(args):
    rows = []
    for name in SCENARIOS:
        new = run_scenario(name, ROOT)
        row = {"scenario": name, "cpu_s": new[0], "wall_s": new[1], "end": new[2]}
        if args.baseline:
            old = run_scenario(name, Path(args.baseline))
            row.update(baseline_cpu_s=old[0], baseline_wall_s=old[1], baseline_end=old[2], cpu_ratio=old[0] / new[0])
        rows.append(row)
        print(f"  {name:18s} cpu {new[0]:7.2f} s  wall {new[1]:7.2f} s"
              + (f"   baseline cpu {row['baseline_cpu_s']:7.2f} s  ({row['cpu_ratio']:.1f}x less)" if args.baseline else ""),
              flush=True)
    return rows


STEP_SCRIPT = r"""
import os, sys, time, json
import numpy as np
from pfsim.backend import Backend
from pfsim.bench import cases
kernels = sys.argv[1] if len(sys.argv) > 1 else "numpy"
be = Backend("numpy", np.dtype("float64"), "cpu")
if kernels != "numpy":
    be.cpu_kernels = kernels
out = {"kernels": kernels}
src = np.random.default_rng(0).random(2**25); dst = np.empty_like(src)
best = min((lambda t: (np.copyto(dst, src), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(5))
out["copy_gbps"] = 2 * src.nbytes / best / 1e9
del src, dst
for name, make, shape, steps in (("ac", cases.allen_cahn, (625, 625), 200), ("ch", cases.cahn_hilliard, (1024, 1024), 40)):
    model, state = make(be, shape)
    dt = 0.2 * model.stability_limit()
    for _ in range(3):
        model.euler_step(state, 0.0, dt)
    t0, w0 = os.times(), time.perf_counter()
    for _ in range(steps):
        model.euler_step(state, 0.0, dt)
    t1, w1 = os.times(), time.perf_counter()
    wall = w1 - w0
    cells = float(np.prod(shape)) * steps / wall
    out[name] = dict(shape=list(shape), steps=steps, wall_per_step_s=wall / steps, user_s=t1.user - t0.user,
                     sys_s=t1.system - t0.system, sys_share=(t1.system - t0.system) / max(wall, 1e-9),
                     cell_updates_per_s=cells, frac_copy=cells * 16 / 1e9 / out["copy_gbps"])
print(json.dumps(out))
"""


AC_RUN = """name: ac-625
grid: {shape: [625, 625], spacing: 1.0, boundaries: {x: periodic, y: periodic}}
model: {kind: allen_cahn, gradient_coefficient: 2.0, tilt: -0.1, seeds: [{position: [312, 312], radius: 40}]}
initial: {kind: random, mean: 0.02, amplitude: 0.01}
time: {stop: 60.0, dt: 0.05}
output: {fields_every: 20.0, observables_every: 1.0}
"""


def ac_run(checkout):
    """(wall s, user s, sys s, steps) of `pfsim run` on a 625^2 Allen-Cahn config (1200 steps,
    60 observation samples, 3 field frames): the step inside the whole loop."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "ac.yaml"
        cfg.write_text(AC_RUN)
        env = dict(os.environ, PYTHONPATH=str(checkout))
        before, start = os.times(), time.perf_counter()
        subprocess.run([sys.executable, "-m", "pfsim.cli", "run", str(cfg), "--output", str(Path(tmp) / "r.zarr")],
                       env=env, capture_output=True, text=True, cwd=tmp, check=True)
        wall, after = time.perf_counter() - start, os.times()
    return wall, after.children_user - before.children_user, after.children_system - before.children_system, 1200


def steps(args):
    result = {}
    runs = [("pfsim", ROOT, "numpy")] + ([("baseline", Path(args.baseline), "numpy")] if args.baseline else [])
    if _has_numba():
        runs.insert(1, ("pfsim+numba", ROOT, "numba"))
    for label, checkout, kernels in runs:
        env = dict(os.environ, PYTHONPATH=str(checkout))
        done = subprocess.run([sys.executable, "-c", STEP_SCRIPT, kernels], env=env, capture_output=True, text=True,
                              check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        if kernels == "numpy":
            wall, user, system, n = ac_run(checkout)
            r["ac_run"] = dict(wall_s=wall, user_s=user, sys_s=system, steps=n, sys_share=system / (user + system))
            print(f"  {label:11s} pfsim run AC 625^2, 1200 steps: wall {wall:.1f} s, user {user:.1f} s, "
                  f"sys {system:.1f} s ({100 * system / (user + system):.0f} % of the CPU time)", flush=True)
        result[label] = r
        print(f"  {label:11s} copy {r['copy_gbps']:.1f} GB/s | AC 625^2 {r['ac']['wall_per_step_s'] * 1e3:.2f} ms/step, "
              f"sys {100 * r['ac']['sys_share']:.1f} % | CH 1024^2 {r['ch']['cell_updates_per_s'] / 1e6:.0f} M cells/s, "
              f"{100 * r['ch']['frac_copy']:.1f} % of copy", flush=True)
    return result


def _has_numba():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def stripping(shape, method):
    """(model, state, dt, simulation) of configs/void_stripping.yaml on `shape` nodes over the
    same 20 x 10 um cell, elliptic solves by `method` ('direct' or 'amg')."""
    from pfsim.bench.scenarios import build
    from pfsim.backend import select_backend
    from pfsim.config import apply_overrides, read_config_file, validate
    from pfsim.runner import time_step
    from pfsim.simulation import Simulation
    from pfsim.solvers import sparse

    sparse.DIRECT_MAX_NODES = 10**12 if method == "direct" else 0
    h = 20.0 / shape[0]
    raw = apply_overrides(read_config_file(ROOT / "configs" / "void_stripping.yaml"),
                          [f"grid.shape=[{shape[0]},{shape[1]}]", f"grid.spacing={h} um",
                           "model.creep.model=reduced"])  # the elliptic stages' scaling, not the flow's
    cfg = validate(raw)
    model, state = build(cfg, select_backend("numpy"))
    dt = time_step(cfg, model)
    return model, state, dt, Simulation(model, state, cfg.time.stop, dt, cfg.time.integrator)


def scaling(args):
    rows = []
    for method in ("direct", "amg"):
        sizes, times = [], []
        for shape in SCALING:
            _, _, _, sim = stripping(shape, method)
            sim.time_step(*sim.next_step())  # first step: orderings, hierarchies, the first nucleation
            n = 5 if shape[0] <= 320 else 3
            start = time.perf_counter()
            for _ in range(n):
                sim.time_step(*sim.next_step())
            per = (time.perf_counter() - start) / n
            sizes.append(shape[0] * shape[1])
            times.append(per)
            rows.append({"method": method, "shape": list(shape), "nodes": sizes[-1], "s_per_step": per})
            print(f"  {method:6s} {shape[0]:4d} x {shape[1]:3d}: {per * 1e3:8.1f} ms per step", flush=True)
        slope = np.polyfit(np.log(sizes[1:]), np.log(times[1:]), 1)[0]
        rows.append({"method": method, "exponent_over_last_three": slope})
        print(f"  {method:6s} time ~ N^{slope:.2f} (fit over the three largest grids)", flush=True)
    return rows


def memory(args):
    from pfsim.backend import Backend
    from pfsim.bench import cases

    be = Backend("numpy", np.dtype("float64"), "cpu")
    out = {}

    def measure(label, step, grid_bytes):
        step()
        step()
        tracemalloc.start()
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[label] = {"transient_bytes": peak - start, "grid_arrays": (peak - start) / grid_bytes}
        print(f"  {label:28s} {(peak - start) / 2**10:10.1f} KiB at the step's peak = "
              f"{(peak - start) / grid_bytes:.2f} grid arrays", flush=True)

    for name, make, shape in (("allen_cahn 512^2", cases.allen_cahn, (512, 512)),
                              ("cahn_hilliard 512^2", cases.cahn_hilliard, (512, 512))):
        model, state = make(be, shape)
        dt = 0.2 * model.stability_limit()
        measure(name, lambda: model.euler_step(state, 0.0, dt), 8 * np.prod(shape))
    _, _, _, sim = stripping((160, 80), "direct")
    measure("li_stripping 160x80", lambda: sim.time_step(*sim.next_step()), 8 * 160 * 80)
    return out


SECTIONS = {"scenarios": scenarios, "steps": steps, "scaling": scaling, "memory": memory}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="another pfsim checkout to time the same way (scenarios, steps)")
    ap.add_argument("--out", default=".", help="folder for cpu_path.json")
    ap.add_argument("--only", action="append", choices=sorted(SECTIONS), help="sections to run (all by default)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    results = {"date": time.strftime("%Y-%m-%d"), "cpu": _cpu(), "cores": os.cpu_count(), "baseline": args.baseline}
    for name in args.only or list(SECTIONS):
        print(f"{name}:", flush=True)
        results[name] = SECTIONS[name](args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "cpu_path.json").write_text(json.dumps(results, indent=1))


def _cpu():
    try:
        text = Path("/proc/cpuinfo").read_text()
        return re.search(r"model name\s*:\s*(.*)", text).group(1)
    except (OSError, AttributeError):
        return "unknown"


if __name__ == "__main__":
    main()
