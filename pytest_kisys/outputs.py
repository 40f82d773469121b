"""Writing kisys's output files (reports, SARIF, SBOM) without ever replacing a special file.

A report path may name a regular file (replaced atomically, so a reader never sees half a
report), a symlink (the file it points to is replaced, the link stays), or something that is not
a regular file at all: ``/dev/null``, ``/dev/full``, a FIFO, ``/proc/self/fd/1``. Those are
written *through*, like the trace file and the log file, and never turned into a regular file:
replacing ``/dev/full`` as root breaks it for the whole machine.

New files get the mode the umask allows, like any other output; a file that exists keeps its
mode. Every failure is an :class:`OutputError` naming the path.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
import stat
from typing import TYPE_CHECKING

from pytest_kisys.atomic import write_atomic
from pytest_kisys.errors import KisysError


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings


class OutputError(KisysError):
    """An output file could not be written; the message names the path and the reason."""


def _umask_mode() -> int:
    """``0o666`` less the process umask (what ``open(path, "w")`` would create)."""
    current = os.umask(0o022)
    os.umask(current)
    return 0o666 & ~current


def _write_through(path: Path, data: bytes) -> None:
    """Write ``data`` to a device, FIFO or other non-regular file without replacing it."""
    try:
        # O_NONBLOCK: a FIFO nobody reads fails at once (ENXIO) instead of hanging the run.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OutputError(f"cannot write {path}: it is a FIFO with no reader") from exc
        raise OutputError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def _replace_atomically(path: Path, data: bytes, mode: int) -> None:
    try:
        write_atomic(path, data, mode=mode)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_output(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to the output file ``path`` (see the module docstring)."""
    data = text.encode("utf-8")
    try:
        st = os.stat(path)  # follows symlinks: what matters is what the path reaches
    except FileNotFoundError:
        st = None
    except NotADirectoryError as exc:
        raise OutputError(f"cannot write {path}: a parent is not a directory") from exc
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from exc
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {path}: it is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_through(path, data)
        return
    # A symlink keeps pointing where it did: the file it reaches is replaced.
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    mode = stat.S_IMODE(st.st_mode) if st is not None else _umask_mode()
    _replace_atomically(target, data, mode)


def check_output_path(path: Path, what: str) -> None:
    """Raise :class:`OutputError` now when ``path`` could not be written at the end of the run.

    Nothing is created: a directory, an unwritable file, or a parent that is a file or cannot
    be written is reported before any test runs, naming ``what`` (the setting) and the path.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:
        raise OutputError(f"{what} {path} cannot be written: {exc.strerror}") from exc
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{what} {path} cannot be written: it is a directory")
        if not os.access(path, os.W_OK):
            raise OutputError(f"{what} {path} cannot be written: permission denied")
        return
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{what} {path} cannot be written: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path} cannot be written: directory {parent} is not writable")


def output_paths(settings: Settings) -> list[tuple[str, Path]]:
    """Every file the run will write, by setting name, made absolute against ``rootdir``."""
    named: list[tuple[str, Path | None]] = [
        ("report", settings.report),
        ("sarif", settings.sarif),
        ("sbom", settings.sbom),
        ("log_file", settings.log_file),
        ("html", settings.html),
    ]
    if settings.trace.startswith("file:"):
        named.append(("trace", Path(settings.trace[len("file:"):]).expanduser()))
    return [
        (name, path if path.is_absolute() else settings.rootdir / path)
        for name, path in named
        if path is not None
    ]


def check_output_paths(settings: Settings) -> None:
    """:func:`check_output_path` for each of :func:`output_paths`."""
    for name, path in output_paths(settings):
        check_output_path(path, name)
