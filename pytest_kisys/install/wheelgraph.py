"""The batch's dependency graph from the inspected wheels' own ``Requires-Dist``.

uv's lock (``pylock.toml``) carries URLs and hashes but no dependencies, and a second
``uv pip compile`` only for its ``# via`` lines costs a whole resolver run. Every planned wheel
is downloaded and inspected anyway, so the edges between planned items are read from each
wheel's ``METADATA`` and its markers evaluated with the target interpreter's values. That is
exact unless extras are involved (which extras a parent asked for is the resolver's
knowledge, not the metadata's), a marker cannot be evaluated, or a wheel could not be read: then
:func:`wheel_graph` answers None and the resolver's own graph is used
(:attr:`~pytest_kisys.install.interface.Resolution.graph_fallback`).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
import zipfile

from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.interface import Resolution
from pytest_kisys.pep503 import canonicalize_name


def wheel_requires(path: Path) -> tuple[str, ...] | None:
    """The ``Requires-Dist`` entries of the wheel at ``path`` (None: no single readable METADATA)."""
    try:
        with zipfile.ZipFile(path) as archive:
            found = [
                name
                for name in archive.namelist()
                if name.count("/") == 1 and name.endswith(".dist-info/METADATA")
            ]
            if len(found) != 1:
                return None
            text = archive.read(found[0]).decode("utf-8")
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, KeyError):
        return None
    return header_values(text, "requires-dist")


def header_values(text: str, key: str) -> tuple[str, ...]:
    """Every value of header ``key`` (lowercase) in a ``METADATA`` header block, continuation
    lines joined with a space (without importing the ``email`` package for it)."""
    values: list[list[str]] = []
    wanted = False
    for line in text.splitlines():
        if not line.strip():
            break  # the end of the headers: the long description follows
        if line[0] in " \t":
            if wanted:
                values[-1].append(line.strip())
            continue
        name, sep, value = line.partition(":")
        wanted = bool(sep) and name.strip().lower() == key
        if wanted:
            values.append([value.strip()])
    return tuple(" ".join(parts) for parts in values)


def wheel_graph(
    items: Sequence[PlannedItem], wheels: Mapping[str, Path], markers: Mapping[str, str] | None
) -> dict[str, set[str]] | None:
    """For each planned item, the planned items its wheel requires here; None when that is
    not certain from the metadata alone (an extra or an unreadable part is involved)."""
    if markers is None:
        return None
    planned = {item.name for item in items}
    graph: dict[str, set[str]] = {name: set() for name in planned}
    for item in items:
        path = wheels.get(item.name)
        requires = wheel_requires(path) if path is not None else None
        if requires is None:
            return None
        if requires:
            from packaging.markers import InvalidMarker
            from packaging.markers import UndefinedComparison
            from packaging.markers import UndefinedEnvironmentName
            from packaging.requirements import InvalidRequirement
            from packaging.requirements import Requirement
        for text in requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                return None
            name = canonicalize_name(req.name)
            if name not in planned:
                continue
            if name == item.name:
                return None  # a self-reference names extras: the resolver's knowledge
            if req.marker is not None:
                if "extra" in str(req.marker):
                    return None
                try:
                    if not req.marker.evaluate({**markers, "extra": ""}):
                        continue
                except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
                    return None
            graph[item.name].add(name)
    return graph


def batch_graph(
    resolution: Resolution, wheels: Mapping[str, Path], markers: Mapping[str, str] | None
) -> dict[str, set[str]]:
    """The batch's graph: the resolver's when it gave one; else, for a resolver that can give
    one on demand, the wheels' when certain and the resolver's otherwise; else the one built
    from the resolver's reported requirements (pip)."""
    if resolution.graph is not None:
        return dict(resolution.graph)
    if resolution.graph_fallback is None:
        from pytest_kisys.install.resolver import dependency_graph

        return dependency_graph(resolution.items, resolution.environment)
    found = wheel_graph(resolution.items, wheels, markers)
    return found if found is not None else dict(resolution.graph_fallback())
