"""CPU harness for pfsim's CUDA kernels (g++ with cuda_shim.h) and shared test cases."""
