// Cahn-Hilliard with electrostatics, the step of c for a given potential; NumPy twin:
// pfsim/kernels/cahn_hilliard_electrostatic.py, model pfsim/models/cahn_hilliard_electrostatic.py.
//   mu    = f'(c) - kappa lap(c) + k Phi,  f(c) = rho (c - ca)^2 (cb - c)^2
//   dc/dt = M lap(mu)
// Phi is solved by the elliptic solver between steps (the model's enforce).
#include "stencil.cuh"

__device__ __forceinline__ real chel_slope(real c, real rho, real ca, real cb) {
    return 2 * rho * (c - ca) * (cb - c) * (ca + cb - 2 * c);
}

// The step fused, out of place: c_new = c + dt M lap(mu) with mu recomputed at each neighbour
// from c and Phi (a radius-2 stencil of c), as cahn_hilliard.cu's ch_step_fused.
extern "C" __global__ void chel_step_fused(const real* c, const real* phi, real* c_new, int nx, int ny, int nz,
                                           int periodic, real cx, real cy, real cz, real rho, real ca, real cb,
                                           real kappa, real charge, real mobility, real dt) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    auto mu = [&](int jx, int jy, int jz) {
        const long long j = (jx * (long long)ny + jy) * nz + jz;
        const real lap = laplacian_at(c, jx, jy, jz, nx, ny, nz, periodic, cx, cy, cz);
        return (chel_slope(c[j], rho, ca, cb) - kappa * lap) + charge * phi[j];
    };
    c_new[i] = c[i] + dt * (mobility * laplacian_of(mu, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz));
}
