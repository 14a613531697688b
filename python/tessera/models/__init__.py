"""Torch modules built on Tessera's ops (torch is needed here only)."""

from .mla import MLA, MLACache, TensorParallelMLA
from .rar import RAR
from .t2i import SpatialTransformer
from .videomaker import ReferenceInjection
from .wan import WanBlock

__all__ = ["MLA", "MLACache", "RAR", "ReferenceInjection", "SpatialTransformer", "TensorParallelMLA",
           "WanBlock"]
