// Fold-fold anisotropy of an interface (Karma-Rappel): the angle terms shared by
// kernels/anisotropic_allen_cahn_heat.cu and kernels/plating.cu.
#pragma once

// cos and sin of fold theta, theta the direction of (x, y), by fold complex products
// (a zero vector gives c = s = 0)
__device__ __forceinline__ void fold_angle(real x, real y, int fold, real& c, real& s) {
    const real r2 = x * x + y * y;
    const real inv = r2 > 0 ? 1 / sqrt(r2) : (real)0;
    const real c1 = x * inv, s1 = y * inv;
    c = c1;
    s = s1;
    for (int k = 1; k < fold; ++k) {
        const real cn = c * c1 - s * s1;
        const real sn = s * c1 + c * s1;
        c = cn;
        s = sn;
    }
}
