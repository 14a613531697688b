"""pytest setup: import tessera from the build tree.

The build directory is $TESSERA_BUILD_DIR, or build/ at the top of the
checkout; its python/ folder holds the package with the compiled extension.
"""

import os
import pathlib
import sys
import tempfile

import pytest

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_BUILD = pathlib.Path(os.environ.get("TESSERA_BUILD_DIR", _ROOT / "build"))
sys.path.insert(0, str(_BUILD / "python"))
# Tests compile into their own cache, never the user's.
os.environ.setdefault("TESSERA_CACHE_DIR", tempfile.mkdtemp(prefix="tessera-test-cache-"))


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU (skipped without one)")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh, enabled disk cache for one test."""
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TESSERA_CACHE", "1")
    return tmp_path
