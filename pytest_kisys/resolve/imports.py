"""What test files and conftests import, and which ``requires`` markers they hold (the types).

Nothing is imported or executed: the source is read, pre-filtered with a cheap regular
expression and, when it may hold anything of interest, parsed with :mod:`ast`. Each import is
classified by *how* it is used (:data:`ImportKind`), not by *what* it is: whether a name is
stdlib, first-party or third-party is decided later (:mod:`pytest_kisys.resolve.names`,
:mod:`pytest_kisys.resolve.firstparty`), so what is read from a file depends only on its bytes and
can be cached by content hash (:class:`pytest_kisys.resolve.importcache.ImportCache`). The
reader is :mod:`pytest_kisys.resolve.importreader`.

Kinds, and what the collector does with them:

* ``required``: module or class level, unguarded: collection fails without it. Installed.
* ``plugin``: named in ``pytest_plugins``. Installed (a missing plugin breaks the conftest).
* ``dynamic``: ``importlib.import_module("x")`` / ``__import__("x")`` with a constant name at
  module level. Installed, like ``required``.
* ``lazy``: inside a function: only the test that runs it needs it. Reported, not installed.
* ``importorskip``: ``pytest.importorskip("x")``: the suite skips on purpose. Not installed.
* ``guarded``: under ``try/except ImportError`` (or ``ModuleNotFoundError``, ``Exception``,
  a bare ``except``) or ``with contextlib.suppress(ImportError)``. Not installed.
* ``type_checking``: under ``if TYPE_CHECKING``. Never imported at run time.
* ``expected_missing``: under ``with pytest.raises(ImportError)``. Never installed.
* ``conditional``: under an ``if`` whose test cannot be decided statically. Not installed;
  ``sys.version_info`` and ``sys.platform`` comparisons are decided against this interpreter.
* ``relative``: ``from . import x``: always first-party.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Literal


__all__ = [
    "INSTALL_KINDS",
    "FileImports",
    "ImportKind",
    "ImportUse",
    "MarkerUse",
]


ImportKind = Literal[
    "required",
    "plugin",
    "dynamic",
    "lazy",
    "importorskip",
    "guarded",
    "type_checking",
    "expected_missing",
    "conditional",
    "relative",
]

INSTALL_KINDS: frozenset[str] = frozenset({"required", "plugin", "dynamic"})
"""Kinds whose absence breaks collection, so they justify an install before it."""


@dataclass(frozen=True)
class ImportUse:
    """One import statement (or import-like call) found in a file."""

    name: str
    """The dotted module name as written (``google.protobuf.json_format``).

    Empty for ``from . import x``."""
    line: int
    kind: ImportKind

    @property
    def top_level(self) -> str:
        """The first component of :attr:`name`, the one a distribution provides."""
        return self.name.split(".", 1)[0]

    def to_json(self) -> dict[str, Any]:
        """The cache and report form."""
        return {"name": self.name, "line": self.line, "kind": self.kind}


@dataclass(frozen=True)
class MarkerUse:
    """One ``pytest.mark.requires(...)`` call found in a file, with its constant arguments."""

    requirements: tuple[str, ...]
    line: int
    target: str
    """What it decorates: a function or class name, ``"pytestmark"``, or ``"<call>"`` elsewhere."""

    def to_json(self) -> dict[str, Any]:
        """The cache and report form."""
        return {"requirements": list(self.requirements), "line": self.line, "target": self.target}


@dataclass(frozen=True)
class FileImports:
    """Everything the static import reader learned about one file."""

    path: Path
    digest: str
    imports: tuple[ImportUse, ...] = ()
    markers: tuple[MarkerUse, ...] = ()
    error: str | None = None
    """Why the file could not be parsed (pytest will report the same error at collection)."""
    parsed: bool = True
    """False when the text pre-filter showed there was nothing to parse for."""

    def needed(self) -> Iterator[ImportUse]:
        """Imports whose absence breaks collection (:data:`INSTALL_KINDS`)."""
        return (use for use in self.imports if use.kind in INSTALL_KINDS)

    def lazy(self) -> Iterator[ImportUse]:
        """Imports made inside functions."""
        return (use for use in self.imports if use.kind == "lazy")

    def requirements(self) -> Iterator[tuple[str, int]]:
        """Every constant requirement string of every ``requires`` marker, with its line."""
        for marker in self.markers:
            for text in marker.requirements:
                yield text, marker.line

    def to_json(self) -> dict[str, Any]:
        """The cache form (without the path: the same bytes read the same anywhere)."""
        return {
            "imports": [use.to_json() for use in self.imports],
            "markers": [marker.to_json() for marker in self.markers],
            "error": self.error,
            "parsed": self.parsed,
        }

    @classmethod
    def from_json(cls, path: Path, digest: str, data: dict[str, Any]) -> FileImports:
        """Inverse of :meth:`to_json`."""
        return cls(
            path=path,
            digest=digest,
            imports=tuple(
                ImportUse(str(item["name"]), int(item["line"]), item["kind"]) for item in data["imports"]
            ),
            markers=tuple(
                MarkerUse(tuple(map(str, item["requirements"])), int(item["line"]), str(item["target"]))
                for item in data["markers"]
            ),
            error=data.get("error"),
            parsed=bool(data.get("parsed", True)),
        )

