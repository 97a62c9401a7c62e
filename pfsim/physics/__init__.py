"""Physics blocks of the Li | solid-electrolyte interface (see docs/stripping.md)."""
