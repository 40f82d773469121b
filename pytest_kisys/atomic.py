"""The one way kisys replaces a file: a temporary file in the same directory, then a rename.

A reader never sees half a file; a failed write leaves the old file and no temporary behind.
Caches, the malicious-name overlay and report outputs all write through :func:`write_atomic`.
"""

from __future__ import annotations

import os
from pathlib import Path
import tempfile


__all__ = ["write_atomic"]


def write_atomic(path: Path, data: str | bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` (text is UTF-8), creating its directory if needed.

    :param mode: permission bits of the new file (default: ``mkstemp``'s private 0600).
    :raises OSError: when the directory or the file cannot be written; nothing is left behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
