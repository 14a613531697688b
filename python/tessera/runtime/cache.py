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
    try:
        with open(os.path.join(path, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        with open(os.path.join(path, meta["binary"]), "rb") as f:
            binary = f.read()
    except (OSError, ValueError, KeyError):
        return None
    if hashlib.sha256(binary).hexdigest() != meta.get("sha256"):
        shutil.rmtree(path, ignore_errors=True)
        return None
    return binary, meta


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
