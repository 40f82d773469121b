"""The two settings files at rootdir, read once: ``[tool.kisys]`` in ``pyproject.toml`` and
``kisys.yaml``, as :class:`RawValue` entries that remember where each value was found.

Both readers refuse unknown keys (with a "did you mean"), and ``kisys.yaml`` is bounded in depth
and node count before it is loaded. Only the standard library is imported at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_kisys.convert import to_bool
from pytest_kisys.errors import ConfigError
from pytest_kisys.options import OPTIONS
from pytest_kisys.options import OPTIONS_BY_NAME


@dataclass(frozen=True)
class RawValue:
    """A value as found in one place, before conversion; ``where`` is shown in errors."""

    value: Any
    where: str
    base: Path | None = None  # directory relative paths are resolved against


def _suggest(name: str, candidates: Sequence[str]) -> str:
    import difflib  # only for a misspelt key

    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_known(table: Mapping[str, Any], where: Callable[[str], str]) -> None:
    names = [key.name for key in OPTIONS]
    for name in table:
        if name not in OPTIONS_BY_NAME:
            raise ConfigError(
                f"kisys: unknown key {name!r} in {where(name)}{_suggest(str(name), names)}; "
                f"known keys: {', '.join(sorted(names))}"
            )


def read_pyproject(rootdir: Path) -> dict[str, RawValue]:
    """The ``[tool.kisys]`` table of ``rootdir/pyproject.toml`` as raw values (empty if absent)."""
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    import tomllib

    from pytest_kisys.pyproject import read_pyproject_toml

    try:
        data = read_pyproject_toml(rootdir) or {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"kisys: cannot parse {path}: {exc}") from exc
    table = data.get("tool", {}).get("kisys")
    if table is None:
        return {}
    where = f"{path} [tool.kisys]"
    if not isinstance(table, dict):
        raise ConfigError(f"kisys: [tool.kisys] in {path} must be a table of settings")
    _check_known(table, lambda name: where)
    return {name: RawValue(value, where, rootdir) for name, value in table.items()}


# kisys.yaml holds settings and a few dozen stages: these bounds are far above any real file
# and far below what exhausts memory (YAML aliases can make a small file expand without limit).
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 100


def _flow_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside quotes (cheap, before parsing)."""
    depth = deepest = 0
    quote = ""
    for char in text:
        if char == "\n":
            quote = ""  # an apostrophe in a comment does not hide the rest of the file
        elif quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


def check_yaml_shape(node: Any, path: Path) -> None:
    """Refuse duplicate keys, and documents deeper or larger (aliases expanded) than the caps."""
    import yaml

    if node is None:
        return
    stack: list[tuple[Any, int]] = [(node, 1)]
    seen = 0
    while stack:
        current, depth = stack.pop()
        seen += 1
        if seen > MAX_YAML_NODES:
            raise ConfigError(
                f"kisys: {path} expands to more than {MAX_YAML_NODES} values (YAML aliases "
                "repeat what they point to); write the values out, or use fewer aliases"
            )
        if depth > MAX_YAML_DEPTH:
            raise ConfigError(
                f"kisys: {path}:{current.start_mark.line + 1} is nested deeper than "
                f"{MAX_YAML_DEPTH} levels"
            )
        if isinstance(current, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode):
                    line = key_node.start_mark.line + 1
                    if key_node.value in keys:
                        raise ConfigError(
                            f"kisys: duplicate key {key_node.value!r} in {path}:{line} "
                            f"(first at line {keys[key_node.value]}); each key may appear once"
                        )
                    keys[key_node.value] = line
                stack.append((key_node, depth + 1))
                stack.append((value_node, depth + 1))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in current.value)


def read_yaml(rootdir: Path) -> dict[str, RawValue]:
    """``rootdir/kisys.yaml`` as raw values with ``kisys.yaml:LINE`` sources (empty if absent)."""
    path = rootdir / "kisys.yaml"
    if not path.is_file():
        return {}
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        if _flow_depth(text) > MAX_YAML_DEPTH:
            raise RecursionError  # refused before PyYAML's recursive parser spends seconds on it
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        check_yaml_shape(node, path)
        data = yaml.safe_load(text)
    except RecursionError as exc:
        raise ConfigError(
            f"kisys: {path} is nested too deeply to read (at most {MAX_YAML_DEPTH} levels)"
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"kisys: malformed YAML in {path}{line}: {exc.problem}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"kisys: cannot read {path}: {exc}") from exc
    if data is None:
        raise ConfigError(
            f"kisys: {path} is empty: expected a mapping of settings such as 'level: balanced' "
            "(delete the file if you do not need it)"
        )
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ConfigError(
            f"kisys: {path} must be a mapping of settings such as 'level: balanced', "
            f"not a {type(data).__name__}"
        )
    lines = {
        key_node.value: key_node.start_mark.line + 1
        for key_node, _value in node.value
        if isinstance(key_node, yaml.ScalarNode)
    }
    _check_known(data, lambda name: f"{path}:{lines.get(name, 1)}")
    return {
        name: RawValue(value, f"{path}:{lines.get(name, 1)}", rootdir)
        for name, value in data.items()
    }


def _truthy_or_invalid(raw: RawValue) -> bool:
    # An invalid "enabled" value counts as on, so that the resolver reports it.
    try:
        return to_bool(raw.value, "enabled", raw.where)
    except ConfigError:
        return True


def enabled_in_files(rootdir: Path, *, pyproject: bool, yaml_file: bool) -> bool:
    """Whether ``[tool.kisys] enabled`` or ``enabled:`` in ``kisys.yaml`` is set to a true value.

    ``pyproject`` and ``yaml_file`` say which of the two files the caller found worth parsing
    (``plugin.py`` decides that cheaply, before this module is even imported).

    Lenient on purpose (used only to decide whether kisys is on): a file that cannot be read
    counts as "not enabled here"; the full :func:`resolve` reports its errors when on.
    """
    if pyproject:
        try:
            found = read_pyproject(rootdir).get("enabled")
        except ConfigError:
            found = None
        if found is not None and _truthy_or_invalid(found):
            return True
    if yaml_file:
        try:
            found = read_yaml(rootdir).get("enabled")
        except ConfigError:
            found = None
        if found is not None and _truthy_or_invalid(found):
            return True
    return False
