"""One frozen :class:`Settings`, resolved once per run, that remembers where each value came from.

Precedence, highest first: command line > environment > pytest ini / ``[tool.kisys]`` in
``pyproject.toml`` > ``kisys.yaml`` at rootdir > built-in defaults.

Every key is declared once in :data:`KEYS`; the command-line options, their ini twins, the
environment variables, the validation and the documentation table are all derived from it.
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
import datetime as dt
import difflib
import os
from pathlib import Path
import re
from typing import Any
from typing import Literal
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
import pytest

from pytest_kisys.errors import ConfigError
from pytest_kisys.options import AUDIT_SERVICES
from pytest_kisys.options import BACKENDS
from pytest_kisys.options import DEFAULT_MASK_ENV
from pytest_kisys.options import FAIL_ON
from pytest_kisys.options import LEVELS
from pytest_kisys.options import ON_DENIED
from pytest_kisys.options import Option
from pytest_kisys.options import OPTIONS
from pytest_kisys.options import OPTIONS_BY_NAME
from pytest_kisys.options import SEVERITIES
from pytest_kisys.vet.release_age import DEFAULT_MIN_RELEASE_AGE
from pytest_kisys.vet.release_age import DURATION_ALLOWED
from pytest_kisys.vet.release_age import parse_duration
from pytest_kisys.vet.release_age import ReleaseAgeExemption


if TYPE_CHECKING:
    from pytest_kisys.secrets.interface import SecretRef


SCANS = ("code", "deps", "secrets")
CODE_TOOLS = ("bandit", "semgrep")
"""The code scanners ``code:<tool>`` selects; plain ``code`` means every one that is set up."""
DEFAULT_SECRETS_TEST_PATHS = (
    "tests/**", "test/**", "testing/**", "testdata/**", "test_data/**", "fixtures/**",
    "**/tests/**", "**/test/**", "**/testdata/**", "**/test_data/**", "**/fixtures/**",
    "**/zoneinfo/**", "*.json", "*.csv", "*.tsv", "*.jsonl", "*.ndjson",
)
"""Where a detect-secrets hit counts one severity lower (``secrets_test_paths``)."""

Level = Literal["paranoid", "balanced", "autonomous"]
Backend = Literal["pip", "uv", "auto"]

# PEP 508 project name (before canonicalisation), used for allow/deny entries.
_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_TRACE_KEEP = re.compile(r"^(all|failed|slow:(\d+(\.\d+)?))$")

SETTINGS_KEY: pytest.StashKey[Settings] = pytest.StashKey()


@dataclass(frozen=True)
class IgnoreRule:
    """Suppresses findings whose id, fingerprint or rule equals :attr:`id` until :attr:`expires`."""

    id: str
    reason: str
    expires: dt.date | None = None

    def expired(self, today: dt.date | None = None) -> bool:
        """Whether the rule has stopped applying (the expiry day itself still applies)."""
        if self.expires is None:
            return False
        return (today or dt.date.today()) > self.expires


@dataclass(frozen=True)
class IndexSettings:
    """Which package index to vet against. ``url`` None means: whatever pip is configured with."""

    url: str | None = None
    cert: str | None = None
    timeout: float = 10.0


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

Converter = Callable[[Any, str, str], Any]
"""``convert(raw, key, where) -> value``; raises :class:`ConfigError` naming key, where, allowed."""


def _bad(key: str, where: str, raw: Any, allowed: str) -> ConfigError:
    return ConfigError(f"kisys: invalid value {raw!r} for {key!r} in {where}: expected {allowed}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def to_bool(raw: Any, key: str, where: str) -> bool:
    """Accept TOML/YAML booleans and the usual true/false spellings in strings."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise _bad(key, where, raw, "true or false")


def _choice(choices: Sequence[str]) -> Converter:
    def convert(raw: Any, key: str, where: str) -> str:
        if isinstance(raw, str) and raw.strip().lower() in choices:
            return raw.strip().lower()
        raise _bad(key, where, raw, "one of " + ", ".join(choices))

    return convert


def _number(kind: type[int] | type[float]) -> Converter:
    noun = "a whole number >= 0" if kind is int else "a number >= 0"

    def convert(raw: Any, key: str, where: str) -> int | float:
        if isinstance(raw, bool):
            raise _bad(key, where, raw, noun)
        try:
            value = kind(raw.strip()) if isinstance(raw, str) else kind(raw)
        except (TypeError, ValueError, OverflowError):
            raise _bad(key, where, raw, noun) from None
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            raise _bad(key, where, raw, noun)  # "inf" seconds overflow every timer
        if isinstance(raw, float) and kind is int and raw != int(raw):
            raise _bad(key, where, raw, noun)
        if value < 0 or value != value:  # negative or NaN
            raise _bad(key, where, raw, noun)
        return value

    return convert


def _path(raw: Any, key: str, where: str) -> Path:
    if isinstance(raw, str) and raw.strip():
        return Path(raw.strip())
    raise _bad(key, where, raw, "a file path")


def _opt_str(pattern: re.Pattern[str], allowed: str) -> Converter:
    def convert(raw: Any, key: str, where: str) -> str:
        if isinstance(raw, str) and pattern.fullmatch(raw.strip()):
            return raw.strip()
        raise _bad(key, where, raw, allowed)

    return convert


def _split_list(raw: Any, key: str, where: str, what: str) -> list[str]:
    if isinstance(raw, str):
        return [part.strip() for part in re.split(r"[,\s]+", raw) if part.strip()]
    if isinstance(raw, list | tuple) and all(isinstance(item, str) for item in raw):
        # Repeated flags may each hold a comma list; list entries from files are taken whole,
        # so "not a name" is reported instead of silently becoming three names.
        out: list[str] = []
        for item in raw:
            out.extend(part.strip() for part in item.split(",") if part.strip())
        return out
    raise _bad(key, where, raw, what)


def to_project_names(raw: Any, key: str, where: str) -> tuple[str, ...]:
    """A list of valid PEP 508 project names, canonicalised (PEP 503), order kept, no repeats."""
    allowed = "a list of project names (letters, digits, '.', '_', '-'; e.g. numpy, scikit-learn)"
    names = _split_list(raw, key, where, allowed)
    out: list[str] = []
    for name in names:
        if not _PROJECT_NAME.match(name) or len(name) > 100:
            raise ConfigError(
                f"kisys: {name!r} in {key!r} ({where}) is not a valid project name: "
                f"expected {allowed}"
            )
        out.append(canonicalize_name(name))
    return tuple(dict.fromkeys(out))  # order kept, no repeats, linear


def _scan(raw: Any, key: str, where: str) -> frozenset[str]:
    allowed = "a comma list of all, none, code, code:bandit, code:semgrep, deps, secrets"
    parts = _split_list(raw, key, where, allowed)
    chosen: set[str] = set()
    for part in parts:
        part = part.lower()
        if part == "all":
            chosen.update(SCANS)
        elif part.startswith("code:") and part[5:] in CODE_TOOLS:
            chosen.update(("code", part))
        elif part == "none":
            if len(parts) > 1:
                raise _bad(key, where, raw, "'none' alone, or " + allowed)
        elif part in SCANS:
            chosen.add(part)
        else:
            raise _bad(key, where, raw, allowed)
    if not parts:
        raise _bad(key, where, raw, allowed)
    return frozenset(chosen)


_REGISTRY_CONFIG = re.compile(r"^(auto|[prs]/.*|[a-z][a-z0-9+.-]*://.*)$", re.IGNORECASE)


def _semgrep_rules(raw: Any, key: str, where: str) -> tuple[Path, ...]:
    allowed = "a list of local semgrep rule files or directories (never registry names or URLs)"
    out: list[Path] = []
    for part in _split_list(raw, key, where, allowed):
        if _REGISTRY_CONFIG.match(part):
            raise ConfigError(
                f"kisys: {part!r} in {key!r} ({where}) is not a local rule file: kisys never uses "
                f"the semgrep registry; expected {allowed}"
            )
        out.append(Path(part))
    return tuple(out)


def _str_table(values: Sequence[str] | None, allowed: str) -> Converter:
    def convert(raw: Any, key: str, where: str) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise _bad(key, where, raw, allowed)
        out: dict[str, str] = {}
        for name, value in raw.items():
            text = value.strip().lower() if isinstance(value, str) and values else value
            if not isinstance(name, str) or not isinstance(text, str) or (values and text not in values):
                raise _bad(f"{key}.{name}", where, value, allowed)
            out[name] = text
        return out

    return convert


def _globs(raw: Any, key: str, where: str) -> tuple[str, ...]:
    return tuple(_split_list(raw, key, where, "a list of path globs (e.g. tests/**, *.json)"))


def _trace(raw: Any, key: str, where: str) -> str:
    allowed = "none, console, otlp or file:PATH"
    if isinstance(raw, str):
        value = raw.strip()
        if value.lower() in ("none", "console", "otlp"):
            return value.lower()
        if value.startswith("file:") and len(value) > len("file:"):
            return value
    raise _bad(key, where, raw, allowed)


def _otel_exporter(raw: Any, key: str, where: str) -> str:
    # OTEL_TRACES_EXPORTER may be a comma list; take the first exporter we support.
    allowed = "none, console or otlp (OpenTelemetry exporter names)"
    for part in _split_list(raw, key, where, allowed):
        if part.lower() in ("none", "console", "otlp"):
            return part.lower()
    raise _bad(key, where, raw, allowed)


def _import_map(raw: Any, key: str, where: str) -> dict[str, str]:
    allowed = "a table of import name = project name (e.g. cv2 = \"opencv-python\")"
    if not isinstance(raw, dict):
        raise _bad(key, where, raw, allowed)
    out: dict[str, str] = {}
    for module, project in raw.items():
        if not isinstance(module, str) or not module.isidentifier():
            raise ConfigError(
                f"kisys: {module!r} in {key!r} ({where}) is not an import name: expected {allowed}"
            )
        (name,) = to_project_names([project] if isinstance(project, str) else project, key, where)
        out[module] = name
    return out


def _expiring(
    raw: Any, key: str, where: str, id_field: str, allowed: str
) -> list[tuple[str, str, dt.date | None]]:
    """``(id, reason, expiry)`` of a list of tables with ``id_field``, ``reason`` and an
    optional ``expires`` date: the shape of ``ignore`` and ``release_age_exempt``."""
    if not isinstance(raw, list):
        raise _bad(key, where, raw, allowed)
    entries: list[tuple[str, str, dt.date | None]] = []
    for index, entry in enumerate(raw):
        label = f"{key}[{index}]"
        if not isinstance(entry, dict):
            raise _bad(label, where, entry, allowed)
        unknown = set(entry) - {id_field, "reason", "expires"}
        if unknown:
            raise ConfigError(
                f"kisys: unknown field(s) {sorted(unknown)} in {label} ({where}): "
                f"expected {allowed}"
            )
        rule_id = entry.get(id_field)
        if not isinstance(rule_id, str) or not rule_id.strip():
            raise ConfigError(f"kisys: {label} ({where}) has no {id_field}: expected {allowed}")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(
                f"kisys: {label} ({where}) {'ignores' if id_field == 'id' else 'exempts'} "
                f"{rule_id!r} without a reason: every entry needs reason = \"why this is acceptable\""
            )
        expires = entry.get("expires")
        expiry: dt.date | None = None
        if isinstance(expires, dt.datetime):
            expiry = expires.date()
        elif isinstance(expires, dt.date):
            expiry = expires
        elif isinstance(expires, str):
            try:
                expiry = dt.date.fromisoformat(expires.strip())
            except ValueError:
                raise ConfigError(
                    f"kisys: {label} ({where}) has an unparseable expires {expires!r}: "
                    "expected a date as YYYY-MM-DD"
                ) from None
        elif expires is not None:
            raise ConfigError(
                f"kisys: {label} ({where}) has an unparseable expires {expires!r}: "
                "expected a date as YYYY-MM-DD"
            )
        entries.append((rule_id.strip(), reason.strip(), expiry))
    return entries


def _ignore(raw: Any, key: str, where: str) -> tuple[IgnoreRule, ...]:
    allowed = (
        "a list of tables with id (finding id, fingerprint or rule), reason, "
        "and optional expires (YYYY-MM-DD)"
    )
    return tuple(IgnoreRule(*entry) for entry in _expiring(raw, key, where, "id", allowed))


def _release_age_exempt(raw: Any, key: str, where: str) -> tuple[ReleaseAgeExemption, ...]:
    allowed = "a list of tables with name (a project), reason, and optional expires (YYYY-MM-DD)"
    out = []
    for name, reason, expiry in _expiring(raw, key, where, "name", allowed):
        (project,) = to_project_names([name], f"{key}.name", where)
        out.append(ReleaseAgeExemption(project, reason, expiry))
    return tuple(out)


def _duration(raw: Any, key: str, where: str) -> float:
    if isinstance(raw, bool):
        raise _bad(key, where, raw, DURATION_ALLOWED)
    try:
        return parse_duration(str(raw))
    except ValueError:
        raise _bad(key, where, raw, DURATION_ALLOWED) from None


def _index_for(raw: Any, key: str, where: str) -> dict[str, str]:
    allowed = "a table of project name = index URL (http://, https:// or file://)"
    if not isinstance(raw, dict):
        raise _bad(key, where, raw, allowed)
    out: dict[str, str] = {}
    for name, url in raw.items():
        (project,) = to_project_names([name], key, where)
        if not (isinstance(url, str) and re.match(r"^(https?|file)://\S+$", url)):
            raise _bad(f"{key}.{name}", where, url, "an http://, https:// or file:// index URL")
        out[project] = url.rstrip("/")
    return out


def _baseline(raw: Any, key: str, where: str) -> dict[str, Path]:
    allowed = "a table with code and/or secrets = path to the baseline file"
    if not isinstance(raw, dict) or not set(raw) <= {"code", "secrets"}:
        raise _bad(key, where, raw, allowed)
    return {name: _path(value, f"{key}.{name}", where) for name, value in raw.items()}


def _index(raw: Any, key: str, where: str) -> IndexSettings:
    allowed = "a table with url (http/https simple index URL), cert (path), timeout (seconds)"
    if not isinstance(raw, dict) or not set(raw) <= {"url", "cert", "timeout"}:
        raise _bad(key, where, raw, allowed)
    url = raw.get("url")
    if url is not None and not (isinstance(url, str) and re.match(r"^https?://\S+$", url)):
        raise _bad(f"{key}.url", where, url, "an http:// or https:// URL")
    cert = raw.get("cert")
    if cert is not None and not isinstance(cert, str):
        raise _bad(f"{key}.cert", where, cert, "a path to a CA bundle")
    timeout = raw.get("timeout", IndexSettings.timeout)
    seconds = _number(float)(timeout, f"{key}.timeout", where)
    return IndexSettings(url=url, cert=cert, timeout=seconds)


_ENV_PART = re.compile(r"[A-Za-z0-9_]+")


def _mask_env(raw: Any, key: str, where: str) -> tuple[str, ...]:
    allowed = "a list of environment variable name parts (letters, digits, '_'; e.g. TOKEN, DSN)"
    parts = _split_list(raw, key, where, allowed) if raw != [] else []
    for part in parts:
        if not _ENV_PART.fullmatch(part):
            raise ConfigError(f"kisys: {part!r} in {key!r} ({where}) is not {allowed}")
    return tuple(dict.fromkeys(part.upper() for part in parts))


def _secrets(raw: Any, key: str, where: str) -> dict[str, SecretRef]:
    from pytest_kisys.secrets.interface import parse_uri
    from pytest_kisys.secrets.interface import UriError

    if not isinstance(raw, Mapping):
        raise _bad(key, where, raw, "a table of name = source URI")
    refs: dict[str, SecretRef] = {}
    for name, uri in raw.items():
        if not isinstance(name, str) or not _SECRET_NAME.fullmatch(name):
            raise ConfigError(
                f"kisys: secret name {name!r} in {key!r} ({where}) is not a name "
                "(letters, digits, '_', '-', '.')"
            )
        try:
            refs[name] = parse_uri(uri)
        except UriError as exc:
            raise ConfigError(f"kisys: secret {name!r} in {key!r} ({where}): {exc}") from exc
    return refs


def _stages(raw: Any, key: str, where: str) -> tuple[dict[str, Any], ...]:
    allowed = "a list of stage tables with a name, or a table of stage name = stage table"
    if isinstance(raw, dict):
        out = []
        for name, body in raw.items():
            if not isinstance(body, dict):
                raise _bad(f"{key}.{name}", where, body, "a stage table")
            out.append({"name": name, **body})
        return tuple(out)
    if isinstance(raw, list) and all(isinstance(item, dict) for item in raw):
        return tuple(dict(item) for item in raw)
    raise _bad(key, where, raw, allowed)


def _names_or_paths(raw: Any, key: str, where: str, *, paths: bool = True) -> tuple[str, ...]:
    what = "group names or paths relative to rootdir" if paths else "extra names"
    allowed = f"a list of {what}"
    if isinstance(raw, list) and not raw:
        return ()
    out = []
    for item in _split_list(raw, key, where, allowed):
        shape = r"[A-Za-z0-9][\w./-]*" if paths else r"[A-Za-z0-9][\w.-]*"
        if not re.fullmatch(shape, item) or ".." in item.split("/") or len(item) > 200:
            raise _bad(key, where, item, allowed)
        out.append(item)
    return tuple(out)


_URL = re.compile(r"https?://\S+")
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")

_CONVERTERS: Mapping[str, Converter] = {
    'enabled': to_bool,
    'level': _choice(LEVELS),
    'offline': to_bool,
    'allow': to_project_names,
    'deny': to_project_names,
    'scan': _scan,
    'semgrep_rules': _semgrep_rules,
    'code_rule_pairs': _str_table(None, 'a table of semgrep rule id = bandit test id'),
    'secrets_severity': _str_table(
        SEVERITIES, 'a table of detect-secrets plugin = ' + ', '.join(SEVERITIES)),
    'secrets_test_paths': _globs,
    'sarif_split': _path,
    'fail_on': _choice(FAIL_ON),
    'report': _path,
    'sarif': _path,
    'sbom': _path,
    'trace': _trace,
    'learn': to_bool,
    'scan_first': to_bool,
    'traceparent': _opt_str(_TRACEPARENT, 'a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)'),
    'backend': _choice(BACKENDS),
    'log_file': _path,
    'cache_dir': _path,
    'cache_ttl': _number(float),
    'retries': _number(int),
    'max_workers': _number(int),
    'allow_system_install': to_bool,
    'isolate': to_bool,
    'on_denied': _choice(ON_DENIED),
    'allow_inconclusive': to_bool,
    'audit_service': _choice(AUDIT_SERVICES),
    'osv_url': _opt_str(_URL, 'an http:// or https:// URL'),
    'scan_timeout': _number(float),
    'trace_timeout': _number(float),
    'trace_keep': _opt_str(_TRACE_KEEP, 'all, failed or slow:SECONDS'),
    'trace_phases': to_bool,
    'cost_per_cpu_hour': _number(float),
    'history': to_bool,
    'history_url': _opt_str(re.compile(r"\S+"), 'a SQLAlchemy URL or a file path'),
    'history_keep': _number(int),
    'html': _path,
    'import_map': _import_map,
    'ignore': _ignore,
    'baseline': _baseline,
    'index': _index,
    'stages': _stages,
    'secrets': _secrets,
    'mask_env': _mask_env,
    'mask': to_bool,
    'min_release_age': _duration,
    'release_age_exempt': _release_age_exempt,
    'index_for': _index_for,
    'use_declared': to_bool,
    'declared': lambda raw, key, where: _names_or_paths(raw, key, where),
    'project_extras': lambda raw, key, where: _names_or_paths(raw, key, where, paths=False),
}
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

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
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
    value = _CONVERTERS[key.name](raw.value, key.name, raw.where)
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
                values["trace"] = _otel_exporter(
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


def describe(settings: Settings) -> list[str]:
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
