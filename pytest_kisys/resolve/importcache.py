"""Imports (and fixture/marker usage) read from files, cached by content hash in memory and in
one JSON file.

One entry per file version holds both readings of the bytes: the imports
(:mod:`pytest_kisys.resolve.importreader`) and, once asked for, the usage
(:func:`pytest_kisys.resolve.usage.scan_usage`), so a warm run reads and hashes each file once.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
import json
from pathlib import Path
import threading
from typing import Any

from pytest_kisys.atomic import write_atomic
from pytest_kisys.cachedir import discard_cache_entry
from pytest_kisys.resolve.importreader import content_digest
from pytest_kisys.resolve.importreader import read_imports
from pytest_kisys.resolve.imports import FileImports
from pytest_kisys.resolve.usage import FileUsage


__all__ = ["CACHE_FILE", "MAX_CACHE_ENTRIES", "ImportCache"]

CACHE_FILE = "imports.json"
"""The cache's file name in the kisys cache directory."""

MAX_CACHE_ENTRIES = 20_000
"""The import cache keeps the most recently used entries of this many file versions."""

# Bump when the reader's output changes shape or meaning: old cache entries are then ignored.
_CACHE_VERSION = 1


@dataclass
class ImportCache:
    """Imports read from files, keyed by content hash, in memory and optionally in one JSON file on disk.

    The on-disk file is written atomically (temporary file + rename) by :meth:`save`; a corrupt
    or foreign file is ignored, never trusted.
    """

    path: Path | None = None
    _entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    _dirty: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    hits: int = 0
    misses: int = 0

    @classmethod
    def load(cls, path: Path | None) -> ImportCache:
        """A cache backed by ``path`` (which need not exist yet)."""
        cache = cls(path=path)
        if path is None:
            return cache
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cache
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not JSON"
            discard_cache_entry(path, f"pytest-kisys: discarding the import cache {path} ({why})")
            return cache
        if isinstance(raw, dict) and raw.get("version") == _CACHE_VERSION:
            entries = raw.get("entries")
            if isinstance(entries, dict):
                cache._entries = entries
            else:
                discard_cache_entry(path, f"pytest-kisys: discarding the import cache {path} (no entries)")
        return cache

    def read(self, path: Path) -> FileImports:
        """The imports of ``path``, from the cache when its bytes were seen before."""
        return self._read(path, with_usage=False)[0]

    def read_with_usage(self, path: Path) -> tuple[FileImports, FileUsage]:
        """The imports and the fixture/marker usage of ``path``, from one read of its bytes."""
        imports, usage = self._read(path, with_usage=True)
        return imports, usage if usage is not None else FileUsage()  # with_usage always sets it

    def _read(self, path: Path, *, with_usage: bool) -> tuple[FileImports, FileUsage | None]:
        data = path.read_bytes()
        digest = content_digest(data)
        with self._lock:
            cached = self._entries.get(digest)
        imports: FileImports | None = None
        usage: FileUsage | None = None
        if cached is not None:
            try:
                imports = FileImports.from_json(path, digest, cached)
                raw_usage = cached.get("usage")
                if with_usage and raw_usage is not None:
                    usage = FileUsage.from_json(raw_usage)
            except (KeyError, TypeError, ValueError, AttributeError):
                imports = usage = None
        if cached is not None and imports is not None and (usage is not None or not with_usage):
            self.hits += 1
            with self._lock:
                # Most recently used last: trimming in save() drops the oldest first.
                self._entries[digest] = self._entries.pop(digest, cached)
            return imports, usage
        self.misses += 1
        if imports is None:
            imports = read_imports(data, path, digest=digest)
        entry = imports.to_json()
        if with_usage:
            from pytest_kisys.resolve.usage import scan_usage

            usage = scan_usage(data)
            entry["usage"] = usage.to_json()
        elif cached is not None and "usage" in cached:
            entry["usage"] = cached["usage"]
        with self._lock:
            self._entries[digest] = entry
            self._dirty = True
        return imports, usage

    def save(self) -> None:
        """Write the cache back to disk if anything changed (best effort: a cache is optional)."""
        if self.path is None or not self._dirty:
            return
        with self._lock:
            excess = len(self._entries) - MAX_CACHE_ENTRIES
            for digest in list(self._entries)[: max(excess, 0)]:
                del self._entries[digest]
        try:
            write_atomic(self.path, json.dumps({"version": _CACHE_VERSION, "entries": self._entries}))
        except OSError:
            # A read-only cache directory only costs the next run a re-read.
            return
        self._dirty = False
