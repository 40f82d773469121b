"""The package-index client: PEP 691/503 simple pages plus the PyPI-style JSON API over urllib3.

One shared connection pool (keep-alive, :mod:`pytest_kisys.vet.http`) is used from a small thread pool
so that many projects are looked up concurrently. Each request is bounded by the configured
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
MAX_CONCURRENCY = 16
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
        self._pool = transport or make_pool(self._base, cert=cert, maxsize=MAX_CONCURRENCY)

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
            # Ctrl-C stops waiting at once instead of joining slow lookups.
            answers = interruptible_map(
                self.lookup, missing, workers=MAX_CONCURRENCY, name="kisys-index"
            )
            results.update(zip(missing, answers, strict=True))
        return results

    def lookup(self, name: str) -> ProjectSignals:
        """Ask the index about one canonical name (no cache read); caches conclusive answers."""
        try:
            signals = self._fetch(name)
        except IndexClientError as exc:
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
                    raise IndexClientError(
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
