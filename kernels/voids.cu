// Void order parameter xi of the stripping model (pfsim/models/stripping/voids.py, step 4 of
// a time step) and its contact weight; NumPy twins in pfsim/kernels/voids.py, with the
// same operations in the same order.
//
// li is the Li-side mask as a real 0/1 field. Grid arguments as pfsim.kernels.grid_args:
// nx, ny, nz, periodic bitmask, cx = 1/dx^2, cy, cz. One thread per node, fields C-ordered
// [x][y][z] (nz = 1 in 2D).
//
// The masked Laplacian is the model's shape operator (an EllipticProblem with conductivity 1
// on the Li side, 0 elsewhere): a sum over the faces whose two nodes are both on the Li side.
// Faces to electrolyte nodes are dropped (zero flux into the SSE), and so is the face across
// a bounded wall (finite-volume zero flux, as in kernels/elliptic.cu), NOT the mirror rule of
// stencil.cuh's laplacian_at, which would count the face to the first interior node twice.
#include "stencil.cuh"

// q(xi) = 16 xi^2 (1 - xi)^2: the interface indicator (1 at xi = 1/2, 0 in the phases)
__device__ __forceinline__ real void_q(real x) {
    const real a = x * x, b = (1 - x) * (1 - x);
    return 16 * a * b;
}

// g'(xi) / 1 for g = xi^2 (1 - xi)^2: 2 xi (1 - xi) (1 - 2 xi)
__device__ __forceinline__ real void_g_slope(real x) { return 2 * x * (1 - x) * (1 - 2 * x); }

// One face's term K (f_i - f_nb) of the shape operator, added when both nodes are Li side.
__device__ __forceinline__ void add_face(real& acc, const real* f, const real* li, real fi, long long nb,
                                         real k) {
    if (li[nb] != 0) acc += k * (fi - f[nb]);
}

// The masked Laplacian sum over Li-Li faces of (f_nb - f_i) / h^2 at node (ix, iy, iz), summed
// as -(sum of K (f_i - f_nb)) in the order x up, x down, y up, y down, z up, z down (that of
// elliptic_apply, so the value is the same bit for bit). 0 on nodes that are not Li side.
__device__ __forceinline__ real masked_laplacian_at(const real* f, const real* li, int ix, int iy, int iz,
                                                    int nx, int ny, int nz, int periodic, real cx, real cy,
                                                    real cz) {
    const long long sx = (long long)ny * nz, sy = nz;
    const long long i = ix * sx + iy * sy + iz;
    real acc = 0;
    if (li[i] == 0) return acc;
    const real fi = f[i];
    const bool px = periodic & 1, py = periodic & 2, pz = periodic & 4;
    // a face exists unless it would cross a bounded wall; n == 1 axes add nothing
    if (nx > 1) {
        if (ix + 1 < nx || px) add_face(acc, f, li, fi, neighbour_up(ix, nx, px) * sx + iy * sy + iz, cx);
        if (ix > 0 || px) add_face(acc, f, li, fi, neighbour_down(ix, nx, px) * sx + iy * sy + iz, cx);
    }
    if (ny > 1) {
        if (iy + 1 < ny || py) add_face(acc, f, li, fi, ix * sx + neighbour_up(iy, ny, py) * sy + iz, cy);
        if (iy > 0 || py) add_face(acc, f, li, fi, ix * sx + neighbour_down(iy, ny, py) * sy + iz, cy);
    }
    if (nz > 1) {
        if (iz + 1 < nz || pz) add_face(acc, f, li, fi, ix * sx + iy * sy + neighbour_up(iz, nz, pz), cz);
        if (iz > 0 || pz) add_face(acc, f, li, fi, ix * sx + iy * sy + neighbour_down(iz, nz, pz), cz);
    }
    return -acc;
}

// lap = masked Laplacian of f (0 off the Li side)
extern "C" __global__ void void_masked_laplacian(const real* f, const real* li, real* lap, int nx, int ny,
                                                 int nz, int periodic, real cx, real cy, real cz) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    lap[i] = masked_laplacian_at(f, li, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz);
}

// relax = M (kappa lap_masked(xi) - W g'(xi)) li,  q = 16 xi^2 (1 - xi)^2
extern "C" __global__ void void_rates(const real* xi, const real* li, real* relax, real* q, int nx, int ny,
                                      int nz, int periodic, real cx, real cy, real cz, real kappa,
                                      real barrier, real mobility) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    const real x = xi[i];
    const real lap = masked_laplacian_at(xi, li, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz);
    relax[i] = mobility * (kappa * lap - barrier * void_g_slope(x)) * li[i];
    q[i] = void_q(x);
}

// Surface diffusion of the void surfaces (Cahn-Hilliard with the degenerate mobility q):
// mu = (W g'(xi) - kappa lap_masked(xi) + wall_energy a xi (1 - xi)) li, a = wall_density the
// SSE face area per volume
extern "C" __global__ void void_chemical_potential(const real* xi, const real* li, const real* wall, real* mu,
                                                   int nx, int ny, int nz, int periodic, real cx, real cy,
                                                   real cz, real kappa, real barrier, real wall_energy) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    const real x = xi[i];
    const real lap = masked_laplacian_at(xi, li, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz);
    mu[i] = (barrier * void_g_slope(x) - kappa * lap + wall_energy * wall[i] * x * (1 - x)) * li[i];
}

// One face's flux K q((xi_i + xi_nb) / 2) (mu_nb - mu_i), added when both nodes are Li side.
__device__ __forceinline__ void add_surface_flux(real& acc, const real* xi, const real* mu, const real* li,
                                                 real xi_i, real mu_i, long long nb, real k) {
    if (li[nb] != 0) acc += k * void_q((xi_i + xi[nb]) * (real)0.5) * (mu[nb] - mu_i);
}

// relax = mobility * sum over Li-Li faces of K q(xi_face) (mu_nb - mu_i), in the order x up,
// x down, y up, y down, z up, z down; 0 off the Li side (the flux form: each void keeps its volume)
extern "C" __global__ void void_surface_diffusion(const real* xi, const real* mu, const real* li, real* relax,
                                                  int nx, int ny, int nz, int periodic, real cx, real cy,
                                                  real cz, real mobility) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    real acc = 0;
    if (li[i] != 0) {
        const long long sx = (long long)ny * nz, sy = nz;
        const bool px = periodic & 1, py = periodic & 2, pz = periodic & 4;
        const real x = xi[i], m = mu[i];
        if (nx > 1) {
            if (ix + 1 < nx || px) add_surface_flux(acc, xi, mu, li, x, m, neighbour_up(ix, nx, px) * sx + iy * sy + iz, cx);
            if (ix > 0 || px) add_surface_flux(acc, xi, mu, li, x, m, neighbour_down(ix, nx, px) * sx + iy * sy + iz, cx);
        }
        if (ny > 1) {
            if (iy + 1 < ny || py) add_surface_flux(acc, xi, mu, li, x, m, ix * sx + neighbour_up(iy, ny, py) * sy + iz, cy);
            if (iy > 0 || py) add_surface_flux(acc, xi, mu, li, x, m, ix * sx + neighbour_down(iy, ny, py) * sy + iz, cy);
        }
        if (nz > 1) {
            if (iz + 1 < nz || pz) add_surface_flux(acc, xi, mu, li, x, m, ix * sx + iy * sy + neighbour_up(iz, nz, pz), cz);
            if (iz > 0 || pz) add_surface_flux(acc, xi, mu, li, x, m, ix * sx + iy * sy + neighbour_down(iz, nz, pz), cz);
        }
    }
    relax[i] = mobility * acc;
}

// The xi update of one step and its exchange with the vacancy field (pointwise):
//   condensed = k_c q(xi) (S - 1) dt
//   closed    = (1 - xi) closure band li,          closure = 1 - exp(-1.5 eps_dot dt) (host)
//   kept      = xi - x_v0 condensed
//   xi_new    = clip(li ? kept + dt (relax - lagrange q(xi)) + closed : 0, 0, 1)
//   exchange  = xi_new - raw  (what clipping removed or added; the relaxation term sums to zero
//               by the choice of lagrange, so xi's rounding is not charged to the vacancies)
extern "C" __global__ void void_update(const real* xi, const real* S, const real* li, const real* band,
                                       const real* relax, real* xi_new, real* exchange, real* closed, int nx,
                                       int ny, int nz, int periodic, real cx, real cy, real cz, real x_v0,
                                       real condensation_rate, real lagrange, real closure, real dt) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    const real x = xi[i], l = li[i];
    const real q = void_q(x);
    const real condensed = condensation_rate * q * (S[i] - 1) * dt;
    const real r = relax[i] - q * lagrange;
    const real cl = (1 - x) * closure * band[i] * l;
    const real kept = x - x_v0 * condensed;
    real raw = kept + dt * r + cl;
    if (l == 0) raw = 0;
    const real clipped = raw < 0 ? (real)0 : (raw > 1 ? (real)1 : raw);
    xi_new[i] = clipped;
    exchange[i] = clipped - raw;
    closed[i] = cl;
}

// Contact weight (1/m) at electrolyte nodes: sum over the faces to Li-side neighbours of
// xi(neighbour) / h, in the order x up, x down, y up, y down, z up, z down; no contact across
// a bounded wall. inv_h* = 1/dx, 1/dy, 1/dz.
__device__ __forceinline__ void add_contact(real& acc, const real* xi, const real* li, long long nb, real inv_h) {
    if (li[nb] != 0) acc += xi[nb] * inv_h;
}

extern "C" __global__ void void_contact_weight(const real* xi, const real* li, real* w, int nx, int ny, int nz,
                                               int periodic, real cx, real cy, real cz, real inv_hx,
                                               real inv_hy, real inv_hz) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    real acc = 0;
    if (li[i] == 0) {
        const long long sx = (long long)ny * nz, sy = nz;
        const bool px = periodic & 1, py = periodic & 2, pz = periodic & 4;
        if (ix + 1 < nx || px) add_contact(acc, xi, li, neighbour_up(ix, nx, px) * sx + iy * sy + iz, inv_hx);
        if (ix > 0 || px) add_contact(acc, xi, li, neighbour_down(ix, nx, px) * sx + iy * sy + iz, inv_hx);
        if (iy + 1 < ny || py) add_contact(acc, xi, li, ix * sx + neighbour_up(iy, ny, py) * sy + iz, inv_hy);
        if (iy > 0 || py) add_contact(acc, xi, li, ix * sx + neighbour_down(iy, ny, py) * sy + iz, inv_hy);
        if (nz > 1) {
            if (iz + 1 < nz || pz) add_contact(acc, xi, li, ix * sx + iy * sy + neighbour_up(iz, nz, pz), inv_hz);
            if (iz > 0 || pz) add_contact(acc, xi, li, ix * sx + iy * sy + neighbour_down(iz, nz, pz), inv_hz);
        }
    }
    w[i] = acc;
}
