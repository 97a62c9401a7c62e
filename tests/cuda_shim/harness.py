"""Run pfsim's CUDA kernels on the CPU: kernels/*.cu compiled by g++ with cuda_shim.h.

For every `extern "C" __global__` kernel of a source, a launcher
`launch_NAME(grid, block, <the kernel's parameters>)` is generated that calls the kernel
body once per (blockIdx.x, threadIdx.x) pair, serially: the whole launch grid, threads
past the last node included, as a GPU would run it. `load(source, real)` returns a
module whose `get_function(name)` is called like a CuPy RawKernel, `f(grid, block, args)`,
so `ShimBackend` can stand in for the CuPy backend and run a model's own CUDA path
(argument order and types included) on NumPy arrays.

Arguments are checked strictly against the kernel's C signature: arrays must be
C-contiguous of the REAL dtype, `int` takes np.int32 and `real` the REAL numpy scalar.
CuPy would pass a Python int as 64 bits or a float64 into a float parameter and
silently shift or garble the arguments; here that is a TypeError. Arrays are run in
copies followed by a guard region, so a write past the last node (a missing or wrong
bounds check) is an AssertionError rather than silent heap corruption.
"""

import ctypes
import functools
import hashlib
import mmap
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from pfsim.backend import THREADS_PER_BLOCK, Backend, kernel_dir

SHIM_HEADER = Path(__file__).resolve().parent / "cuda_shim.h"
# -ffp-contract=off: no fused multiply-adds, so double results can match NumPy's bit for bit.
CXXFLAGS = ["-x", "c++", "-std=c++17", "-O1", "-fPIC", "-shared", "-ffp-contract=off"]
CACHE_ENV = "PFSIM_SHIM_CACHE"
GUARD = 12345.25  # fills the space after each array; exact in float and double

_KERNEL_RE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)
_REAL = {"double": (ctypes.c_double, np.float64), "float": (ctypes.c_float, np.float32)}


def require_gxx():
    """Skip the calling test module when there is no g++."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is not on PATH", allow_module_level=True)


def kernels_of(code: str):
    """[(name, [(c type, parameter name), ...])] of the extern "C" kernels in CUDA source text."""
    out = []
    for name, params in _KERNEL_RE.findall(code):
        parsed = []
        for p in params.split(","):
            p = " ".join(p.split())
            m = re.fullmatch(r"(.+?)\s*(\w+)", p)
            if m is None:
                raise ValueError(f"{name}: cannot parse parameter {p!r}")
            parsed.append((m.group(1).replace(" *", "*"), m.group(2)))
        out.append((name, parsed))
    return out


def _launcher_source(cu: Path, kernels) -> str:
    # Loop variables and launcher parameters are prefixed so that no kernel parameter
    # (ac_rate has a `t`) can shadow them.
    lines = [f'#include "{cu}"', ""]
    for name, params in kernels:
        decl = ", ".join(f"{t} {p}" for t, p in params)
        call = ", ".join(p for _, p in params)
        lines += [
            f'extern "C" void launch_{name}(unsigned shim_grid, unsigned shim_block, {decl}) {{',
            "    gridDim.x = shim_grid;",
            "    blockDim.x = shim_block;",
            "    for (unsigned shim_b = 0; shim_b < shim_grid; ++shim_b) {",
            "        blockIdx.x = shim_b;",
            "        for (unsigned shim_t = 0; shim_t < shim_block; ++shim_t) {",
            "            threadIdx.x = shim_t;",
            f"            {name}({call});",
            "        }",
            "    }",
            "}",
            "",
        ]
    return "\n".join(lines)


def _cache_dir() -> Path:
    d = Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / f"pfsim-cuda-shim-{os.getuid()}")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _build(cu: Path, real: str, launcher: str) -> Path:
    """The shared library, compiled unless one for the same sources and flags is cached."""
    kdir = cu.parent
    flags = CXXFLAGS + ["-include", str(SHIM_HEADER), f"-DREAL={real}", f"-I{kdir}"]
    h = hashlib.sha256()
    for part in [launcher, SHIM_HEADER.read_text(), " ".join(flags)]:
        h.update(part.encode())
    for f in sorted(kdir.glob("*.cu*")):  # the source and every header it may include
        h.update(f.name.encode() + f.read_bytes())
    stem = f"{cu.stem}-{real}-{h.hexdigest()[:16]}"
    lib = _cache_dir() / f"{stem}.so"
    if lib.exists():
        return lib
    src = lib.with_suffix(".cpp")
    src.write_text(launcher)
    tmp = lib.with_name(f"{stem}.{os.getpid()}.tmp.so")  # then renamed: safe with parallel runs
    proc = subprocess.run(["g++", *flags, str(src), "-o", str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"g++ failed on {cu.name} (REAL={real}):\n{proc.stderr}")
    os.replace(tmp, lib)
    return lib


_INTEGERS = {
    "int": (ctypes.c_int, np.int32),
    "long long": (ctypes.c_longlong, np.int64),
    "unsigned long long": (ctypes.c_ulonglong, np.uint64),
}


class ShimKernel:
    """One kernel, called like a CuPy RawKernel: f(grid, block, args)."""

    def __init__(self, lib, name, params, real):
        self.name, self.params, self.real = name, params, real
        ctype, self.dtype = _REAL[real]
        self._fn = getattr(lib, f"launch_{name}")
        self._fn.restype = None
        self._fn.argtypes = [ctypes.c_uint, ctypes.c_uint] + [self._ctype(t, ctype) for t, _ in params]

    def _ctype(self, t, real_ctype):
        if t.endswith("*"):
            return ctypes.c_void_p
        if t in _INTEGERS:
            return _INTEGERS[t][0]
        if t in ("real", self.real):
            return real_ctype
        raise TypeError(f"{self.name}: no mapping for parameter type {t!r}")

    def _check(self, t, p, a):
        where = f"{self.name}({p}: {t})"
        if t.endswith("*"):
            if not (isinstance(a, np.ndarray) and a.dtype == self.dtype and a.flags.c_contiguous):
                raise TypeError(f"{where}: expected a C-contiguous {self.dtype.__name__} ndarray, got {_describe(a)}")
            if not t.startswith("const") and not a.flags.writeable:
                raise TypeError(f"{where}: array is read-only")
            return
        expected = _INTEGERS[t][1] if t in _INTEGERS else self.dtype
        if type(a) is not expected:
            raise TypeError(f"{where}: expected {expected.__name__}, got {_describe(a)}")

    def __call__(self, grid, block, args):
        (gx, *gyz), (bx, *byz) = grid, block
        if any(v != 1 for v in gyz + byz):
            raise ValueError(f"{self.name}: the shim runs 1D launches only")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: {len(self.params)} arguments expected, got {len(args)}")
        # Arrays run in copies with a guard of one launch's worth of threads after the end
        # (same copy for the same array, so in-place kernels stay in place): a thread past
        # the last node that escaped the bounds check and wrote would change the guard.
        padded, values = {}, []
        for (t, p), a in zip(self.params, args):
            self._check(t, p, a)
            if t.endswith("*"):
                if id(a) not in padded:
                    buf = _untraced(a.size + gx * bx, self.dtype)
                    buf[a.size:] = GUARD
                    buf[: a.size] = a.reshape(-1)
                    padded[id(a)] = (a, buf, t.startswith("const"))
                a = padded[id(a)][1].ctypes.data
            values.append(a)
        self._fn(gx, bx, *values)
        for a, buf, const in padded.values():
            if not (buf[a.size:] == GUARD).all():
                raise AssertionError(f"{self.name}: wrote past the end of an array (bounds check)")
            if not const:
                a.reshape(-1)[:] = buf[: a.size]


def _untraced(n, dtype):
    """An n-element array in an anonymous mapping: tracemalloc does not see it, so memory
    measured through the shim counts the CUDA path's arrays, not the shim's guarded copies."""
    return np.frombuffer(mmap.mmap(-1, max(n, 1) * np.dtype(dtype).itemsize), dtype=dtype, count=n)


def _describe(a):
    return f"{type(a).__name__} {a.dtype}" if isinstance(a, np.ndarray) else f"{type(a).__name__} {a!r}"


class ShimModule:
    def __init__(self, lib_path, kernels, real):
        self._lib = ctypes.CDLL(str(lib_path))
        self._kernels = {name: ShimKernel(self._lib, name, params, real) for name, params in kernels}

    def get_function(self, name) -> ShimKernel:
        return self._kernels[name]


@functools.lru_cache(maxsize=None)
def load(source: str, real: str = "double") -> ShimModule:
    """kernels/`source` compiled for the CPU with REAL = `real` ("double" or "float")."""
    cu = kernel_dir() / source
    kernels = kernels_of(cu.read_text())
    if not kernels:
        raise ValueError(f'{source}: no extern "C" __global__ kernels found')
    return ShimModule(_build(cu, real, _launcher_source(cu, kernels)), kernels, real)


def launch(source, name, n, args, real="double"):
    """Run kernel `name` over an n-node field with the grid Backend.launch would use."""
    blocks = (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    load(source, real).get_function(name)((blocks,), (THREADS_PER_BLOCK,), args)


class ShimBackend(Backend):
    """The CuPy backend's code path on NumPy arrays: is_gpu, and kernels run by the shim.

    Backend.launch itself is inherited, so the launch grid computed there is the one run.
    """

    def __init__(self, precision="float64"):
        super().__init__("numpy", np.dtype(precision), "CPU (CUDA shim)")

    @property
    def is_gpu(self) -> bool:
        return True

    def kernel(self, source, name):
        return load(source, self.ctype).get_function(name)

    def to_host(self, a):
        return np.asarray(a)

    def memory_info(self):
        return ""
