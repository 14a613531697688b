"""Kernels Tessera's graph-level ops run, written in the DSL."""
