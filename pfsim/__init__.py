"""pfsim: phase-field simulation of the lithium-metal | solid-electrolyte interface."""

__version__ = "0.1.0"
