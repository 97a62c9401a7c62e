// Metal order parameter of the plating model (pfsim/models/plating/front.py, step 3 of a
// time step); NumPy twins in pfsim/kernels/plating.py, with the same operations in the same
// order. One thread per node, fields C-ordered [x][y][z] (nz = 1 in 2D). Grid arguments as
// pfsim.kernels.grid_args: nx, ny, nz, periodic bitmask, cx = 1/dx^2, cy, cz; then hx, hy, hz.
#include "stencil.cuh"
#include "anisotropy.cuh"

#define GRAD_FLOOR 1e-2
#define XI_MIN 1e-3  // no reaction in the far tail of the profile (no electrons there)

// Anisotropy a(n) = 1 + eps cos(m (theta - theta0)) of the metal's outward normal n = -(gx, gy)
// turned by -theta0 (c0 = cos theta0, s0 = sin theta0), and a_theta = da/dtheta: the
// Karma-Rappel W(n) / W0 of kernels/anisotropic_allen_cahn_heat.cu (a zero gradient: a = 1).
__device__ __forceinline__ void a_and_slope(real gx, real gy, real eps, int fold, real c0, real s0, real& a,
                                            real& at) {
    const real nx = -(gx * c0 + gy * s0);
    const real ny = -(gy * c0 - gx * s0);
    real c, s;
    fold_angle(nx, ny, fold, c, s);
    a = 1 * (1 + eps * c);
    at = (-1 * eps * fold) * s;
}

// Interface delta w = 2 (1 - h(xi)) |grad xi| and the curvature-free Allen-Cahn term
// relax = (delta^2 d2xi/dn2 - 2 g'(xi)) / tau, d2/dn2 = g.H.g / |g|^2 blended into the
// Laplacian where |g| delta < GRAD_FLOOR. With eps > 0 (2D) w is scaled by a(n): the
// anisotropic exchange current density.
extern "C" __global__ void plating_interface_terms(const real* xi, real* w, real* relax, int nx, int ny, int nz,
                                                   int periodic, real cx, real cy, real cz, real hx, real hy,
                                                   real hz, real delta, real tau, real eps, int fold,
                                                   const real* cos0, const real* sin0) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    const long long sx = (long long)ny * nz, sy = nz;
    const int nd = nz > 1 ? 3 : 2;
    const int n[3] = {nx, ny, nz};
    const int c[3] = {ix, iy, iz};
    const long long st[3] = {sx, sy, 1};
    const real h[3] = {hx, hy, hz};
    const real ch[3] = {cx, cy, cz};
    int upi[3], dni[3];
    for (int a = 0; a < 3; ++a) {
        upi[a] = neighbour_up(c[a], n[a], periodic & (1 << a));
        dni[a] = neighbour_down(c[a], n[a], periodic & (1 << a));
    }
    const real x0 = xi[i];
    real up[3], dn[3], g[3];
    for (int a = 0; a < nd; ++a) {
        up[a] = xi[i + (upi[a] - c[a]) * st[a]];
        dn[a] = xi[i + (dni[a] - c[a]) * st[a]];
        g[a] = (up[a] - dn[a]) * ((real)0.5 / h[a]);
    }
    real g2 = g[0] * g[0];
    for (int a = 1; a < nd; ++a) g2 = g2 + g[a] * g[a];
    real lap = 0, nn = 0;
    for (int a = 0; a < nd; ++a) {
        const real haa = (up[a] - 2 * x0 + dn[a]) * ((real)1.0 / (h[a] * h[a]));
        lap = a == 0 ? haa : lap + haa;
        const real t = g[a] * g[a] * haa;
        nn = a == 0 ? t : nn + t;
    }
    (void)ch;
    for (int a = 0; a < nd; ++a) {
        for (int b = a + 1; b < nd; ++b) {
            // neighbours of up[a] / dn[a] along b, with b's boundary rule
            const long long ia_up = i + (upi[a] - c[a]) * st[a], ia_dn = i + (dni[a] - c[a]) * st[a];
            const long long db_up = (upi[b] - c[b]) * st[b], db_dn = (dni[b] - c[b]) * st[b];
            const real pp = xi[ia_up + db_up], pm = xi[ia_up + db_dn];
            const real mp = xi[ia_dn + db_up], mm = xi[ia_dn + db_dn];
            const real hab = (pp - pm - mp + mm) * ((real)0.25 / (h[a] * h[b]));
            nn = nn + 2 * g[a] * g[b] * hab;
        }
    }
    const real eps2 = ((real)GRAD_FLOOR / delta) * ((real)GRAD_FLOOR / delta);
    const real d2n = (nn + eps2 * lap) / (g2 + eps2);
    const real gp = 2 * x0 * (1 - x0) * (1 - 2 * x0);
    const real hxi = x0 * x0 * x0 * (x0 * (6 * x0 - 15) + 10);
    const real open = 1 - hxi > 0 ? 1 - hxi : (real)0;
    real wi = x0 >= (real)XI_MIN ? 2 * open * sqrt(g2) : (real)0;
    if (eps != 0 && nd == 2) {
        real a, at;
        a_and_slope(g[0], g[1], eps, fold, cos0[i], sin0[i], a, at);
        wi = wi * a;
    }
    w[i] = wi;
    relax[i] = (delta * delta * d2n - 2 * gp) * ((real)1.0 / tau);
}

// Capillarity: cap = coeff [div(J) - 2 g'(xi) / delta^2] / a(n)^2, J = a^2 grad xi + a a_theta (-xi_y, xi_x)
// on the faces between nodes (x face i+1/2: xi_x from the two nodes, xi_y the mean of their
// central differences; y faces alike; theta0 on a face from the mean of its nodes' cos, sin);
// a at the node from central differences. eps = 0 or 3D: div(J) is the Laplacian.
extern "C" __global__ void plating_capillary(const real* xi, real* cap, int nx, int ny, int nz, int periodic,
                                             real cx, real cy, real cz, real hx, real hy, real hz, real coeff,
                                             real delta, real eps, int fold, const real* cos0,
                                             const real* sin0) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    const real x0 = xi[i];
    const real gp = 2 * x0 * (1 - x0) * (1 - 2 * x0);
    const real well = ((real)2.0 / (delta * delta)) * gp;
    if (eps == 0 || nz > 1) {
        cap[i] = coeff * (laplacian_at(xi, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz) - well);
        return;
    }
    const long long sx = ny;
    const int xu = neighbour_up(ix, nx, periodic & 1), xd = neighbour_down(ix, nx, periodic & 1);
    const int yu = neighbour_up(iy, ny, periodic & 2), yd = neighbour_down(iy, ny, periodic & 2);
    auto at_ = [&](int jx, int jy) { return xi[jx * sx + jy]; };
    // central y difference at (jx, iy)
    auto dy = [&](int jx) {
        const int u = neighbour_up(iy, ny, periodic & 2), d = neighbour_down(iy, ny, periodic & 2);
        return at_(jx, u) - at_(jx, d);
    };
    real fl[4];
    // x faces: +1/2 (ix, xu), -1/2 (xd, ix)
    const int xa[2] = {ix, xd}, xb[2] = {xu, ix};
    for (int k = 0; k < 2; ++k) {
        const real gn = (at_(xb[k], iy) - at_(xa[k], iy)) * ((real)1.0 / hx);
        const real gt = (dy(xb[k]) + dy(xa[k])) * ((real)0.25 / hy);
        const long long pa = xa[k] * sx + iy, pb = xb[k] * sx + iy;
        real a, at;
        a_and_slope(gn, gt, eps, fold, (real)0.5 * (cos0[pb] + cos0[pa]), (real)0.5 * (sin0[pb] + sin0[pa]), a, at);
        fl[k] = a * a * gn - a * at * gt;
    }
    // y faces: +1/2 (iy, yu), -1/2 (yd, iy); the x differences at rows jy
    const int ya[2] = {iy, yd}, yb[2] = {yu, iy};
    for (int k = 0; k < 2; ++k) {
        const real gn = (at_(ix, yb[k]) - at_(ix, ya[k])) * ((real)1.0 / hy);
        const real gt = ((at_(xu, yb[k]) - at_(xd, yb[k])) + (at_(xu, ya[k]) - at_(xd, ya[k]))) * ((real)0.25 / hx);
        const long long pa = ix * sx + ya[k], pb = ix * sx + yb[k];
        real a, at;
        a_and_slope(gt, gn, eps, fold, (real)0.5 * (cos0[pb] + cos0[pa]), (real)0.5 * (sin0[pb] + sin0[pa]), a, at);
        fl[2 + k] = a * a * gn + a * at * gt;
    }
    const real div = (fl[0] - fl[1]) * ((real)1.0 / hx) + (fl[2] - fl[3]) * ((real)1.0 / hy);
    const real gx = (at_(xu, iy) - at_(xd, iy)) * ((real)0.5 / hx);
    const real gy = (at_(ix, yu) - at_(ix, yd)) * ((real)0.5 / hy);
    real a, at;
    a_and_slope(gx, gy, eps, fold, cos0[i], sin0[i], a, at);
    cap[i] = coeff * (div - well) / (a * a);
}

// xi update: d xi = dt gate (relax - lagrange q(xi) - scale w current noise); what the gate
// holds back and what clipping to [0, 1] removes goes to `displaced`.
extern "C" __global__ void plating_metal_update(const real* xi, const real* w, const real* relax,
                                                const real* current, const real* gate, const real* noise,
                                                real* out, real* displaced, real lagrange, real scale, real dt,
                                                long long n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const real x = xi[i];
    const real a = x * (1 - x);
    const real q = 16 * a * a;
    const real react = scale * w[i] * current[i] * noise[i];
    const real gt = gate[i];
    const real trial = x + dt * gt * (relax[i] - lagrange * q - react);
    const real nw = trial < 0 ? (real)0 : (trial > 1 ? (real)1 : trial);
    out[i] = nw;
    displaced[i] = -dt * (1 - gt) * react + (trial - nw);
}

// Counter-based uniform noise in [-1, 1): splitmix64 finalizer of (index ^ key(seed, step)).
extern "C" __global__ void plating_noise(real* out, unsigned long long seed, unsigned long long step,
                                         long long n, long long first) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const unsigned long long key = seed * 0x9E3779B97F4A7C15ULL ^ step * 0xD1B54A32D192ED03ULL;
    unsigned long long z = (unsigned long long)(first + i) ^ key;  // the node's index in the whole grid
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    const double u = (double)(z >> 11) * (1.0 / 9007199254740992.0);
    out[i] = (real)(2 * u - 1);
}
