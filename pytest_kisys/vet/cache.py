"""On-disk cache of index signals, keyed by index URL and project name, with a TTL.

One small JSON file per (index, project) under ``<cache_dir>/index/``; written atomically. The
cache survives sessions. A file that cannot be read or parsed is deleted with a
:class:`CacheCorruptWarning`, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import hashlib
import json
from pathlib import Path

from pytest_kisys.atomic import write_atomic
from pytest_kisys.cachedir import discard_cache_entry
from pytest_kisys.errors import CacheCorruptWarning
from pytest_kisys.vet.interface import ProjectSignals


__all__ = ["CacheCorruptWarning", "SignalCache"]


class SignalCache:
    """Get/put :class:`ProjectSignals` by (index URL, canonical name)."""

    def __init__(self, directory: Path, ttl: float, clock: Callable[[], float]) -> None:
        self.directory = directory / "index"
        self.ttl = ttl
        self._clock = clock

    def path_for(self, index_url: str, name: str) -> Path:
        """The cache file of one project on one index."""
        # v2: entries carry per-version upload times and the PEP 792 status; v1 files are
        # never read (they would look like "no upload times known").
        key = hashlib.sha256(f"v2\n{index_url}\n{name}".encode()).hexdigest()[:32]
        return self.directory / f"{key}.json"

    def get(self, index_url: str, name: str, *, any_age: bool = False) -> ProjectSignals | None:
        """The cached signals, or None when absent, expired (unless ``any_age``) or corrupt."""
        path = self.path_for(index_url, name)
        try:
            raw = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            self._discard(path, f"unreadable ({exc.strerror})")
            return None
        try:
            data = json.loads(raw)  # bytes: non-UTF-8 content is a ValueError like bad JSON
            signals = ProjectSignals.from_json(data["signals"])
            if data["index_url"] != index_url or data["name"] != name:
                raise ValueError("key mismatch")
        except (ValueError, KeyError, TypeError) as exc:
            self._discard(path, f"corrupt ({type(exc).__name__})")
            return None
        if not any_age and self._clock() - signals.fetched_at > self.ttl:
            return None
        return dataclasses.replace(signals, source="cache")

    def put(self, signals: ProjectSignals) -> None:
        """Store conclusive signals; inconclusive ones are never cached."""
        if not signals.checked:
            return
        path = self.path_for(signals.index_url, signals.name)
        payload = {
            "index_url": signals.index_url,
            "name": signals.name,
            "signals": signals.to_json(),
        }
        try:
            write_atomic(path, json.dumps(payload))
        except OSError:
            return  # an unusable cache directory costs speed only (it was warned about)

    def _discard(self, path: Path, why: str) -> None:
        discard_cache_entry(path, f"pytest-kisys: discarding {why} index cache file {path}")
