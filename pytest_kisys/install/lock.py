"""One inter-process lock per target environment.

Two pytest runs in the same virtualenv, or the controller and the workers of an xdist run,
take the same lock before they look at what is missing; whoever comes second re-checks and
usually finds nothing left to do. The lock file lives in the environment's site-packages,
so it is shared by everyone who installs there; when that is read-only it falls back to the
user's cache directory, keyed by the site-packages path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import hashlib
import os
from pathlib import Path
import time

from pytest_kisys.cachedir import warn_cache_corrupt
from pytest_kisys.errors import InstallError


LOCK_NAME = ".pytest-kisys.lock"


def lock_path(site_dir: Path, cache_dir: Path) -> Path:
    """Where the lock for the environment owning ``site_dir`` lives.

    A directory where the lock file should be (nobody's lock: it cannot be one) is removed
    when empty, with a warning; otherwise the cache-directory lock is used.
    """
    if os.access(site_dir, os.W_OK):
        path = site_dir / LOCK_NAME
        if not (path.is_dir() and not path.is_symlink()):
            return path
        try:
            path.rmdir()
        except OSError:
            warn_cache_corrupt(f"pytest-kisys: {path} is a directory; locking in {cache_dir}")
        else:
            warn_cache_corrupt(f"pytest-kisys: discarded {path}, an empty directory, not a lock")
            return path
    digest = hashlib.sha256(str(site_dir).encode()).hexdigest()[:16]
    cache_dir.mkdir(parents=True, exist_ok=True)
    return cache_dir / f"env-{digest}.lock"


@contextmanager
def environment_lock(path: Path, timeout: float) -> Iterator[float]:
    """Hold the lock at ``path``; yields the seconds spent waiting for it.

    Raises :class:`InstallError` naming the lock file when it cannot be had within
    ``timeout`` seconds (another install is stuck, or a stale process holds it).
    """
    import filelock  # imports asyncio (about 80 ms): only when an install really takes the lock

    lock = filelock.FileLock(str(path))
    started = time.monotonic()
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout as exc:
        raise InstallError(
            f"another install into this environment has held {path} for more than "
            f"{timeout:.0f} s; giving up (remove the file if no other test run is active)"
        ) from exc
    try:
        yield time.monotonic() - started
    finally:
        lock.release()
