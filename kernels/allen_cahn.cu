// Allen-Cahn with a double well, a constant driving-force tilt and an optional manufactured
// source; NumPy twin: pfsim/kernels/allen_cahn.py
//   deta/dt = -L [ 2 W eta (1 - eta)(1 - 2 eta) + tilt 30 eta^2 (1 - eta)^2 - kappa lap(eta) ] + S
// S is the PFHub BM7 manufactured-solution source when has_source != 0 (2D, x-y plane).
#include "stencil.cuh"

__device__ __forceinline__ real sech2(real a) {
    const real c = cosh(a);
    return 1 / (c * c);
}

// PFHub BM7: alpha(x, t) = 1/4 + A1 t sin(B1 x) + A2 sin(B2 x + C2 t)
__device__ real bm7_source(real x, real y, real t, real A1, real B1, real A2, real B2, real C2,
                           real kappa) {
    const real alpha = (real)0.25 + A1 * t * sin(B1 * x) + A2 * sin(B2 * x + C2 * t);
    const real ax = A1 * B1 * t * cos(B1 * x) + A2 * B2 * cos(B2 * x + C2 * t);
    const real axx = -A1 * B1 * B1 * t * sin(B1 * x) - A2 * B2 * B2 * sin(B2 * x + C2 * t);
    const real at = A1 * sin(B1 * x) + A2 * C2 * cos(B2 * x + C2 * t);
    const real sk = sqrt(kappa);
    const real psi = (y - alpha) / sqrt(2 * kappa);
    return sech2(psi) / (4 * sk) * (-2 * sk * tanh(psi) * ax * ax + sqrt((real)2) * (at - kappa * axx));
}

__device__ __forceinline__ real ac_rate_at(const real* eta, long long i, int ix, int iy, int iz, int nx,
                                          int ny, int nz, int periodic, real cx, real cy, real cz,
                                          real mobility, real barrier, real tilt, real kappa,
                                          int has_source, real x0, real y0, real dx, real dy, real t,
                                          real A1, real B1, real A2, real B2, real C2) {
    const real e = eta[i];
    const real lap = laplacian_at(eta, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz);
    const real df = 2 * barrier * e * (1 - e) * (1 - 2 * e) + tilt * 30 * e * e * (1 - e) * (1 - e);
    real r = -mobility * (df - kappa * lap);
    if (has_source) r += bm7_source(x0 + ix * dx, y0 + iy * dy, t, A1, B1, A2, B2, C2, kappa);
    return r;
}

extern "C" __global__ void ac_rate(const real* eta, real* rate, int nx, int ny, int nz, int periodic,
                                   real cx, real cy, real cz, real mobility, real barrier, real tilt,
                                   real kappa, int has_source, real x0, real y0, real dx, real dy,
                                   real t, real A1, real B1, real A2, real B2, real C2) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    rate[i] = ac_rate_at(eta, i, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz, mobility, barrier, tilt,
                         kappa, has_source, x0, y0, dx, dy, t, A1, B1, A2, B2, C2);
}

// Forward Euler fused, out of place: eta_new = eta + dt rate (reads eta, writes eta_new: 2 words
// per node where ac_rate, rate * dt and eta += move 7).
extern "C" __global__ void ac_euler_update(const real* eta, real* eta_new, int nx, int ny, int nz,
                                           int periodic, real cx, real cy, real cz, real mobility,
                                           real barrier, real tilt, real kappa, int has_source, real x0,
                                           real y0, real dx, real dy, real t, real A1, real B1, real A2,
                                           real B2, real C2, real dt) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    eta_new[i] = eta[i] + dt * ac_rate_at(eta, i, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz, mobility,
                                          barrier, tilt, kappa, has_source, x0, y0, dx, dy, t, A1, B1,
                                          A2, B2, C2);
}
