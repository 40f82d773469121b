"""Which conftests and test files this run will collect, decided before pytest collects.

It mirrors pytest's own rules closely enough for an import scan, without importing anything:
positional arguments (node ids reduced to their path), else ``testpaths`` (globbed) when
invoked from rootdir, else the invocation directory; ``norecursedirs``, virtualenvs (unless
``--collect-in-virtualenv``), ``--ignore`` and ``--ignore-glob`` prune the walk; files match
``python_files`` or are named ``conftest.py``. The initial conftests pytest imports first (those
in each argument's directory and its parents, down from ``confcutdir``) come first in the
result. ``-k``/``-m`` select among collected items and do not change which files are imported.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
import fnmatch
import glob
import os
from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    import pytest  # kisys install imports this module without pytest


__all__ = ["Discovery", "DiscoverySpec", "discover", "spec_from_config"]

DEFAULT_NORECURSE = (
    "*.egg",
    ".*",
    "_darcs",
    "build",
    "CVS",
    "dist",
    "node_modules",
    "venv",
    "{arch}",
)
DEFAULT_PYTHON_FILES = ("test_*.py", "*_test.py")


@dataclass(frozen=True)
class DiscoverySpec:
    """The inputs of :func:`discover`, taken from the command line and ini options."""

    rootdir: Path
    invocation_dir: Path
    args: tuple[str, ...] = ()
    testpaths: tuple[str, ...] = ()
    norecursedirs: tuple[str, ...] = DEFAULT_NORECURSE
    python_files: tuple[str, ...] = DEFAULT_PYTHON_FILES
    ignore: tuple[Path, ...] = ()
    ignore_glob: tuple[str, ...] = ()
    confcutdir: Path | None = None
    collect_in_virtualenv: bool = False
    noconftest: bool = False


@dataclass(frozen=True)
class Discovery:
    """The files a run will import: initial conftests first, then the rest in walk order."""

    conftests: tuple[Path, ...]
    test_files: tuple[Path, ...]
    helpers: tuple[Path, ...] = ()
    """Other ``.py`` files under the walked directories (helper modules tests import)."""

    @property
    def files(self) -> tuple[Path, ...]:
        """Conftests, then test files, then helper modules."""
        return self.conftests + self.test_files + self.helpers


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value)
    return ()


def spec_from_config(config: pytest.Config, args: Sequence[str] | None = None) -> DiscoverySpec:
    """Build the spec from an early config (usable inside ``pytest_load_initial_conftests``).

    :param args: positional arguments; by default ``known_args_namespace.file_or_dir``.
    """
    ns = config.known_args_namespace
    invocation_dir = Path(config.invocation_params.dir)
    positional = args if args is not None else getattr(ns, "file_or_dir", None) or ()
    confcutdir = getattr(ns, "confcutdir", None)
    return DiscoverySpec(
        rootdir=Path(config.rootpath),
        invocation_dir=invocation_dir,
        args=tuple(str(a) for a in positional),
        testpaths=_strings(config.getini("testpaths")),
        norecursedirs=_strings(config.getini("norecursedirs")) or DEFAULT_NORECURSE,
        python_files=_strings(config.getini("python_files")) or DEFAULT_PYTHON_FILES,
        ignore=tuple(invocation_dir / p for p in getattr(ns, "ignore", None) or ()),
        ignore_glob=tuple(str(invocation_dir / p) for p in getattr(ns, "ignore_glob", None) or ()),
        confcutdir=(invocation_dir / confcutdir) if confcutdir else None,
        collect_in_virtualenv=bool(getattr(ns, "collect_in_virtualenv", False)),
        noconftest=bool(getattr(ns, "noconftest", False)),
    )


def _matches(patterns: Iterable[str], path: Path) -> bool:
    # pytest's fnmatch_ex: a pattern without a separator matches the basename.
    for pattern in patterns:
        target = str(path) if os.sep in pattern or "/" in pattern else path.name
        if fnmatch.fnmatch(target, pattern):
            return True
    return False


def _in_venv(path: Path) -> bool:
    # A directory that cannot be read is not a virtualenv here: pytest reports it when it
    # collects there, and the walk below cannot list it anyway.
    try:
        return (path / "pyvenv.cfg").is_file() or (path / "conda-meta" / "history").is_file()
    except OSError:
        return False


def _anchors(spec: DiscoverySpec) -> list[Path]:
    if spec.args:
        raw = [a.split("::", 1)[0] for a in spec.args if not a.startswith("-")]
        paths = [(spec.invocation_dir / a).resolve() for a in raw]
        return [p for p in paths if p.exists()] or [spec.invocation_dir]
    if spec.invocation_dir == spec.rootdir and spec.testpaths:
        found: list[Path] = []
        for pattern in spec.testpaths:
            full = str(spec.rootdir / pattern)
            found.extend(Path(p) for p in sorted(glob.glob(full, recursive=True)))
        if found:
            return found
    return [spec.invocation_dir]


def _initial_conftests(spec: DiscoverySpec, anchors: Sequence[Path]) -> list[Path]:
    """The conftests pytest imports before collection, in the order it imports them."""
    if spec.noconftest:
        return []
    result: list[Path] = []
    starts: list[Path] = []
    for anchor in anchors:
        starts.append(anchor)
        if anchor.is_dir():
            starts.extend(sorted(p for p in anchor.glob("test*") if p.is_dir()))
    for start in starts:
        directory = start if start.is_dir() else start.parent
        chain = [directory, *directory.parents]
        if spec.confcutdir is not None:
            cut = spec.confcutdir.resolve()
            chain = [d for d in chain if d == cut or cut in d.parents]
        for candidate in reversed(chain):
            conftest = candidate / "conftest.py"
            if conftest.is_file() and conftest not in result:
                result.append(conftest)
    return result


def discover(spec: DiscoverySpec) -> Discovery:
    """Walk the anchors the way pytest collects them and list the files it would import."""
    anchors = _anchors(spec)
    conftests = _initial_conftests(spec, anchors)
    ignored = {p.resolve() for p in spec.ignore}
    test_files: list[Path] = []
    helpers: list[Path] = []
    seen: set[Path] = set(conftests)

    def skip(path: Path) -> bool:
        return path in ignored or any(fnmatch.fnmatch(str(path), g) for g in spec.ignore_glob)

    def add(path: Path, into: list[Path]) -> None:
        if path not in seen:
            seen.add(path)
            into.append(path)

    for anchor in anchors:
        if anchor.is_file():
            if anchor.suffix == ".py" and not skip(anchor):
                add(anchor, conftests if anchor.name == "conftest.py" else test_files)
            continue
        for dirpath, dirnames, filenames in os.walk(anchor):
            here = Path(dirpath)
            kept = []
            for name in sorted(dirnames):
                sub = here / name
                if name == "__pycache__" or skip(sub) or _matches(spec.norecursedirs, sub):
                    continue
                if not spec.collect_in_virtualenv and _in_venv(sub):
                    continue
                kept.append(name)
            dirnames[:] = kept
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                path = here / name
                if skip(path):
                    continue
                if name == "conftest.py":
                    if not spec.noconftest:
                        add(path, conftests)
                elif _matches(spec.python_files, path):
                    add(path, test_files)
                else:
                    add(path, helpers)
    return Discovery(tuple(conftests), tuple(test_files), _near_tests(helpers, test_files, spec.rootdir))


def _near_tests(helpers: Sequence[Path], test_files: Sequence[Path], rootdir: Path) -> tuple[Path, ...]:
    """Helpers in the test tree: below a directory (other than rootdir) that holds test files,
    or below a directory named ``test``, ``tests`` or ``testing``.

    The project's own package, ``setup.py`` and ``docs/conf.py`` are not part of the test tree:
    their imports are the project's dependencies or tools, not the suite's.
    """
    test_dirs = {p.parent for p in test_files} - {rootdir, rootdir.resolve()}
    kept = []
    for path in helpers:
        parents = (path.parent, *path.parent.parents)
        if any(d in test_dirs or d.name in _TEST_DIR_NAMES for d in parents if d not in (rootdir,)):
            kept.append(path)
    return tuple(kept)


_TEST_DIR_NAMES = frozenset({"test", "tests", "testing"})
