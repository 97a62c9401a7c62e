"""`pfsim info`: versions, the backend `auto` would pick, the device, kernel compilation."""

import importlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import __version__
from .backend import compile_module, cuda_status, kernel_dir, select_backend


def package_version(name) -> str:
    """The __version__ of an importable package, or "not installed"."""
    try:
        return importlib.import_module(name).__version__
    except Exception:
        return "not installed"


def kernel_check() -> str:
    """Compile every kernels/*.cu: with CuPy on a device, else with nvcc --ptx, else say so."""
    try:
        sources = sorted(p.name for p in kernel_dir().glob("*.cu"))
    except FileNotFoundError as exc:
        return str(exc)
    ok, _ = cuda_status()
    results = []
    for src in sources:
        for ctype in ("double", "float"):
            try:
                if ok:
                    compile_module(src, ctype).compile()
                elif shutil.which("nvcc"):
                    with tempfile.TemporaryDirectory() as tmp:
                        out = subprocess.run(
                            ["nvcc", "--ptx", "-arch=sm_90", f"-DREAL={ctype}", f"-I{kernel_dir()}",
                             "-o", str(Path(tmp) / "k.ptx"), str(kernel_dir() / src)],
                            capture_output=True, text=True, timeout=300)
                    if out.returncode:
                        raise RuntimeError(out.stderr.strip())
                else:
                    return f"not checked: no CUDA device and no nvcc ({len(sources)} sources in {kernel_dir()})"
            except Exception as exc:
                results.append(f"{src} ({ctype}): FAILED {exc}")
    how = "CuPy/NVRTC" if ok else "nvcc --ptx sm_90"
    return "\n    ".join(results) if results else f"all {len(sources)} sources compile ({how}, float and double)"


def report() -> str:
    ok, info = cuda_status()
    backend = select_backend("auto")
    lines = [
        f"pfsim      {__version__}",
        f"python     {sys.version.split()[0]}",
        *(f"{name:<10} {package_version(name)}" for name in ("numpy", "zarr", "xarray", "pydantic", "pint", "cupy")),
        f"backend    auto -> {backend.name}" + ("" if ok else f" ({info})"),
        f"device     {backend.device}" + (f", {backend.memory_info()}" if backend.is_gpu else ""),
        f"kernels    {kernel_check()}",
    ]
    return "\n".join(lines)
