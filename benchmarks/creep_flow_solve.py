"""The cost of one solved-mechanics flow solve (pfsim/solvers/creep_flow.py) by each linear-algebra
method, against one potential stage on the same state (docs/stripping.md, Solved mechanics, "Cost").

    python benchmarks/creep_flow_solve.py [--only 2d|3d] [--repeat N] [--backend numpy|cupy]

Geometry: configs/void_stripping.yaml (2D, 80 x 40 nodes) and configs/void_stripping_3d.yaml
(3D, 24 x 24 x 20 nodes) with three voids planted on the Li side of the interface, at 0.2 MPa
(the configs' stack pressure), built as pfsim.models.stripping.creep builds it (SSE rigid and
bonded, the collector a traction wall). Each method solves from scratch (a new solver: no kept
preconditioner) to the model's tolerance; the best of --repeat runs is printed, with the Newton
steps, GMRES iterations and preconditioner set-ups of that run, and the largest velocity
difference to the first method's flow relative to its largest velocity. The potential stage
(pfsim.models.stripping.potential.solve: Newton on the galvanostatic contact) is timed on the
same state, the median of 7 calls after one warm-up call, each from the initial state's potential
and voltage (Newton from scratch, as the flow solves from scratch) and each from the converged
potential (one Newton iteration: a step in which the state barely moved).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pfsim.backend import select_backend  # noqa: E402
from pfsim.config import load_config  # noqa: E402
from pfsim.grid import Grid  # noqa: E402
from pfsim.models import build_model  # noqa: E402
from pfsim.models.stripping import creep, potential  # noqa: E402
from pfsim.solvers import creep_flow as cf  # noqa: E402

CASES = {
    "2d": ("void_stripping.yaml", [(3.0e-6, 4.3e-6), (10.0e-6, 4.3e-6), (16.0e-6, 4.3e-6)], 0.8e-6),
    "3d": ("void_stripping_3d.yaml", [(2.0e-6, 2.0e-6, 3.3e-6), (6.0e-6, 3.0e-6, 3.3e-6), (3.0e-6, 6.0e-6, 3.3e-6)],
           0.9e-6),
}


def scenario(name, backend_name):
    config, centres, radius = CASES[name]
    cfg, _ = load_config(ROOT / "configs" / config, overrides=["model.creep.model=solved"])
    grid = Grid.from_config(cfg.grid)
    backend = select_backend(backend_name, "float64")
    m = build_model(cfg.model, grid, backend, drive=cfg.drive, seed=cfg.seed)
    s = m.initial_state()
    X = m.grid.mesh()
    void = np.zeros(grid.shape, bool)
    for c in centres:
        void |= sum((x - x0) ** 2 for x, x0 in zip(X, c)) < radius**2
    xi = backend.to_host(s["xi"])
    xi[void & backend.to_host(m.li_side)] = 0.0
    s["xi"][...] = backend.asarray(xi)
    m._set(s, "initial_li", m.li_content(s))
    return m, s, cfg


def flow_solver(m, pressure, method):
    """The solver pfsim.models.stripping.creep.creep_flow builds, with the given method."""
    c = m.params.creep
    sse = m.extent.gather(m.sse).astype(bool)
    nd = m.grid.ndim
    walls = {}
    for a in range(nd - 1):
        walls[(a, 0)] = walls[(a, 1)] = cf.Wall("freeslip")
    walls[(nd - 1, 0)] = cf.Wall("noslip")
    walls[(nd - 1, 1)] = cf.Wall("traction", -float(pressure))
    geometry = cf.CreepFlow(m.grid, walls, solid=sse)
    material = cf.Material(c.exponent, creep.reference_stress(c), m.creep_rate0)
    return cf.CreepSolver(geometry, material, stress_scale=pressure, regularisation=creep.REGULARISATION,
                          backend=m.backend, method=method)


def sync(m):
    if m.backend.is_gpu:
        m.backend.xp.cuda.Device().synchronize()


def run(name, methods, repeat, backend_name):
    m, s, cfg = scenario(name, backend_name)
    pressure = m.pressure(0.0)
    xi = m.extent.gather(s["xi"]).astype(float)
    print(f"\n{name}: {cfg.grid.shape} nodes, {m.backend.name} on {m.backend.device}, p = {pressure:.3g} Pa")
    j = m.current(0.0)
    xp = m.backend.xp
    phi0, V0 = xp.array(s["potential"]), float(m.ledger(s, "voltage"))
    potential.solve(m, s, j)  # warm-up (operators, hierarchy)
    stages = {}
    for start in ("initial", "converged"):
        times = []
        for _ in range(7):
            if start == "initial":  # the initial state's potential and voltage: Newton from scratch
                s["potential"][...] = phi0
                s["ledger"][m.ledger_names.index("voltage")] = V0
            else:
                potential.solve(m, s, j)
            sync(m)
            t0 = time.perf_counter()
            potential.solve(m, s, j)
            sync(m)
            times.append(time.perf_counter() - t0)
        stages[start] = statistics.median(times)
        print(f"  potential stage from the {start} potential: {stages[start] * 1e3:.2f} ms "
              f"(median of 7; min {min(times) * 1e3:.2f}, max {max(times) * 1e3:.2f})")
    stage = stages["initial"]
    reference = None
    for method in methods:
        best = None
        for _ in range(repeat):
            solver = flow_solver(m, pressure, method)
            sync(m)
            t0 = time.perf_counter()
            sol = solver.solve(xi, rtol=creep.RTOL)
            sync(m)
            dt = time.perf_counter() - t0
            if best is None or dt < best[0]:
                best = (dt, sol)
        dt, sol = best
        u = np.concatenate([cf.to_host(v).ravel() for v in sol.velocity])
        if reference is None:
            reference, diff = u, 0.0
        else:
            diff = float(np.abs(u - reference).max() / np.abs(reference).max())
        print(f"  {solver.method:>9}: {dt:7.2f} s  ({dt / stage:6.0f} potential stages from the initial potential, "
              f"{dt / stages['converged']:6.0f} from the converged one)  unknowns {solver.flow.n_free}, "
              f"Newton {sol.iterations}, GMRES {sol.linear_iterations}, set-ups {sol.factorisations}, "
              f"residual {sol.residual:.1e}, converged {sol.converged}, max |du|/max|u| {diff:.1e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=sorted(CASES), action="append")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    args = ap.parse_args()
    for name in args.only or sorted(CASES):
        methods = ["direct", "multigrid"] if name == "2d" else ["amg", "multigrid"]
        if args.backend == "cupy":
            methods = ["multigrid"]
        run(name, methods, args.repeat, args.backend)


if __name__ == "__main__":
    main()
