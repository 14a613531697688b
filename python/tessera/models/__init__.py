"""Torch modules built on Tessera's ops (torch is needed here only)."""

from .mla import MLA, MLACache

__all__ = ["MLA", "MLACache"]
