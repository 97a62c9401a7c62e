"""Memory a run needs, estimated before anything is allocated, and the memory free on its device.

The estimate is (peak bytes per cell) x (cells): the peak over a step, per added cell (the
figure that scales to large grids; fixed-size arrays such as the coarsest multigrid level's
dense inverse are left out), for the model, the number of dimensions, the precision and the
path (NumPy on the CPU, CUDA through CuPy). Every figure is in BYTES_PER_CELL with its source.

Measured figures come from docs/performance.md ("Memory of the stripping model" and the memory
rows of the CPU results: tracemalloc on the NumPy path, the CUDA path through the CPU kernel
shim). Where a combination was not measured the table says what it was taken from:
- li_stripping, CUDA path in 3D: the NumPy path's 3D figure (the larger of the two paths).
- li_plating: not measured; li_stripping's figure (two elliptic problems too, one more field).
- li_cycling: not measured; 1.5 x li_stripping's (both physics on the same fields, the
  plating physics' operators beside the stripping ones).
- float32 where only float64 was measured: half the float64 figure.
"""

import math
import os

# (kind, ndim, path) -> {precision: peak bytes per cell}; path "numpy" or "cupy"
_STRIP = {
    (2, "numpy"): {"float64": 385, "float32": 200},  # per added cell, 2048 x 256 - 1024 x 128 (CPU results)
    (3, "numpy"): {"float64": 438, "float32": 231},  # per added cell, 128^3 - 64^3 (CPU results)
    (2, "cupy"): {"float64": 327, "float32": 169},  # per added cell, CUDA path through the shim
    (3, "cupy"): {"float64": 438, "float32": 231},  # not measured: the NumPy path's 3D figure
}
BYTES_PER_CELL = {
    # cahn_hilliard / allen_cahn: 17 / 40 B/cell peak in float64 at 1024^2 and 96^3 (CPU results);
    # float32 half of that; the CUDA path taken as the NumPy path's
    **{("cahn_hilliard", nd, path): {"float64": 17, "float32": 9} for nd in (2, 3) for path in ("numpy", "cupy")},
    **{("allen_cahn", nd, path): {"float64": 40, "float32": 20} for nd in (2, 3) for path in ("numpy", "cupy")},
    # cahn_hilliard_electrostatic: 876 B/cell (2D, 300^2 - 400^2: PyAMG) and 1031 B/cell (3D,
    # 24^3 - 40^3) per added cell over set-up and steps (tracemalloc, NumPy path); the CUDA path
    # taken as the NumPy path's
    **{("cahn_hilliard_electrostatic", nd, path): {"float64": b, "float32": b // 2}
       for nd, b in ((2, 876), (3, 1031)) for path in ("numpy", "cupy")},
    # cahn_hilliard_allen_cahn (four order parameters): 168 B/cell in 2D (128^2 - 256^2) and 3D
    # (24^3 - 40^3), measured as cahn_hilliard_electrostatic's
    **{("cahn_hilliard_allen_cahn", nd, path): {"float64": 168, "float32": 84} for nd in (2, 3) for path in ("numpy", "cupy")},
    # anisotropic_allen_cahn_heat (2D only): 182 B/cell (128^2 - 256^2), measured as above
    **{("anisotropic_allen_cahn_heat", nd, path): {"float64": 182, "float32": 91} for nd in (2, 3) for path in ("numpy", "cupy")},
    **{("li_stripping", nd, path): v for (nd, path), v in _STRIP.items()},
    **{("li_plating", nd, path): v for (nd, path), v in _STRIP.items()},  # not measured: li_stripping's
    **{("li_cycling", nd, path): {p: int(1.5 * b) for p, b in v.items()}  # not measured: 1.5 x li_stripping's
       for (nd, path), v in _STRIP.items()},
}
PATH_NAMES = {"numpy": "NumPy path", "cupy": "CUDA path"}


def bytes_per_cell(kind, ndim, precision, path) -> int:
    return BYTES_PER_CELL[(kind, min(max(ndim, 2), 3), path)][precision]


def estimate(cfg, path) -> tuple[int, int, int]:
    """(bytes, bytes per cell, cells) of a run of `cfg` on `path` ("numpy" or "cupy")."""
    cells = math.prod(int(n) for n in cfg.grid.shape)
    per_cell = bytes_per_cell(cfg.model.kind, len(cfg.grid.shape), cfg.precision, path)
    return per_cell * cells, per_cell, cells


def size(n) -> str:
    """Bytes as a short figure: 6.6 GB, 512 MB, 17 kB (powers of 1000)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def describe(cfg, path) -> str:
    total, per_cell, cells = estimate(cfg, path)
    return (f"about {size(total)} ({per_cell} B/cell x {cells} cells, {cfg.model.kind} in {cfg.precision}, "
            f"{PATH_NAMES[path]})")


def free_host_memory() -> tuple[int | None, str]:
    """(bytes, where from) of the memory available to a new process on this host, or (None, why)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free pages (sysconf)"
    except (ValueError, OSError, AttributeError):
        return None, "unknown"


def free_device_memory() -> tuple[int | None, str]:
    """(bytes, where from) free on the current CUDA device (CuPy's memGetInfo, plus what CuPy's
    pool holds unused), or (None, why)."""
    try:
        import cupy

        free, _ = cupy.cuda.runtime.memGetInfo()
        return int(free) + int(cupy.get_default_memory_pool().free_bytes()), "free on the GPU (memGetInfo)"
    except Exception:  # no CuPy, no device: nothing known
        return None, "unknown"


def check_fits(cfg, path):
    """Raise ConfigError when a run of `cfg` on `path` cannot fit in the free memory of its device."""
    from .errors import ConfigError

    total, _, _ = estimate(cfg, path)
    free, where = free_device_memory() if path == "cupy" else free_host_memory()
    if free is not None and total > free:
        device = "GPU" if path == "cupy" else "host"
        raise ConfigError(
            f"grid.shape: the run needs {describe(cfg, path)} where {size(free)} is free on the {device} ({where}); "
            f"use a smaller grid, precision: float32 or a device with more memory")
