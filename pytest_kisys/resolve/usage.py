"""What a suite uses that a pytest plugin provides: fixtures, markers, ini keys and options.

Two scans, neither of which imports or runs anything:

* :func:`scan_usage` reads one ``.py`` file with regular expressions (no parse: it runs on
  every file of the suite, cold, and must stay in the millisecond range). It records the
  fixtures test functions and fixtures request (their parameters without defaults, minus
  ``parametrize`` argument names), ``usefixtures`` names, the fixtures the file defines, and the
  markers it applies (``pytest.mark.x``, ``pytestmark``).
* :func:`config_usage` reads the pytest configuration pytest already parsed (``inicfg`` keys
  via :meth:`pytest.Config.getini` and the raw file for unknown keys): ini keys, ``addopts``
  options and ``-p`` names, ``required_plugins``, registered markers, and the modules named as
  categories in ``filterwarnings``.

:mod:`pytest_kisys.resolve.plugintable` maps what is used to distributions.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
import re
import shlex
from typing import Any


__all__ = ["BUILTIN_MARKERS", "ConfigUsage", "FileUsage", "config_usage", "scan_usage"]

BUILTIN_MARKERS = frozenset(
    {
        "parametrize",
        "skip",
        "skipif",
        "xfail",
        "usefixtures",
        "filterwarnings",
        "tryfirst",
        "trylast",
        "requires",
    }
)
_DEF = re.compile(
    rb"^([ \t]*)(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\((.*?)\)[ \t]*(?:->[^:\n]*)?:", re.M | re.S
)
_DECORATOR = re.compile(rb"^[ \t]*@([\w.]+)(\((.*?)\))?[ \t]*$", re.M | re.S)
_MARK = re.compile(rb"\bmark\.(\w+)")
_USEFIXTURES = re.compile(rb"usefixtures\(([^)]*)\)")
_PARAMETRIZE = re.compile(rb"parametrize\(\s*[\(\[]?\s*((?:[rbuRBU]?[\"'][^\"']*[\"']\s*,?\s*)+)")
_QUOTED = re.compile(rb"[\"']([^\"']*)[\"']")
_FIXTURE_NAME = re.compile(rb"name\s*=\s*[\"'](\w+)[\"']")
_IDENT = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class FileUsage:
    """What one file asks for by name; each name with the first line it appears on."""

    fixtures: tuple[tuple[str, int], ...] = ()
    defined: tuple[str, ...] = ()
    markers: tuple[tuple[str, int], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Cache form."""
        return {
            "fixtures": [list(x) for x in self.fixtures],
            "defined": list(self.defined),
            "markers": [list(x) for x in self.markers],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileUsage:
        """Inverse of :meth:`to_json`."""
        return cls(
            tuple((str(n), int(line)) for n, line in data.get("fixtures", ())),
            tuple(map(str, data.get("defined", ()))),
            tuple((str(n), int(line)) for n, line in data.get("markers", ())),
        )


def _split_params(text: str) -> list[str]:
    """Parameter names without a default (those are fixtures), at bracket depth 0."""
    names: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text + ",":
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            part = "".join(current).strip()
            current = []
            if not part or part.startswith("*") or "=" in part or part == "/":
                continue
            match = _IDENT.match(part)
            if match:
                names.append(match.group(0))
        else:
            current.append(char)
    return names


def scan_usage(data: bytes) -> FileUsage:
    """Fixtures requested and defined, and markers used, in one file's source."""
    if b"def " not in data and b"mark." not in data:
        return FileUsage()

    def line_of(offset: int) -> int:
        # Few matches per file: counting newlines up to each is cheaper than indexing them all.
        return data.count(b"\n", 0, offset) + 1

    fixtures: dict[str, int] = {}
    defined: set[str] = set()
    parametrized: set[str] = set()
    for match in _PARAMETRIZE.finditer(data):
        for quoted in _QUOTED.findall(match.group(1)):
            parametrized.update(p.strip() for p in quoted.decode("utf-8", "replace").split(","))
    decorators: dict[int, list[bytes]] = {}
    for match in _DECORATOR.finditer(data):
        decorators.setdefault(line_of(match.end()), []).append(match.group(0))
    for match in _DEF.finditer(data):
        name = match.group(2).decode("ascii", "replace")
        line = line_of(match.start(2))
        # Decorators sit on the lines right above the def (possibly several).
        decos: list[bytes] = []
        probe = line - 1
        while probe in decorators:
            decos.extend(decorators[probe])
            probe -= 1 + decorators[probe][-1].count(b"\n")
        is_fixture = any(b"fixture" in d.split(b"(", 1)[0] for d in decos)
        if is_fixture:
            explicit = [_FIXTURE_NAME.search(d) for d in decos]
            defined.add(next((m.group(1).decode() for m in explicit if m), name))
        elif not name.startswith("test"):
            continue
        params = _split_params(match.group(3).decode("utf-8", "replace"))
        for param in params:
            if param in ("self", "cls") or param in parametrized:
                continue
            fixtures.setdefault(param, line)
    for match in _USEFIXTURES.finditer(data):
        for quoted in _QUOTED.findall(match.group(1)):
            fixtures.setdefault(quoted.decode("utf-8", "replace"), line_of(match.start()))
    markers: dict[str, int] = {}
    for match in _MARK.finditer(data):
        marker = match.group(1).decode("ascii", "replace")
        if marker not in BUILTIN_MARKERS:
            markers.setdefault(marker, line_of(match.start()))
    return FileUsage(tuple(fixtures.items()), tuple(sorted(defined)), tuple(markers.items()))


@dataclass(frozen=True)
class ConfigUsage:
    """What the pytest configuration names."""

    where: str = "pytest configuration"
    ini_keys: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    """Options in ``addopts`` (``--cov``, ``-n``), without their values."""
    plugins: tuple[str, ...] = ()
    """``-p NAME`` in ``addopts`` (``no:`` excluded)."""
    required_plugins: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    """Markers registered by the project itself (``markers =``)."""
    usefixtures: tuple[str, ...] = ()
    filter_modules: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """(module, the filterwarnings entry) for categories outside builtins and pytest."""


def _lines(value: object) -> list[str]:
    if isinstance(value, str):
        return [line for line in value.splitlines() if line.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return []


def filter_category_module(entry: str) -> str | None:
    """The module of a ``filterwarnings`` entry's category (``ignore::foo.bar.Warn`` -> ``foo.bar``)."""
    parts = entry.split(":")
    if len(parts) < 3:
        return None
    category = parts[2].strip()
    if "." not in category:
        return None
    module = category.rsplit(".", 1)[0]
    if module.split(".", 1)[0] in ("builtins", "pytest", "_pytest", "warnings"):
        return None
    return module if all(p.isidentifier() for p in module.split(".")) else None


def config_usage(ini: dict[str, Any], where: str = "pytest configuration") -> ConfigUsage:
    """Read the raw ini mapping (``[tool.pytest.ini_options]``/``[pytest]``) of a project."""
    addopts: list[str] = []
    for line in _lines(ini.get("addopts", "")):
        try:
            addopts.extend(shlex.split(line))
        except ValueError:
            addopts.extend(line.split())
    options: list[str] = []
    plugins: list[str] = []
    take_plugin = False
    for arg in addopts:
        if take_plugin:
            take_plugin = False
            if not arg.startswith("no:"):
                plugins.append(arg)
            continue
        if arg == "-p":
            take_plugin = True
        elif arg.startswith("-p") and len(arg) > 2 and not arg.startswith("--"):
            if not arg[2:].startswith("no:"):
                plugins.append(arg[2:])
        elif arg.startswith("--"):
            options.append(arg.split("=", 1)[0])
        elif arg.startswith("-") and len(arg) >= 2:
            options.append(arg[:2])
    required = []
    for entry in _lines(ini.get("required_plugins", "")):
        required.extend(entry.split())
    markers = []
    for entry in _lines(ini.get("markers", "")):
        match = _IDENT.match(entry.strip())
        if match:
            markers.append(match.group(0))
    usefix: list[str] = []
    for entry in _lines(ini.get("usefixtures", "")):
        usefix.extend(entry.split())
    modules = []
    for entry in _lines(ini.get("filterwarnings", "")):
        module = filter_category_module(entry)
        if module:
            modules.append((module, entry.strip()))
    return ConfigUsage(
        where=where,
        ini_keys=tuple(sorted(ini)),
        options=tuple(dict.fromkeys(options)),
        plugins=tuple(plugins),
        required_plugins=tuple(required),
        markers=tuple(markers),
        usefixtures=tuple(usefix),
        filter_modules=tuple(modules),
    )


def merge_markers(usages: Sequence[FileUsage]) -> set[str]:
    """Every marker name used across files."""
    return {name for usage in usages for name, _ in usage.markers}


def read_ini(inipath: Path | None) -> tuple[dict[str, Any], str]:
    """The raw pytest settings of the config file pytest chose, and how to name it.

    ``pyproject.toml`` (``[tool.pytest.ini_options]`` or ``[tool.pytest]``), ``pytest.toml``,
    ``pytest.ini``/``.pytest.ini``/``tox.ini`` (``[pytest]``) and ``setup.cfg``
    (``[tool:pytest]``). An unreadable file gives an empty mapping: pytest reports it itself.
    """
    import configparser
    import tomllib

    if inipath is None:
        return {}, "pytest configuration"
    name = inipath.name
    try:
        text = inipath.read_text(encoding="utf-8")
        if name.endswith(".toml"):
            data = tomllib.loads(text)
            tool = (
                data.get("tool", {}).get("pytest", {})
                if name == "pyproject.toml"
                else data.get("pytest", data)
            )
            section = tool.get("ini_options", tool) if isinstance(tool, dict) else {}
            return {k: v for k, v in section.items() if k != "ini_options"}, name
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(text)
        header = "tool:pytest" if name == "setup.cfg" else "pytest"
        if not parser.has_section(header):
            return {}, name
        return dict(parser.items(header)), name
    except (OSError, UnicodeDecodeError, ValueError, configparser.Error):
        return {}, name
