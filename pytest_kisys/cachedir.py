"""Damaged cache entries and unusable cache directories: warn, discard, carry on.

Every cache of kisys (index signals, scan results, the malicious-list overlay, the import
cache, the environment lock's fallback) treats damage the same way: the entry is removed with
a :class:`~pytest_kisys.errors.CacheCorruptWarning` and the work is redone. No traceback, and
no check left inconclusive because a cache was bad.
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import sys
import warnings

from pytest_kisys.errors import CacheCorruptWarning


def warn_cache_corrupt(message: str) -> None:
    """Warn that a damaged cache entry was discarded, without ever failing the run.

    A project's ``filterwarnings = error`` turns warnings into exceptions; a damaged cache must
    cost a rescan, not the run, so the warning then goes to stderr instead.
    """
    try:
        warnings.warn(message, CacheCorruptWarning, stacklevel=3)
    except CacheCorruptWarning:
        print(f"CacheCorruptWarning: {message}", file=sys.stderr)


def discard_cache_entry(path: Path, message: str) -> None:
    """Warn with ``message`` (see :func:`warn_cache_corrupt`), then remove the damaged entry
    at ``path``: a file, or a directory found where a file should be."""
    warn_cache_corrupt(message)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        return  # a read-only cache: the entry is ignored all the same


_FALLBACK_CACHE_DIRS: dict[Path, Path] = {}


def usable_cache_dir(path: Path) -> Path:
    """``path`` when it is (or can become) a directory kisys can read and write; otherwise,
    once per process and with a warning, a temporary directory removed at exit."""
    if path in _FALLBACK_CACHE_DIRS:
        return _FALLBACK_CACHE_DIRS[path]
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing == path and path.is_dir():
        problem = None if os.access(path, os.R_OK | os.W_OK | os.X_OK) else "cannot be read or written"
    elif existing == path:
        problem = "is not a directory"
    elif not existing.is_dir():
        problem = f"sits under {existing}, which is not a directory"
    else:
        problem = None if os.access(existing, os.W_OK | os.X_OK) else f"cannot be created in {existing}"
    if problem is None:
        return path
    import atexit
    import tempfile

    fallback = Path(tempfile.mkdtemp(prefix="kisys-cache-"))
    atexit.register(shutil.rmtree, fallback, True)
    _FALLBACK_CACHE_DIRS[path] = fallback
    warn_cache_corrupt(
        f"pytest-kisys: cache_dir {path} {problem}; caching in {fallback} for this run only"
    )
    return fallback
