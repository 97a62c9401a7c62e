"""pfsim's command line: run | validate | info | plot | sweep | submit | status | verify | bench.

Exit codes: 0 done, 1 the run blew up (NaN/Inf), 2 bad input (config, backend, store; a store
in use by another run; a damaged store), 3 the run was interrupted by a signal and can be resumed.
"""

import argparse
import sys
import traceback

from . import __version__
from .errors import PfsimError, UsageError

EXIT_INTERRUPTED = 3


def _say(msg):
    print(f"[pfsim] {msg}", file=sys.stderr, flush=True)


def cmd_validate(args) -> int:
    from .build import check_inputs
    from .config import load_checked, sampling_warnings
    from .memory import describe
    from .sweep import file_kind

    if file_kind(args.config) == "sweep":
        return _validate_sweep(args)
    cfg, _, dt = load_checked(args.config, args.set)
    check_inputs(cfg)
    for warning in sampling_warnings(cfg, dt):
        _say(f"warning: {warning}")
    grid_desc = " x ".join(map(str, cfg.grid.shape))
    print(f"{args.config}: valid ({cfg.model.kind} on {grid_desc} nodes, stop at {cfg.time.stop:g} s)")
    paths = ["numpy", "cupy"] if cfg.backend == "auto" else [cfg.backend]
    for path in paths:  # backend auto: both, the device is picked when the run starts
        print(f"  memory: {describe(cfg, path)}")
    return 0


def _validate_sweep(args) -> int:
    """Every member of a sweep file (and its groups with `batch`), as `pfsim sweep` does before it
    runs anything; the largest member's memory estimate."""
    from .memory import estimate, size
    from .sweep import Sweep

    if args.set:
        raise UsageError(f"--set: {args.config} is a sweep file; change its `set` section instead")
    sweep = Sweep(args.config)
    configs = [cfg for cfg, _ in sweep.validate()]
    kinds = sorted({cfg.model.kind for cfg in configs})
    bases = ", ".join(map(str, sweep.bases.values()))
    print(f"{args.config}: valid sweep file ({len(configs)} member(s) of {bases}, {', '.join(kinds)}; "
          f"stores in {sweep.root})")
    paths = ["numpy", "cupy"] if configs[0].backend == "auto" else [configs[0].backend]
    for path in paths:
        largest = max(range(len(configs)), key=lambda i: estimate(configs[i], path)[0])
        total, per_cell, cells = estimate(configs[largest], path)
        print(f"  memory: about {size(total)} per member at most (member {largest}: {per_cell} B/cell x {cells} cells, "
              f"{'NumPy' if path == 'numpy' else 'CUDA'} path)")
    return 0


def cmd_run(args) -> int:
    from .parallel import distributed_comm
    from .runner import Run

    command = " ".join(["pfsim"] + sys.argv[1:])
    comm = distributed_comm(args.mpi)  # launched as several MPI ranks (or --mpi): a decomposed run
    if comm is not None:
        from .parallel.run import run_distributed

        return run_distributed(comm, args, _say, command=command)
    done = Run.done_already(args)
    if done:
        _say(done)
        return 0
    run = Run.from_args(args, _say, command)
    status = run.execute()
    _say(run.summary(status))
    return EXIT_INTERRUPTED if status == "interrupted" else 0


def cmd_info(args) -> int:
    from .info import report

    print(report())
    return 0


def cmd_plot(args) -> int:
    from .plotting import plot_store

    for path in plot_store(args.store, args.out, args.times, args.fields, movie=args.movie, say=print):
        print(path)
    return 0


def cmd_sweep(args) -> int:
    from .sweep import DONE, Sweep, collect, phase_diagram, run_group, run_member

    sweep = Sweep(args.sweep)
    members = sweep.members()
    sweep.validate()  # every member, before anything is written
    if args.member is not None and not 0 <= args.member < len(members):
        raise UsageError(f"--member {args.member}: the sweep has members 0 to {len(members) - 1}")
    groups = sweep.groups()
    if args.group is not None and not 0 <= args.group < len(groups):
        raise UsageError(f"--group {args.group}: the sweep has groups 0 to {len(groups) - 1} (batch: {sweep.cfg.batch})")
    if args.group is not None and args.member is not None:
        raise UsageError("--group and --member: give one")
    if args.slurm:
        return _submit_sweep(args, sweep)
    _no_slurm_options(args)
    ran = []
    if not args.collect_only:
        if args.member is not None:
            ran = [run_member(sweep, args.member, say=_say, backend=args.backend)]
        elif sweep.cfg.batch > 1:
            picks = [groups[args.group]] if args.group is not None else groups
            ran = [s for g in picks for s in run_group(sweep, g, say=_say, backend=args.backend)]
        else:
            ran = [run_member(sweep, i, say=_say, backend=args.backend) for i, _ in members]
    if args.no_collect:
        return _members_exit(ran)
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
    if (args.member is not None or args.group is not None) and not args.collect_only:
        return _members_exit(ran)
    if args.member is None and not args.collect_only and bad:
        return EXIT_INTERRUPTED if bad == ["interrupted"] else 1
    return 0


def _members_exit(states) -> int:
    """Exit code of the members run: 1 if one failed, 3 if one was interrupted (a job array requeues it)."""
    if any(s not in ("finished", "ended", "stopped", "interrupted") for s in states):
        return 1
    return EXIT_INTERRUPTED if "interrupted" in states else 0


# --- SLURM ---------------------------------------------------------------------------

def _profile(args):
    from .slurm import OPTIONS, load_profile

    return load_profile(args.profile, {k: getattr(args, k, None) for k in OPTIONS})


def _no_slurm_options(args):
    from .slurm import OPTIONS

    given = [o for k, o in OPTIONS.items() if getattr(args, k, None) is not None]
    given += ["--profile"] * bool(args.profile) + ["--dry-run"] * args.dry_run
    if given:
        raise UsageError(f"{given[0]}: needs --slurm")


def _submit_sweep(args, sweep) -> int:
    from .slurm import submit_sweep

    if args.collect_only or args.no_collect:
        raise UsageError("--slurm submits the members and a collect job; it takes no --collect-only or --no-collect")
    job_dir, array, collect_job = submit_sweep(sweep, _profile(args), member=args.member, metric=args.metric,
                                               backend=args.backend, dry_run=args.dry_run)
    if args.dry_run:
        for name in ("array.sh", "collect.sh"):
            print(f"# --- {job_dir / name}\n{(job_dir / name).read_text()}")
        _say(f"dry run: wrote {job_dir}/array.sh and collect.sh; nothing submitted")
    else:
        print(f"submitted job array {array} (members) and job {collect_job} (collect, after the members); "
              f"scripts and logs in {job_dir}")
    return 0


def cmd_submit(args) -> int:
    from .slurm import submit_run

    profile = _profile(args)
    script, job = submit_run(args.config, args.set, profile, output=args.output, overwrite=args.overwrite,
                             dry_run=args.dry_run)
    if args.dry_run:
        print(script.read_text(), end="")
        _say(f"dry run: wrote {script}; nothing submitted")
    else:
        print(f"submitted job {job}: {script} (log {script.parent}/slurm-{job}.out)")
    return 0


def cmd_status(args) -> int:
    from .status import report

    print(report(args.path))
    return 0


def cmd_verify(args) -> int:
    from .io.integrity import verify_store
    from .io.store import RunStore

    store = RunStore.open(args.store, mode="r")
    damage, notes = verify_store(store)
    for line in damage:
        print(f"{store.path}: damaged: {line}")
    for line in notes:
        print(f"{store.path}: {line}")
    if damage:
        return 2
    if not notes or not notes[0].startswith("no checksums"):
        print(f"{store.path}: intact ({store.frames} frames, {store.samples} samples, checkpoints checked)")
    return 0


def cmd_bench(args) -> int:
    from .bench import run

    return run(args)


def _slurm_options(p, sweep=False):
    g = p.add_argument_group("SLURM (each option overrides the --profile file's key)")
    g.add_argument("--profile", metavar="YAML", help="resources and job settings (see README: HPC)")
    g.add_argument("--partition")
    g.add_argument("--account")
    g.add_argument("--qos")
    g.add_argument("--time", help="time limit of one job: '2 h', '90 min' or D-HH:MM:SS")
    g.add_argument("--gpus", help="GPUs per job" + (" (per member)" if sweep else ""))
    g.add_argument("--cpus", help="CPUs per task")
    g.add_argument("--memory", help="memory per node, e.g. 16G")
    g.add_argument("--signal-grace", help="checkpoint signal this long before the time limit (default 5 min)")
    if sweep:
        g.add_argument("--array-limit", help="at most this many members at once")
    g.add_argument("--dry-run", action="store_true", help="write and print the script(s); submit nothing")


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
    r.add_argument("--mpi", action="store_true",
                   help="decompose across MPI ranks (automatic when launched as more than one rank)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. time.stop=10")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check a scenario, or every member of a sweep file, without running it")
    v.add_argument("config")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.set_defaults(func=cmd_validate)

    i = sub.add_parser("info", help="versions, backend, device and kernel compilation")
    i.set_defaults(func=cmd_info)

    sw = sub.add_parser("sweep", help="run a parameter sweep (all members, or one with --member)")
    sw.add_argument("sweep", help="sweep YAML file")
    sw.add_argument("--member", type=int, help="run only this member (e.g. one task of a job array)")
    sw.add_argument("--group", type=int, help="run only this group of `batch` members, together (one task of a job array)")
    sw.add_argument("--collect-only", action="store_true", help="only gather results.csv and the phase diagram")
    sw.add_argument("--metric", default="void_volume_fraction", help="observable coloured in the phase diagram")
    sw.add_argument("--backend", choices=["auto", "numpy", "cupy"])
    sw.add_argument("--no-collect", action="store_true", help="run members only; leave results.csv to --collect-only")
    sw.add_argument("--slurm", action="store_true", help="submit the members as a SLURM job array, then a collect job")
    _slurm_options(sw, sweep=True)
    sw.set_defaults(func=cmd_sweep)

    sb = sub.add_parser("submit", help="run a scenario as a SLURM batch job that checkpoints and requeues itself")
    sb.add_argument("config", help="scenario YAML file")
    sb.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    sb.add_argument("-o", "--output", help="run store path (default: output.store or runs/NAME.zarr)")
    sb.add_argument("--overwrite", action="store_true", help="remove an existing run store now; the job starts afresh")
    _slurm_options(sb)
    sb.set_defaults(func=cmd_submit)

    st = sub.add_parser("status", help="state of a run store, or of a sweep's members (file or folder)")
    st.add_argument("path", help="run store, sweep YAML file or sweep output folder")
    st.set_defaults(func=cmd_status)

    ve = sub.add_parser("verify", help="check a run store's checksums (frames, checkpoints): exit 0 intact, 2 damaged")
    ve.add_argument("store")
    ve.set_defaults(func=cmd_verify)

    from .bench import add_arguments as bench_arguments

    be = sub.add_parser("bench", help="benchmarks: bandwidth, kernels, solves, peers, memory, scenarios")
    bench_arguments(be)
    be.set_defaults(func=cmd_bench)

    pl = sub.add_parser("plot", help="PNG figures of a run store's fields and observables")
    pl.add_argument("store")
    pl.add_argument("-o", "--out", help="folder for the PNG files (default STORE/../NAME-plots)")
    pl.add_argument("--times", type=float, nargs="*", help="simulated times of the field snapshots (default: first, middle, last)")
    pl.add_argument("--fields", nargs="*", help="fields to draw (default: all)")
    pl.add_argument("--movie", action="store_true",
                    help="also write movie.mp4 (ffmpeg) or movie.gif (no ffmpeg) of the fields (--fields, default xi) "
                         "over time beside the voltage trace")
    pl.set_defaults(func=cmd_plot)
    for command in sub.choices.values():  # --debug also after the subcommand
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show Python tracebacks")
    return p


IO_ERROR, INTERNAL_ERROR = 4, 5  # the README's table of exit codes


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except PfsimError as exc:
        label = "error" if exc.exit_code == 2 else "run failed"
        message, code, failure = "\n".join(f"pfsim: {label}: {line}" for line in str(exc).splitlines()), exc.exit_code, exc
    except OSError as exc:  # a file system that refuses: read-only folder, full disk, lost mount
        where = f"{exc.filename}: " if exc.filename else ""
        message, code, failure = f"pfsim: I/O error: {where}{exc.strerror or exc}", IO_ERROR, exc
    except Exception as exc:  # a bug: one line, the traceback with --debug
        message = f"pfsim: internal error: {type(exc).__name__}: {exc} (--debug shows where)"
        code, failure = INTERNAL_ERROR, exc
    print(message, file=sys.stderr)
    if args.debug:
        traceback.print_exception(failure)
    return code

if __name__ == "__main__":
    sys.exit(main())
