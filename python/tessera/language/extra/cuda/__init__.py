"""``triton.language.extra.cuda``'s path to libdevice."""

from .. import libdevice  # noqa: F401
