"""pfsim's command line: run | validate | info | plot | sweep.

Exit codes: 0 done, 1 the run blew up (NaN/Inf), 2 bad input (config, backend, store),
3 the run was interrupted by a signal and can be resumed.
"""

import argparse
import sys
import traceback

from . import __version__
from .errors import PfsimError

EXIT_INTERRUPTED = 3


def _say(msg):
    print(f"[pfsim] {msg}", file=sys.stderr, flush=True)


def cmd_validate(args) -> int:
    from .config import load_config

    cfg, _ = load_config(args.config, args.set)
    grid_desc = " x ".join(map(str, cfg.grid.shape))
    print(f"{args.config}: valid ({cfg.model.kind} on {grid_desc} nodes, stop at {cfg.time.stop:g} s)")
    return 0


def cmd_run(args) -> int:
    from .runner import Run

    if args.resume:
        if args.config or args.output or args.overwrite:
            raise_usage("--resume STORE takes no CONFIG, -o or --overwrite")
        run = Run.resume(args.resume, args.set, backend=args.backend, say=_say)
    else:
        if not args.config:
            raise_usage("give a CONFIG file, or --resume STORE")
        from .config import load_config

        cfg, raw = load_config(args.config, args.set)
        run = Run.new(cfg, raw, store_path=args.output, overwrite=args.overwrite, backend=args.backend,
                      say=_say, command=" ".join(["pfsim"] + sys.argv[1:]))
    status = run.execute()
    _say(f"{status}: t = {run.sim.clock.time:.6g} s after {run.sim.clock.iteration} steps ({run.sim.stopped_reason}); "
         f"store {run.store.path}")
    return EXIT_INTERRUPTED if status == "interrupted" else 0


def cmd_info(args) -> int:
    from .info import report

    print(report())
    return 0


def cmd_plot(args) -> int:
    from .plot import plot_store

    for path in plot_store(args.store, args.out, args.times, args.fields):
        print(path)
    return 0


def cmd_sweep(args) -> int:
    from .sweep import DONE, Sweep, collect, phase_diagram, run_member

    sweep = Sweep(args.sweep)
    members = sweep.members()
    sweep.validate()  # every member, before anything is written
    if not args.collect_only:
        picks = [args.member] if args.member is not None else [i for i, _ in members]
        for i in picks:
            if not 0 <= i < len(members):
                raise UsageError(f"--member {i}: the sweep has members 0 to {len(members) - 1}")
            run_member(sweep, i, say=_say, backend=args.backend)
    table = collect(sweep)
    states = {}
    for i, _ in members:
        states.setdefault(sweep.state(i), []).append(i)
    for state, ids in sorted(states.items()):
        print(f"{state:>12}: {len(ids)} member(s) {ids if len(ids) <= 12 else ''}")
    print(f"results: {table}")
    plot = phase_diagram(sweep, table, args.metric)
    if plot:
        print(f"phase diagram: {plot}")
    bad = [s for s in states if s not in DONE and s != "not started"]
    if args.member is None and not args.collect_only and bad:
        return EXIT_INTERRUPTED if bad == ["interrupted"] else 1
    return 0


class UsageError(PfsimError):
    exit_code = 2


def raise_usage(msg):
    raise UsageError(msg)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pfsim", description="Phase-field simulation of the Li-metal | solid-electrolyte interface.")
    p.add_argument("--version", action="version", version=f"pfsim {__version__}")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a scenario, or resume a stopped run")
    r.add_argument("config", nargs="?", help="scenario YAML file")
    r.add_argument("-o", "--output", help="run store path (default: output.store or runs/NAME.zarr)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing run store")
    r.add_argument("--resume", metavar="STORE", help="continue STORE from its last checkpoint")
    r.add_argument("--backend", choices=["auto", "numpy", "cupy"], help="override the config's backend")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. time.stop=10")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check a scenario without running it")
    v.add_argument("config")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.set_defaults(func=cmd_validate)

    i = sub.add_parser("info", help="versions, backend, device and kernel compilation")
    i.set_defaults(func=cmd_info)

    sw = sub.add_parser("sweep", help="run a parameter sweep (all members, or one with --member)")
    sw.add_argument("sweep", help="sweep YAML file")
    sw.add_argument("--member", type=int, help="run only this member (e.g. one task of a job array)")
    sw.add_argument("--collect-only", action="store_true", help="only gather results.csv and the phase diagram")
    sw.add_argument("--metric", default="void_volume_fraction", help="observable coloured in the phase diagram")
    sw.add_argument("--backend", choices=["auto", "numpy", "cupy"])
    sw.set_defaults(func=cmd_sweep)

    pl = sub.add_parser("plot", help="PNG figures of a run store's fields and observables")
    pl.add_argument("store")
    pl.add_argument("-o", "--out", help="folder for the PNG files (default STORE/../NAME-plots)")
    pl.add_argument("--times", type=float, nargs="*", help="simulated times of the field snapshots (default: first, middle, last)")
    pl.add_argument("--fields", nargs="*", help="fields to draw (default: all)")
    pl.set_defaults(func=cmd_plot)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except PfsimError as exc:
        label = "error" if exc.exit_code == 2 else "run failed"
        for line in str(exc).splitlines():
            print(f"pfsim: {label}: {line}", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
