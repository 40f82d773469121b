"""Describe a Python environment: where it installs, what it has, whether it may be changed.

Standard library only, because it also runs as a script inside the *target* interpreter
(``python envprobe.py``), which may not be able to import pytest-kisys at all.
"""

from __future__ import annotations

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
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(marker, encoding="utf-8")
        text = parser.get("externally-managed", "Error", fallback="")
    except (configparser.Error, OSError, UnicodeDecodeError):
        text = ""
    return text or "this Python installation is managed by the operating system (PEP 668)"


def site_stamp(site_dirs: list[str]) -> str:
    """A digest of the ``*.dist-info`` names in ``site_dirs``: changes with every (un)install."""
    import hashlib  # not before it is needed: the installer imports this module early

    digest = hashlib.sha256()
    for directory in site_dirs:
        try:
            names = sorted(n for n in os.listdir(directory) if n.endswith(".dist-info"))
        except OSError:
            names = []
        digest.update("\0".join([directory, *names]).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _from_dist_info_name(entry: str) -> tuple[str, str] | None:
    """(name, version) from a ``name-version.dist-info`` directory name, or None.

    Installers write the escaped name (``-`` as ``_``) and a version that has no ``-``, so the
    last ``-`` separates them; anything else is read from its metadata instead.
    """
    stem = entry[: -len(".dist-info")]
    name, sep, version = stem.rpartition("-")
    if not sep or not name or not version or "-" in version:
        return None
    return name, version


def _distributions() -> list[dict[str, Any]]:
    """Every distribution on ``sys.path``, the first of each name winning, as for imports.

    Name and version come from the ``*.dist-info`` directory name: parsing every METADATA file
    (what ``importlib.metadata`` does for ``.metadata["Name"]``) costs ~0.7 ms per distribution,
    which is most of an install batch's fixed cost. Requirements are read later, on demand.
    """
    dists: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(name: str, version: str, path: str) -> None:
        key = name.lower().replace("_", "-").replace(".", "-")
        if key not in seen:
            seen.add(key)
            dists.append({"name": name, "version": version, "path": path})

    for directory in sys.path:
        try:
            entries = sorted(os.listdir(directory or "."))
        except OSError:
            continue
        for entry in entries:
            if not entry.endswith((".dist-info", ".egg-info")):
                continue
            path = os.path.join(directory or ".", entry)
            parsed = _from_dist_info_name(entry) if entry.endswith(".dist-info") else None
            if parsed is not None:
                add(parsed[0], parsed[1], path)
                continue
            import importlib.metadata  # only for what the directory name does not tell

            dist = importlib.metadata.PathDistribution.at(path)
            name = dist.metadata["Name"] if dist.metadata is not None else None
            if name:
                add(name, dist.version, path)
    return dists


def requires_of(path: str | None) -> tuple[str, ...]:
    """The ``Requires-Dist`` entries of the distribution at ``path`` (empty when unknown)."""
    if path is None:
        return ()
    import importlib.metadata

    return tuple(importlib.metadata.PathDistribution.at(path).requires or ())


def marker_environment() -> dict[str, str]:
    """The PEP 508 marker values of the running interpreter (what
    ``packaging.markers.default_environment()`` gives, from the standard library only)."""
    import platform

    info = sys.implementation.version
    implementation = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        implementation += info.releaselevel[0] + str(info.serial)
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": implementation,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def probe() -> dict[str, Any]:
    """A JSON-able description of the running interpreter's environment."""
    paths = sysconfig.get_paths()
    site_dirs = (
        [paths["purelib"]] if paths["purelib"] == paths["platlib"] else [paths["purelib"], paths["platlib"]]
    )
    # Taken first: an install changes this, so the description can be checked for staleness.
    stamp = site_stamp(site_dirs)
    dists = _distributions()
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
        "markers": marker_environment(),
    }


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
