"""Requirements files, tox.ini and setup.cfg, read for :mod:`pytest_kisys.resolve.declared`.

Only plain requirements are kept. ``-r``/``-c`` are followed inside the project root;
``-e .[extra]``/``.[extra]`` name the project's own extras; every other option (``--index-url``,
``--find-links``, ``--trusted-host``, ``-e <other path>``...), URL, VCS link, path and
``--hash`` is refused with the reason. tox ``[testenv]`` ``deps`` may hold the same lines;
factor-conditional lines (``py311: x``) and ``{...}`` substitutions are skipped with a warning.
"""

from __future__ import annotations

import configparser
from pathlib import Path
import re
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name


if TYPE_CHECKING:
    from pytest_kisys.resolve.declared import Collector

__all__ = ["read_requirements_file", "read_setup_cfg", "read_tox"]

_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+)(\S+)\s*$")
_PROJECT_SELF = re.compile(r"^(?:-e\s+|--editable(?:\s*=\s*|\s+))?\.(?:/)?\s*(?:\[([^\]]*)\])?\s*$")
_HASH = re.compile(r"\s--hash[=\s]\S+")
_FACTOR = re.compile(r"^[\w.,!-]+:\s")


def _relative(collector: Collector, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(collector.root))
    except ValueError:
        return str(path)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with ``\\`` continuations joined and comments removed, with their first line number."""
    out: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        if pending.strip():
            out.append((start, pending.strip()))
        pending = ""
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def add_line(
    collector: Collector, line: str, where: str, path: Path, chain: tuple[Path, ...], source: object
) -> None:
    """One requirements line: include, the project itself, an option, or a requirement."""
    from pytest_kisys.resolve.declared import RefusalReason
    from pytest_kisys.resolve.declared import Source

    kind = source if isinstance(source, Source) else Source.REQUIREMENTS
    include = _INCLUDE.match(line)
    if include:
        flag, target = include.groups()
        resolved = (path.parent / target).resolve()
        if not resolved.is_relative_to(collector.root):
            collector.refuse(
                line, where, RefusalReason.PATH, f"{target} is outside the project ({collector.root})"
            )
        elif resolved in chain or resolved == path.resolve():
            collector.refuse(line, where, RefusalReason.CYCLE, f"{target} includes itself")
        elif not resolved.is_file():
            collector.warnings.append(f"{where}: {line!r} names a file that does not exist: ignored")
        else:
            read_requirements_file(
                collector,
                resolved,
                chain=(*chain, path.resolve()),
                constraints=flag in ("-c", "--constraint"),
            )
        return
    own = _PROJECT_SELF.match(line)
    if own:
        for extra in (own.group(1) or "").split(","):
            extra = re.sub(r"[-_.]+", "-", extra.strip()).lower()
            if extra and extra not in collector.own_extras:
                collector.own_extras.append(extra)
        return
    hashes = _HASH.findall(" " + line)
    if hashes:
        collector.refuse(
            " ".join(h.strip() for h in hashes),
            where,
            RefusalReason.HASH,
            "hashes are not passed on: kisys vets and installs by name and version",
        )
        line = _HASH.sub("", " " + line).strip()
    collector.add(line, where, kind)


def read_requirements_file(
    collector: Collector, path: Path, *, chain: tuple[Path, ...], constraints: bool = False
) -> None:
    """Read one requirements (or constraints) file into ``collector``."""
    from pytest_kisys.errors import RequirementError
    from pytest_kisys.resolve.declared import RefusalReason
    from pytest_kisys.vet.requirements import parse_requirement

    relative = _relative(collector, path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        collector.refuse(relative, relative, RefusalReason.UNREADABLE, f"could not be read: {exc}")
        return
    if relative not in collector.files:
        collector.files.append(relative)
    for number, line in _logical_lines(text):
        where = f"{relative}:{number}"
        if not constraints:
            add_line(collector, line, where, path, chain, None)
            continue
        # A constraints file only narrows versions of what is requested elsewhere.
        try:
            parsed = parse_requirement(_HASH.sub("", " " + line).strip())
        except RequirementError:
            continue
        if parsed.specifier:
            collector.constraints[parsed.name] = parsed.specifier


def _read_ini(
    collector: Collector, path: Path, consequence: str
) -> tuple[str, configparser.ConfigParser] | None:
    """``path``'s text and parsed sections, or None with a warning saying ``consequence``."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        text = path.read_text(encoding="utf-8")
        parser.read_string(text)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        collector.warnings.append(f"{path.name} could not be read ({exc}): {consequence}")
        return None
    return text, parser


def read_tox(collector: Collector, path: Path) -> None:
    """``[testenv]`` ``deps`` and ``extras`` of tox.ini."""
    from pytest_kisys.resolve.declared import find_line
    from pytest_kisys.resolve.declared import section_line
    from pytest_kisys.resolve.declared import Source

    if not path.is_file():
        return
    read = _read_ini(collector, path, "its declarations are ignored")
    if read is None:
        return
    text, parser = read
    if not parser.has_section("testenv"):
        return
    collector.files.append("tox.ini")
    start = section_line(text, "testenv")
    deps_line = find_line(text, "deps", start)
    for raw in parser.get("testenv", "deps", fallback="").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"tox.ini:{find_line(text, line, deps_line)}"
        if _FACTOR.match(line) or "{" in line:
            collector.warnings.append(f"{where}: {line!r} is factor-conditional or a substitution: skipped")
            continue
        add_line(collector, line, where, path, (), Source.TOX)
    for raw in re.split(r"[\s,]+", parser.get("testenv", "extras", fallback="")):
        extra = canonicalize_name(raw.strip())
        if extra and not _FACTOR.match(raw + " ") and extra not in collector.own_extras:
            collector.own_extras.append(extra)


def read_setup_cfg(collector: Collector, path: Path) -> None:
    """``[metadata] name`` and ``[options.extras_require]`` of a setuptools ``setup.cfg``."""
    from pytest_kisys.resolve.declared import find_line
    from pytest_kisys.resolve.declared import section_line

    read = _read_ini(collector, path, "its extras are ignored")
    if read is None:
        return
    text, parser = read
    if collector.project is None and parser.has_option("metadata", "name"):
        collector.project = canonicalize_name(parser.get("metadata", "name").strip())
    if not parser.has_section("options.extras_require"):
        return
    start = section_line(text, "options.extras_require")
    extras: dict[str, list[str]] = {}
    for key, value in parser.items("options.extras_require"):
        entries: list[str] = []
        for line in value.splitlines():
            line = line.split("#", 1)[0].strip()
            head, sep, tail = line.partition(";")
            # Old style "a; b" lists two requirements; "a ; python_version < '3.12'" is a marker.
            if sep and not re.search(r"[<>=!~]| in | not in ", tail):
                entries.extend(p.strip() for p in line.split(";") if p.strip())
            elif line:
                entries.append(line)
        extras[canonicalize_name(key)] = entries
    collector.extras = extras
    collector.extras_lines = {k: find_line(text, k, start) for k in extras}
    collector.extras_file = "setup.cfg"
    collector.extras_text = text
    collector.files.append("setup.cfg")
