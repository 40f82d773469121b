"""The dependency audit against an OSV service in two requests, with pip-audit's answers.

``pip-audit -s osv`` sends one ``POST /v1/query`` per dependency (174 for a typical test
environment) from a process that first imports ``requests`` and pip-audit: most of the deps
check's cold time. This module asks the same service once, ``POST /v1/querybatch`` with every
pinned distribution (1,000 per request, OSV's limit; pages followed), then fetches the full
record of each advisory that matched (``GET /v1/vulns/<id>``, once per id), and turns the
records into the JSON pip-audit writes (``-f json --desc on --aliases on``), by pip-audit's own
rules (:func:`vulnerability`, :func:`unique`): same ids, aliases, descriptions and fix
versions, so :func:`pytest_kisys.scan.pip_audit.parse_report`, the cache and the fingerprints
do not know which of the two ran. A parity test runs both against the loopback OSV server.

Nothing is imported from pip-audit (the test process never imports a scanner); standard
library and ``packaging`` only. Every failure (unreachable service, an HTTP error, a body
that is not the expected JSON, a record that cannot be read) raises
:class:`~pytest_kisys.errors.ScanError`: the check is then inconclusive, never clean.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import json
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from pytest_kisys.errors import ScanError


DEFAULT_OSV_URL = "https://api.osv.dev"
ENGINE = "osv-querybatch"
"""What the deps check reports as its tool version when this module ran the audit."""
BATCH_LIMIT = 1000
"""Queries per ``/v1/querybatch`` request (the OSV API's documented maximum)."""
_DETAIL_THREADS = 4
_MAX_PAGES = 100


class BatchUnsupported(ScanError):
    """The service has no ``/v1/querybatch`` (a mirror of ``/v1/query`` only): 404, 405 or 501."""


_UNSUPPORTED = frozenset({404, 405, 501})


@dataclass(frozen=True)
class Pinned:
    """One audited distribution as pip-audit sees it: canonical name, normalised version."""

    name: str
    version: str


def osv_base_url(url: str | None) -> str:
    """The API base (``https://api.osv.dev``) of a configured ``osv_url``, which may name the
    base or, as pip-audit's ``--osv-url`` does, the query endpoint itself."""
    trimmed = (url or DEFAULT_OSV_URL).rstrip("/")
    for suffix in ("/v1/querybatch", "/v1/query"):
        if trimmed.endswith(suffix):
            return trimmed[: -len(suffix)]
    return trimmed


def pinned(pins: Sequence[str]) -> tuple[list[Pinned], list[dict[str, Any]]]:
    """``name==version`` lines as pip-audit reads them (``--no-deps``): the auditable ones, and
    pip-audit-style skipped entries for a version that is not PEP 440 (pip-audit would stop)."""
    out: list[Pinned] = []
    skipped: list[dict[str, Any]] = []
    for pin in pins:
        name, _, version = pin.partition("==")
        key = canonicalize_name(name)
        try:
            out.append(Pinned(key, str(Version(version))))
        except InvalidVersion:
            skipped.append({"name": key, "skip_reason": f"version {version!r} is not PEP 440"})
    return out, skipped


class _Client:
    """JSON over HTTP to one OSV service, within one deadline."""

    def __init__(self, base: str, deadline: float) -> None:
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            raise ScanError(f"OSV service {base!r}: only http:// and https:// URLs are used")
        self.base = base
        self.deadline = deadline

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ScanError("the OSV audit did not finish within the scan time-out")
        return left

    def call(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - http(s) URL from the settings
            self.base + path,
            data=data,
            method="GET" if data is None else "POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._left()) as response:  # noqa: S310  # nosec B310 - http(s) only, checked in _Client
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if path == "/v1/querybatch" and exc.code in _UNSUPPORTED:
                raise BatchUnsupported(f"OSV {path}: HTTP {exc.code} {exc.reason}") from exc
            raise ScanError(f"OSV {path}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ScanError(f"OSV {path}: cannot reach {self.base}: {exc}") from exc
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ScanError(f"OSV {path}: the answer is not JSON") from exc


def _batch_ids(client: _Client, packages: Sequence[Pinned]) -> list[list[str]]:
    """The advisory ids matching each package, in the service's order (pages followed)."""
    ids: list[list[str]] = [[] for _ in packages]
    pending: list[tuple[int, str | None]] = [(i, None) for i in range(len(packages))]
    for _ in range(_MAX_PAGES):
        if not pending:
            return ids
        following: list[tuple[int, str | None]] = []
        for start in range(0, len(pending), BATCH_LIMIT):
            part = pending[start : start + BATCH_LIMIT]
            queries = []
            for index, token in part:
                query: dict[str, Any] = {
                    "package": {"name": packages[index].name, "ecosystem": "PyPI"},
                    "version": packages[index].version,
                }
                if token:
                    query["page_token"] = token
                queries.append(query)
            answer = client.call("/v1/querybatch", {"queries": queries})
            results = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(results, list) or len(results) != len(part):
                raise ScanError("OSV /v1/querybatch: the answer does not hold one result per query")
            for (index, _token), result in zip(part, results, strict=True):
                if not isinstance(result, dict):
                    raise ScanError("OSV /v1/querybatch: a result is not an object")
                for vuln in result.get("vulns") or ():
                    if not isinstance(vuln, dict) or not isinstance(vuln.get("id"), str):
                        raise ScanError("OSV /v1/querybatch: a match without an id")
                    if vuln["id"] not in ids[index]:
                        ids[index].append(vuln["id"])
                token = result.get("next_page_token")
                if token:
                    following.append((index, str(token)))
        pending = following
    raise ScanError(f"OSV /v1/querybatch: still more pages after {_MAX_PAGES}")


def _records(client: _Client, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """The full record of each id (``GET /v1/vulns/<id>``), a few at a time."""

    def fetch(vuln_id: str) -> Mapping[str, Any]:
        record = client.call("/v1/vulns/" + urllib.parse.quote(vuln_id, safe=""))
        if not isinstance(record, dict) or record.get("id") != vuln_id:
            raise ScanError(f"OSV /v1/vulns/{vuln_id}: not the record asked for")
        return record

    if not ids:
        return {}
    with ThreadPoolExecutor(min(_DETAIL_THREADS, len(ids)), thread_name_prefix="kisys-osv") as pool:
        return dict(zip(ids, pool.map(fetch, ids), strict=True))


def _id_rank(vuln_id: str) -> int:
    """pip-audit's preference for the primary id: PYSEC, then CVE, then anything else."""
    if vuln_id.startswith("PYSEC"):
        return 1
    if vuln_id.startswith("CVE"):
        return 2
    return 3


@dataclass(frozen=True)
class Vulnerability:
    """One advisory as pip-audit's ``VulnerabilityResult``: primary id, the other ids, the
    one-line description and the sorted fix versions."""

    id: str
    aliases: frozenset[str]
    description: str
    fix_versions: tuple[Version, ...]

    def ids(self) -> frozenset[str]:
        """The primary id and every alias."""
        return self.aliases | {self.id}


def vulnerability(record: Mapping[str, Any], package: str) -> Vulnerability | None:
    """pip-audit's reading of an OSV record for ``package`` (its ``OsvService.query``); None
    for the records it leaves out (a schema other than 1.x, withdrawn, no ``affected``)."""
    try:
        schema = Version(str(record.get("schema_version", "1.0.0")))
    except InvalidVersion as exc:
        raise ScanError(f"OSV record {record.get('id')}: bad schema_version") from exc
    if schema.major != 1 or record.get("withdrawn") is not None:
        return None
    vuln_id = str(record["id"])
    description = record.get("summary")
    if description is None:
        description = record.get("details")
    if description is None:
        description = "N/A"
    affecteds = record.get("affected")
    if affecteds is None:
        return None
    fixes: list[Version] = []
    try:
        for affected in affecteds:
            pkg = affected["package"]
            if pkg["name"] == package and pkg["ecosystem"] == "PyPI":
                for ranges in affected.get("ranges", []):
                    if ranges["type"] == "ECOSYSTEM":
                        fixes = [Version(e["fixed"]) for e in ranges["events"] if "fixed" in e]
                        break
    except (KeyError, TypeError, InvalidVersion) as exc:
        raise ScanError(f"OSV record {vuln_id}: cannot read its affected ranges: {exc}") from exc
    ids = sorted([vuln_id, *(str(a) for a in record.get("aliases") or ())], key=_id_rank)
    return Vulnerability(
        ids[0], frozenset(ids[1:]), str(description).replace("\n", " "), tuple(sorted(fixes))
    )


def unique(vulns: Sequence[Vulnerability]) -> list[Vulnerability]:
    """pip-audit's ``Auditor.audit`` de-duplication: PYSEC results first, then each other one
    unless it shares an id with one already kept (whose aliases then gain its aliases)."""
    kept: list[Vulnerability] = []
    seen: set[str] = set()
    for vuln in vulns:
        if vuln.id.startswith("PYSEC"):
            seen |= vuln.ids()
            kept.append(vuln)
    for vuln in vulns:
        if seen & vuln.ids():
            index = next(i for i, k in enumerate(kept) if k.ids() & vuln.ids())
            previous = kept[index]
            merged = previous.aliases | (vuln.aliases - {previous.id})
            kept[index] = Vulnerability(previous.id, merged, previous.description, previous.fix_versions)
            continue
        seen |= vuln.ids()
        kept.append(vuln)
    return kept


def _entry(vuln: Vulnerability) -> dict[str, Any]:
    return {
        "id": vuln.id,
        "fix_versions": [str(v) for v in vuln.fix_versions],
        "aliases": sorted(vuln.aliases),
        "description": vuln.description,
    }


def audit(pins: Sequence[str], url: str | None, timeout: float) -> dict[str, Any]:
    """Audit ``name==version`` pins against the OSV service at ``url`` (default api.osv.dev):
    the report pip-audit's JSON format would hold (``{"dependencies": [...]}``).

    :raises BatchUnsupported: the service has no batch endpoint (the caller runs pip-audit).
    """
    client = _Client(osv_base_url(url), time.monotonic() + timeout)
    packages, skipped = pinned(pins)
    matched = _batch_ids(client, packages) if packages else []
    wanted = list(dict.fromkeys(i for ids in matched for i in ids))
    records = _records(client, wanted)
    dependencies: list[dict[str, Any]] = []
    for package, ids in zip(packages, matched, strict=True):
        found = [vulnerability(records[i], package.name) for i in ids]
        vulns = unique([v for v in found if v is not None])
        dependencies.append(
            {"name": package.name, "version": package.version, "vulns": [_entry(v) for v in vulns]}
        )
    return {"dependencies": dependencies + skipped, "fixes": []}
