// Cell viscosity of the power-law creep flow (pfsim/solvers/creep_flow.py, CreepSolver._visc);
// NumPy twin in pfsim/kernels/creep_flow.py, with the same operations in the same order.
//
// At each cell, from the squared equivalent strain rate II = 2/3 D:D (scaled rates), the metal
// fraction xi and the solid flag (0/1):
//     mu_metal = coef * pow(sqrt(II + reg2) * rate, expo)      (the regularised power law,
//                coef = sigma0 / (3 eps0) in the stress scale, rate = R / eps0, expo = 1/m - 1)
//     w        = clamp(1 - 2 xi, 0, 1)                         (the void filler's share)
//     mu       = (1 - w) mu_metal + w mu_void, and 1 / mu as the fluidity (0 in a solid cell)
// One thread per cell, fields C-ordered [x][y][z] (nz = 1 in 2D). Grid arguments as
// pfsim.kernels.grid_args (only nx, ny, nz are read: the op is pointwise).
#include "stencil.cuh"

extern "C" __global__ void creep_cell_viscosity(const real* II, const real* xi, const real* solid, real* mu,
                                                real* fluidity, int nx, int ny, int nz, int periodic, real cx,
                                                real cy, real cz, real coef, real rate, real expo, real reg2,
                                                real mu_void) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    const real metal = coef * pow(sqrt(II[i] + reg2) * rate, expo);
    real w = 1 - 2 * xi[i];
    w = w < 0 ? (real)0 : (w > 1 ? (real)1 : w);
    const real m = (1 - w) * metal + w * mu_void;
    mu[i] = m;
    fluidity[i] = solid[i] != 0 ? (real)0 : 1 / m;
}
