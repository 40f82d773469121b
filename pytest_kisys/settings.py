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

from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
from dataclasses import field
import os
from pathlib import Path
from typing import Any
from typing import Literal
from typing import TYPE_CHECKING

from pytest_kisys.config_files import RawValue
from pytest_kisys.config_files import read_pyproject
from pytest_kisys.config_files import read_yaml
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
    "SEVERITIES",
    "SEVERITY_RANK",
    "SCANS",
    "IgnoreRule",
    "IndexSettings",
    "RawValue",
    "Settings",
    "describe_sources",
    "for_command",
    "resolve",
    "to_bool",
    "to_project_names",
]

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
    osv_batch: bool = True
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
