"""Run under mpirun by tests/test_mpi.py: high-contrast problems solved by SlabEllipticProblem
across the ranks and by EllipticProblem on rank 0; rank 0 writes the comparison as JSON."""

import json
import sys

import numpy as np
from mpi4py import MPI

from pfsim.backend import Backend
from pfsim.grid import Grid
from pfsim.parallel.elliptic import SlabEllipticProblem
from pfsim.solvers import EllipticProblem

F64 = Backend("numpy", np.dtype("float64"), "cpu")
CONTRAST = 1e10
RTOL = 1e-10


def wavy_layers(n=48):
    """Metal (k = 1) under a wavy interface, electrolyte (k = 1e-10) above; x periodic; u held at
    0 and 1 on the y walls."""
    g = Grid((n, n), (1 / n, 1 / (n - 1)), (0.0, 0.0), (("periodic",) * 2, ("no_flux",) * 2))
    x, y = np.broadcast_arrays(*g.mesh())
    k = np.where(y < 0.37 + 0.1 * np.sin(2 * np.pi * x), 1.0, 1 / CONTRAST)
    mask = np.ones(g.shape, bool)
    mask[:, [0, -1]] = False
    b = np.zeros(g.shape)
    b[:, -1] = 1.0
    return g, k, 0.0, mask, b


def inclusions_3d(shape=(16, 12, 10)):
    """Conducting balls in a poor conductor, x bounded, c > 0 on a random half, a random source."""
    g = Grid(shape, (0.05, 0.06, 0.07), (0.0, 0.0, 0.0), (("no_flux",) * 2, ("periodic",) * 2, ("no_flux",) * 2))
    rng = np.random.default_rng(5)
    x, y, z = np.broadcast_arrays(*g.mesh())
    metal = np.zeros(shape, bool)
    for cx, cy, cz, r in rng.uniform([0, 0, 0, 0.1], [1, 0.84, 0.77, 0.25], (6, 4)):
        metal |= (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 < r * r
    k = np.where(metal, 1.0, 1 / CONTRAST)
    c = rng.uniform(0, 1.0, shape) * (rng.random(shape) > 0.5)
    mask = rng.random(shape) > 0.05
    b = rng.standard_normal(shape)
    return g, k, c, mask, b


def main(out):
    comm = MPI.COMM_WORLD
    results = {}
    for name, make in (("wavy_layers", wavy_layers), ("inclusions_3d", inclusions_3d)):
        g, k, c, mask, b = make()
        rows = SlabEllipticProblem.rows(comm, g)
        dist = SlabEllipticProblem(comm, g, F64, k[rows], c if np.isscalar(c) else c[rows], mask[rows])
        u, info = dist.solve(b[rows], rtol=RTOL)
        parts = comm.gather(u)
        if comm.rank == 0:
            u = np.concatenate(parts)
            serial = EllipticProblem(g, F64, k, c, mask)
            us, si = serial.solve(b, rtol=RTOL)
            diag = serial.level.diag
            residual = np.linalg.norm((b - serial.apply(u)) / diag) / np.linalg.norm(b / diag)
            results[name] = {
                "iterations": info.iterations, "serial_iterations": si.iterations, "converged": info.converged,
                "scaled_residual": info.scaled_residual, "residual_by_serial_operator": float(residual),
                "max_abs_difference": float(np.abs(u - us).max()), "max_abs_u": float(np.abs(us).max()),
            }
    if comm.rank == 0:
        with open(out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
