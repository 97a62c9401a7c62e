"""Flexible preconditioned conjugate gradients, written once for every elliptic solver.

The operator, the preconditioner, the dot products and the norms are passed in, so the same
loop serves the matrix-free multigrid on one grid (pfsim.solvers.elliptic), its slab-decomposed
form (dot products summed across ranks, pfsim.parallel.elliptic) and the algebraic multigrid of
the CPU path (pfsim.solvers.sparse).
"""

from dataclasses import dataclass


@dataclass
class SolveInfo:
    iterations: int
    residual: float  # ||b - A u|| / ||b||, from the final u
    converged: bool  # the residual of the chosen criterion is <= rtol
    scaled_residual: float  # ||D^-1 (b - A u)|| / ||D^-1 b||, D = diag(A): the default criterion


class RestartStall:
    """Called with the true residual each time the recursive one has reached rtol: True when
    the true one is still above rtol and has not halved since the previous check.

    A problem's rounding floor can lie above the precision's RTOL_FLOOR: the vacancy problem of
    the stripping model couples 1/dt to D/h^2 about 1e9 times larger, and its first solve of
    configs/void_stripping.yaml reaches a scaled residual of 1.9e-9, not the 1e-9 asked (the
    recursive residual falls to 1e-10, the recomputed one stays at 1.9e-9). Without this exit
    CG restarted there until maxiter: 500 iterations where 12 do.
    """

    def __init__(self, rtol):
        self.rtol, self.previous = rtol, None

    def __call__(self, res):
        stalled = res > self.rtol and self.previous is not None and res > 0.5 * self.previous
        self.previous = res
        return stalled


def flexible_cg(apply, precondition, dots, norm, b, u, rtol, maxiter, bnorm=None):
    """Solve A u = b from u (updated in place); returns (u, iterations).

    apply(x): A x, a new array. precondition(r): z ~ A^-1 r. dots(*pairs): [x . y] for each
    pair (one reduction for all of them where that matters). norm(x): the norm of the stopping
    criterion. Stops when norm(b - A u) <= rtol bnorm (bnorm: norm(b) unless given), with the residual recomputed from u
    (CG restarts from it if the recursive one has drifted), or at the problem's rounding floor
    (RestartStall), or after maxiter iterations.

    Flexible CG: beta = z.(r - r_prev) / rz_prev, with r - r_prev = -alpha q. For a symmetric
    preconditioner it equals rz_new / rz_prev; a multigrid V-cycle is symmetric only up to the
    coarse levels' rounding, and at conductivity contrasts of 1e10 and more that asymmetry
    stalls the classical update (Notay, SIAM J. Sci. Comput. 2000).
    """
    bnorm = norm(b) if bnorm is None else bnorm
    r = b - apply(u)
    res, it, p, rz = norm(r) / bnorm, 0, None, None
    alpha = q = None  # the previous step's, once there is one (p set)
    stalled = RestartStall(rtol)
    while res > rtol and it < maxiter:
        z = precondition(r)
        if p is None:
            rz_new = float(dots((r, z))[0])
        else:
            rz_new, zq = (float(v) for v in dots((r, z), (z, q)))
        if rz_new == 0:  # the residual is at the rounding floor: no direction left to search
            break
        if p is None:
            p = z
        else:  # p = z - beta p, in place
            p *= -(alpha * zq / rz)
            p += z
        z = q = None
        rz = rz_new
        q = apply(p)
        pq = float(dots((p, q))[0])
        if pq == 0:  # p in the null space of a singular A (an incompatible b): no step left to take
            break
        alpha = rz / pq
        u += alpha * p
        r -= alpha * q
        it += 1
        res = norm(r) / bnorm
        if res <= rtol:
            r = b - apply(u)
            res, p = norm(r) / bnorm, None
            if stalled(res):
                break
    return u, it
