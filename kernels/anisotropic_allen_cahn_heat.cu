// Anisotropic Allen-Cahn + heat (Karma-Rappel, PFHub BM3); NumPy twin:
// pfsim/kernels/anisotropic_allen_cahn_heat.py, model pfsim/models/anisotropic_allen_cahn_heat.py.
//   tau(n) dphi/dt = [phi - lambda U (1 - phi^2)](1 - phi^2) + div(J)
//   J              = W^2 grad(phi) + W W_theta (-phi_y, phi_x)
//   dU/dt          = D lap(U) + dphi/dt / 2
// a = 1 + eps cos(m (theta - theta0)), W = w0 a, W_theta = -w0 eps m sin(m (theta - theta0)),
// tau = tau0 a^2. J on the faces between nodes from the face's own gradient (2D only: nz = 1).
// cos_m0, sin_m0: cos and sin of m theta0; rotate = 0 when theta0 = 0 (the twin skips the rotation).
#include "stencil.cuh"
#include "anisotropy.cuh"

// (W, W_theta) of a gradient (gx, gy): cos and sin of m theta by m complex products
__device__ __forceinline__ void w_and_slope(real gx, real gy, real w0, real eps, int fold, int rotate,
                                            real cos_m0, real sin_m0, real& w, real& ws) {
    real c, s;
    fold_angle(gx, gy, fold, c, s);
    if (rotate) {
        const real cr = c * cos_m0 + s * sin_m0;
        const real sr = s * cos_m0 - c * sin_m0;
        c = cr;
        s = sr;
    }
    w = w0 * (1 + eps * c);
    ws = (-w0 * eps * fold) * s;
}

// the flux normal to a face: W^2 g_n - sign W W_theta g_t; x faces: sign +1 and theta from (g_n, g_t),
// y faces: sign -1 and theta from (g_t, g_n)
__device__ __forceinline__ real face_flux(real gn, real gt, real sign, real w0, real eps, int fold, int rotate,
                                          real cos_m0, real sin_m0) {
    real w, ws;
    if (sign > 0) {
        w_and_slope(gn, gt, w0, eps, fold, rotate, cos_m0, sin_m0, w, ws);
    } else {
        w_and_slope(gt, gn, w0, eps, fold, rotate, cos_m0, sin_m0, w, ws);
    }
    return w * w * gn - (sign * w) * ws * gt;
}

// (dphi/dt, dU/dt) at node (ix, iy)
__device__ __forceinline__ void aach_rates_at(const real* phi, const real* u, int ix, int iy, int nx, int ny,
                                              int periodic, real cx, real cy, real hx, real hy, real w0,
                                              real tau0, real lam, real diffusivity, real eps, int fold,
                                              int rotate, real cos_m0, real sin_m0, real& dphi, real& du) {
    const int xp = neighbour_up(ix, nx, periodic & 1), xm = neighbour_down(ix, nx, periodic & 1);
    const int yp = neighbour_up(iy, ny, periodic & 2), ym = neighbour_down(iy, ny, periodic & 2);
    auto f = [&](int jx, int jy) { return phi[(long long)jx * ny + jy]; };
    const real p = f(ix, iy), e = f(xp, iy), w_ = f(xm, iy), n = f(ix, yp), s = f(ix, ym);
    const real ne = f(xp, yp), se = f(xp, ym), nw = f(xm, yp), sw = f(xm, ym);
    const real east = face_flux((e - p) / hx, (ne - se + n - s) / (4 * hy), 1, w0, eps, fold, rotate, cos_m0, sin_m0);
    const real west = face_flux((p - w_) / hx, (n - s + nw - sw) / (4 * hy), 1, w0, eps, fold, rotate, cos_m0, sin_m0);
    const real north = face_flux((n - p) / hy, (ne - nw + e - w_) / (4 * hx), -1, w0, eps, fold, rotate, cos_m0, sin_m0);
    const real south = face_flux((p - s) / hy, (e - w_ + se - sw) / (4 * hx), -1, w0, eps, fold, rotate, cos_m0, sin_m0);
    const real div = (east - west) / hx + (north - south) / hy;
    real w, ws;
    w_and_slope((e - w_) / (2 * hx), (n - s) / (2 * hy), w0, eps, fold, rotate, cos_m0, sin_m0, w, ws);
    const real r = w / w0;
    const real tau = tau0 * (r * r);
    const real one = 1 - p * p;
    dphi = ((p - lam * u[(long long)ix * ny + iy] * one) * one + div) / tau;
    du = diffusivity * laplacian_at(u, ix, iy, 0, nx, ny, 1, periodic, cx, cy, 0) + (real)0.5 * dphi;
}

extern "C" __global__ void aach_rate(const real* phi, const real* u, real* dphi, real* du, int nx, int ny, int nz,
                                     int periodic, real cx, real cy, real cz, real hx, real hy, real w0, real tau0,
                                     real lam, real diffusivity, real eps, int fold, int rotate, real cos_m0,
                                     real sin_m0) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    aach_rates_at(phi, u, ix, iy, nx, ny, periodic, cx, cy, hx, hy, w0, tau0, lam, diffusivity, eps, fold, rotate,
                  cos_m0, sin_m0, dphi[i], du[i]);
}

// Forward Euler, out of place: phi_new = phi + dt dphi/dt, u_new = u + dt dU/dt.
extern "C" __global__ void aach_euler_step(const real* phi, const real* u, real* phi_new, real* u_new, int nx,
                                           int ny, int nz, int periodic, real cx, real cy, real cz, real hx,
                                           real hy, real w0, real tau0, real lam, real diffusivity, real eps,
                                           int fold, int rotate, real cos_m0, real sin_m0, real dt) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    real dphi, du;
    aach_rates_at(phi, u, ix, iy, nx, ny, periodic, cx, cy, hx, hy, w0, tau0, lam, diffusivity, eps, fold, rotate,
                  cos_m0, sin_m0, dphi, du);
    phi_new[i] = phi[i] + dt * dphi;
    u_new[i] = u[i] + dt * du;
}
