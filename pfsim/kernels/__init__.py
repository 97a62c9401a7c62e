"""The NumPy and CUDA forms of pfsim's kernels, one module per source in kernels/ (by stem).

Each op `name` comes as `name_numpy` (the reference; also runs on CuPy arrays), `name_cuda`
(launches the kernel, same operations in the same order) and `name = twin(...)`, which picks
one by the backend: the only place where field work branches on it. `grid_args`: the grid
arguments of every kernel built on kernels/stencil.cuh.
"""

import numpy as np


def grid_args(backend, grid):
    """The grid arguments of every stencil kernel: nx, ny, nz, periodic bitmask (bit a set when
    axis a is periodic), cx, cy, cz (nz = 1 and cz = 0 in 2D; c = 1/h^2), typed as
    kernels/stencil.cuh expects."""
    s = backend.scalar
    periodic = sum(1 << a for a, p in enumerate(grid.periodic) if p)
    shape = list(grid.shape) + [1] * (3 - grid.ndim)
    inv = [1.0 / h**2 for h in grid.spacing] + [0.0] * (3 - grid.ndim)
    return (
        np.int32(shape[0]), np.int32(shape[1]), np.int32(shape[2]),
        np.int32(periodic), s(inv[0]), s(inv[1]), s(inv[2]),
    )


def twin(numpy_form, cuda_form, numba_form=None):
    """`name(backend, ...)`: cuda_form on a GPU backend (or tests' CPU shim of one), else
    numba_form where given and the backend's cpu_kernels is "numba", else numpy_form."""
    def name(backend, *args, **kwargs):
        if backend.is_gpu:
            return cuda_form(backend, *args, **kwargs)
        if numba_form is not None and getattr(backend, "cpu_kernels", "numpy") == "numba":
            return numba_form(backend, *args, **kwargs)
        return numpy_form(backend, *args, **kwargs)

    name.__name__ = name.__qualname__ = numpy_form.__name__.removesuffix("_numpy")
    name.__doc__, name.numpy, name.cuda = numpy_form.__doc__, numpy_form, cuda_form
    return name


def spare(backend, like, scratch):
    """An array like `like` for an out-of-place update: the one the last step left over
    (scratch["spare"]), or a new one."""
    out = scratch.get("spare")
    if out is None or out is like or out.shape != like.shape or out.dtype != like.dtype:
        out = backend.xp.empty_like(like)
    return out


def numba_stepper(grid, like, scratch):
    """The compiled CPU steps of numba_steps for fields like `like` (kept in scratch), or None
    for a grid of more than three axes."""
    if like.ndim > 3:
        return None
    stepper = scratch.get("numba")
    if stepper is None or stepper.shape != like.shape:
        from .numba_steps import Stepper

        stepper = scratch["numba"] = Stepper(grid, like.shape)
    return stepper
