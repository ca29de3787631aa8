"""Typed models of the catalog: one module per source kind, the shared parts in `base`."""
