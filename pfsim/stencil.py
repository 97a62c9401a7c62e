"""Finite-difference stencils on a `Grid`: the NumPy twin of kernels/stencil.cuh (whose grid
arguments pfsim.kernels.grid_args gives).

Written with array slicing only, so the same functions run on NumPy and CuPy arrays.
Boundary rules are those of pfsim.grid: wrap on periodic axes, mirror the first interior
node (zero gradient) on bounded ones.
"""

import numpy as np


def along(ndim, axis, s):
    """The index of s (a node or a slice) along `axis` of an ndim-array, every node of the other axes."""
    index = [slice(None)] * ndim
    index[axis] = s
    return tuple(index)


def shifted(f, grid, axis, step, xp, out=None):
    """f at the neighbour i + step (step = +1 or -1) along `axis`, boundary rules applied
    (into `out` when given: slices, no temporary)."""
    n, nd = f.shape[axis], f.ndim
    out = xp.empty_like(f) if out is None else out
    if step > 0:
        out[along(nd, axis, slice(0, n - 1))] = f[along(nd, axis, slice(1, n))]
        out[along(nd, axis, n - 1)] = f[along(nd, axis, 0 if grid.periodic[axis] else n - 2)]
    else:
        out[along(nd, axis, slice(1, n))] = f[along(nd, axis, slice(0, n - 1))]
        out[along(nd, axis, 0)] = f[along(nd, axis, n - 1 if grid.periodic[axis] else 1)]
    return out


def laplacian(f, grid, out=None, work=None):
    """Second-order 5-point (2D) / 7-point (3D) Laplacian, summed in the kernels' order.

    out: the result array (not f); work: a scratch array of f's shape and dtype. With both,
    nothing is allocated. Every term is rounded as in `acc += (1/h^2) f_nb` (a factor of
    exactly 1 is skipped, which changes no bit).
    """
    if out is f:
        raise ValueError("laplacian: out must not be the input array")
    out = np.empty_like(f) if out is None else out
    return laplacian_rows(f, grid, 0, f.shape[0], out, np.empty_like(f) if work is None else work)


def laplacian_rows(f, grid, i0, i1, out, work):
    """Rows i0:i1 (along axis 0) of laplacian(f, grid) into out and work (arrays of i1 - i0
    rows): per node the same operations in the same order, so the same bits. Working on
    cache-sized blocks of rows keeps the NumPy passes out of main memory."""
    c = [1.0 / h**2 for h in grid.spacing]
    np.multiply(f[i0:i1], -2.0 * sum(c), out=out)  # dispatches to CuPy for CuPy arrays
    if c[0] != 0.0:  # 0: an ensemble's uncoupled member axis (pfsim.ensemble)
        _add_axis0_rows(out, f, i0, i1, c[0], grid.periodic[0], work)
    for a in range(1, f.ndim):
        if c[a] != 0.0:
            _add_axis(out, f[i0:i1], a, c[a], grid.periodic[a], work)
    return out


def _add_axis0_rows(out, f, i0, i1, k, periodic, work):
    """out += k f[i+1] then out += k f[i-1] for rows i0:i1 of axis 0, boundary rules applied."""
    n, m = f.shape[0], i1 - i0
    if m > 1:
        _add_scaled(out[: m - 1], f[i0 + 1 : i1], k, work[: m - 1])  # f[i+1]
    _add_scaled(out[m - 1], f[i1 if i1 < n else (0 if periodic else n - 2)], k, work[m - 1])
    if m > 1:
        _add_scaled(out[1:], f[i0 : i1 - 1], k, work[1:])  # f[i-1]
    _add_scaled(out[0], f[i0 - 1 if i0 > 0 else (n - 1 if periodic else 1)], k, work[0])


def row_blocks(shape, nodes=65536):
    """[(i0, i1)]: blocks of whole rows along axis 0 of about `nodes` nodes (512 KiB in float64)."""
    rows = max(1, nodes // max(1, int(np.prod(shape[1:]))))
    return [(i, min(shape[0], i + rows)) for i in range(0, shape[0], rows)]


def _add_axis(out, f, a, k, periodic, work):
    """out += k f[i+1] then out += k f[i-1] along axis a, boundary rules applied."""
    nd, n = f.ndim, f.shape[a]
    lo, hi = along(nd, a, slice(0, n - 1)), along(nd, a, slice(1, n))
    last, first = along(nd, a, n - 1), along(nd, a, 0)
    tmp = None if work is None else work[lo]  # n - 1 slices of the axis: fits every term below
    edge = None if work is None else work[last]
    _add_scaled(out[lo], f[hi], k, tmp)  # f[i+1]: interior, then across the wall
    _add_scaled(out[last], f[along(nd, a, 0 if periodic else n - 2)], k, edge)
    _add_scaled(out[hi], f[lo], k, tmp)  # f[i-1]
    _add_scaled(out[first], f[along(nd, a, n - 1 if periodic else 1)], k, edge)


def _add_scaled(dst, src, k, tmp):
    """dst += k * src, the product rounded first; into tmp (same shape) when given."""
    if k == 1.0:
        dst += src
    elif tmp is None:
        dst += k * src
    else:
        dst += np.multiply(src, k, out=tmp)


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


def gradient_squared_rows(f, grid, i0, i1, out, work):
    """Rows i0:i1 (along axis 0) of gradient_squared(f, grid) into out, with one scratch array
    `work` of the same shape: the same operations per node, no temporary (NumPy arrays)."""
    n, nd = f.shape[0], f.ndim
    up, down = np.arange(i0 + 1, i1 + 1), np.arange(i0 - 1, i1 - 1)
    if i1 == n:
        up[-1] = 0 if grid.periodic[0] else n - 2
    if i0 == 0:
        down[0] = n - 1 if grid.periodic[0] else 1
    np.take(f, up, axis=0, out=out)
    out -= np.take(f, down, axis=0, out=work)
    out /= 2.0 * grid.spacing[0]
    out *= out
    block = f[i0:i1]
    for a in range(1, nd):
        m = block.shape[a]
        d = work
        shifted(block, grid, a, +1, np, out=d)
        lo = block[along(nd, a, slice(0, m - 1))]  # d -= f[i-1] along a, boundary rule at 0
        d[along(nd, a, slice(1, m))] -= lo
        d[along(nd, a, 0)] -= block[along(nd, a, m - 1 if grid.periodic[a] else 1)]
        d /= 2.0 * grid.spacing[a]
        d *= d
        out += d
    return out


def integrate_rows(density_rows, grid, shape, dtype, scratch, nodes=65536):
    """Integral over the domain (trapezoid weights on bounded walls, as `integrate`) of a
    density given block by block: density_rows(i0, i1, out, w1, w2, w3) writes rows i0:i1 into
    out using the scratch blocks w1, w2, w3: four blocks of about `nodes` nodes, kept in the list
    `scratch` between calls (the observables of large grids otherwise map and fault in fresh
    pages for every temporary, every sample)."""
    blocks = row_blocks(shape, nodes)
    size = (blocks[0][1] - blocks[0][0],) + tuple(shape[1:])
    if not scratch or scratch[0].shape != size or scratch[0].dtype != dtype:
        scratch[:] = [np.empty(size, dtype) for _ in range(4)]
    out, w1, w2, w3 = scratch
    total = 0.0
    for i0, i1 in blocks:
        m = i1 - i0
        d = density_rows(i0, i1, out[:m], w1[:m], w2[:m], w3[:m])
        if not grid.periodic[0]:
            if i0 == 0:
                d[0] *= 0.5
            if i1 == shape[0]:
                d[m - 1] *= 0.5
        for a in range(1, len(shape)):
            if not grid.periodic[a]:
                d[along(len(shape), a, 0)] *= 0.5
                d[along(len(shape), a, -1)] *= 0.5
        total += float(d.sum())
    return total * grid.node_volume


def minus_laplacian_symbol(grid, xp, dtype=float):
    """-(the Fourier symbol of `laplacian`) on a fully periodic grid, in the layout of xp.fft.rfftn:
    sum over axes of (4 / h^2) sin^2(k h / 2), k h = 2 pi m / n. Zero at k = 0, and exact for
    the 5-point (7-point) stencil, so a Fourier solve is the same discretisation as the stencil."""
    symbol = 0.0
    last = grid.ndim - 1
    for a, (n, h) in enumerate(zip(grid.shape, grid.spacing)):
        m = np.arange(n // 2 + 1) if a == last else np.fft.fftfreq(n, 1.0 / n)
        shape = [1] * grid.ndim
        shape[a] = m.size
        symbol = symbol + (4.0 / h**2) * np.sin(np.pi * m / n).reshape(shape) ** 2
    return xp.asarray(symbol, dtype=dtype)
