"""Linear solvers for the implicit parts of a time step."""

from .elliptic import EllipticProblem, SolveInfo, face_conductivities

__all__ = ["EllipticProblem", "SolveInfo", "face_conductivities"]
