"""`pfsim bench`: the benchmark suite. One table on stdout, bench.csv and bench.json (with the
device, driver, versions, date and host) in --out.

Sections (in this order; --only picks some):
  bandwidth  device-to-device copy: the roofline every kernel is measured against
  kernels    each field-stepping kernel: cell updates/s, effective bandwidth, fraction of copy
  elliptic   multigrid-preconditioned CG at a 1e10 contrast, in units of a Cahn-Hilliard step
  peers      PFHub BM1a to t = 10: pfsim, a plain NumPy script, the same on CuPy, FiPy
  memory     bytes per cell of each model: state, after set-up, peak while stepping
  scenarios  time to solution of configs/bench/*.yaml (--quick: time per step)
  ensemble   many small runs stepped together (pfsim.ensemble) against one large run
"""

import gc
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SECTIONS = ("bandwidth", "kernels", "elliptic", "peers", "memory", "scenarios", "ensemble")
SIZES = {  # (kernel and memory grids, elliptic grids, BM1a peer grids)
    "full": ([(4096, 4096), (256, 256, 256)], [(2048, 2048), (256, 256, 256)], [256, 2048]),
    "quick": ([(1024, 1024), (96, 96, 96)], [(256, 256), (64, 64, 64)], [256]),
}


def add_arguments(p):
    p.add_argument("--backend", choices=["auto", "numpy", "cupy"], default="auto")
    p.add_argument("--quick", action="store_true", help="CPU sizes: 1024^2 and 96^3 kernels, BM1a at 256^2 only, "
                   "scenarios on fewer nodes for a few steps")
    p.add_argument("--only", action="append", metavar="SECTION",
                   help=f"run only these sections (repeat or comma-separate): {', '.join(SECTIONS)}")
    p.add_argument("--out", help="folder for bench.csv and bench.json (default runs/bench/BACKEND-DATE)")
    p.add_argument("--sizes", metavar="N2D,N3D", help="kernel, memory and elliptic grids: N2D^2 and N3D^3")
    p.add_argument("--peer-grids", metavar="N[,N]", help="BM1a grids of the peers section (default 256,2048; quick 256)")
    p.add_argument("--no-fipy", action="store_true", help="leave FiPy out of the peers section")
    p.add_argument("--install-fipy", nargs="?", const="default", metavar="VENV|current",
                   help="pip install FiPy into a separate virtual environment (default ~/.cache/pfsim/fipy-venv) "
                        "or, with 'current', into this one")
    p.add_argument("--fipy-python", metavar="PYTHON", help="an interpreter that can import FiPy")
    p.add_argument("--fipy-search-grid", type=int, metavar="N",
                   help="grid N^2 of FiPy's dt search (default 256; quick 64); other grids are extrapolated")
    p.add_argument("--scenario-dir", help="scenario folder of the scenarios and memory sections (default configs/bench)")
    p.add_argument("--scenario-steps", type=int, default=2, help="timed steps per scenario with --quick")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="seconds of timed repeats per kernel case (default 1 with --quick, else 3)")


@dataclass
class Context:
    args: object
    backend: object
    timer: object
    quick: bool
    kernel_shapes: list
    solve_shapes: list
    peer_grids: list
    copy_gbps: float | None = None
    ch_step_seconds: dict = field(default_factory=dict)
    references: dict = field(default_factory=dict)

    def __post_init__(self):
        q = self.quick
        self.fipy_search_grid = self.args.fipy_search_grid or (64 if q else 256)  # FiPy's dt is chosen here
        self.fipy_steps = 2 if q else 3  # timed FiPy steps on other grids
        self.peer_budget = 60.0 if q else 300.0  # longer explicit runs are extrapolated
        self.reference_budget = 120.0 if q else 900.0
        self.fipy_budget = 600.0 if q else 3600.0  # per FiPy subprocess
        self.scenario_steps = self.args.scenario_steps

    @staticmethod
    def say(msg):
        print(f"[pfsim bench] {msg}", file=sys.stderr, flush=True)

    def free(self):
        gc.collect()
        if self.backend.is_gpu:
            self.backend.xp.get_default_memory_pool().free_all_blocks()


def _sections(only):
    if not only:
        return list(SECTIONS)
    picked = [s.strip() for item in only for s in item.split(",") if s.strip()]
    bad = [s for s in picked if s not in SECTIONS]
    if bad:
        from ..errors import UsageError

        raise UsageError(f"--only {bad[0]}: expected one of {', '.join(SECTIONS)}")
    if ("kernels" in picked or "ensemble" in picked) and "bandwidth" not in picked:
        picked.append("bandwidth")  # kernels are measured against this run's copy bandwidth
    return [s for s in SECTIONS if s in picked]


def run(args, argv=None) -> int:
    from ..backend import select_backend
    from . import ensemble, kernels, memory, peers, report, scenarios, solves
    from .timing import Timer

    sections = _sections(args.only)
    backend = select_backend(args.backend, "float64", announce=Context.say)
    kernel_shapes, solve_shapes, peer_grids = SIZES["quick" if args.quick else "full"]
    if args.sizes:
        n2, n3 = (int(v) for v in args.sizes.split(","))
        kernel_shapes = solve_shapes = [(n2, n2), (n3, n3, n3)]
    if args.peer_grids:
        peer_grids = [int(v) for v in args.peer_grids.split(",")]
    if args.install_fipy == "default":
        from .fipy_env import DEFAULT_VENV

        args.install_fipy = str(DEFAULT_VENV)
    timer = Timer(backend, args.quick)
    if args.budget is not None:
        timer.budget = args.budget
    ctx = Context(args, backend, timer, args.quick, kernel_shapes, solve_shapes, peer_grids)
    run_section = {"bandwidth": kernels.bandwidth, "kernels": kernels.kernels, "elliptic": solves.elliptic,
                   "peers": peers.peers, "memory": memory.memory, "scenarios": scenarios.scenarios,
                   "ensemble": ensemble.ensemble}
    meta = report.environment(backend, sys.argv[2:] if argv is None else argv)
    meta["quick"], meta["sections"] = args.quick, sections
    rows = []
    for name in sections:
        ctx.say(f"section {name}")
        rows += run_section[name](ctx)
    out = args.out or str(Path("runs") / "bench" / f"{backend.name}-{datetime.now():%Y%m%d-%H%M%S}")
    print(f"pfsim bench on {meta['device']} ({backend.name}), {meta['date']}, host {meta['host']}")
    print(f"pfsim {meta['pfsim']}, numpy {meta['numpy']}, cupy {meta['cupy']}, driver {meta['driver']}")
    print(report.table(rows))
    for path in report.write(out, meta, rows):
        print(f"wrote {path}")
    return 0
