"""The communicator, and the two rules that keep ranks in step.

1. Errors are collective: `collective(comm, fn)` runs fn and, if it failed on any rank, raises
   on every rank (the lowest failing rank's message), so no rank is left waiting in a
   collective call that the others never reach.
2. Sums are deterministic: `global_sums` gathers each rank's partial sums and adds them in rank
   order, so every rank gets the same bits (loop decisions agree) and reruns repeat them.

mpi4py is imported only when the process was launched as one of several ranks (or asked to
be with --mpi), so single-process runs never need MPI.
"""

import ctypes
import os
import sys

import numpy as np

from ..errors import PfsimError

# set by the launchers to the number of processes started (Open MPI, MPICH/Hydra and PMI, MVAPICH, srun)
SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")


class ParallelError(PfsimError):
    """A multi-process run that cannot start as asked (exit code 2)."""

    exit_code = 2


class RankError(PfsimError):
    """An error raised on every rank because one rank failed; exit code of the original."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


def launched_size() -> tuple[int, str]:
    """(processes started by the launcher, the variable that says so); (1, '') when not launched."""
    for var in SIZE_VARS:
        try:
            n = int(os.environ.get(var, "1"))
        except ValueError:
            continue
        if n > 1:
            return n, var
    return 1, ""


def distributed_comm(force=False):
    """MPI.COMM_WORLD when this run is to be decomposed, else None.

    Decomposed when the launcher started more than one process, or when force (--mpi) is given.
    """
    n, var = launched_size()
    if n <= 1 and not force:
        return None
    try:
        from mpi4py import MPI
    except Exception as exc:  # ImportError, or an mpi4py that finds no MPI library
        why = f"{var}={n}" if n > 1 else "--mpi"
        raise ParallelError(f"{why}: a multi-process run needs mpi4py and an MPI library "
                            f"(pip install 'pfsim[mpi]'): {type(exc).__name__}: {exc}") from None
    comm = MPI.COMM_WORLD
    if comm.size == 1 and n > 1:
        print(f"[pfsim] {var}={n} but MPI sees one rank (launcher without MPI support, e.g. srun "
              "without --mpi=pmix?); running on this process alone", file=sys.stderr, flush=True)
        return comm if force else None
    return comm


def collective(comm, fn, root_only=False):
    """fn() on every rank (or on rank 0 only); if it raised anywhere, raise on every rank."""
    result, failure = None, None
    if comm.rank == 0 or not root_only:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - every error must reach the other ranks
            failure = exc
    report = None if failure is None else (str(failure) or type(failure).__name__, getattr(failure, "exit_code", 1))
    reports = comm.allgather(report)
    for rank, rep in enumerate(reports):
        if rep is not None:
            message = rep[0] if rank == 0 else f"rank {rank}: {rep[0]}"
            raise RankError(message, rep[1]) from failure
    return result


def global_sums(comm, values) -> np.ndarray:
    """Sums over ranks of each rank's float64 `values`, added in rank order (the same on every rank)."""
    local = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    every = np.empty((comm.size, local.size))
    comm.Allgather(local, every)
    total = every[0].copy()
    for row in every[1:]:
        total += row
    return total


def use_node_gpu(comm):
    """Bind to GPU (node rank: this rank's index among the ranks on its node, mod visible GPUs);
    with one visible GPU per rank (srun --gpus-per-task=1) that is device 0. Nothing happens
    without CuPy or a device."""
    try:
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no CuPy, no driver, no device
        return
    if n > 1:
        from mpi4py import MPI

        local = comm.Split_type(MPI.COMM_TYPE_SHARED)
        rank = local.rank
        local.Free()
        cupy.cuda.Device(rank % n).use()


def cuda_aware() -> bool:
    """Whether MPI may be handed device buffers: PFSIM_MPI_CUDA_AWARE=1/0 decides if set,
    else the library's own answer (Open MPI's MPIX_Query_cuda_support, MPICH's
    MPIX_GPU_query_support); False when neither answers."""
    env = os.environ.get("PFSIM_MPI_CUDA_AWARE")
    if env in ("0", "1"):
        return env == "1"
    lib = ctypes.CDLL(None)  # the MPI library is loaded by mpi4py by now
    try:
        return bool(lib.MPIX_Query_cuda_support())
    except AttributeError:
        pass
    try:
        supported = ctypes.c_int(0)
        lib.MPIX_GPU_query_support(ctypes.c_int(1), ctypes.byref(supported))  # MPIX_GPU_SUPPORT_CUDA
        return bool(supported.value)
    except AttributeError:
        return False
