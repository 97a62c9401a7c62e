"""Content checksums of a run store: every field frame and every checkpoint array carries a
64-bit BLAKE2b digest of each block of rows along its first spatial axis (one zarr chunk along x,
the unit a rank of a decomposed run writes), taken from the data in memory and written after it;
every observable sample carries one digest of its row (its time and each series' value, in the
order of attrs['pfsim']['observables']), in checksums/observables, written after the series.

A missing or damaged chunk reads back as something else (the fill value, NaN for float arrays
of new stores) and fails its digest; `check_checkpoint` and `verify_store` say which.
"""

import hashlib
import math
import warnings

import numpy as np

VERSION = 1
SCHEME = "blake2b-64 of each chunk of rows along x"
CHECKSUM_ROWS = 1024  # frames per chunk of the frame checksum arrays
EAGER = {"write_empty_chunks": True}  # every chunk is a file: a missing one is damage, never "empty"


def fill_value(dtype):
    """NaN for float arrays (a chunk read without its file shows as NaN, never as data); zarr's default otherwise."""
    return np.nan if np.dtype(dtype).kind in "fc" else None


def digest(block) -> int:
    b = np.ascontiguousarray(block)
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{b.dtype.str}{b.shape}".encode())
    h.update(b.reshape(-1).view(np.uint8))
    return int.from_bytes(h.digest(), "little") or 1  # 0 marks a missing digest


def blocks(n, rows):
    """Slices of `rows` rows over n rows (one when n is 0)."""
    rows = max(1, int(rows))
    return [slice(k * rows, min(n, (k + 1) * rows)) for k in range(max(1, math.ceil(n / rows)))]


def digests(data, rows) -> list[int]:
    """Digest of each block of `rows` rows of data along its first axis (one of a 0-d array)."""
    data = np.asarray(data)
    if data.ndim == 0:
        return [digest(data)]
    return [digest(data[s]) for s in blocks(data.shape[0], rows)]


def sample_digests(times, series) -> list[int]:
    """Digest of each observable sample: its time and its value in each of `series` (float64)."""
    rows = np.column_stack([np.asarray(times, np.float64)] + [np.asarray(v, np.float64) for v in series])
    return [digest(row) for row in rows]


def check_observables(group, meta, n) -> tuple[list[str], list[str]]:
    """(damage, notes) of the first n observable samples against their digests."""
    sums = group["checksums"] if "checksums" in group else None
    if sums is None or "observables" not in sums:
        return [], ["observables: no checksums (written by an older pfsim)"]
    names = list(meta.get("observables", []))
    try:
        expected = sums["observables"][:n] if n else np.zeros(0, np.uint64)
        got = sample_digests(group["obs_time"][:n], [group[name][:n] for name in names]) if n else []
    except Exception as exc:
        return [f"observables: unreadable ({type(exc).__name__})"], []
    if len(expected) != n:
        return [f"observables: {len(expected)} checksums for {n} samples"], []
    bad = [k for k, (g, e) in enumerate(zip(got, expected)) if int(g) != int(e)]
    if not bad:
        return [], []
    return [f"observables: sample(s) {_listed(bad, group['obs_time'][:n])} damaged"], []


def _listed(bad, times) -> str:
    """The first ten of the indices `bad`, each with its time."""
    return ", ".join(f"{k} (t = {times[k]:.6g} s)" for k in bad[:10]) + (" ..." if len(bad) > 10 else "")


def hexes(values) -> list[str]:
    return [f"{int(v):016x}" for v in values]


def check_checkpoint(group) -> list[str] | None:
    """Problems of one checkpoint slot ([] when intact), None when it has no checksums (older pfsim)."""
    info = group.attrs.get("pfsim_checkpoint")
    if info is None:
        return ["incomplete (its write did not finish)"]
    sums = info.get("checksums")
    if sums is None:
        return None
    problems = []
    for name, expected in sums.items():
        try:
            arr = group[name]
        except Exception:
            problems.append(f"{name}: missing")
            continue
        try:
            got = digests(arr[...], arr.chunks[0] if arr.ndim else 1)
        except Exception as exc:
            problems.append(f"{name}: unreadable ({type(exc).__name__})")
            continue
        bad = [k for k, (g, e) in enumerate(zip(got, expected)) if f"{g:016x}" != e]
        if len(got) != len(expected):
            problems.append(f"{name}: {len(got)} blocks where {len(expected)} were written")
        elif bad:
            problems.append(f"{name}: checksum mismatch in row block(s) {bad}")
    return problems


def verify_store(store) -> tuple[list[str], list[str]]:
    """(damage, notes) of a whole run store: frames, times, observable samples, checkpoints."""
    meta, group = store.meta, store.group
    damage, notes = [], []
    if not meta.get("integrity"):
        return damage, ["no checksums (written by an older pfsim)"]
    frames, samples = store.frames, store.samples
    for axis, n in (("time", frames), ("obs_time", samples)):
        try:
            values = group[axis][:n] if n else np.zeros(0)
        except Exception as exc:
            damage.append(f"{axis}: unreadable ({type(exc).__name__})")
            continue
        if not np.all(np.isfinite(values)):
            damage.append(f"{axis}: missing values at {np.flatnonzero(~np.isfinite(values)).tolist()[:10]}")
    sums_group = group["checksums"] if "checksums" in group else None
    for name in meta.get("integrity", {}).get("fields", []):
        try:
            arr, sums = group[name], sums_group[name]
            expected = sums[:frames] if frames else np.zeros((0, 0), np.uint64)
        except Exception as exc:
            damage.append(f"{name}: unreadable ({type(exc).__name__})")
            continue
        bad = []
        for k in range(frames):
            try:
                got = [digest(arr[k, s]) for s in blocks(arr.shape[1], arr.chunks[1])]
            except Exception:
                bad.append(k)
                continue
            if len(got) != expected.shape[1] or any(int(g) != int(e) for g, e in zip(got, expected[k])):
                bad.append(k)
        if bad:
            damage.append(f"{name}: frame(s) {_listed(bad, group['time'][:frames])} damaged")
    obs_damage, notes = check_observables(group, meta, samples)
    damage += obs_damage
    slot = meta.get("checkpoint")
    ckpts = group["checkpoints"] if "checkpoints" in group else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in ("a", "b"):
            if s not in ckpts:
                continue
            problems = check_checkpoint(ckpts[s])
            role = "newest" if s == slot else "previous"
            if problems is None:
                notes.append(f"checkpoint {s} ({role}): no checksums")
            elif problems and problems[0].startswith("incomplete") and s != slot:
                notes.append(f"checkpoint {s}: {problems[0]}, not in use")
            elif problems:
                damage.append(f"checkpoint {s} ({role}): " + "; ".join(problems))
    if slot is None:
        notes.append("no checkpoint")
    return damage, notes
