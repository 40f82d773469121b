"""Small project trees for the scanner tests: write files, and settings with a cache beside them.

The cache directory sits next to the tree (``<root>-cache``) so it is never part of the scan.
"""

from __future__ import annotations

from pathlib import Path

from pytest_kisys.settings import Settings


def write(root: Path, files: dict[str, str]) -> None:
    """Write each ``relative path -> text`` below ``root``, creating directories."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def settings(root: Path, **kw: object) -> Settings:
    """Settings for a scan of ``root`` with its own cache directory beside it."""
    return Settings(rootdir=root, cache_dir=root.parent / f"{root.name}-cache", **kw)  # type: ignore[arg-type]
