"""The on-disk kernel cache.

Each entry is a folder named by the hex key, holding the compiled binary and a
JSON record with its SHA-256. An entry is written in a temporary folder and
renamed into place, so readers never see half of one; an entry whose checksum
does not match is ignored and removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile


def cache_dir() -> str:
    path = os.environ.get("TESSERA_CACHE_DIR")
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "tessera")
    return path


def enabled() -> bool:
    return os.environ.get("TESSERA_CACHE", "1") != "0"


def _entry(key: str) -> str:
    return os.path.join(cache_dir(), key[:2], key)


def load(key: str):
    """(binary bytes, metadata dict) for ``key``, or None."""
    if not enabled():
        return None
    path = _entry(key)
    if not os.path.isdir(path):
        return None
    # Entries appear whole (renamed into place), so one that is there but
    # cannot be read, or whose checksum fails, was damaged after it was
    # written (a truncated or edited file, a disk error): it is removed so
    # that the next store writes a good one, and never served.
    try:
        with open(os.path.join(path, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        if not isinstance(meta, dict) or os.path.basename(str(meta["binary"])) != meta["binary"]:
            raise ValueError("malformed record")
        with open(os.path.join(path, meta["binary"]), "rb") as f:
            binary = f.read()
    except (OSError, ValueError, KeyError, TypeError):
        _remove(path)
        return None
    if hashlib.sha256(binary).hexdigest() != meta.get("sha256"):
        _remove(path)
        return None
    return binary, meta


def _remove(path: str) -> None:
    """Removes a damaged entry: renamed aside first (atomic), so a
    concurrent store can put a good entry in its place at once."""
    aside = f"{path}.bad-{os.getpid()}-{id(path)}"
    try:
        os.rename(path, aside)
    except OSError:
        return  # already gone (another process removed it)
    shutil.rmtree(aside, ignore_errors=True)


def store(key: str, binary: bytes, meta: dict, filename: str = "kernel.bin") -> None:
    if not enabled():
        return
    final = _entry(key)
    if os.path.isdir(final):
        return
    parent = os.path.dirname(final)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    except OSError:
        return  # an unwritable cache only costs a recompile
    try:
        meta = dict(meta, binary=filename, sha256=hashlib.sha256(binary).hexdigest())
        with open(os.path.join(tmp, filename), "wb") as f:
            f.write(binary)
        with open(os.path.join(tmp, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f)
        os.rename(tmp, final)
    except OSError:
        pass  # another process won the race, or the disk is full
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
