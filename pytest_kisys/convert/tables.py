"""Converters of table-shaped options: ``ignore``, ``release_age_exempt``, ``index``,
``index_for``, ``baseline``, ``import_map``, ``secrets`` and ``stages``, and their value types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import datetime as dt
from pathlib import Path
import re
from typing import Any
from typing import TYPE_CHECKING

from pytest_kisys.convert.scalars import bad_value
from pytest_kisys.convert.scalars import number
from pytest_kisys.convert.scalars import to_path
from pytest_kisys.convert.scalars import to_project_names
from pytest_kisys.errors import ConfigError
from pytest_kisys.vet.release_age import ReleaseAgeExemption


if TYPE_CHECKING:
    from pytest_kisys.secrets.interface import SecretRef


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


def import_map(raw: Any, key: str, where: str) -> dict[str, str]:
    """Import name to project name overrides."""
    allowed = 'a table of import name = project name (e.g. cv2 = "opencv-python")'
    if not isinstance(raw, dict):
        raise bad_value(key, where, raw, allowed)
    out: dict[str, str] = {}
    for module, project in raw.items():
        if not isinstance(module, str) or not module.isidentifier():
            raise ConfigError(
                f"kisys: {module!r} in {key!r} ({where}) is not an import name: expected {allowed}"
            )
        (name,) = to_project_names([project] if isinstance(project, str) else project, key, where)
        out[module] = name
    return out


def expiring(
    raw: Any, key: str, where: str, id_field: str, allowed: str
) -> list[tuple[str, str, dt.date | None]]:
    """``(id, reason, expiry)`` of a list of tables with ``id_field``, ``reason`` and an
    optional ``expires`` date: the shape of ``ignore`` and ``release_age_exempt``."""
    if not isinstance(raw, list):
        raise bad_value(key, where, raw, allowed)
    entries: list[tuple[str, str, dt.date | None]] = []
    for index, entry in enumerate(raw):
        label = f"{key}[{index}]"
        if not isinstance(entry, dict):
            raise bad_value(label, where, entry, allowed)
        unknown = set(entry) - {id_field, "reason", "expires"}
        if unknown:
            raise ConfigError(
                f"kisys: unknown field(s) {sorted(unknown)} in {label} ({where}): expected {allowed}"
            )
        rule_id = entry.get(id_field)
        if not isinstance(rule_id, str) or not rule_id.strip():
            raise ConfigError(f"kisys: {label} ({where}) has no {id_field}: expected {allowed}")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(
                f"kisys: {label} ({where}) {'ignores' if id_field == 'id' else 'exempts'} "
                f'{rule_id!r} without a reason: every entry needs reason = "why this is acceptable"'
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


def ignore_rules(raw: Any, key: str, where: str) -> tuple[IgnoreRule, ...]:
    """The ``ignore`` list: finding ids with a reason and an optional expiry."""
    allowed = (
        "a list of tables with id (finding id, fingerprint or rule), reason, "
        "and optional expires (YYYY-MM-DD)"
    )
    return tuple(IgnoreRule(*entry) for entry in expiring(raw, key, where, "id", allowed))


def release_age_exempt(raw: Any, key: str, where: str) -> tuple[ReleaseAgeExemption, ...]:
    """The ``release_age_exempt`` list: projects with a reason and an optional expiry."""
    allowed = "a list of tables with name (a project), reason, and optional expires (YYYY-MM-DD)"
    out = []
    for name, reason, expiry in expiring(raw, key, where, "name", allowed):
        (project,) = to_project_names([name], f"{key}.name", where)
        out.append(ReleaseAgeExemption(project, reason, expiry))
    return tuple(out)


def index_for(raw: Any, key: str, where: str) -> dict[str, str]:
    """Project name to the one index URL it must come from."""
    allowed = "a table of project name = index URL (http://, https:// or file://)"
    if not isinstance(raw, dict):
        raise bad_value(key, where, raw, allowed)
    out: dict[str, str] = {}
    for name, url in raw.items():
        (project,) = to_project_names([name], key, where)
        if not (isinstance(url, str) and re.match(r"^(https?|file)://\S+$", url)):
            raise bad_value(f"{key}.{name}", where, url, "an http://, https:// or file:// index URL")
        out[project] = url.rstrip("/")
    return out


def baselines(raw: Any, key: str, where: str) -> dict[str, Path]:
    """The baseline files of the code and secrets checks."""
    allowed = "a table with code and/or secrets = path to the baseline file"
    if not isinstance(raw, dict) or not set(raw) <= {"code", "secrets"}:
        raise bad_value(key, where, raw, allowed)
    return {name: to_path(value, f"{key}.{name}", where) for name, value in raw.items()}


def index_table(raw: Any, key: str, where: str) -> IndexSettings:
    """The ``index`` table: url, cert and timeout."""
    allowed = "a table with url (http/https simple index URL), cert (path), timeout (seconds)"
    if not isinstance(raw, dict) or not set(raw) <= {"url", "cert", "timeout"}:
        raise bad_value(key, where, raw, allowed)
    url = raw.get("url")
    if url is not None and not (isinstance(url, str) and re.match(r"^https?://\S+$", url)):
        raise bad_value(f"{key}.url", where, url, "an http:// or https:// URL")
    cert = raw.get("cert")
    if cert is not None and not isinstance(cert, str):
        raise bad_value(f"{key}.cert", where, cert, "a path to a CA bundle")
    timeout = raw.get("timeout", IndexSettings.timeout)
    seconds = number(float)(timeout, f"{key}.timeout", where)
    return IndexSettings(url=url, cert=cert, timeout=seconds)


_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def secret_refs(raw: Any, key: str, where: str) -> dict[str, SecretRef]:
    """The ``secrets`` table: name to a parsed source URI."""
    from pytest_kisys.secrets.interface import parse_uri
    from pytest_kisys.secrets.interface import UriError

    if not isinstance(raw, Mapping):
        raise bad_value(key, where, raw, "a table of name = source URI")
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


def stage_tables(raw: Any, key: str, where: str) -> tuple[dict[str, Any], ...]:
    """The ``stages`` list (or table of name = stage), each a stage table with its name."""
    allowed = "a list of stage tables with a name, or a table of stage name = stage table"
    if isinstance(raw, dict):
        out = []
        for name, body in raw.items():
            if not isinstance(body, dict):
                raise bad_value(f"{key}.{name}", where, body, "a stage table")
            out.append({"name": name, **body})
        return tuple(out)
    if isinstance(raw, list) and all(isinstance(item, dict) for item in raw):
        return tuple(dict(item) for item in raw)
    raise bad_value(key, where, raw, allowed)
