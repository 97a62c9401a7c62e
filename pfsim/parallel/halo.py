"""Halo exchange between neighbouring slabs.

Rows along x are contiguous in C order, so a rank's first and last `halo` owned rows and its
ghost rows are contiguous buffers: MPI sends and receives them in place. On a GPU they go
straight from device memory when the MPI library is CUDA-aware (`comm.cuda_aware`), otherwise
through host copies.
"""

import numpy as np

from .comm import cuda_aware

UP, DOWN = 11, 12  # message tags: rows travelling to higher / lower ranks


class HaloExchange:
    def __init__(self, comm, layout, backend):
        from mpi4py import MPI

        self.comm, self.layout, self.backend = comm, layout, backend
        r, p = comm.rank, comm.size
        self.lo, self.hi = layout.ghosts(r)
        self.count = layout.counts[r]
        wrap = layout.periodic
        self.below = (r - 1) % p if (wrap or r > 0) else MPI.PROC_NULL
        self.above = (r + 1) % p if (wrap or r < p - 1) else MPI.PROC_NULL
        self.device_buffers = backend.is_gpu and cuda_aware()

    @property
    def mode(self) -> str:
        if not self.backend.is_gpu:
            return "host"
        return "cuda-aware" if self.device_buffers else "host-staged"

    def exchange(self, arrays):
        """Fill the ghost rows of each padded array from the neighbouring ranks' owned rows."""
        if self.layout.halo == 0:
            return
        for a in arrays:
            g, lo, n = self.layout.halo, self.lo, self.count
            first, last = a[lo : lo + g], a[lo + n - g : lo + n]
            ghost_lo, ghost_hi = a[:lo], a[lo + n :]
            self._sendrecv(last, self.above, ghost_lo, self.below, UP)
            self._sendrecv(first, self.below, ghost_hi, self.above, DOWN)

    def _sendrecv(self, send, dest, recv, source, tag):
        xp = self.backend.xp
        if self.mode == "host-staged":
            host = np.empty(recv.shape, dtype=recv.dtype)
            self.comm.Sendrecv(xp.asnumpy(send), dest, tag, host, source, tag)
            if recv.size:
                recv[...] = xp.asarray(host)
            return
        if self.device_buffers:
            xp.cuda.get_current_stream().synchronize()  # the rows must be computed before MPI reads them
        self.comm.Sendrecv(send, dest, tag, recv, source, tag)
