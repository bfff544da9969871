"""The compiled kernels' cache is stamped with all of the model's sources, not only the kernel's own file.

numba caches a compiled function next to its module (``cache=True``) and reuses it while that one file is
unchanged. A kernel also compiles in the rules it calls from other files (``finance._quote_kernel`` calls
``bank.loan_of`` and ``econ.payment_of``), so an edit to a rule in one file left the kernels of other files
running the old rule, silently, until their own file changed (found 2026-12-05 by planting bugs in bank.py). Here
every function compiled from ``simmodel/model`` is stamped with the hash of every source file there: an edit
anywhere in the model recompiles all of its kernels (about 10 s, once).

This uses numba's cache locator classes (``numba.core.caching.CacheImpl``), an internal interface of the pinned
numba (pyproject.toml); tests/test_determinism.py checks that an edit in one file reaches a kernel of another.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from numba.core import caching

MODEL = Path(__file__).resolve().parent / "model"


def _model_sources() -> list[Path]:
    return sorted(MODEL.rglob("*.py"))


def model_stamp() -> bytes:
    """SHA-256 over every model source's path and content (each file's hash memoised by numba on its mtime and
    size)."""
    h = hashlib.sha256()
    for path in _model_sources():
        st = os.stat(path)
        h.update(str(path.relative_to(MODEL)).encode())
        h.update(caching._hash_source_file(str(path), st.st_mtime, st.st_size))
    return h.digest()


def _in_model(py_file: str) -> bool:
    try:
        return Path(py_file).resolve().is_relative_to(MODEL)
    except OSError:
        return False


def _model_locator(base):
    class Locator(base):
        def get_source_stamp(self):
            return model_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            return super().from_function(py_func, py_file) if _in_model(py_file) else None

    Locator.__name__ = Locator.__qualname__ = f"Model{base.__name__}"
    return Locator


def install() -> None:
    """Put the model's locators (the same places as numba's own: NUMBA_CACHE_DIR, the module's __pycache__, the
    user's cache) before numba's. Idempotent; must run before the model's modules are imported."""
    impl = caching.CacheImpl
    if any(getattr(c, "_simmodel", False) for c in impl._locator_classes):
        return
    ours = []
    for base in (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator):
        loc = _model_locator(base)
        loc._simmodel = True
        ours.append(loc)
    impl._locator_classes = ours + list(impl._locator_classes)
