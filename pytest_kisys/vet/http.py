"""The HTTP stack of the index client and the advisory downloads: urllib3, one pool per client.

urllib3 rather than httpx: httpx brings anyio, whose ``pytest11`` entry point would load a
third-party plugin into every pytest run of an environment that has pytest-kisys installed.
urllib3 has no dependencies and registers no plugin. ``http_proxy``/``https_proxy``/
``no_proxy`` are honoured with the same rule as the OTLP exporter; TLS uses the default
context (``SSL_CERT_FILE`` honoured) or the configured CA bundle.

Everything that can go wrong on the wire is translated into :class:`HttpFailure` with a
:class:`Failure` kind, so callers decide on a field (retry a connection error, never a
timeout) and not on message text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import enum
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError as _Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import TimeoutError as _Urllib3Timeout

from pytest_kisys.proxies import env_proxies
from pytest_kisys.proxies import proxy_for


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024


class Failure(enum.Enum):
    """Why a request failed."""

    CONNECT = "connect"  # refused, reset, name resolution, dropped mid-answer: worth a retry
    TIMEOUT = "timeout"  # no answer in time: not retried, so nothing waits much past the timeout
    OTHER = "other"


class HttpFailure(Exception):
    """A request failed; ``kind`` says how."""

    def __init__(self, kind: Failure, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class Answer:
    """One response: status, content type, body (empty unless 200), redirect target."""

    status: int
    content_type: str
    body: bytes
    location: str | None = None


def make_pool(
    url: str, *, cert: str | None = None, maxsize: int = 1, proxies: Mapping[str, str] | None = None
) -> urllib3.PoolManager:
    """A connection pool for requests to ``url``'s origin (through its proxy, if any)."""
    headers = {"User-Agent": "pytest-kisys (vetting; +https://example.invalid/pytest-kisys)"}
    proxy = proxy_for(urlsplit(url), env_proxies() if proxies is None else proxies)
    context: ssl.SSLContext | None = None
    if urlsplit(url).scheme == "https" or (proxy is not None and proxy.scheme == "https"):
        # Loading the system's CA store costs 20-40 ms: only pools that speak TLS pay it.
        context = ssl.create_default_context(cafile=cert) if cert else ssl.create_default_context()
    if proxy is not None:
        return urllib3.ProxyManager(
            proxy.geturl(), num_pools=2, maxsize=maxsize, headers=headers, ssl_context=context
        )
    return urllib3.PoolManager(num_pools=2, maxsize=maxsize, headers=headers, ssl_context=context)


def get(
    pool: urllib3.PoolManager,
    url: str,
    *,
    accept: str,
    timeout: float,
    max_bytes: int,
) -> Answer:
    """GET ``url`` once (redirects are returned, not followed) with a wall-clock deadline.

    The body is read in chunks: larger than ``max_bytes`` or still arriving after ``timeout``
    seconds raises :class:`HttpFailure`, so a slow-drip or endless answer cannot hang a run.
    """
    deadline = time.monotonic() + timeout
    try:
        response: Any = pool.request(
            "GET",
            url,
            headers={"Accept": accept},
            preload_content=False,
            redirect=False,
            retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )
        complete = False
        try:
            if response.status in REDIRECT_STATUSES:
                return Answer(response.status, "", b"", response.headers.get("location", ""))
            if response.status != 200:
                return Answer(response.status, "", b"")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.stream(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise HttpFailure(Failure.OTHER, f"response larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise HttpFailure(
                        Failure.TIMEOUT, f"response still arriving after the {timeout:g} s timeout"
                    )
                chunks.append(chunk)
            complete = True
            return Answer(200, response.headers.get("content-type", ""), b"".join(chunks))
        finally:
            if not complete:
                # An unread body would be read as the next answer on a reused connection.
                response.close()
            response.release_conn()
    # NewConnectionError is a ConnectTimeoutError in urllib3: test it first.
    except (NewConnectionError, ProtocolError) as exc:
        raise HttpFailure(Failure.CONNECT, f"{type(exc).__name__}: {exc}") from exc
    except _Urllib3Timeout as exc:
        raise HttpFailure(Failure.TIMEOUT, f"no answer within the {timeout:g} s timeout") from exc
    except _Urllib3Error as exc:
        raise HttpFailure(Failure.OTHER, f"{type(exc).__name__}: {exc}") from exc
