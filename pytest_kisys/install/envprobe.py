"""Describe a Python environment: where it installs, what it has, whether it may be changed.

Standard library only, because it also runs as a script inside the *target* interpreter
(``python envprobe.py``), which may not be able to import pytest-kisys at all.
"""

from __future__ import annotations

import configparser
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import sysconfig
from typing import Any


def _externally_managed() -> str | None:
    """The ``[externally-managed] Error`` text of a PEP 668 environment, or None."""
    if sys.prefix != sys.base_prefix:
        return None
    stdlib = sysconfig.get_path("stdlib", sysconfig.get_default_scheme())
    marker = os.path.join(stdlib, "EXTERNALLY-MANAGED")
    if not os.path.isfile(marker):
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(marker, encoding="utf-8")
        text = parser.get("externally-managed", "Error", fallback="")
    except (configparser.Error, OSError, UnicodeDecodeError):
        text = ""
    return text or "this Python installation is managed by the operating system (PEP 668)"


def site_stamp(site_dirs: list[str]) -> str:
    """A digest of the ``*.dist-info`` names in ``site_dirs``: changes with every (un)install."""
    digest = hashlib.sha256()
    for directory in site_dirs:
        try:
            names = sorted(n for n in os.listdir(directory) if n.endswith(".dist-info"))
        except OSError:
            names = []
        digest.update("\0".join([directory, *names]).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def probe() -> dict[str, Any]:
    """A JSON-able description of the running interpreter's environment."""
    paths = sysconfig.get_paths()
    site_dirs = (
        [paths["purelib"]] if paths["purelib"] == paths["platlib"] else [paths["purelib"], paths["platlib"]]
    )
    # Taken first: an install changes this, so the description can be checked for staleness.
    stamp = site_stamp(site_dirs)
    dists: list[dict[str, Any]] = []
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        key = name.lower().replace("_", "-").replace(".", "-")
        if key in seen:
            # Earlier sys.path entries shadow later ones, as for imports.
            continue
        seen.add(key)
        location = getattr(dist, "_path", None)
        dists.append(
            {
                "name": name,
                "version": dist.version,
                "path": str(location) if location is not None else None,
                "requires": list(dist.requires or ()),
            }
        )
    return {
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "purelib": paths["purelib"],
        "platlib": paths["platlib"],
        "scripts": paths["scripts"],
        "externally_managed": _externally_managed(),
        "stamp": stamp,
        "has_pip": importlib.util.find_spec("pip") is not None,
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "distributions": dists,
    }


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
