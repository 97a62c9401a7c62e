"""The one backend switch: NumPy on any CPU, CuPy on a CUDA device.

`select_backend("auto" | "numpy" | "cupy", precision)` returns a Backend that carries the
array module `xp`, the dtype, the device description and the kernel loader. Every model
is written once against it; only the hot stencil updates branch into NumPy or CUDA forms.
"""

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import BackendUnavailable

KERNEL_DIR_ENV = "PFSIM_KERNEL_DIR"
THREADS_PER_BLOCK = 256


def kernel_dir() -> Path:
    """kernels/ beside the package (source checkout), or the copy installed under share/."""
    here = Path(__file__).resolve().parent.parent / "kernels"
    for c in (os.environ.get(KERNEL_DIR_ENV), here, Path(sys.prefix) / "share" / "pfsim" / "kernels"):
        if c and (Path(c) / "stencil.cuh").is_file():
            return Path(c)
    raise FileNotFoundError("pfsim's CUDA kernels were not found; set " + KERNEL_DIR_ENV)


def cuda_status() -> tuple[bool, str]:
    """(usable, reason or device name) for CuPy and a CUDA device."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        return False, f"CuPy is not importable ({type(exc).__name__}: {exc})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"no CUDA device ({exc})"
    if n < 1:
        return False, "no CUDA device"
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return True, name


@dataclass
class Backend:
    name: str  # "numpy" or "cupy"
    dtype: np.dtype
    device: str
    # how elliptic problems are solved (pfsim.solvers.sparse.elliptic_problem): "auto" is the
    # matrix-free multigrid CG on a GPU, SuperLU or PyAMG on the CPU
    elliptic: str = "auto"
    # the CPU's field steps: "numpy" (the reference) or "numba" (pfsim.kernels.numba_steps, optional)
    cpu_kernels: str = "numpy"
    _modules: dict = field(default_factory=dict, repr=False)

    @cached_property
    def xp(self):
        if self.name == "cupy":
            import cupy

            return cupy
        return np

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    @property
    def ctype(self) -> str:
        return "float" if self.dtype == np.float32 else "double"

    def asarray(self, a):
        return self.xp.asarray(a, dtype=self.dtype)

    def to_host(self, a) -> np.ndarray:
        return a.get() if self.is_gpu else np.asarray(a)

    def scalar(self, value):
        """A kernel argument of the working precision."""
        return self.dtype.type(value)

    def kernel(self, source: str, name: str):
        """A compiled kernel `name` from kernels/`source` (compiled once per precision)."""
        key = (source, self.ctype)
        if key not in self._modules:
            self._modules[key] = compile_module(source, self.ctype)
        return self._modules[key].get_function(name)

    def launch(self, source: str, name: str, n: int, args: tuple):
        """Run kernel `name` with one thread per node of an n-node field."""
        blocks = (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        self.kernel(source, name)((blocks,), (THREADS_PER_BLOCK,), args)

    def memory_info(self) -> str:
        if not self.is_gpu:
            return ""
        free, total = self.xp.cuda.runtime.memGetInfo()
        return f"{total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free)"


def compile_module(source: str, ctype: str):
    """cupy.RawModule for kernels/`source` with REAL = ctype; CuPy caches the binary on disk."""
    import cupy

    kdir = kernel_dir()
    return cupy.RawModule(code=(kdir / source).read_text(), options=("-std=c++17", f"-DREAL={ctype}", f"-I{kdir}"))


def select_backend(name: str = "auto", precision: str = "float64", announce=None, elliptic: str = "auto",
                   cpu_kernels: str = "numpy") -> Backend:
    """Resolve the backend switch. 'cupy' without a usable device is an error, never a fallback."""
    backend = _select(name, precision, announce)
    backend.elliptic, backend.cpu_kernels = elliptic, cpu_kernels
    if cpu_kernels == "numba" and not backend.is_gpu:
        from .kernels.numba_steps import require

        require()
    return backend


def _select(name, precision, announce):
    dtype = np.dtype(precision)
    if name not in ("auto", "numpy", "cupy"):
        raise BackendUnavailable(f"backend: expected one of auto, numpy, cupy, got {name!r}")
    if name == "numpy":
        return Backend("numpy", dtype, _cpu_name())
    ok, info = cuda_status()
    if name == "cupy" and not ok:
        raise BackendUnavailable(f"backend: cupy was asked for but {info}; use --backend numpy or auto")
    backend = Backend("cupy", dtype, info) if ok else Backend("numpy", dtype, _cpu_name())
    if announce is not None and name == "auto":
        why = "" if ok else f" ({info})"
        announce(f"backend auto -> {backend.name} on {backend.device}{why}")
    return backend


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "CPU"
