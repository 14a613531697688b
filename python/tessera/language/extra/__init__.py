"""``tl.extra``: as ``triton.language.extra``, the device library's
functions (``from tessera.language.extra import libdevice``)."""

from . import libdevice  # noqa: F401
