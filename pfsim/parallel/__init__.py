"""Multi-process runs over MPI (mpi4py): slabs along x, one rank per GPU or CPU core.

comm      launcher detection, the communicator, collective errors and sums
decomp    the slab layout (rows per rank, aligned to the store's chunks) and the local grids
halo      halo exchange between neighbouring slabs (CUDA-aware MPI or host-staged)
model     a model on its slab: halos exchanged before each rate and sample (it reduces through its extent)
store     one zarr store written by every rank (each its own chunks)
run       the distributed simulation and run driver (`pfsim run` under mpirun or srun)
elliptic  distributed PCG for the problems of pfsim.solvers.elliptic
"""

from .comm import distributed_comm

__all__ = ["distributed_comm"]
