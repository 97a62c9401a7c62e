"""Finite-difference stencils on a `Grid`: the NumPy twin of kernels/stencil.cuh.

Written with array slicing only, so the same functions run on NumPy and CuPy arrays.
Boundary rules are those of pfsim.grid: wrap on periodic axes, mirror the first interior
node (zero gradient) on bounded ones.
"""


def kernel_grid_args(backend, grid):
    """The grid arguments of every stencil kernel: nx, ny, nz, periodic bitmask, cx, cy, cz
    (nz = 1 and cz = 0 in 2D; c = 1/h^2), typed as kernels/stencil.cuh expects."""
    import numpy as np

    s = backend.scalar
    shape = list(grid.shape) + [1] * (3 - grid.ndim)
    inv = [1.0 / h**2 for h in grid.spacing] + [0.0] * (3 - grid.ndim)
    return (
        np.int32(shape[0]), np.int32(shape[1]), np.int32(shape[2]),
        np.int32(grid.periodic_mask()), s(inv[0]), s(inv[1]), s(inv[2]),
    )


def _index(ndim, axis, s):
    index = [slice(None)] * ndim
    index[axis] = s
    return tuple(index)


def shifted(f, grid, axis, step, xp):
    """f at the neighbour i + step (step = +1 or -1) along `axis`, boundary rules applied."""
    n, nd = f.shape[axis], f.ndim
    out = xp.empty_like(f)
    if step > 0:
        out[_index(nd, axis, slice(0, n - 1))] = f[_index(nd, axis, slice(1, n))]
        out[_index(nd, axis, n - 1)] = f[_index(nd, axis, 0 if grid.periodic[axis] else n - 2)]
    else:
        out[_index(nd, axis, slice(1, n))] = f[_index(nd, axis, slice(0, n - 1))]
        out[_index(nd, axis, 0)] = f[_index(nd, axis, n - 1 if grid.periodic[axis] else 1)]
    return out


def laplacian(f, grid, out=None):
    """Second-order 5-point (2D) / 7-point (3D) Laplacian, summed in the kernels' order."""
    nd = f.ndim
    c = [1.0 / h**2 for h in grid.spacing]
    if out is None:
        out = f * (-2.0 * sum(c))
    else:
        if out is f:
            raise ValueError("laplacian: out must not be the input array")
        out[...] = f
        out *= -2.0 * sum(c)
    for a in range(nd):
        n = f.shape[a]
        up_lo, up_hi = (0, n - 1), (1, n)
        # f[i+1]: interior part, then the last node's neighbour across the wall
        out[_index(nd, a, slice(*up_lo))] += c[a] * f[_index(nd, a, slice(*up_hi))]
        out[_index(nd, a, n - 1)] += c[a] * f[_index(nd, a, 0 if grid.periodic[a] else n - 2)]
        # f[i-1]
        out[_index(nd, a, slice(*up_hi))] += c[a] * f[_index(nd, a, slice(*up_lo))]
        out[_index(nd, a, 0)] += c[a] * f[_index(nd, a, n - 1 if grid.periodic[a] else 1)]
    return out


def gradient_squared(f, grid, xp):
    """|grad f|^2 by central differences (f[i+1] - f[i-1]) / 2h, boundary rules applied."""
    total = None
    for a in range(f.ndim):
        d = (shifted(f, grid, a, +1, xp) - shifted(f, grid, a, -1, xp)) / (2.0 * grid.spacing[a])
        total = d * d if total is None else total + d * d
    return total


def integrate(f, grid, xp):
    """Integral over the domain (trapezoid weights on bounded walls)."""
    if all(grid.periodic):
        return float(f.sum()) * grid.node_volume
    return float((f * grid.interior_weights(xp)).sum()) * grid.node_volume
