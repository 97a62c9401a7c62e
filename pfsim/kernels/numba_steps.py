"""Optional CPU kernels compiled by Numba (`pip install pfsim[cpu-fast]`, `cpu_kernels: numba`).

The Cahn-Hilliard and Allen-Cahn forward-Euler steps, each a loop over the nodes in the order
of operations of the NumPy forms (pfsim.kernels.cahn_hilliard, allen_cahn), threaded over rows
(prange). NumPy stays the reference and the default; tests/test_numba_kernels.py holds the two
to round-off, and benchmarks/cpu_path.py measures the gain (docs/performance.md).

Boundary rules are pfsim.stencil's: wrap on a periodic axis, mirror the first interior node on a
bounded one. 2D and 3D grids; an ensemble's stacked member axis (1/h^2 = 0) is an uncoupled
axis like any other whose coefficient is 0.
"""

import numpy as np

try:
    import numba
    from numba import prange
except ImportError:  # the extra is not installed
    numba = None


def available() -> bool:
    return numba is not None


def require():
    if numba is None:
        from ..errors import ConfigError

        raise ConfigError("cpu_kernels: numba needs Numba (pip install 'pfsim[cpu-fast]'); use cpu_kernels: numpy")


def _neighbours(n, periodic):
    """(index of i + 1, index of i - 1) for every i of an axis of n nodes."""
    up, down = np.arange(1, n + 1), np.arange(-1, n - 1)
    up[-1] = 0 if periodic else n - 2
    down[0] = n - 1 if periodic else 1
    return up.astype(np.int64), down.astype(np.int64)


def _tables(grid, shape):
    """Neighbour tables and 1/h^2 per axis, padded to three axes."""
    ups, downs, inv = [], [], []
    for a in range(3):
        if a < len(shape):
            up, down = _neighbours(shape[a], grid.periodic[a])
            ups.append(up), downs.append(down), inv.append(1.0 / grid.spacing[a] ** 2)
        else:
            ups.append(np.zeros(1, np.int64)), downs.append(np.zeros(1, np.int64)), inv.append(0.0)
    return ups, downs, inv


if numba is not None:
    _jit = numba.njit(parallel=True, cache=True, fastmath=False)

    @numba.njit(inline="always")
    def _lap(f, i, j, k, xu, xd, yu, yd, zu, zd, cx, cy, cz, centre):
        # the NumPy order: f * (-2 sum c), then + c f[i+1], + c f[i-1] axis by axis (a factor
        # of exactly 1 is not multiplied, as in pfsim.stencil)
        acc = f[i, j, k] * centre
        if cx != 0.0:
            acc += (f[xu[i], j, k] if cx == 1.0 else cx * f[xu[i], j, k])
            acc += (f[xd[i], j, k] if cx == 1.0 else cx * f[xd[i], j, k])
        if cy != 0.0:
            acc += (f[i, yu[j], k] if cy == 1.0 else cy * f[i, yu[j], k])
            acc += (f[i, yd[j], k] if cy == 1.0 else cy * f[i, yd[j], k])
        if cz != 0.0:
            acc += (f[i, j, zu[k]] if cz == 1.0 else cz * f[i, j, zu[k]])
            acc += (f[i, j, zd[k]] if cz == 1.0 else cz * f[i, j, zd[k]])
        return acc

    @numba.njit(inline="always")
    def _ch_slope(v, rho2, ca, cb):
        # 2 rho (c - ca)(cb - c)(ca + cb - 2c), left to right as the NumPy form
        slope = (v - ca) * rho2
        slope *= cb - v
        slope *= (ca + cb) - v * 2.0
        return slope

    @numba.njit(inline="always")
    def _ac_point(e, lap, w2, tilt30, kappa, mobility, dt):
        # eta + dt L (kappa lap - slope(eta)), in the NumPy form's order
        r = lap * kappa
        slope = e * w2
        slope *= 1.0 - e
        slope *= 1.0 - e * 2.0
        if tilt30 != 0.0:
            t = e * e
            t *= tilt30
            t *= (1.0 - e) * (1.0 - e)
            slope += t
        r -= slope
        r *= mobility
        r *= dt
        return r + e

    @_jit
    def _ch_mu(c, mu, xu, xd, yu, yd, zu, zd, cx, cy, cz, centre, rho2, ca, cb, kappa):
        nx, ny, nz = c.shape
        for i in prange(nx):
            for j in range(ny):
                for k in range(nz):
                    v = c[i, j, k]
                    lap = _lap(c, i, j, k, xu, xd, yu, yd, zu, zd, cx, cy, cz, centre)
                    mu[i, j, k] = lap * -kappa + _ch_slope(v, rho2, ca, cb)

    @_jit
    def _ch_update(c, mu, xu, xd, yu, yd, zu, zd, cx, cy, cz, centre, mobility, dt):
        nx, ny, nz = c.shape
        for i in prange(nx):
            for j in range(ny):
                for k in range(nz):
                    lap = _lap(mu, i, j, k, xu, xd, yu, yd, zu, zd, cx, cy, cz, centre)
                    lap *= mobility
                    lap *= dt
                    c[i, j, k] += lap

    @_jit
    def _ac_step(eta, new, xu, xd, yu, yd, zu, zd, cx, cy, cz, centre, w2, tilt30, kappa, mobility, dt):
        nx, ny, nz = eta.shape
        for i in prange(nx):
            for j in range(ny):
                for k in range(nz):
                    e = eta[i, j, k]
                    r = _lap(eta, i, j, k, xu, xd, yu, yd, zu, zd, cx, cy, cz, centre)
                    new[i, j, k] = _ac_point(e, r, w2, tilt30, kappa, mobility, dt)

    # 2D: the inner loop runs along y with direct neighbours (SIMD), the walls from the tables
    @numba.njit(inline="always")
    def _lap2(f, fu, fd, j, ju, jd, cx, cy, centre):
        acc = f[j] * centre
        if cx != 0.0:
            acc += (fu[j] if cx == 1.0 else cx * fu[j])
            acc += (fd[j] if cx == 1.0 else cx * fd[j])
        if cy != 0.0:
            acc += (f[ju] if cy == 1.0 else cy * f[ju])
            acc += (f[jd] if cy == 1.0 else cy * f[jd])
        return acc

    @_jit
    def _ch_mu2(c, mu, xu, xd, yu, yd, cx, cy, centre, rho2, ca, cb, kappa):
        nx, ny = c.shape
        for i in prange(nx):
            f, fu, fd, out = c[i], c[xu[i]], c[xd[i]], mu[i]
            for j in range(ny):
                ju, jd = (j + 1, j - 1) if 0 < j < ny - 1 else (yu[j], yd[j])
                v = f[j]
                lap = _lap2(f, fu, fd, j, ju, jd, cx, cy, centre)
                out[j] = lap * -kappa + _ch_slope(v, rho2, ca, cb)

    @_jit
    def _ch_update2(c, mu, xu, xd, yu, yd, cx, cy, centre, mobility, dt):
        nx, ny = c.shape
        for i in prange(nx):
            f, fu, fd, out = mu[i], mu[xu[i]], mu[xd[i]], c[i]
            for j in range(ny):
                ju, jd = (j + 1, j - 1) if 0 < j < ny - 1 else (yu[j], yd[j])
                lap = _lap2(f, fu, fd, j, ju, jd, cx, cy, centre)
                lap *= mobility
                lap *= dt
                out[j] += lap

    @_jit
    def _ac_step2(eta, new, xu, xd, yu, yd, cx, cy, centre, w2, tilt30, kappa, mobility, dt):
        nx, ny = eta.shape
        for i in prange(nx):
            f, fu, fd, out = eta[i], eta[xu[i]], eta[xd[i]], new[i]
            for j in range(ny):
                ju, jd = (j + 1, j - 1) if 0 < j < ny - 1 else (yu[j], yd[j])
                e = f[j]
                r = _lap2(f, fu, fd, j, ju, jd, cx, cy, centre)
                out[j] = _ac_point(e, r, w2, tilt30, kappa, mobility, dt)


def _as3d(a):
    return a.reshape(a.shape + (1,) * (3 - a.ndim))


class Stepper:
    """The compiled steps for one grid: neighbour tables built once."""

    def __init__(self, grid, shape):
        require()
        self.shape = tuple(shape)
        (self.xu, self.yu, self.zu), (self.xd, self.yd, self.zd), inv = _tables(grid, shape)
        self.cx, self.cy, self.cz = inv
        self.centre = -2.0 * sum(inv)

    def _args(self):
        return (self.xu, self.xd, self.yu, self.yd, self.zu, self.zd, self.cx, self.cy, self.cz, self.centre)

    def _args2(self):
        return (self.xu, self.xd, self.yu, self.yd, self.cx, self.cy, self.centre)

    def cahn_hilliard(self, c, mu, p, dt):
        """c += dt M lap(mu), mu = 2 rho (c - ca)(cb - c)(ca + cb - 2c) - kappa lap(c); in place
        (mu: a work array of c's shape)."""
        if c.ndim == 2:
            _ch_mu2(c, mu, *self._args2(), 2.0 * p.barrier, p.c_alpha, p.c_beta, p.gradient_coefficient)
            _ch_update2(c, mu, *self._args2(), p.mobility, dt)
            return
        c3, mu3 = _as3d(c), _as3d(mu)
        _ch_mu(c3, mu3, *self._args(), 2.0 * p.barrier, p.c_alpha, p.c_beta, p.gradient_coefficient)
        _ch_update(c3, mu3, *self._args(), p.mobility, dt)

    def allen_cahn(self, eta, new, p, dt):
        """new = eta + dt L (kappa lap(eta) - slope(eta)) (no manufactured source)."""
        if eta.ndim == 2:
            _ac_step2(eta, new, *self._args2(), 2.0 * p.barrier, p.tilt * 30.0, p.gradient_coefficient, p.mobility, dt)
            return
        _ac_step(_as3d(eta), _as3d(new), *self._args(), 2.0 * p.barrier, p.tilt * 30.0, p.gradient_coefficient,
                 p.mobility, dt)
