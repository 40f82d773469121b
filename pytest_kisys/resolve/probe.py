"""Probes of the environment under test: is a module importable, which version is installed.

Nothing here imports third-party code.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
from pathlib import Path
import sys


__all__ = ["installed_version", "module_importable"]


def module_importable(name: str) -> bool:
    """Whether ``import name`` would find something, without importing third-party code.

    Only the top-level module is looked up with :func:`importlib.util.find_spec`; for a
    namespace package (``google.protobuf``) the next component is looked for on disk in the
    namespace's portions, because ``find_spec`` of a dotted name imports its parents.
    """
    top, _, rest = name.partition(".")
    if top in sys.modules and not rest:
        return True
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    if not rest or spec.origin not in (None, "namespace"):
        return True
    child = rest.split(".", 1)[0]
    suffixes = importlib.machinery.all_suffixes()
    for location in spec.submodule_search_locations or ():
        base = Path(location) / child
        if base.is_dir() or any(base.with_name(child + s).exists() for s in suffixes):
            return True
    return False


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
