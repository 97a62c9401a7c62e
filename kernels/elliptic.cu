// Matrix-free elliptic operator and its smoothers; NumPy twins in pfsim/kernels/elliptic.py
// (_Level.apply_numpy, _Level.relax_rb_numpy, _Level.relax_jacobi_numpy).
//
//   (A u)_i = c_i u_i + sum over the faces f of node i of K_f (u_i - u_nb)    active node
//   (A u)_i = u_i                                                             inactive node
//
// Face conductances K = k_f / h^2 are stored per axis and node: K_a[i] couples node i with
// node i+1 along axis a, wrapping round at the end. A bounded axis stores K_a[n-1] = 0, so
// every axis is indexed as if periodic. cdiag holds c on active nodes and -1 on inactive
// ones. Fields are C-ordered [x][y][z], one thread per node; nz = 1 in 2D (kz never read).
#include "stencil.cuh"

__device__ __forceinline__ int wrap_up(int i, int n) { return i + 1 < n ? i + 1 : 0; }
__device__ __forceinline__ int wrap_down(int i, int n) { return i > 0 ? i - 1 : n - 1; }

// The 2*ndim neighbours of a node and the faces leading to them, in the order
// x up, x down, y up, y down (, z up, z down): the order of every sum below.
struct Stencil {
    long long nb[6], face[6];
    int count;
};

__device__ __forceinline__ Stencil stencil_of(int ix, int iy, int iz, int nx, int ny, int nz) {
    const long long sx = (long long)ny * nz, sy = nz;
    const long long i = ix * sx + iy * sy + iz;
    Stencil s;
    s.count = nz > 1 ? 6 : 4;
    s.nb[0] = wrap_up(ix, nx) * sx + iy * sy + iz;
    s.nb[1] = wrap_down(ix, nx) * sx + iy * sy + iz;
    s.nb[2] = ix * sx + wrap_up(iy, ny) * sy + iz;
    s.nb[3] = ix * sx + wrap_down(iy, ny) * sy + iz;
    s.nb[4] = i - iz + wrap_up(iz, nz);
    s.nb[5] = i - iz + wrap_down(iz, nz);
    for (int f = 0; f < 6; f += 2) {
        s.face[f] = i;              // the face up is stored at the node itself
        s.face[f + 1] = s.nb[f + 1];  // the face down at the neighbour below
    }
    return s;
}

__device__ __forceinline__ const real* faces_along(int f, const real* kx, const real* ky, const real* kz) {
    return f < 2 ? kx : (f < 4 ? ky : kz);
}

// The node's value that solves its own row with the neighbours held: (b + sum K u_nb) / (c + sum K).
__device__ __forceinline__ real relaxed_at(const real* u, real b, real c, const Stencil& s, const real* kx,
                                           const real* ky, const real* kz) {
    real ksum = 0, ku = 0;
    for (int f = 0; f < s.count; ++f) {
        const real k = faces_along(f, kx, ky, kz)[s.face[f]];
        ksum += k;
        ku += k * u[s.nb[f]];
    }
    return (b + ku) / (c + ksum);
}

// out = A u (out must not alias u)
extern "C" __global__ void elliptic_apply(const real* u, real* out, const real* kx, const real* ky,
                                          const real* kz, const real* cdiag, int nx, int ny, int nz) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    const real c = cdiag[i], ui = u[i];
    if (c < 0) {
        out[i] = ui;
        return;
    }
    const Stencil s = stencil_of(ix, iy, iz, nx, ny, nz);
    real acc = c * ui;
    for (int f = 0; f < s.count; ++f) acc += faces_along(f, kx, ky, kz)[s.face[f]] * (ui - u[s.nb[f]]);
    out[i] = acc;
}

// One Gauss-Seidel half sweep, in place: the nodes with (ix + iy + iz) % 2 == colour. Valid
// when the colours are independent sets, i.e. every periodic axis has an even node count.
extern "C" __global__ void elliptic_smooth_rb(real* u, const real* b, const real* kx, const real* ky,
                                              const real* kz, const real* cdiag, int nx, int ny, int nz,
                                              int colour) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    if (((ix + iy + iz) & 1) != colour) return;
    const real c = cdiag[i];
    if (c < 0) {
        u[i] = b[i];
        return;
    }
    u[i] = relaxed_at(u, b[i], c, stencil_of(ix, iy, iz, nx, ny, nz), kx, ky, kz);
}

// One weighted-Jacobi sweep: out = u + omega (relaxed - u) (out must not alias u).
extern "C" __global__ void elliptic_smooth_jacobi(const real* u, const real* b, real* out, const real* kx,
                                                  const real* ky, const real* kz, const real* cdiag, int nx,
                                                  int ny, int nz, real omega) {
    int ix, iy, iz;
    long long i;
    if (!node_of_thread((long long)nx * ny * nz, ny, nz, ix, iy, iz, i)) return;
    const real c = cdiag[i], ui = u[i];
    if (c < 0) {
        out[i] = b[i];
        return;
    }
    out[i] = ui + omega * (relaxed_at(u, b[i], c, stencil_of(ix, iy, iz, nx, ny, nz), kx, ky, kz) - ui);
}
