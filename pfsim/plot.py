"""Kept for callers of pfsim.plot: the figures are drawn by pfsim.plotting."""

from .plotting import plot_store  # noqa: F401
