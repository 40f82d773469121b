"""Converters of single values and lists: booleans, choices, numbers, paths, names, durations.

Each takes the raw value of one option, the option's name and where it was given, and returns
the typed value or raises a :class:`~pytest_kisys.errors.ConfigError` naming all three.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
import re
from typing import Any

from pytest_kisys.errors import ConfigError
from pytest_kisys.pep503 import canonicalize_name
from pytest_kisys.pep503 import InvalidName
from pytest_kisys.vet.release_age import DURATION_ALLOWED
from pytest_kisys.vet.release_age import parse_duration


SCANS = ("code", "deps", "secrets")
CODE_TOOLS = ("bandit", "semgrep")
"""The code scanners ``code:<tool>`` selects; plain ``code`` means every one that is set up."""
TRACE_KEEP = re.compile(r"^(all|failed|slow:(\d+(\.\d+)?))$")
Converter = Callable[[Any, str, str], Any]


def bad_value(key: str, where: str, raw: Any, allowed: str) -> ConfigError:
    """The usage error for ``raw`` given as ``key`` in ``where``, naming what ``allowed`` is."""
    return ConfigError(f"kisys: invalid value {raw!r} for {key!r} in {where}: expected {allowed}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def to_bool(raw: Any, key: str, where: str) -> bool:
    """Accept TOML/YAML booleans and the usual true/false spellings in strings."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise bad_value(key, where, raw, "true or false")


def choice(choices: Sequence[str]) -> Converter:
    """A converter to one of ``choices`` (case-insensitive)."""

    def convert(raw: Any, key: str, where: str) -> str:
        if isinstance(raw, str) and raw.strip().lower() in choices:
            return raw.strip().lower()
        raise bad_value(key, where, raw, "one of " + ", ".join(choices))

    return convert


def number(kind: type[int] | type[float]) -> Converter:
    """A converter to a non-negative finite ``int`` or ``float``."""
    noun = "a whole number >= 0" if kind is int else "a number >= 0"

    def convert(raw: Any, key: str, where: str) -> int | float:
        if isinstance(raw, bool):
            raise bad_value(key, where, raw, noun)
        try:
            value = kind(raw.strip()) if isinstance(raw, str) else kind(raw)
        except (TypeError, ValueError, OverflowError):
            raise bad_value(key, where, raw, noun) from None
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            raise bad_value(key, where, raw, noun)  # "inf" seconds overflow every timer
        if isinstance(raw, float) and kind is int and raw != int(raw):
            raise bad_value(key, where, raw, noun)
        if value < 0 or value != value:  # negative or NaN
            raise bad_value(key, where, raw, noun)
        return value

    return convert


def positive_int(raw: Any, key: str, where: str) -> int:
    """A whole number of at least 1."""
    try:
        value = number(int)(raw, key, where)
    except ConfigError:
        value = 0
    if value < 1:
        raise bad_value(key, where, raw, "a whole number >= 1")
    return int(value)


def to_path(raw: Any, key: str, where: str) -> Path:
    """A non-empty path string as a :class:`~pathlib.Path`."""
    if isinstance(raw, str) and raw.strip():
        return Path(raw.strip())
    raise bad_value(key, where, raw, "a file path")


def opt_str(pattern: re.Pattern[str], allowed: str) -> Converter:
    """A converter to a string that fully matches ``pattern``."""

    def convert(raw: Any, key: str, where: str) -> str:
        if isinstance(raw, str) and pattern.fullmatch(raw.strip()):
            return raw.strip()
        raise bad_value(key, where, raw, allowed)

    return convert


def split_list(raw: Any, key: str, where: str, what: str) -> list[str]:
    """A comma/space separated string or a list of strings, as a list of stripped parts."""
    if isinstance(raw, str):
        return [part.strip() for part in re.split(r"[,\s]+", raw) if part.strip()]
    if isinstance(raw, list | tuple) and all(isinstance(item, str) for item in raw):
        # Repeated flags may each hold a comma list; list entries from files are taken whole,
        # so "not a name" is reported instead of silently becoming three names.
        out: list[str] = []
        for item in raw:
            out.extend(part.strip() for part in item.split(",") if part.strip())
        return out
    raise bad_value(key, where, raw, what)


def to_project_names(raw: Any, key: str, where: str) -> tuple[str, ...]:
    """A list of valid PEP 508 project names, canonicalised (PEP 503), order kept, no repeats."""
    allowed = "a list of project names (letters, digits, '.', '_', '-'; e.g. numpy, scikit-learn)"
    names = split_list(raw, key, where, allowed)
    out: list[str] = []
    for name in names:
        try:
            canonical: str = canonicalize_name(name, validate=True)
        except InvalidName:
            canonical = ""
        if not canonical or len(name) > 100:
            raise ConfigError(
                f"kisys: {name!r} in {key!r} ({where}) is not a valid project name: expected {allowed}"
            )
        out.append(canonical)
    return tuple(dict.fromkeys(out))  # order kept, no repeats, linear


def scan_set(raw: Any, key: str, where: str) -> frozenset[str]:
    """The checks ``scan`` selects (``all``, ``none``, ``code[:tool]``, ``deps``, ``secrets``)."""
    allowed = "a comma list of all, none, code, code:bandit, code:semgrep, deps, secrets"
    parts = split_list(raw, key, where, allowed)
    chosen: set[str] = set()
    for part in parts:
        part = part.lower()
        if part == "all":
            chosen.update(SCANS)
        elif part.startswith("code:") and part[5:] in CODE_TOOLS:
            chosen.update(("code", part))
        elif part == "none":
            if len(parts) > 1:
                raise bad_value(key, where, raw, "'none' alone, or " + allowed)
        elif part in SCANS:
            chosen.add(part)
        else:
            raise bad_value(key, where, raw, allowed)
    if not parts:
        raise bad_value(key, where, raw, allowed)
    return frozenset(chosen)


_REGISTRY_CONFIG = re.compile(r"^(auto|[prs]/.*|[a-z][a-z0-9+.-]*://.*)$", re.IGNORECASE)


def semgrep_rules(raw: Any, key: str, where: str) -> tuple[Path, ...]:
    """Local semgrep rule files or directories; registry names and URLs are refused."""
    allowed = "a list of local semgrep rule files or directories (never registry names or URLs)"
    out: list[Path] = []
    for part in split_list(raw, key, where, allowed):
        if _REGISTRY_CONFIG.match(part):
            raise ConfigError(
                f"kisys: {part!r} in {key!r} ({where}) is not a local rule file: kisys never uses "
                f"the semgrep registry; expected {allowed}"
            )
        out.append(Path(part))
    return tuple(out)


def str_table(values: Sequence[str] | None, allowed: str) -> Converter:
    """A converter to a table of strings, each one of ``values`` when given."""

    def convert(raw: Any, key: str, where: str) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise bad_value(key, where, raw, allowed)
        out: dict[str, str] = {}
        for name, value in raw.items():
            text = value.strip().lower() if isinstance(value, str) and values else value
            if not isinstance(name, str) or not isinstance(text, str) or (values and text not in values):
                raise bad_value(f"{key}.{name}", where, value, allowed)
            out[name] = text
        return out

    return convert


def globs(raw: Any, key: str, where: str) -> tuple[str, ...]:
    """A list of path globs."""
    return tuple(split_list(raw, key, where, "a list of path globs (e.g. tests/**, *.json)"))


def trace_sink(raw: Any, key: str, where: str) -> str:
    """The span sink: ``none``, ``console``, ``otlp`` or ``file:PATH``."""
    allowed = "none, console, otlp or file:PATH"
    if isinstance(raw, str):
        value = raw.strip()
        if value.lower() in ("none", "console", "otlp"):
            return value.lower()
        if value.startswith("file:") and len(value) > len("file:"):
            return value
    raise bad_value(key, where, raw, allowed)


def otel_exporter(raw: Any, key: str, where: str) -> str:
    # OTEL_TRACES_EXPORTER may be a comma list; take the first exporter we support.
    allowed = "none, console or otlp (OpenTelemetry exporter names)"
    for part in split_list(raw, key, where, allowed):
        if part.lower() in ("none", "console", "otlp"):
            return part.lower()
    raise bad_value(key, where, raw, allowed)


def duration(raw: Any, key: str, where: str) -> float:
    """A duration such as ``7d``, ``48h`` or ``0``, in seconds."""
    if isinstance(raw, bool):
        raise bad_value(key, where, raw, DURATION_ALLOWED)
    try:
        return parse_duration(str(raw))
    except ValueError:
        raise bad_value(key, where, raw, DURATION_ALLOWED) from None


def names_or_paths(raw: Any, key: str, where: str, *, paths: bool = True) -> tuple[str, ...]:
    """Dependency-group names or relative paths (or, with ``paths=False``, extra names)."""
    what = "group names or paths relative to rootdir" if paths else "extra names"
    allowed = f"a list of {what}"
    if isinstance(raw, list) and not raw:
        return ()
    out = []
    for item in split_list(raw, key, where, allowed):
        shape = r"[A-Za-z0-9][\w./-]*" if paths else r"[A-Za-z0-9][\w.-]*"
        if not re.fullmatch(shape, item) or ".." in item.split("/") or len(item) > 200:
            raise bad_value(key, where, item, allowed)
        out.append(item)
    return tuple(out)


_ENV_PART = re.compile(r"[A-Za-z0-9_]+")


def mask_env(raw: Any, key: str, where: str) -> tuple[str, ...]:
    """Environment-variable name parts whose variables are masked, upper-cased, no repeats."""
    allowed = "a list of environment variable name parts (letters, digits, '_'; e.g. TOKEN, DSN)"
    parts = split_list(raw, key, where, allowed) if raw != [] else []
    for part in parts:
        if not _ENV_PART.fullmatch(part):
            raise ConfigError(f"kisys: {part!r} in {key!r} ({where}) is not {allowed}")
    return tuple(dict.fromkeys(part.upper() for part in parts))
