"""Refresh the known-malicious list from an OSV-format source (``kisys db update --from URL``).

Accepted sources: a zip of OSV JSON records (the layout of osv.dev's ``PyPI/all.zip``), a JSON
array of records, an object with a ``vulns`` list, or a single record. Only malicious-package
records count: ids starting with ``MAL-`` whose ``affected[].package`` is in the PyPI ecosystem.
The names are written to the overlay file in the cache directory with a header (source URL,
time, count); the bundled list stays as shipped, the vetter uses the union.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any
import zipfile

from packaging.utils import canonicalize_name

from pytest_kisys.atomic import write_atomic
from pytest_kisys.errors import IndexClientError
from pytest_kisys.vet.data import bundled_malicious
from pytest_kisys.vet.data import OVERLAY_HEADER
from pytest_kisys.vet.data import overlay_path
from pytest_kisys.vet.pipconfig import redact


MAX_SOURCE_BYTES = 512 * 1024 * 1024


def _records(payload: Any) -> Iterator[dict[str, Any]]:
    if isinstance(payload, list):
        for item in payload:
            yield from _records(item)
    elif isinstance(payload, dict):
        if isinstance(payload.get("vulns"), list):
            yield from _records(payload["vulns"])
        elif "id" in payload:
            yield payload


def malicious_pypi_names(records: Iterable[dict[str, Any]]) -> set[str]:
    """Canonical PyPI names from OSV ``MAL-`` records."""
    names: set[str] = set()
    for record in records:
        if not str(record.get("id", "")).startswith("MAL-"):
            continue
        for affected in record.get("affected") or ():
            package = affected.get("package") if isinstance(affected, dict) else None
            if isinstance(package, dict) and package.get("ecosystem") == "PyPI":
                name = package.get("name")
                if isinstance(name, str) and name.strip():
                    names.add(canonicalize_name(name.strip()))
    return names


def parse_source(body: bytes, url: str) -> set[str]:
    """Names from a downloaded source body (zip or JSON); raises ``IndexClientError``."""
    try:
        if body[:4] == b"PK\x03\x04":
            found: set[str] = set()
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                for member in archive.namelist():
                    if member.endswith(".json"):
                        found |= malicious_pypi_names(_records(json.loads(archive.read(member))))
            return found
        return malicious_pypi_names(_records(json.loads(body)))
    except (ValueError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise IndexClientError(f"{url} is not an OSV zip or JSON source ({exc})") from exc


def fetch(url: str, timeout: float, cert: str | None = None) -> bytes:
    """Download ``url`` (redirects followed) with a size cap; raises ``IndexClientError``."""
    from urllib.parse import urljoin

    from pytest_kisys.vet.http import get
    from pytest_kisys.vet.http import HttpFailure
    from pytest_kisys.vet.http import make_pool

    pool = make_pool(url, cert=cert)
    target = url
    try:
        for _ in range(6):
            answer = get(pool, target, accept="*/*", timeout=timeout, max_bytes=MAX_SOURCE_BYTES)
            if answer.location is None:
                break
            target = urljoin(target, answer.location)
        else:
            raise IndexClientError(f"{url}: too many redirects")
    except HttpFailure as exc:
        raise IndexClientError(f"{url}: {exc}") from exc
    finally:
        pool.clear()
    if answer.status != 200:
        raise IndexClientError(f"{url} answered HTTP {answer.status}")
    return answer.body


def write_overlay(cache_dir: Path, names: set[str], url: str) -> Path:
    """Write the overlay list atomically; returns its path."""
    target = overlay_path(cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    header = [
        f"{OVERLAY_HEADER}; do not edit by hand.",
        f"# source: {redact(url)} (OSV MAL- records, PyPI ecosystem)",
        f"# fetched: {now}",
        f"# count: {len(names)}",
    ]
    write_atomic(target, "\n".join(header + sorted(names)) + "\n")
    return target


def update(url: str, cache_dir: Path, timeout: float, cert: str | None = None) -> tuple[int, int]:
    """Fetch, parse and store; returns (names in source, names new to the bundled list)."""
    names = parse_source(fetch(url, timeout, cert), url)
    if not names:
        raise IndexClientError(f"{url} contained no PyPI MAL- records; keeping the current list")
    write_overlay(cache_dir, names, url)
    return len(names), len(names - bundled_malicious())
