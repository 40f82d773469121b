"""Which top-level import names belong to the project under test and must never hit an index.

A first-party name that is not importable means "install your project" (``pip install -e .``),
never "look it up on PyPI": a public project with the same name is the textbook dependency
confusion attack. Detection is therefore deliberately generous; it looks at

* rootdir's top-level packages and modules (also the siblings of the rootdir ``conftest.py``);
* the ``src/`` layout (``rootdir/src/<pkg>``);
* every ``pythonpath`` ini entry;
* ``[project].name`` of ``rootdir/pyproject.toml``, in its import form (``my-proj`` -> ``my_proj``);
* for each test file and conftest, the directory pytest's default ``prepend`` import mode puts on
  ``sys.path`` (the first directory upwards without ``__init__.py``) and everything in it, so
  sibling helpers (``tests/unit/helpers.py``) count.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
import tomllib

from pytest_kisys.pyproject import read_pyproject_toml


__all__ = ["FirstParty", "detect_first_party", "import_dir_of"]

_EXTENSION_SUFFIXES = (".so", ".pyd")
_SKIP_DIRS = frozenset({"__pycache__", "site-packages", "node_modules"})


@dataclass(frozen=True)
class FirstParty:
    """The project's own top-level import names, each with the place that made it first-party."""

    origins: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> frozenset[str]:
        """Every first-party top-level name."""
        return frozenset(self.origins)

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` (dotted or not) starts with a first-party top-level name."""
        return isinstance(name, str) and name.split(".", 1)[0] in self.origins

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Iterate the names, so the object can stand in for a plain set of names."""
        return iter(self.origins)

    def __len__(self) -> int:
        """How many first-party names there are."""
        return len(self.origins)

    def origin(self, name: str) -> str | None:
        """Why ``name`` is first-party (a path relative to rootdir where possible), or None."""
        return self.origins.get(name.split(".", 1)[0])


def _module_names(directory: Path) -> dict[str, Path]:
    """Importable top-level names directly inside ``directory`` (packages, modules, extensions)."""
    found: dict[str, Path] = {}
    try:
        entries = list(directory.iterdir())
    except OSError:
        return found
    for entry in entries:
        name = entry.name
        if name.startswith(".") or name in _SKIP_DIRS:
            continue
        if entry.is_dir():
            if not name.isidentifier():
                continue
            # A regular package, or a directory of modules importable as a namespace package.
            try:
                local = (entry / "__init__.py").is_file() or any(entry.glob("*.py"))
            except OSError:
                # Unreadable: it may hold the package, so its name is never looked up on an
                # index (dependency confusion); the import itself will say what is wrong.
                local = True
            if local:
                found.setdefault(name, entry)
        elif name.endswith(".py"):
            stem = name[:-3]
            if stem.isidentifier():
                found.setdefault(stem, entry)
        elif name.endswith(_EXTENSION_SUFFIXES):
            stem = name.split(".", 1)[0]
            if stem.isidentifier():
                found.setdefault(stem, entry)
    return found


def import_dir_of(path: Path) -> Path:
    """The directory ``--import-mode=prepend`` puts on ``sys.path`` for the file ``path``."""
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        directory = directory.parent
    return directory


def _project_import_name(rootdir: Path) -> str | None:
    try:
        data = read_pyproject_toml(rootdir) or {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    project = data.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    if not isinstance(name, str) or not name:
        return None
    return name.replace("-", "_").replace(".", "_").lower()


def _relative(path: Path, rootdir: Path) -> str:
    try:
        return str(path.relative_to(rootdir))
    except ValueError:
        return str(path)


def detect_first_party(
    rootdir: Path,
    *,
    pythonpath: Iterable[Path] = (),
    files: Iterable[Path] = (),
) -> FirstParty:
    """Collect the first-party names of the project at ``rootdir``.

    :param pythonpath: the ``pythonpath`` ini entries, already made absolute.
    :param files: the test files and conftests this run collects.
    """
    origins: dict[str, str] = {}

    def add_dir(directory: Path, why: str) -> None:
        for name, where in _module_names(directory).items():
            origins.setdefault(name, f"{_relative(where, rootdir)} ({why})")

    add_dir(rootdir, "rootdir")
    add_dir(rootdir / "src", "src layout")
    for entry in pythonpath:
        add_dir(entry, "pythonpath")
    project = _project_import_name(rootdir)
    if project:
        origins.setdefault(project, "pyproject.toml [project].name")
    seen: set[Path] = set()
    for path in files:
        directory = import_dir_of(path)
        if directory not in seen:
            seen.add(directory)
            add_dir(directory, f"sys.path entry of {_relative(path, rootdir)}")
    return FirstParty(origins)
