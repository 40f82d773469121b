"""``pyproject.toml`` read and parsed once per run, for everyone who needs a part of it.

Settings (``[tool.kisys]``), first-party detection (``[project] name``) and the code check
(``[tool.bandit]``) all call :func:`read_pyproject_toml`; the file is parsed once per version
(path, size and modification time), so a run parses it once, and ``--kisys-learn`` editing it
makes the next read see the edit.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
import tomllib
from typing import Any


__all__ = ["read_pyproject_toml"]


def read_pyproject_toml(rootdir: Path) -> dict[str, Any] | None:
    """The parsed ``rootdir/pyproject.toml`` (a copy the caller may change), or None if absent.

    :raises tomllib.TOMLDecodeError: invalid TOML.
    :raises UnicodeDecodeError: not UTF-8.
    :raises OSError: the file exists but cannot be read.
    """
    path = rootdir / "pyproject.toml"
    try:
        stat = path.stat()
    except OSError:
        return None
    return copy.deepcopy(_parsed(str(path), stat.st_size, stat.st_mtime_ns))


@lru_cache(maxsize=8)
def _parsed(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    del size, mtime_ns  # part of the cache key only
    return tomllib.loads(Path(path).read_text(encoding="utf-8"))
