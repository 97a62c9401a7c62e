"""The first steps of every scenario on the device backend against NumPy: fields and observables.

    python benchmarks/device_compare.py --backend cupy [--steps 4] [--out DIR] [--configs PATH ...]

For each scenario (configs/*.yaml, configs/pfhub/*.yaml and, on a GPU, configs/gpu/*.yaml), the
model is built through pfsim.build on the chosen backend and on NumPy, both with the matrix-free
multigrid CG at solve tolerance 1e-12 (the GPU's algorithm on both sides, so the kernels are what
is compared), stepped `--steps` times with the run's own time step, and every field and
observable compared. Tolerances (relative to the largest magnitude of each quantity):

    float64  generic models (pointwise and stencil kernels only)    1e-12
    float64  interface models (solves to 1e-12, thresholds)         1e-7
    float32  any                                                     1e-4

A mismatch beyond them, or a run that fails on one side, is a failure (exit 1). Writes
device_compare.json and prints one line per scenario.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GENERIC = ("cahn_hilliard", "allen_cahn")


def tolerance(cfg):
    if cfg.precision == "float32":
        return 1e-4
    return 1e-12 if cfg.model.kind in GENERIC else 1e-7


def step_scenario(path, backend, steps):
    """(fields, observables, seconds) after `steps` steps of the scenario on `backend`."""
    from pfsim.backend import select_backend
    from pfsim.build import build
    from pfsim.config import apply_overrides, read_config_file, validate
    from pfsim.models import MODELS
    from pfsim.simulation import Simulation

    raw = read_config_file(path)
    overrides = ["elliptic_solver=multigrid"]
    params = MODELS.get(raw.get("model", {}).get("kind"), (None,))[0]
    if params is not None and "potential_tolerance" in params.model_fields:  # the models with elliptic solves
        overrides.append("model.potential_tolerance=1e-12")
    cfg = validate(apply_overrides(raw, overrides))
    be = select_backend(backend, cfg.precision, elliptic="multigrid")
    setup = build(cfg, be)
    sim = Simulation(setup.model, setup.state, cfg.time.stop, setup.dt, cfg.time.integrator)
    start = time.perf_counter()
    for _ in range(steps):
        if sim.clock.time >= cfg.time.stop:
            break
        sim.time_step(*sim.next_step())
    fields = {name: be.to_host(setup.state[name]).astype(np.float64) for name in setup.model.fields}
    observables = setup.model.observables(setup.state, sim.clock.time)
    return cfg, fields, observables, time.perf_counter() - start


def worst(a, b):
    """Largest difference relative to the largest magnitude (NaN where both are NaN: 0)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    both_nan = np.isnan(a) & np.isnan(b)
    if (np.isnan(a) != np.isnan(b)).any():
        return math.inf
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    scale = max(float(np.nanmax(np.abs(b))) if b.size and not both_nan.all() else 0.0, 1e-300)
    return float(diff.max()) / scale if diff.size else 0.0


def scenarios(args):
    if args.configs:
        return [Path(p) for p in args.configs]
    out = sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "configs" / "pfhub").glob("*.yaml"))
    if args.backend != "numpy":
        out += sorted((ROOT / "configs" / "gpu").glob("*.yaml"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="cupy", choices=("cupy", "numpy"))
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--out", default=".")
    ap.add_argument("--configs", nargs="*", help="scenario files (default: configs/, configs/pfhub/, configs/gpu/)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    rows, failed = [], 0
    for path in scenarios(args):
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        try:
            cfg, f_dev, o_dev, t_dev = step_scenario(path, args.backend, args.steps)
            _, f_ref, o_ref, t_ref = step_scenario(path, "numpy", args.steps)
        except Exception as exc:  # a scenario that fails on one side is a result, reported as such
            failed += 1
            rows.append({"scenario": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
            print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)
            continue
        tol = tolerance(cfg)
        diffs = {f"field {k}": worst(f_dev[k], f_ref[k]) for k in f_ref}
        diffs |= {f"obs {k}": worst(o_dev[k], o_ref[k]) for k in o_ref}
        bad = {k: v for k, v in diffs.items() if not v <= tol}
        ok = not bad
        failed += not ok
        top = max(diffs.items(), key=lambda kv: kv[1]) if diffs else ("-", 0.0)
        rows.append({"scenario": name, "ok": ok, "tolerance": tol, "worst": top[0], "worst_rel": top[1],
                     "beyond_tolerance": bad, "device_s": t_dev, "numpy_s": t_ref, "steps": args.steps})
        print(f"{'ok  ' if ok else 'FAIL'} {name}: worst {top[0]} {top[1]:.2e} (tolerance {tol:g}); "
              f"{args.steps} steps {t_dev:.2f} s on {args.backend}, {t_ref:.2f} s on numpy", flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "device_compare.json").write_text(json.dumps(rows, indent=1))
    print(f"{len(rows) - failed} of {len(rows)} scenarios agree", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
