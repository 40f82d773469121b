"""One frozen :class:`Settings`, resolved once per run, that remembers where each value came from.

Precedence, highest first: command line > environment > pytest ini / ``[tool.kisys]`` in
``pyproject.toml`` > ``kisys.yaml`` at rootdir > built-in defaults.

Every key is declared once, as data, in :data:`pytest_kisys.options.OPTIONS`; the command-line
options, their ini twins, the environment variables, the validation (one converter per key in
:mod:`pytest_kisys.convert`) and the documentation table are all derived from it.
This module imports only the standard library at import time: ``yaml`` is imported only when a
``kisys.yaml`` exists.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
from dataclasses import field
import difflib
import os
from pathlib import Path
from typing import Any
from typing import Literal
from typing import TYPE_CHECKING

import pytest

from pytest_kisys.convert import CODE_TOOLS
from pytest_kisys.convert import CONVERTERS
from pytest_kisys.convert import IgnoreRule
from pytest_kisys.convert import IndexSettings
from pytest_kisys.convert import otel_exporter
from pytest_kisys.convert import SCANS
from pytest_kisys.convert import to_bool
from pytest_kisys.convert import to_project_names
from pytest_kisys.errors import ConfigError
from pytest_kisys.options import Option
from pytest_kisys.options import OPTIONS
from pytest_kisys.options import OPTIONS_BY_NAME
from pytest_kisys.options import SEVERITIES
from pytest_kisys.vet.release_age import DEFAULT_MIN_RELEASE_AGE
from pytest_kisys.vet.release_age import ReleaseAgeExemption


if TYPE_CHECKING:
    from pytest_kisys.secrets.interface import SecretRef
from pytest_kisys.options import DEFAULT_MASK_ENV
from pytest_kisys.options import SEVERITY_RANK


DEFAULT_SECRETS_TEST_PATHS = (
    "tests/**", "test/**", "testing/**", "testdata/**", "test_data/**", "fixtures/**",
    "**/tests/**", "**/test/**", "**/testdata/**", "**/test_data/**", "**/fixtures/**",
    "**/zoneinfo/**", "*.json", "*.csv", "*.tsv", "*.jsonl", "*.ndjson",
)
"""Where a detect-secrets hit counts one severity lower (``secrets_test_paths``)."""

Level = Literal["paranoid", "balanced", "autonomous"]
Backend = Literal["pip", "uv", "auto"]


__all__ = [
    "CODE_TOOLS",
    "DEFAULT_SECRETS_TEST_PATHS",
    "SETTINGS_KEY",
    "SEVERITIES",
    "SEVERITY_RANK",
    "SCANS",
    "IgnoreRule",
    "IndexSettings",
    "RawValue",
    "Settings",
    "describe_sources",
    "enabled_in_files",
    "for_command",
    "read_pyproject",
    "read_yaml",
    "resolve",
    "to_bool",
    "to_project_names",
]

SETTINGS_KEY: pytest.StashKey[Settings] = pytest.StashKey()


@dataclass(frozen=True)
class Settings:
    """Everything pytest-kisys needs to know about one run, resolved once and never mutated.

    ``sources`` maps each field name to where its value came from, for example ``"default"``,
    ``"command line --kisys-level"``, ``"env KISYS_LEVEL"``, ``"pyproject.toml [tool.kisys]"``
    or ``"kisys.yaml:3"``.
    """

    enabled: bool = False
    level: Level = "balanced"
    offline: bool = False
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    scan: frozenset[str] = frozenset(SCANS)
    semgrep_rules: tuple[Path, ...] = ()
    code_rule_pairs: Mapping[str, str] = field(default_factory=dict)
    secrets_severity: Mapping[str, str] = field(default_factory=dict)
    secrets_test_paths: tuple[str, ...] = DEFAULT_SECRETS_TEST_PATHS
    sarif_split: Path | None = None
    fail_on: str = "high"
    report: Path | None = None
    sarif: Path | None = None
    sbom: Path | None = None
    trace: str = "none"
    import_map: Mapping[str, str] = field(default_factory=dict)
    ignore: tuple[IgnoreRule, ...] = ()
    baseline: Mapping[str, Path] = field(default_factory=dict)
    index: IndexSettings = field(default_factory=IndexSettings)
    cache_dir: Path | None = None
    cache_ttl: float = 86400.0
    retries: int = 2
    backend: Backend = "auto"
    stages: tuple[Mapping[str, Any], ...] = ()
    max_workers: int = 0
    log_file: Path | None = None
    learn: bool = False
    allow_system_install: bool = False
    isolate: bool = False
    on_denied: str = "skip"
    scan_first: bool = False
    allow_inconclusive: bool = False
    audit_service: str = "pypi"
    osv_url: str | None = None
    scan_timeout: float = 600.0
    trace_timeout: float = 2.0
    trace_queue_max: int = 10_000
    trace_keep: str = "all"
    trace_phases: bool = False
    traceparent: str | None = None
    cost_per_cpu_hour: float | None = None
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)
    mask_env: tuple[str, ...] = DEFAULT_MASK_ENV
    mask: bool = True
    history: bool = True
    history_url: str | None = None
    history_keep: int = 200
    html: Path | None = None
    min_release_age: float = DEFAULT_MIN_RELEASE_AGE
    """Seconds a file must have been on the index before it is used (0: cooldown off)."""
    release_age_exempt: tuple[ReleaseAgeExemption, ...] = ()
    index_for: Mapping[str, str] = field(default_factory=dict)
    """Canonical project name -> the one index URL it may come from."""
    use_declared: bool = True
    declared: tuple[str, ...] = ()
    project_extras: tuple[str, ...] | None = None
    """None: every extra but docs/lint/release ones; ``()``: none."""
    rootdir: Path = field(default_factory=Path.cwd)
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def source_of(self, name: str) -> str:
        """Where the value of field ``name`` came from (``"default"`` when not set anywhere)."""
        return self.sources.get(name, "default")

    def resolved_cache_dir(self) -> Path:
        """The on-disk cache directory: ``cache_dir`` or ``$XDG_CACHE_HOME/pytest-kisys``.

        One that cannot be used (a file, under a file, unreadable) is replaced for this run by
        a temporary directory, with a :class:`~pytest_kisys.errors.CacheCorruptWarning`.
        """
        from pytest_kisys.cachedir import usable_cache_dir

        if self.cache_dir is not None:
            return usable_cache_dir(self.cache_dir)
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return usable_cache_dir(Path(base) / "pytest-kisys")

    def effective_workers(self) -> int:
        """Worker processes for parallel scans and stages (``max_workers``, else the CPU count)."""
        return self.max_workers or (os.cpu_count() or 1)


# --------------------------------------------------------------------------------------------
# Declaration of every key
# --------------------------------------------------------------------------------------------

"""``convert(raw, key, where) -> value``; raises :class:`ConfigError` naming key, where, allowed."""


KEYS = OPTIONS
KEYS_BY_NAME = OPTIONS_BY_NAME
_PATH_KEYS = {"report", "sarif", "sbom", "log_file", "cache_dir", "sarif_split", "html"}

_MERGED_KEYS = {"allow", "deny"}  # union across every tier: config lists plus this run's flags


@dataclass(frozen=True)
class RawValue:
    """A value as found in one place, before conversion; ``where`` is shown in errors."""

    value: Any
    where: str
    base: Path | None = None  # directory relative paths are resolved against


def _suggest(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_known(table: Mapping[str, Any], where: Callable[[str], str]) -> None:
    names = [key.name for key in KEYS]
    for name in table:
        if name not in KEYS_BY_NAME:
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


def _convert(key: Option, raw: RawValue) -> Any:
    value = CONVERTERS[key.name](raw.value, key.name, raw.where)
    if key.name in _PATH_KEYS and isinstance(value, Path) and raw.base is not None:
        value = value if value.is_absolute() else raw.base / value
    if key.name == "semgrep_rules" and raw.base is not None:
        value = tuple(v if v.is_absolute() else raw.base / v for v in value)
    if key.name == "baseline" and raw.base is not None:
        value = {k: v if v.is_absolute() else raw.base / v for k, v in value.items()}
    return value


def resolve(
    *,
    cli: Mapping[str, Sequence[Any]],
    environ: Mapping[str, str],
    ini: Mapping[str, RawValue],
    rootdir: Path,
    invocation_dir: Path | None = None,
) -> Settings:
    """Resolve every key once, by precedence, into a frozen :class:`Settings`.

    :param cli: key name -> values given on the command line (several for repeated flags).
    :param environ: the environment (read only; never modified).
    :param ini: key name -> raw value from the pytest ini file (``kisys_<name>`` twins).
    :param rootdir: where ``pyproject.toml`` and ``kisys.yaml`` are looked up and config-file
        paths are relative to.
    :raises ConfigError: naming the key, where it was given and what is allowed.
    """
    cwd = invocation_dir or Path.cwd()
    pyproject = read_pyproject(rootdir)
    yaml_values = read_yaml(rootdir)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    config_file: Path | None = None
    if pyproject:
        config_file = rootdir / "pyproject.toml"
    elif yaml_values:
        config_file = rootdir / "kisys.yaml"

    for key in KEYS:
        tiers: list[RawValue] = []
        given = [value for value in cli.get(key.name, ()) if value is not None]
        if given:
            flag = key.flag or key.name
            if not key.multi:
                distinct = list(dict.fromkeys(str(v) for v in given))
                if len(distinct) > 1:
                    raise ConfigError(
                        f"kisys: {flag} was given {len(given)} times with conflicting values "
                        f"{distinct}: give it once"
                    )
            tiers.append(RawValue(given if key.multi else given[-1], f"command line {flag}", cwd))
        if key.env and environ.get(key.env, "").strip():
            tiers.append(RawValue(environ[key.env], f"env {key.env}", cwd))
        file_tier = [raw for raw in (ini.get(key.name), pyproject.get(key.name)) if raw]
        if len(file_tier) == 2:
            first, second = (_convert(key, raw) for raw in file_tier)
            if first != second and key.name not in _MERGED_KEYS:
                raise ConfigError(
                    f"kisys: {key.name!r} is set to conflicting values in {file_tier[0].where} "
                    f"({file_tier[0].value!r}) and {file_tier[1].where} ({file_tier[1].value!r}): "
                    "set it in one place"
                )
        tiers.extend(file_tier)
        if key.name in yaml_values:
            tiers.append(yaml_values[key.name])
        converted: list[tuple[Any, RawValue]] = []
        for raw in tiers:
            try:
                converted.append((_convert(key, raw), raw))
            except ConfigError:
                # An unparseable inherited TRACEPARENT is ignored, as W3C trace context says.
                if key.name == "traceparent" and raw.where.startswith("env "):
                    continue
                raise
        if not converted:
            if key.name == "trace" and environ.get("OTEL_TRACES_EXPORTER", "").strip():
                values["trace"] = otel_exporter(
                    environ["OTEL_TRACES_EXPORTER"], "OTEL_TRACES_EXPORTER", "the environment"
                )
                sources["trace"] = "env OTEL_TRACES_EXPORTER"
            continue
        if key.name in _MERGED_KEYS:
            # Order-preserving union in linear time (a 20k-entry allow list took seconds).
            merged = dict.fromkeys(name for value, _raw in reversed(converted) for name in value)
            values[key.name] = tuple(merged)
            sources[key.name] = " + ".join(raw.where for _v, raw in converted)
        else:
            values[key.name], raw = converted[0]
            sources[key.name] = raw.where
    return Settings(
        **values, rootdir=rootdir, config_file=config_file, sources=dict(sources)
    )


def describe_sources(settings: Settings) -> list[str]:
    """One line per non-default setting with its source, for ``-v`` headers and docs."""
    lines = []
    for fld in dataclasses.fields(settings):
        if fld.name in settings.sources:
            value = getattr(settings, fld.name)
            lines.append(f"{fld.name} = {value!r}  ({settings.sources[fld.name]})")
    return lines


def for_command(cli: Mapping[str, Sequence[Any]], rootdir: Path | None = None) -> Settings:
    """Settings for the ``kisys`` console script: the same sources and precedence as the plugin.

    ``cli`` holds the verb's own flags by key name (e.g. ``{"level": ["paranoid"]}``); the
    environment, ``[tool.kisys]`` and ``kisys.yaml`` of ``rootdir`` (default: the current
    directory) fill in the rest. There is no pytest ini file outside pytest.

    :raises ConfigError: as :func:`resolve`.
    """
    root = rootdir or Path.cwd()
    resolved = resolve(cli=cli, environ=os.environ, ini={}, rootdir=root, invocation_dir=root)
    return dataclasses.replace(resolved, enabled=True)
