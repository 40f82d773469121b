"""Content cache for the session checks, so an unchanged tree is not rescanned.

Two shapes:

* :class:`FileResultCache` keeps one JSON entry per scanned file, keyed by the file's relative
  path and content hash, inside a directory named after the tool, its version and a digest of
  the settings that change results (plugins, skips, filters). A changed file, a new tool
  version or different settings simply miss.
* :class:`EnvResultCache` keeps the whole pip-audit outcome for one environment, keyed by the
  installed set and the service, and expires it after ``cache_ttl`` seconds (advisories appear
  without the environment changing).

Only complete results are stored: a file that could not be scanned, or an audit with skipped
dependencies, is never cached, so "could not check" is retried on the next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import hashlib
import json
import os
from pathlib import Path
import tempfile
import time
from typing import Any


def digest(value: Any) -> str:
    """SHA-256 of the canonical JSON form of ``value`` (sorted keys), 20 hex digits."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and ``os.replace`` so readers never see half an entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileResultCache:
    """Per-file scan results under ``<cache_dir>/scan/<tool>-<version>-<settings digest>/``."""

    def __init__(self, cache_dir: Path, tool: str, tool_version: str, settings_key: Any) -> None:
        self.directory = cache_dir / "scan" / f"{tool}-{tool_version}-{digest(settings_key)}"

    @staticmethod
    def key(rel_path: str, content: bytes) -> str:
        """The entry key: path and content both matter (some rules look at the file name)."""
        hasher = hashlib.sha256(rel_path.encode("utf-8", "surrogateescape"))
        hasher.update(b"\0")
        hasher.update(content)
        return hasher.hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """The stored results for ``key``, or None on a miss (or an unreadable entry)."""
        try:
            text = self._path(key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None  # a torn or foreign entry is a miss; the file is rescanned
        return value if isinstance(value, list) else None

    def put(self, key: str, results: Sequence[Mapping[str, Any]]) -> None:
        """Store ``results`` for ``key``. A read-only cache directory only costs speed."""
        try:
            _write_atomic(self._path(key), json.dumps(list(results)))
        except OSError:
            return  # caching is an optimisation; the scan result itself is unaffected


class EnvResultCache:
    """Whole-environment results (pip-audit) in ``<cache_dir>/scan/env/<key>.json`` with a TTL."""

    def __init__(self, cache_dir: Path, ttl: float) -> None:
        self.directory = cache_dir / "scan" / "env"
        self.ttl = ttl

    def get(self, key: str, now: float | None = None) -> dict[str, Any] | None:
        """The stored payload for ``key`` when younger than the TTL, else None."""
        path = self.directory / f"{key}.json"
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # unreadable entry: audit again
        stored_at = entry.get("stored_at") if isinstance(entry, dict) else None
        if not isinstance(stored_at, (int, float)):
            return None
        if (now if now is not None else time.time()) - stored_at > self.ttl:
            return None
        payload = entry.get("payload")
        return payload if isinstance(payload, dict) else None

    def put(self, key: str, payload: Mapping[str, Any]) -> None:
        """Store ``payload`` with the current time."""
        entry = {"stored_at": time.time(), "payload": dict(payload)}
        try:
            _write_atomic(self.directory / f"{key}.json", json.dumps(entry))
        except OSError:
            return  # caching is an optimisation; the audit result itself is unaffected
