"""Rows of results, the printed table, the CSV and JSON files and the run's environment."""

import csv
import json
import math
import os
import platform
import sys
from datetime import datetime

COLUMNS = [
    "section", "case", "backend", "precision", "grid", "cells",
    "time_s", "time_per", "repeats", "value", "unit",
    "bytes_per_cell", "flops_per_cell", "gbps", "frac_copy", "ratio", "ratio_to", "note",
]


def row(section, case, **fields):
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise KeyError(f"unknown result columns {sorted(unknown)}")
    out = dict.fromkeys(COLUMNS, "")
    out.update(section=section, case=case, **fields)
    return out


def grid_label(shape):
    return "x".join(str(n) for n in shape)


def environment(backend, argv):
    from .. import __version__
    from ..backend import _cpu_name
    from ..info import package_version as _version
    from ..runner import git_commit

    meta = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "command": " ".join(["pfsim", "bench"] + list(argv)),
        "backend": backend.name,
        "device": backend.device,
        "driver": "n/a (CPU)",
        "cuda_runtime": "n/a",
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "cupy": _version("cupy"),
        "pfsim": __version__,
        "git_commit": git_commit() or "unknown",
        "platform": platform.platform(),
    }
    if backend.is_gpu:
        rt = backend.xp.cuda.runtime
        meta["driver"] = _cuda_version(rt.driverGetVersion())
        meta["cuda_runtime"] = _cuda_version(rt.runtimeGetVersion())
        meta["device"] += f", {backend.memory_info()}"
    return meta


def _cuda_version(v):
    return f"{v // 1000}.{v % 1000 // 10}"


def _fmt(v):
    if v == "" or v is None:
        return ""
    if isinstance(v, (str, int)) or v == 0 or not math.isfinite(v):  # bool is an int
        return str(v)
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.3g}"
    return f"{v:.4g}"


def _time(v):
    if v == "":
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v * 1e9:.3g} ns"


TABLE = [  # header, width, how a row's cell is drawn
    ("section", 9, lambda r: r["section"]),
    ("case", 24, lambda r: r["case"]),
    ("backend", 13, lambda r: f"{r['backend']} {r['precision']}".strip()),
    ("grid", 11, lambda r: r["grid"]),
    ("time", 18, lambda r: f"{_time(r['time_s'])} {r['time_per']}".strip()),
    ("value", 22, lambda r: f"{_fmt(r['value'])} {r['unit']}".strip()),
    ("GB/s", 8, lambda r: _fmt(r["gbps"])),
    ("of copy", 7, lambda r: "" if r["frac_copy"] == "" else f"{100 * r['frac_copy']:.0f} %"),
    ("ratio", 18, lambda r: "" if r["ratio"] == "" else f"{_fmt(r['ratio'])} x {r['ratio_to']}"),
    ("note", 0, lambda r: r["note"]),
]


def table(rows) -> str:
    lines = ["  ".join(h.ljust(w) for h, w, _ in TABLE).rstrip()]
    lines.append("-" * len(lines[0]))
    for r in rows:
        lines.append("  ".join(str(f(r)).ljust(w) for _, w, f in TABLE).rstrip())
    return "\n".join(lines)


def write(out_dir, meta, rows):
    """bench.csv (one line per result) and bench.json (environment and results)."""
    os.makedirs(out_dir, exist_ok=True)
    csv_path, json_path = os.path.join(out_dir, "bench.csv"), os.path.join(out_dir, "bench.json")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    with open(json_path, "w") as f:
        json.dump({"environment": meta, "columns": COLUMNS, "results": rows}, f, indent=1)
    return csv_path, json_path
