"""The value types of :class:`~pytest_kisys.settings.Settings` and one converter per option.

Each converter takes the raw value of one option as given (command line, environment, ini,
``[tool.kisys]``, ``kisys.yaml``), checks it, and returns its typed value, or raises a
:class:`~pytest_kisys.errors.ConfigError` naming the option, where it was given and what would
be accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import datetime as dt
from pathlib import Path
import re
from typing import Any
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.utils import InvalidName

from pytest_kisys.errors import ConfigError
from pytest_kisys.options import AUDIT_SERVICES
from pytest_kisys.options import BACKENDS
from pytest_kisys.options import FAIL_ON
from pytest_kisys.options import LEVELS
from pytest_kisys.options import ON_DENIED
from pytest_kisys.options import SEVERITIES
from pytest_kisys.vet.release_age import DURATION_ALLOWED
from pytest_kisys.vet.release_age import parse_duration
from pytest_kisys.vet.release_age import ReleaseAgeExemption


if TYPE_CHECKING:
    from pytest_kisys.secrets.interface import SecretRef


__all__ = [
    "CODE_TOOLS",
    "CONVERTERS",
    "SCANS",
    "IgnoreRule",
    "IndexSettings",
    "otel_exporter",
    "to_bool",
    "to_project_names",
]

SCANS = ("code", "deps", "secrets")
CODE_TOOLS = ("bandit", "semgrep")
"""The code scanners ``code:<tool>`` selects; plain ``code`` means every one that is set up."""
_TRACE_KEEP = re.compile(r"^(all|failed|slow:(\d+(\.\d+)?))$")
Converter = Callable[[Any, str, str], Any]


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


def _positive_int(raw: Any, key: str, where: str) -> int:
    try:
        value = _number(int)(raw, key, where)
    except ConfigError:
        value = 0
    if value < 1:
        raise _bad(key, where, raw, "a whole number >= 1")
    return int(value)


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
        try:
            canonical: str = canonicalize_name(name, validate=True)
        except InvalidName:
            canonical = ""
        if not canonical or len(name) > 100:
            raise ConfigError(
                f"kisys: {name!r} in {key!r} ({where}) is not a valid project name: "
                f"expected {allowed}"
            )
        out.append(canonical)
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


def otel_exporter(raw: Any, key: str, where: str) -> str:
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


_URL = re.compile(r"https?://\S+")
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")

CONVERTERS: Mapping[str, Converter] = {
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
    'trace_queue_max': _positive_int,
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
