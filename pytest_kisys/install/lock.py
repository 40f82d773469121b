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
import errno
import hashlib
import os
from pathlib import Path
import sys
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

    An advisory lock on the open file (``flock``, ``msvcrt.locking`` on Windows), as
    ``filelock`` takes it, without importing it (about 15-30 ms on the install path): each
    call opens the file anew, so a second ``environment_lock`` on the same path waits even in
    the same process. The lock goes with the process, whatever way it ends.
    """
    started = time.monotonic()
    fd = _acquire(path, started + timeout)
    if fd is None:
        raise InstallError(
            f"another install into this environment has held {path} for more than "
            f"{timeout:.0f} s; giving up (remove the file if no other test run is active)"
        )
    try:
        yield time.monotonic() - started
    finally:
        _release(fd)


_POLL = 0.05


def _acquire(path: Path, deadline: float) -> int | None:
    """The open, locked descriptor of ``path``; None when the deadline passed first."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locked = _try_lock(fd)
            # Locked a file someone unlinked meanwhile: nobody else would see that lock.
            if locked and os.fstat(fd).st_nlink == 0:
                _release(fd)
                continue
        except BaseException:
            os.close(fd)
            raise
        if locked:
            return fd
        os.close(fd)
        if time.monotonic() >= deadline:
            return None
        time.sleep(_POLL)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True

    def _release(fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        finally:
            os.close(fd)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        return True

    def _release(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
