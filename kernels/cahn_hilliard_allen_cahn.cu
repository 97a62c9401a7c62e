// Cahn-Hilliard + N Allen-Cahn order parameters with the PFHub BM2 free energy; NumPy twin:
// pfsim/kernels/cahn_hilliard_allen_cahn.py, model pfsim/models/cahn_hilliard_allen_cahn.py.
//   h    = sum_k eta_k^3 (6 eta_k^2 - 15 eta_k + 10),  sq = sum_k eta_k^2
//   mu   = 2 rho2 (c - ca)(1 - h) - 2 rho2 (cb - c) h - kappa_c lap(c)
//   dc/dt     = M lap(mu)
//   deta_k/dt = -L [ rho2 ((cb - c)^2 - (c - ca)^2) 30 eta_k^2 (1 - eta_k)^2
//                    + w (2 eta_k (1 - eta_k)(1 - 2 eta_k) + cross eta_k (sq - eta_k^2)) - kappa_eta lap(eta_k) ]
// cross = 2 alpha (each pair once) or 4 alpha (each pair twice). eta: the N order parameters
// stacked, eta[k * n + i] (n nodes).
#include "stencil.cuh"

__device__ __forceinline__ void sums_at(const real* eta, int n_eta, long long n, long long i, real& h, real& sq) {
    h = 0;
    sq = 0;
    for (int k = 0; k < n_eta; ++k) {
        const real e = eta[k * n + i];
        h += e * e * e * (6 * (e * e) - 15 * e + 10);
        sq += e * e;
    }
}

extern "C" __global__ void chac_chemical_potential(const real* c, const real* eta, real* mu, int n_eta, int nx,
                                                   int ny, int nz, int periodic, real cx, real cy, real cz,
                                                   real rho2, real ca, real cb, real kappa_c) {
    int ix, iy, iz;
    long long i;
    const long long n = (long long)nx * ny * nz;
    if (!node_of_thread(n, ny, nz, ix, iy, iz, i)) return;
    real h, sq;
    sums_at(eta, n_eta, n, i, h, sq);
    const real fa = 2 * rho2 * (c[i] - ca);
    const real fb = -2 * rho2 * (cb - c[i]);
    mu[i] = fa * (1 - h) + fb * h - kappa_c * laplacian_at(c, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz);
}

// Forward Euler, out of place: c_new = c + dt M lap(mu), eta_new = eta + dt deta/dt; base = 0 and
// dt = 1 write the rates themselves (RK4's stages), base = 1 the step.
extern "C" __global__ void chac_euler_step(const real* c, const real* eta, const real* mu, real* c_new,
                                           real* eta_new, int n_eta, int nx, int ny, int nz, int periodic,
                                           real cx, real cy, real cz, real rho2, real ca, real cb,
                                           real kappa_eta, real mobility, real relaxation, real w,
                                           real cross, real base, real dt) {
    int ix, iy, iz;
    long long i;
    const long long n = (long long)nx * ny * nz;
    if (!node_of_thread(n, ny, nz, ix, iy, iz, i)) return;
    c_new[i] = base * c[i] + dt * (mobility * laplacian_at(mu, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz));
    real h, sq;
    sums_at(eta, n_eta, n, i, h, sq);
    const real a = cb - c[i], b = c[i] - ca;
    const real jump = rho2 * (a * a - b * b);
    for (int k = 0; k < n_eta; ++k) {
        const real* ek = eta + k * n;
        const real e = ek[i];
        const real slope = 30 * (e * e) * ((1 - e) * (1 - e));
        const real dfde = jump * slope + w * (2 * e * (1 - e) * (1 - 2 * e) + cross * e * (sq - e * e))
                          - kappa_eta * laplacian_at(ek, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz);
        eta_new[k * n + i] = base * e + dt * (-relaxation * dfde);
    }
}
