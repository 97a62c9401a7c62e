// Shared stencil of pfsim's CUDA kernels; the NumPy twin is pfsim/stencil.py.
//
// Fields are C-ordered arrays indexed [x][y][z] (nz = 1 in 2D), one thread per node.
// Boundary code: bit a of `periodic` set -> axis a wraps around; clear -> the neighbour
// across the wall mirrors the first interior node (ghost[-1] = f[1]), i.e. zero gradient.
// Dirichlet walls use the mirror too and are reset by the caller after each update.
#pragma once

#ifndef REAL
#define REAL double
#endif
typedef REAL real;

__device__ __forceinline__ int neighbour_up(int i, int n, bool periodic) {
    if (n == 1) return 0;
    if (i + 1 < n) return i + 1;
    return periodic ? 0 : n - 2;
}

__device__ __forceinline__ int neighbour_down(int i, int n, bool periodic) {
    if (n == 1) return 0;
    if (i > 0) return i - 1;
    return periodic ? n - 1 : 1;
}

// 5-point (2D) or 7-point (3D) Laplacian at node (ix, iy, iz) of any node function g(jx, jy, jz):
// a field read (laplacian_at) or a value computed from fields (the fused Cahn-Hilliard step
// takes the Laplacian of mu computed at the neighbours). cx = 1/dx^2 etc.
// The sum is taken in the same order as pfsim.stencil.laplacian.
template <typename G>
__device__ __forceinline__ real laplacian_of(G g, int ix, int iy, int iz, int nx, int ny, int nz,
                                             int periodic, real cx, real cy, real cz) {
    real acc = -2 * (cx + cy + cz) * g(ix, iy, iz);
    if (cx != 0) {  // cx = 0: the uncoupled member axis of an ensemble (pfsim/ensemble.py)
        acc += cx * g(neighbour_up(ix, nx, periodic & 1), iy, iz);
        acc += cx * g(neighbour_down(ix, nx, periodic & 1), iy, iz);
    }
    acc += cy * g(ix, neighbour_up(iy, ny, periodic & 2), iz);
    acc += cy * g(ix, neighbour_down(iy, ny, periodic & 2), iz);
    if (nz > 1) {
        acc += cz * g(ix, iy, neighbour_up(iz, nz, periodic & 4));
        acc += cz * g(ix, iy, neighbour_down(iz, nz, periodic & 4));
    }
    return acc;
}

__device__ __forceinline__ real laplacian_at(const real* f, int ix, int iy, int iz, int nx, int ny,
                                             int nz, int periodic, real cx, real cy, real cz) {
    const long long sx = (long long)ny * nz, sy = nz;
    auto value = [&](int jx, int jy, int jz) { return f[jx * sx + jy * sy + jz]; };
    return laplacian_of(value, ix, iy, iz, nx, ny, nz, periodic, cx, cy, cz);
}

// Thread -> node; returns false for threads past the end.
__device__ __forceinline__ bool node_of_thread(long long n, int ny, int nz, int& ix, int& iy, int& iz,
                                               long long& idx) {
    idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n) return false;
    iz = (int)(idx % nz);
    iy = (int)((idx / nz) % ny);
    ix = (int)(idx / ((long long)ny * nz));
    return true;
}
