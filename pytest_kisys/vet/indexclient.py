"""The package-index client: PEP 691/503 simple pages plus the PyPI-style JSON API over urllib3.

One connection pool (keep-alive, :mod:`pytest_kisys.vet.http`) of at most
:data:`MAX_CONNECTIONS` connections serves every lookup of a client; that many threads look
projects up at once, which is what an index and a DNS resolver tolerate (16 threads opening 16
connections sent bursts of DNS queries, some of which stalled 5 s). The index host's name is
resolved once before the fan-out, which both warms the resolver and measures it: when that, or
any lookup, takes longer than :data:`STALL_SECONDS`, the remaining lookups go one at a time over
the connection already open; lookups that failed to connect during the fan-out are tried once
more, one at a time. Each request is bounded by the configured
timeout; a body is read in chunks under a wall-clock deadline and a size cap, so a slow-drip or
endless response cannot hang the run. Connection errors and 5xx answers are retried
(``retries`` times, exponential backoff with jitter); timeouts are not retried, so no lookup
waits much beyond the configured timeout. Redirects are followed only within the same origin.

A failure never raises out of :meth:`HttpIndexClient.lookup_many`: the project's signals come
back with ``checked=False`` and an ``error`` saying why (inconclusive, never clean).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from html.parser import HTMLParser
import json
import socket
import threading
import time
from typing import Any
from typing import TYPE_CHECKING
import urllib.parse

from packaging.version import Version

from pytest_kisys.concurrency import interruptible_map
from pytest_kisys.errors import IndexClientError
from pytest_kisys.retry import backoff_delay
from pytest_kisys.vet.cache import SignalCache
from pytest_kisys.vet.http import Failure
from pytest_kisys.vet.http import get
from pytest_kisys.vet.http import HttpFailure
from pytest_kisys.vet.http import make_pool
from pytest_kisys.vet.indexfields import file_hashes
from pytest_kisys.vet.indexfields import first_uploads
from pytest_kisys.vet.indexfields import fragment_sha256
from pytest_kisys.vet.indexfields import html_status
from pytest_kisys.vet.indexfields import json_files
from pytest_kisys.vet.indexfields import json_status
from pytest_kisys.vet.indexfields import parse_time
from pytest_kisys.vet.indexfields import version_of
from pytest_kisys.vet.interface import ProjectSignals
from pytest_kisys.vet.pipconfig import redact


if TYPE_CHECKING:
    import urllib3


SIMPLE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 5
MAX_CONNECTIONS = 6
"""Connections per index, and lookups at the same time (a browser's per-host limit)."""
STALL_SECONDS = 2.0
"""A name resolution or lookup slower than this makes the remaining lookups sequential."""
BACKOFF_BASE = 0.1


class _Anchors(HTMLParser):
    """Collects (href, data-yanked present) from a PEP 503 page."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        values = dict(attrs)
        href = values.get("href")
        if href:
            self.files.append((href, "data-yanked" in values))


class _ConnectFailed(IndexClientError):
    """No connection could be made (refused, reset, name resolution) after the retries."""


def _connect_target(pool: object, base: str) -> tuple[str | None, int]:
    """The host and port the pool's connections go to: the proxy's when proxied."""
    proxy = getattr(pool, "proxy", None)
    host = getattr(proxy, "host", None)
    port = getattr(proxy, "port", None)
    if host is None:
        parts = urllib.parse.urlsplit(base)
        host, port = parts.hostname, parts.port
        if port is None:
            port = 443 if parts.scheme == "https" else 80
    return host, int(port or 80)


def _is_ip_literal(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def api_root(simple_url: str) -> str | None:
    """The JSON API root for a simple URL ending in ``/simple``; None otherwise."""
    base = simple_url.rstrip("/")
    return base[: -len("/simple")] if base.endswith("/simple") else None


class HttpIndexClient:
    """Looks projects up on one index; implements :class:`~pytest_kisys.vet.interface.IndexClient`.

    :param transport: a urllib3 ``PoolManager`` to send requests through instead of the one
        built here (tests, custom networking).
    :param cache: optional :class:`SignalCache`; fresh entries are served without a request.
    """

    def __init__(
        self,
        index_url: str,
        *,
        cert: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        transport: urllib3.PoolManager | None = None,
        cache: SignalCache | None = None,
        clock: Callable[[], float] = time.time,
        max_connections: int = MAX_CONNECTIONS,
        stall_seconds: float = STALL_SECONDS,
        resolve_host: Callable[[str, int], object] = socket.getaddrinfo,
    ) -> None:
        # Requests use the URL as given (credentials included); everything shown, logged or
        # cached uses the redacted form.
        self._base = index_url.rstrip("/")
        self.index_url = redact(self._base)
        self.timeout = timeout
        self.retries = max(0, retries)
        self._cache = cache
        self._clock = clock
        self._origin = urllib.parse.urlsplit(self._base)[:2]
        self.max_connections = max(1, max_connections)
        self.stall_seconds = stall_seconds
        self._resolve_host = resolve_host
        self._pool = transport or make_pool(self._base, cert=cert, maxsize=self.max_connections)
        self._lock = threading.Lock()
        self._connect_failed: set[str] = set()
        self._one_at_a_time = threading.Lock()
        self._serial = False

    # -- public

    def lookup_many(self, names: Sequence[str]) -> dict[str, ProjectSignals]:
        """Signals for every canonical name: cache first, the rest concurrently."""
        results: dict[str, ProjectSignals] = {}
        missing: list[str] = []
        for name in dict.fromkeys(names):
            cached = self._cache.get(self.index_url, name) if self._cache else None
            if cached is not None:
                results[name] = cached
            else:
                missing.append(name)
        if len(missing) == 1:
            results[missing[0]] = self.lookup(missing[0])
        elif missing:
            results.update(self._fan_out(missing))
        return results

    def _fan_out(self, names: list[str]) -> dict[str, ProjectSignals]:
        """Look ``names`` up over at most ``max_connections`` connections, sequentially after
        a stall; a lookup that could not connect while others ran is tried once more alone."""
        workers = min(self.max_connections, len(names))
        if workers > 1 and not self._name_resolves_quickly():
            workers = 1
        self._serial = workers == 1
        with self._lock:
            self._connect_failed.clear()
        # Ctrl-C stops waiting at once instead of joining slow lookups.
        answers = dict(
            zip(names, interruptible_map(self._gated_lookup, names, workers=workers, name="kisys-index"),
                strict=True)
        )  # fmt: skip
        with self._lock:
            again = [name for name in names if name in self._connect_failed]
        if workers > 1:
            for name in again:
                answers[name] = self.lookup(name)
        return answers

    @property
    def sequential(self) -> bool:
        """Whether the last :meth:`lookup_many` went (or ended up going) one lookup at a time."""
        return self._serial

    def _name_resolves_quickly(self) -> bool:
        """Resolve the host the connections go to (the proxy's, when proxied) once, timed.

        A failure is not decided here: the lookups report it, one at a time.
        """
        host, port = _connect_target(self._pool, self._base)
        if host is None or _is_ip_literal(host):
            return True
        started = time.monotonic()
        try:
            self._resolve_host(host, port)
        except OSError:
            return False
        return time.monotonic() - started <= self.stall_seconds

    def _gated_lookup(self, name: str) -> ProjectSignals:
        if self._serial:
            with self._one_at_a_time:
                return self.lookup(name)
        started = time.monotonic()
        signals = self.lookup(name)
        if time.monotonic() - started > self.stall_seconds:
            self._serial = True  # the lookups not started yet go one at a time
        return signals

    def lookup(self, name: str) -> ProjectSignals:
        """Ask the index about one canonical name (no cache read); caches conclusive answers."""
        try:
            signals = self._fetch(name)
        except IndexClientError as exc:
            if isinstance(exc, _ConnectFailed):
                with self._lock:
                    self._connect_failed.add(name)
            return ProjectSignals(
                name=name,
                index_url=self.index_url,
                checked=False,
                error=redact(str(exc)),
                fetched_at=self._clock(),
                source="none",
            )
        if self._cache is not None:
            try:
                self._cache.put(signals)
            except OSError:
                pass  # an unwritable cache only costs speed; the answer is still good
        return signals

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()

    # -- fetching

    def _fetch(self, name: str) -> ProjectSignals:
        url = f"{self._base}/{urllib.parse.quote(name)}/"
        status, ctype, body = self._get(url, SIMPLE_ACCEPT)
        if status == 404:
            return ProjectSignals(
                name=name,
                index_url=self.index_url,
                checked=True,
                exists=False,
                fetched_at=self._clock(),
            )
        if status != 200:
            raise IndexClientError(f"{url} answered HTTP {status}")
        files, project_status = self._files_from_simple(url, ctype, body)
        info: dict[str, Any] = {}
        root = api_root(self._base)
        if root is not None:
            info = self._json_api(f"{root}/pypi/{urllib.parse.quote(name)}/json", files)
        return self._signals(name, files, info, project_status)

    def _files_from_simple(
        self, url: str, ctype: str, body: bytes
    ) -> tuple[list[dict[str, Any]], tuple[str | None, str | None]]:
        if "json" in ctype:
            data = self._decode_json(url, body)
            if not isinstance(data, dict) or not isinstance(data.get("files"), list):
                raise IndexClientError(f"{url} sent JSON without a 'files' list")
            return json_files(data), json_status(data)
        parser = _Anchors()
        try:
            page = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IndexClientError(f"{url} sent a page that is not UTF-8") from exc
        parser.feed(page)
        return [
            {
                "filename": urllib.parse.unquote(urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1]),
                "yanked": yanked,
                "upload_time": None,
                "sha256": fragment_sha256(href),
            }
            for href, yanked in parser.files
        ], html_status(page)

    def _json_api(self, url: str, files: list[dict[str, Any]]) -> dict[str, Any]:
        """Summary, project URLs and upload times from the PyPI JSON API (optional on mirrors)."""
        status, _, body = self._get(url, "application/json")
        if status == 404:
            return {}
        if status != 200:
            raise IndexClientError(f"{url} answered HTTP {status}")
        data = self._decode_json(url, body)
        if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
            raise IndexClientError(f"{url} sent JSON without an 'info' object")
        releases = data.get("releases")
        uploads: dict[str, float] = {}
        if isinstance(releases, dict):
            for entries in releases.values():
                for entry in entries if isinstance(entries, list) else ():
                    if isinstance(entry, dict) and isinstance(entry.get("filename"), str):
                        when = parse_time(entry.get("upload_time_iso_8601"))
                        if when is not None:
                            uploads[entry["filename"]] = when
        for item in files:
            if item["upload_time"] is None:
                item["upload_time"] = uploads.get(item["filename"])
        info: dict[str, Any] = data["info"]
        return info

    def _signals(
        self,
        name: str,
        files: list[dict[str, Any]],
        info: dict[str, Any],
        status: tuple[str | None, str | None] = (None, None),
    ) -> ProjectSignals:
        versions: dict[str, list[dict[str, Any]]] = {}
        for item in files:
            parsed = version_of(item["filename"])
            if parsed is None:
                continue
            item["is_wheel"] = parsed[1]
            versions.setdefault(parsed[0], []).append(item)
        order = sorted(versions, key=Version)
        yanked = [v for v in order if all(f["yanked"] for f in versions[v])]
        wheels = [v for v in order if any(f["is_wheel"] for f in versions[v])]
        times = [f["upload_time"] for f in files if f.get("upload_time") is not None]
        urls = info.get("project_urls")
        summary = info.get("summary")
        return ProjectSignals(
            name=name,
            index_url=self.index_url,
            checked=True,
            exists=True,
            versions=tuple(order),
            yanked_versions=tuple(yanked),
            wheel_versions=tuple(wheels),
            first_upload=min(times) if times else None,
            last_upload=max(times) if times else None,
            has_wheels=bool(wheels),
            summary=summary if isinstance(summary, str) else None,
            project_urls={str(k): str(v) for k, v in urls.items()} if isinstance(urls, dict) else {},
            fetched_at=self._clock(),
            source="network",
            status=status[0],
            status_reason=status[1],
            uploads=first_uploads(files),
            file_hashes=file_hashes(files),
        )

    @staticmethod
    def _decode_json(url: str, body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise IndexClientError(f"{url} sent invalid JSON ({exc})") from exc

    # -- HTTP with retries, redirect policy, deadline and size cap

    def _get(self, url: str, accept: str) -> tuple[int, str, bytes]:
        attempt = 0
        while True:
            try:
                status, ctype, body = self._get_following(url, accept)
            except HttpFailure as exc:
                if exc.kind is not Failure.CONNECT:  # timeouts are not retried
                    raise IndexClientError(f"{url}: {exc}") from exc
                if attempt >= self.retries:
                    raise _ConnectFailed(
                        f"{url}: connection failed after {attempt + 1} attempts ({exc})"
                    ) from exc
            else:
                if status < 500 or attempt >= self.retries:
                    if status >= 500:
                        raise IndexClientError(f"{url} answered HTTP {status} after {attempt + 1} attempts")
                    return status, ctype, body
            # Jittered, so parallel clients do not retry in lockstep.
            time.sleep(backoff_delay(attempt, BACKOFF_BASE, jitter=BACKOFF_BASE))
            attempt += 1

    def _get_following(self, url: str, accept: str) -> tuple[int, str, bytes]:
        for _ in range(MAX_REDIRECTS + 1):
            status, ctype, body, location = self._get_once(url, accept)
            if location is None:
                return status, ctype, body
            target = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(target)[:2] != self._origin:
                raise IndexClientError(f"{url} redirected to another host ({target}); refusing to follow")
            url = target
        raise IndexClientError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def _get_once(self, url: str, accept: str) -> tuple[int, str, bytes, str | None]:
        answer = get(self._pool, url, accept=accept, timeout=self.timeout, max_bytes=MAX_BODY_BYTES)
        return answer.status, answer.content_type, answer.body, answer.location
