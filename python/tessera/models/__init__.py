"""Torch modules built on Tessera's ops (torch is needed here only)."""

from .mla import MLA, MLACache
from .wan import WanBlock

__all__ = ["MLA", "MLACache", "WanBlock"]
