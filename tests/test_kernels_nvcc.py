"""Every kernels/*.cu compiles with nvcc in both precisions, its kernels exported unmangled.

This is the compile check a CI machine without a GPU can still do; at run time CuPy
compiles the same sources with NVRTC (pfsim.backend.compile_module).
"""

import re
import shutil
import subprocess

import pytest

from pfsim.backend import kernel_dir

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")

SOURCES = sorted(p.name for p in kernel_dir().glob("*.cu"))


def test_there_are_kernel_sources():
    assert SOURCES


@pytest.mark.parametrize("real", ["double", "float"])
@pytest.mark.parametrize("source", SOURCES)
def test_compiles_to_ptx(source, real, tmp_path):
    kdir = kernel_dir()
    ptx = tmp_path / f"{source}.{real}.ptx"
    cmd = [NVCC, "--ptx", "-arch=sm_90", "-std=c++17", f"-I{kdir}", f"-DREAL={real}", str(kdir / source), "-o", str(ptx)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    # extern "C" kernels keep their names, which is what RawModule.get_function looks up
    names = re.findall(r'extern\s+"C"\s+__global__\s+void\s+(\w+)', (kdir / source).read_text())
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx.read_text()))
    assert names and set(names) <= entries
