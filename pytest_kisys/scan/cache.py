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

Entries are bound to what they describe: a file entry holds its own key and only results of
the expected shape, and the directory name carries a digest of the scanner's installed files
and of kisys's own scan code (a patched or shadowed scanner never reuses clean results). A
pip-audit entry holds the installed set it audited and is refused when stored in the future.
A damaged entry of any kind is discarded with a :class:`CacheCorruptWarning` and rescanned.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
import functools
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path
import time
from typing import Any

from pytest_kisys.atomic import write_atomic
from pytest_kisys.cachedir import discard_cache_entry


# Entries stored a little ahead of this clock are clock skew between machines sharing a cache;
# beyond that they would never expire.
_CLOCK_SKEW = 300.0


def digest(value: Any) -> str:
    """SHA-256 of the canonical JSON form of ``value`` (sorted keys), 20 hex digits."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


# A file modified this recently may change again within the same timestamp tick: its digest is
# not remembered by its stat (git's "racily clean" rule).
_RACY_SECONDS = 2.0


def _scanner_files(distribution: str) -> list[str]:
    """The installed ``.py`` files of ``distribution`` (from its RECORD) and of kisys's scan code."""
    paths: list[str] = []
    try:
        dist = importlib.metadata.distribution(distribution)
        record = dist.read_text("RECORD") or ""
        base = str(dist.locate_file(""))
    except importlib.metadata.PackageNotFoundError:
        record, base = "", ""
    for line in record.splitlines():
        name = line.rsplit(",", 2)[0].strip('"')
        if name.endswith(".py"):
            paths.append(os.path.join(base, name))
    paths += [str(p) for p in Path(__file__).parent.glob("*.py")]
    return sorted(paths)


@functools.cache
def code_identity(distribution: str, memo_dir: Path | None = None) -> str:
    """A digest of ``distribution``'s installed Python files and of kisys's own scan modules.

    Part of every scan-cache directory name: results of a changed (or replaced) scanner, or of
    a kisys whose scan code changed, are never reused. Hashing the contents costs 12-40 ms of
    CPU per scanner in the test process; with ``memo_dir`` the digest is remembered under the
    files' stat (path, size, times, inode), so a warm run only stats them, and files changed in
    the last two seconds are always read. A scanner that is not installed here runs from the
    kisys tool environment, whose files are pinned by hash in the lock its directory is named by.
    """
    paths = _scanner_files(distribution)
    stamps = hashlib.sha256()
    newest = 0.0
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamps.update(f"{path}\0missing\0".encode("utf-8", "surrogateescape"))
            continue
        newest = max(newest, st.st_mtime)
        stamp = f"{path}\0{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}\0"
        stamps.update(stamp.encode("utf-8", "surrogateescape"))
    memo = memo_dir / "identity" / f"{stamps.hexdigest()[:32]}.txt" if memo_dir else None
    if memo is not None:
        try:
            known = memo.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            known = ""
        if len(known) == 20 and all(c in "0123456789abcdef" for c in known):
            return known
    hasher = hashlib.sha256()
    for path in paths:
        hasher.update(path.encode("utf-8", "surrogateescape") + b"\0")
        try:
            with open(path, "rb") as handle:
                hasher.update(hashlib.sha256(handle.read()).digest())
        except OSError:
            hasher.update(b"unreadable")
    identity = hasher.hexdigest()[:20]
    if memo is not None and time.time() - newest > _RACY_SECONDS:
        try:
            write_atomic(memo, identity)
        except OSError:
            pass  # an unwritable cache only costs the hashing next time
        else:
            _prune_memos(memo)
    return identity


IDENTITY_MEMOS_KEPT = 64
"""Most :func:`code_identity` memos kept (each upgrade, reinstall or edit of a scanner or of
kisys's scan code writes a new one; an entry pruned while still in use costs one hashing)."""


def _prune_memos(written: Path) -> None:
    """Delete the oldest memos beside ``written`` beyond :data:`IDENTITY_MEMOS_KEPT`; runs
    only when a memo was written, so a warm run never lists the directory."""
    aged: list[tuple[int, str]] = []
    try:
        with os.scandir(written.parent) as entries:
            for entry in entries:
                if entry.name.endswith(".txt") and entry.name != written.name:
                    try:
                        aged.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
                    except OSError:
                        continue  # removed meanwhile
    except OSError:
        return
    aged.sort()
    for _, path in aged[: max(0, len(aged) - (IDENTITY_MEMOS_KEPT - 1))]:
        try:
            os.unlink(path)
        except OSError:
            pass  # another process pruned it, or a read-only cache: only disk space


def _discard(path: Path, why: str) -> None:
    discard_cache_entry(path, f"pytest-kisys: discarding {why} scan cache entry {path}")


def _read_json(path: Path) -> Any:
    """The JSON value at ``path``; None when absent or damaged (discarded with a warning)."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        _discard(path, f"unreadable ({exc.strerror})")
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        _discard(path, f"corrupt ({type(exc).__name__})")
        return None


class FileResultCache:
    """Per-file scan results under ``<cache_dir>/scan/<tool>-<version>-<digest>/``.

    ``required`` names the fields every stored result must have; an entry with any other
    shape is discarded and the file rescanned.
    """

    def __init__(
        self,
        cache_dir: Path,
        tool: str,
        tool_version: str,
        settings_key: Any,
        required: Collection[str] = (),
    ) -> None:
        key = digest([settings_key, code_identity(tool, cache_dir / "scan")])
        self.directory = cache_dir / "scan" / f"{tool}-{tool_version}-{key}"
        self.required = frozenset(required)

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
        """The stored results for ``key``, or None on a miss (or a discarded damaged entry)."""
        path = self._path(key)
        entry = _read_json(path)
        if entry is None:
            return None
        results = entry.get("results") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or entry.get("key") != key
            or not isinstance(results, list)
            or not all(isinstance(r, dict) and self.required <= r.keys() for r in results)
        ):
            _discard(path, "foreign or malformed")
            return None
        return results

    def put(self, key: str, results: Sequence[Mapping[str, Any]]) -> None:
        """Store ``results`` for ``key``. A read-only cache directory only costs speed."""
        try:
            write_atomic(self._path(key), json.dumps({"key": key, "results": list(results)}))
        except OSError:
            return  # caching is an optimisation; the scan result itself is unaffected


class EnvResultCache:
    """Whole-environment results (pip-audit) in ``<cache_dir>/scan/env/<key>.json`` with a TTL."""

    def __init__(self, cache_dir: Path, ttl: float) -> None:
        self.directory = cache_dir / "scan" / "env"
        self.ttl = ttl

    def get(self, key: str, now: float | None = None, *, binding: Any = None) -> dict[str, Any] | None:
        """The stored payload for ``key`` when younger than the TTL, else None.

        ``binding`` is what the entry describes (the installed set): an entry stored for
        anything else, or stored in the future, is discarded with a warning.
        """
        path = self.directory / f"{key}.json"
        entry = _read_json(path)
        if entry is None:
            return None
        stored_at = entry.get("stored_at") if isinstance(entry, dict) else None
        payload = entry.get("payload") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or isinstance(stored_at, bool)
            or not isinstance(stored_at, (int, float))
            or not isinstance(payload, dict)
            or entry.get("key") != key
            or entry.get("binding") != digest(binding)
            or entry.get("payload_digest") != digest(payload)
        ):
            _discard(path, "foreign or malformed")
            return None
        clock = now if now is not None else time.time()
        if stored_at > clock + _CLOCK_SKEW:
            _discard(path, "future-dated")
            return None
        if clock - stored_at > self.ttl:
            return None
        return payload

    def put(self, key: str, payload: Mapping[str, Any], *, binding: Any = None) -> None:
        """Store ``payload`` with the current time, bound to ``key`` and ``binding``."""
        entry = {
            "key": key,
            "binding": digest(binding),
            "stored_at": time.time(),
            "payload_digest": digest(dict(payload)),
            "payload": dict(payload),
        }
        try:
            write_atomic(self.directory / f"{key}.json", json.dumps(entry))
        except OSError:
            return  # caching is an optimisation; the audit result itself is unaffected
