// Cahn-Hilliard with a double-well free energy; NumPy twin: pfsim/models/cahn_hilliard.py
//   f(c)  = rho (c - ca)^2 (cb - c)^2
//   mu    = f'(c) - kappa lap(c)
//   dc/dt = M lap(mu)
#include "stencil.cuh"

__device__ __forceinline__ real double_well_slope(real c, real rho, real ca, real cb) {
    return 2 * rho * (c - ca) * (cb - c) * (ca + cb - 2 * c);
}

extern "C" __global__ void ch_chemical_potential(const real* c, real* mu, int nx, int ny, int nz,
                                                 int periodic, real cx, real cy, real cz, real rho,
                                                 real ca, real cb, real kappa) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    const real lap = laplacian_at(c, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz);
    mu[i] = double_well_slope(c[i], rho, ca, cb) - kappa * lap;
}

// rate = M lap(mu)
extern "C" __global__ void ch_rate(const real* mu, real* rate, int nx, int ny, int nz, int periodic,
                                   real cx, real cy, real cz, real mobility) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    rate[i] = mobility * laplacian_at(mu, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz);
}

// Forward Euler fused: c += dt M lap(mu) (reads only mu's neighbours, so in place is safe).
extern "C" __global__ void ch_euler_update(real* c, const real* mu, int nx, int ny, int nz,
                                           int periodic, real cx, real cy, real cz, real mobility,
                                           real dt) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    c[i] += dt * (mobility * laplacian_at(mu, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz));
}
