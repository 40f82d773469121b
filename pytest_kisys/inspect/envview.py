"""Build the :class:`~pytest_kisys.inspect.model.EnvironmentView` of a target environment.

Ownership comes from each installed ``*.dist-info/RECORD`` (what the installer wrote) and
``entry_points.txt`` (the commands it generated); ``PATH`` is listed outside the environment.
"""

from __future__ import annotations

from collections.abc import Iterable
import configparser
import csv
import os
from pathlib import Path

from pytest_kisys.inspect.model import EnvironmentView
from pytest_kisys.pep503 import canonicalize_name


SYSTEM_DIRS = frozenset({"/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/sbin"})


def _owner(dist_info: Path) -> str:
    stem = dist_info.name.removesuffix(".dist-info")
    return canonicalize_name(stem.rsplit("-", 1)[0] if "-" in stem else stem)


def environment_view(site_dirs: Iterable[Path]) -> EnvironmentView:
    """What is installed in ``site_dirs``, their commands, and the system commands on ``PATH``."""
    files: dict[str, str] = {}
    tops: dict[str, str] = {}
    commands: dict[str, str] = {}
    for site in site_dirs:
        try:
            infos = [p for p in site.iterdir() if p.name.endswith(".dist-info")]
        except OSError:
            continue
        for info in infos:
            owner = _owner(info)
            try:
                text = (info / "RECORD").read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            for row in csv.reader(text.splitlines()):
                if not row or row[0].startswith(("..", "/")):
                    continue
                path = row[0]
                files.setdefault(path, owner)
                first = path.split("/", 1)[0]
                if not first.endswith((".dist-info", ".data")) and first != "__pycache__":
                    tops.setdefault(first.removesuffix(".py"), owner)
            parser = configparser.RawConfigParser(delimiters=("=",))
            try:
                parser.read(info / "entry_points.txt", encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError):
                continue
            for section in ("console_scripts", "gui_scripts"):
                if parser.has_section(section):
                    for name in parser.options(section):
                        commands.setdefault(name, owner)
    on_path: set[str] = set()
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        # Other Python environments' tools (pyenv shims, ~/.local/bin) are shadowed by design
        # whenever a venv is active; the system's own commands are not.
        if os.path.realpath(entry) not in SYSTEM_DIRS:
            continue
        try:
            on_path.update(os.listdir(entry))
        except OSError:
            continue
    return EnvironmentView(files=files, top_levels=tops, commands=commands, path_commands=frozenset(on_path))
