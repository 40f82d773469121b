"""Tool-specific declarations in pyproject.toml: hatch environments, PDM and Poetry groups.

Read for :mod:`pytest_kisys.resolve.declared`. Poetry's version constraints (``^1.2``, ``~1.2``,
``1.2.*``, ``*``) are translated to PEP 440 specifiers; its ``path``, ``git`` and ``url``
dependencies are refused like any other non-index source.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import re
from typing import Any
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from pytest_kisys.resolve.declared import Collector

__all__ = ["poetry_specifier", "read_tools"]

HATCH_ENVS = ("default", "test", "tests", "testing", "hatch-test", "dev")


def _table(data: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    node: Any = data
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def poetry_specifier(constraint: str) -> str:
    """``^1.2.3`` -> ``>=1.2.3,<2.0.0``; ``~1.2`` -> ``>=1.2,<1.3``; ``*`` -> ``""``; PEP 440 as is."""
    parts_out = []
    for part in (p.strip() for p in constraint.split(",")):
        if part in ("", "*"):
            continue
        caret = re.fullmatch(r"\^\s*(\d+(?:\.\d+)*)", part)
        tilde = re.fullmatch(r"~\s*(\d+(?:\.\d+)*)", part)
        if caret:
            version = [int(x) for x in caret.group(1).split(".")]
            index = next((i for i, v in enumerate(version) if v != 0), len(version) - 1)
            upper = version[: index + 1]
            upper[-1] += 1
            parts_out.append(f">={caret.group(1)},<{'.'.join(map(str, upper))}")
        elif tilde:
            version = [int(x) for x in tilde.group(1).split(".")]
            upper = version[:2] if len(version) > 1 else version[:1]
            upper[-1] += 1
            parts_out.append(f">={tilde.group(1)},<{'.'.join(map(str, upper))}")
        elif re.fullmatch(r"\d+(?:\.\d+)*(?:\.\*)?", part):
            parts_out.append(f"=={part}")
        else:
            parts_out.append(part)
    return ",".join(parts_out)


def _poetry_entry(name: str, spec: Any) -> tuple[str | None, str | None]:
    """(requirement, None) or (None, why it is refused) for one Poetry dependency."""
    if isinstance(spec, str):
        return name + poetry_specifier(spec), None
    if isinstance(spec, list):
        return None, "multiple-constraint dependencies are not translated"
    if not isinstance(spec, Mapping):
        return None, "not a version string or table"
    for key in ("path", "git", "url", "file"):
        if key in spec:
            return None, f"a {key} dependency is not on the index, so it cannot be vetted"
    extras = spec.get("extras") or []
    text = name + (f"[{','.join(map(str, extras))}]" if extras else "")
    text += poetry_specifier(str(spec.get("version", "*")))
    if "markers" in spec:
        text += f" ; {spec['markers']}"
    return text, None


def read_tools(collector: Collector, pyproject: Mapping[str, Any], text: str, names: Sequence[str]) -> None:
    """hatch envs, PDM dev-dependencies and Poetry groups named like tests (or ``declared``)."""
    from pytest_kisys.resolve.declared import find_line
    from pytest_kisys.resolve.declared import group_names
    from pytest_kisys.resolve.declared import RefusalReason
    from pytest_kisys.resolve.declared import section_line
    from pytest_kisys.resolve.declared import Source

    extra = {n.lower() for n in names}
    envs = _table(pyproject, "tool", "hatch", "envs")
    for env, body in envs.items():
        if env.lower() not in extra and env not in HATCH_ENVS or not isinstance(body, Mapping):
            continue
        start = section_line(text, f"tool.hatch.envs.{env}")
        for key in ("dependencies", "extra-dependencies"):
            for entry in body.get(key, []) or []:
                line = find_line(text, str(entry), start)
                collector.add(str(entry), f"hatch env {env} (pyproject.toml:{line})", Source.HATCH)
        for feature in body.get("features", []) or []:
            if str(feature) not in collector.own_extras:
                collector.own_extras.append(str(feature))
    pdm = _table(pyproject, "tool", "pdm", "dev-dependencies")
    wanted = extra | set(group_names(pdm))
    for group, entries in pdm.items():
        if group.lower() not in wanted or not isinstance(entries, list):
            continue
        start = section_line(text, "tool.pdm.dev-dependencies")
        for entry in entries:
            line = find_line(text, str(entry), start)
            collector.add(str(entry), f"pdm group {group} (pyproject.toml:{line})", Source.PDM)
    poetry = _table(pyproject, "tool", "poetry")
    tables = {g: _table(body, "dependencies") for g, body in _table(poetry, "group").items()}
    if "dev-dependencies" in poetry:
        tables.setdefault("dev", _table(poetry, "dev-dependencies"))
    wanted = extra | set(group_names(tables))
    for group, deps in tables.items():
        if group.lower() not in wanted:
            continue
        header = (
            "tool.poetry.dev-dependencies"
            if group == "dev" and not _table(poetry, "group", "dev")
            else f"tool.poetry.group.{group}.dependencies"
        )
        start = section_line(text, header)
        for name, spec in deps.items():
            if name.lower() == "python":
                continue
            where = f"poetry group {group} (pyproject.toml:{find_line(text, name, start)})"
            requirement, why = _poetry_entry(name, spec)
            if requirement is None:
                kind = next((k for k in ("git", "url") if isinstance(spec, Mapping) and k in spec), "path")
                reason = {"git": RefusalReason.VCS, "url": RefusalReason.URL}.get(kind, RefusalReason.INVALID)
                if kind == "path" and isinstance(spec, Mapping) and ("path" in spec or "file" in spec):
                    reason = RefusalReason.PATH
                collector.refuse(f"{name} = {spec!r}", where, reason, why or "refused")
            else:
                collector.add(requirement, where, Source.POETRY)
