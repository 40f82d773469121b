"""Learning mode: add the packages a person confirmed to the allow list of the config in use.

The file is edited as text, touching only the ``allow`` list (comments, order and formatting
of everything else stay as they were), and the result is parsed again before it is written:
the edit must change the allow list and nothing else, or the file is left alone and a
:class:`ConfigError` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
import copy
import json
from pathlib import Path
import re
import tomllib
from typing import Any

from pytest_kisys.errors import ConfigError
from pytest_kisys.pep503 import canonicalize_name


_TOML_HEADER = re.compile(r"^\s*\[\s*tool\s*\.\s*kisys\s*\]\s*(#.*)?$")
_TOML_ANY_HEADER = re.compile(r"^\s*\[")
_TOML_ALLOW = re.compile(r"^(\s*)allow\s*=\s*")
_YAML_ALLOW = re.compile(r"^allow\s*:\s*(.*)$")


def learning_target(config_file: Path | None, rootdir: Path) -> Path:
    """The file learning writes to: the config in use, else pyproject.toml, else kisys.yaml."""
    if config_file is not None:
        return config_file
    pyproject = rootdir / "pyproject.toml"
    return pyproject if pyproject.is_file() else rootdir / "kisys.yaml"


def learn(path: Path, names: Sequence[str]) -> tuple[str, ...]:
    """Add ``names`` to the allow list in ``path``; returns the names actually added."""
    is_yaml = path.suffix in {".yaml", ".yml"}
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    current = _yaml_allow(text, path) if is_yaml else _toml_allow(text, path)
    known = {canonicalize_name(name) for name in current}
    added: list[str] = []
    for name in names:
        key = canonicalize_name(name)
        if key not in known:
            known.add(key)
            added.append(name)
    if not added:
        return ()
    edited = _edit_yaml(text, added) if is_yaml else _edit_toml(text, added)
    _check_only_allow_changed(path, text, edited, current + added, is_yaml)
    path.write_text(edited, encoding="utf-8")
    return tuple(added)


def _toml_load(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"kisys: cannot learn into {path}: it is not valid TOML ({exc})") from exc


def _toml_allow(text: str, path: Path) -> list[str]:
    table = _toml_load(text, path).get("tool", {}).get("kisys", {})
    value = table.get("allow", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"kisys: cannot learn into {path}: [tool.kisys] allow is not a list of names")
    return list(value)


def _yaml_load(text: str, path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"kisys: cannot learn into {path}: it is not valid YAML ({exc})") from exc


def _yaml_allow(text: str, path: Path) -> list[str]:
    data = _yaml_load(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"kisys: cannot learn into {path}: the top level is not a mapping")
    value = data.get("allow") or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"kisys: cannot learn into {path}: 'allow' is not a list of names")
    return list(value)


def _edit_toml(text: str, names: Sequence[str]) -> str:
    quoted = ", ".join(json.dumps(name) for name in names)
    lines = text.splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if _TOML_HEADER.match(line)), None)
    if header is None:
        separator = "" if not text or text.endswith("\n") else "\n"
        blank = "\n" if text.strip() else ""
        return f"{text}{separator}{blank}[tool.kisys]\nallow = [{quoted}]\n"
    end = next((i for i in range(header + 1, len(lines)) if _TOML_ANY_HEADER.match(lines[i])), len(lines))
    for i in range(header + 1, end):
        match = _TOML_ALLOW.match(lines[i])
        if match:
            return _extend_toml_array(lines, i, match.end(), names)
    newline = "" if lines[header].endswith("\n") else "\n"
    lines.insert(header + 1, f"{newline}allow = [{quoted}]\n")
    return "".join(lines)


def _extend_toml_array(lines: list[str], row: int, column: int, names: Sequence[str]) -> str:
    """Insert ``names`` before the closing bracket of the array starting at ``lines[row]``."""
    text = "".join(lines)
    start = sum(len(line) for line in lines[:row]) + column
    if start >= len(text) or text[start] != "[":
        raise ConfigError("kisys: cannot learn: [tool.kisys] allow is not an inline array")
    depth, i, last_item_end = 0, start, start + 1
    quote: str | None = None
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == "\\" and quote == '"':
                i += 2
                continue
            if char == quote:
                quote = None
                last_item_end = i + 1
        elif char in "\"'":
            quote = char
        elif char == "#":
            i = text.find("\n", i)
            if i == -1:
                break
            continue
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                break
        elif char == ",":
            last_item_end = i + 1
        i += 1
    else:
        raise ConfigError("kisys: cannot learn: the allow array is not closed")
    close = i
    inner = text[start + 1 : close]
    has_items = bool(re.sub(r"#.*", "", inner).strip().strip(","))
    quoted = [json.dumps(name) for name in names]
    if "\n" in inner and has_items:
        # Multi-line array: one entry per line, indented like the existing entries.
        indent = re.search(r"\n([ \t]+)\S", inner)
        pad = indent.group(1) if indent else "    "
        before = text[:last_item_end]
        comma = "" if before.rstrip().endswith(",") else ","
        addition = comma + "".join(f"\n{pad}{q}," for q in quoted)
        return before + addition + text[last_item_end:]
    prefix = ", " if has_items and not inner.rstrip().endswith(",") else ""
    if has_items and inner.rstrip().endswith(","):
        prefix = " "
    body = inner.rstrip()
    return text[: start + 1] + body + prefix + ", ".join(quoted) + text[close:]


def _edit_yaml(text: str, names: Sequence[str]) -> str:
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        match = _YAML_ALLOW.match(line.rstrip("\r\n"))
        if not match:
            continue
        rest = re.sub(r"\s+#.*$", "", match.group(1)).strip()
        if rest.startswith("["):
            inner = rest[1 : rest.rindex("]")].strip().rstrip(",")
            items = [inner] if inner else []
            items += [json.dumps(name) for name in names]
            lines[i] = f"allow: [{', '.join(items)}]\n"
            return "".join(lines)
        if rest in {"", "~", "null"}:
            j = i + 1
            indent = "  "
            last = i
            while j < len(lines):
                stripped = lines[j].strip()
                if stripped.startswith("- "):
                    indent = lines[j][: len(lines[j]) - len(lines[j].lstrip())]
                    last = j
                elif stripped and not stripped.startswith("#"):
                    break
                j += 1
            if rest:
                lines[i] = "allow:\n"
            if not lines[last].endswith("\n"):
                lines[last] += "\n"
            new = [f"{indent}- {json.dumps(name)}\n" for name in names]
            return "".join(lines[: last + 1] + new + lines[last + 1 :])
        raise ConfigError("kisys: cannot learn: 'allow' in the YAML file is not a list")
    separator = "" if not text or text.endswith("\n") else "\n"
    entries = "".join(f"  - {json.dumps(name)}\n" for name in names)
    return f"{text}{separator}allow:\n{entries}"


def _check_only_allow_changed(
    path: Path, before: str, after: str, expected: list[str], is_yaml: bool
) -> None:
    old = (_yaml_load(before, path) or {}) if is_yaml else _toml_load(before, path)
    new = (_yaml_load(after, path) or {}) if is_yaml else _toml_load(after, path)
    old_rest, new_rest = copy.deepcopy(old), copy.deepcopy(new)
    if is_yaml:
        new_allow = new_rest.pop("allow", None)
        old_rest.pop("allow", None)
    else:
        new_allow = new_rest.get("tool", {}).get("kisys", {}).pop("allow", None)
        old_rest.get("tool", {}).get("kisys", {}).pop("allow", None)
        for rest in (old_rest, new_rest):
            if rest.get("tool", {}).get("kisys") == {}:
                del rest["tool"]["kisys"]
            if rest.get("tool") == {}:
                del rest["tool"]
    if new_allow != expected or old_rest != new_rest:
        raise ConfigError(
            f"kisys: could not add {expected[len(expected) - 1]!r} to the allow list of {path} "
            "without changing anything else; add it by hand"
        )
