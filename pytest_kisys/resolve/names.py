"""Import name -> distribution, without ever installing an import name blindly.

Order (first match wins): standard library, first-party modules (never looked up on an index:
dependency confusion), the user's ``import_map``, installed distributions
(``importlib.metadata.packages_distributions()``), the curated map of known mismatches
(:mod:`pytest_kisys.resolve.importmap`), then the import name itself only when it is a popular
project name and not a known decoy. Anything else is ``unknown``: it needs confirmation and is
never installed automatically.

:func:`pytest_kisys.install.artifacts.wheel_provides` is the last line of defence: the installer
calls it on the chosen wheel and refuses to install when the wheel does not provide the name.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from dataclasses import dataclass
import functools
import re
import sys
from typing import Literal

from packaging.utils import canonicalize_name

from pytest_kisys.errors import RequirementError
from pytest_kisys.resolve.importmap import CURATED
from pytest_kisys.settings import Settings


Kind = Literal["stdlib", "first_party", "installed", "mapped", "user_mapped", "popular", "unknown"]

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# Popular project names that are the wrong thing to install for the same-named import
# (dummies, deprecated stubs or unrelated projects); resolving them needs a mapping.
DECOY_IMPORT_NAMES = frozenset(
    {
        "crypto",
        "sklearn",
        "bs4",
        "jwt",
        "dotenv",
        "attr",
        "pil",
        "yaml",
        "cv2",
        "dateutil",
        "serial",
        "magic",
        "git",
        "github",
        "telegram",
        "discord",
        "kafka",
        "docx",
        "pptx",
        "jose",
    }
)


@dataclass(frozen=True)
class ImportResolution:
    """Where an import name comes from. ``distribution`` is None for stdlib, first-party and
    unknown imports; ``candidate`` is the same-named project an unknown import would need
    (shown to the user, never installed without confirmation)."""

    import_name: str
    distribution: str | None
    kind: Kind
    candidate: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """``import``, ``distribution``, ``kind``, ``candidate``."""
        return {
            "import": self.import_name,
            "distribution": self.distribution,
            "kind": self.kind,
            "candidate": self.candidate,
        }


def _longest_prefix(import_name: str, mapping: Mapping[str, str]) -> str | None:
    parts = import_name.split(".")
    for end in range(len(parts), 0, -1):
        hit = mapping.get(".".join(parts[:end]))
        if hit is not None:
            return hit
    return None


@functools.cache
def _installed() -> Mapping[str, tuple[str, ...]]:
    # packages_distributions() walks every installed distribution (~20 ms): once per process
    # is enough, since resolution only matters for imports that are missing anyway.
    import importlib.metadata  # imported on first use: kisys vet without --import needs none

    return {k: tuple(v) for k, v in importlib.metadata.packages_distributions().items()}


def installed_distributions() -> Mapping[str, tuple[str, ...]]:
    """Top-level import name -> installed distributions (cached until :func:`forget_installed`)."""
    return _installed()


def forget_installed() -> None:
    """Drop the cached view of the installed distributions (after an install changed them)."""
    _installed.cache_clear()


def resolve_import(import_name: str, settings: Settings, first_party: Collection[str]) -> ImportResolution:
    """Resolve ``import_name`` (dotted allowed) to the distribution that should provide it.

    :param first_party: top-level module names that belong to the project under test.
    :raises RequirementError: when ``import_name`` is not a dotted Python identifier.
    """
    if not isinstance(import_name, str) or not _DOTTED.match(import_name):
        raise RequirementError(
            f"invalid import name {ascii(import_name)}: accepted: a dotted Python identifier "
            "such as 'yaml' or 'google.protobuf'"
        )
    from pytest_kisys.vet.data import popular_ranks

    top = import_name.split(".")[0]
    if top in sys.stdlib_module_names:
        return ImportResolution(import_name, None, "stdlib")
    if top in first_party:
        return ImportResolution(import_name, None, "first_party")
    user = _longest_prefix(import_name, settings.import_map)
    if user is not None:
        return ImportResolution(import_name, canonicalize_name(user), "user_mapped")
    curated = _longest_prefix(import_name, CURATED)
    if curated is not None and "." in import_name:
        # Namespace packages (google.*, azure.*): the installed owner of the top-level name
        # says nothing about the submodule.
        return ImportResolution(import_name, canonicalize_name(curated), "mapped")
    installed = installed_distributions().get(top)
    if installed:
        return ImportResolution(import_name, canonicalize_name(installed[0]), "installed")
    if curated is not None:
        return ImportResolution(import_name, canonicalize_name(curated), "mapped")
    candidate = canonicalize_name(top)
    if candidate in popular_ranks() and top.lower() not in DECOY_IMPORT_NAMES:
        return ImportResolution(import_name, candidate, "popular")
    return ImportResolution(import_name, None, "unknown", candidate)
