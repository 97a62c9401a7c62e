// Lets the unmodified kernels/*.cu compile as plain C++ (g++ -include cuda_shim.h), so a
// CPU harness (tests/cuda_shim/harness.py) can run each kernel body once per
// (blockIdx.x, threadIdx.x) pair, serially, exactly as the launch grid would on a GPU.
#pragma once

#include <cmath>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};

// Set by the generated launchers before each call of a kernel body.
inline thread_local dim3 blockIdx, threadIdx, blockDim, gridDim;

// CUDA's math functions are overloaded for float and double; std:: gives the same set.
using std::cos;
using std::cosh;
using std::sin;
using std::sqrt;
using std::tanh;
