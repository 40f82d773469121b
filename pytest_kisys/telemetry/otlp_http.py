"""OTLP/HTTP (``http/protobuf``) span exporter on the standard library's ``http.client``.

One POST per batch to the traces endpoint with ``Content-Type: application/x-protobuf``,
the configured headers and optional gzip (``OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION``); TLS
honours ``OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`` and the client certificate and key.
Throttling answers (429, 502, 503, 504) are retried while the per-export deadline allows;
anything else fails at once and the pipeline stops exporting (the collector is down).
``http_proxy``/``https_proxy``/``no_proxy`` are honoured like ``requests`` does (CONNECT
tunnel for https); loopback collectors are always reached directly.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from collections.abc import Sequence
import gzip
import http.client
import ssl
import time
from urllib.parse import unquote
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from pytest_kisys._version import __version__
from pytest_kisys.errors import ConfigError
from pytest_kisys.proxies import proxy_for
from pytest_kisys.retry import backoff_delay
from pytest_kisys.telemetry.otlp_proto import encode_batch
from pytest_kisys.telemetry.otlp_proto import encode_request
from pytest_kisys.telemetry.records import SpanData


_RETRYABLE = frozenset({429, 502, 503, 504})
class OtlpHttpSpanExporter(SpanExporter):
    """Posts OTLP protobuf to ``endpoint``; ``last_error`` says why the last export failed."""

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str],
        timeout: float,
        compression: str = "none",
        certificate: str | None = None,
        client_certificate: str | None = None,
        client_key: str | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"OTLP endpoint {endpoint!r} is not an http(s) URL; "
                "expected for example http://localhost:4318/v1/traces"
            )
        if compression not in ("none", "gzip"):
            raise ConfigError(
                f"OTEL_EXPORTER_OTLP_COMPRESSION={compression!r} is not supported; allowed: none, gzip"
            )
        self.endpoint = endpoint
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._proxy = proxy_for(parts, proxies or {})
        self._timeout = timeout
        self._gzip = compression == "gzip"
        self._headers = {
            **dict(headers),
            "Content-Type": "application/x-protobuf",
            "User-Agent": f"pytest-kisys/{__version__}",
        }
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._tunnel_headers: dict[str, str] = {}
        if self._proxy is not None and self._proxy.username:
            user = f"{unquote(self._proxy.username)}:{unquote(self._proxy.password or '')}"
            auth = "Basic " + base64.b64encode(user.encode()).decode()
            self._tunnel_headers["Proxy-Authorization"] = auth
            if not self._https:
                self._headers["Proxy-Authorization"] = auth
        if self._proxy is not None and not self._https:
            # Plain-http proxies take the absolute URL as the request target.
            self._path = endpoint
        self._context: ssl.SSLContext | None = None
        if self._https:
            self._context = ssl.create_default_context(cafile=certificate)
            if client_certificate:
                self._context.load_cert_chain(client_certificate, client_key)
        self.last_error: str | None = None

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        proxy = self._proxy
        if proxy is not None:
            if not self._https:
                return http.client.HTTPConnection(proxy.hostname or "", proxy.port, timeout=timeout)
            conn = http.client.HTTPSConnection(
                proxy.hostname or "", proxy.port, timeout=timeout, context=self._context
            )
            conn.set_tunnel(self._host, self._port, headers=self._tunnel_headers)
            return conn
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _post(self, body: bytes, timeout: float) -> int:
        conn = self._connection(timeout)
        try:
            conn.request("POST", self._path, body=body, headers=self._headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send one batch; SUCCESS only on a 2xx answer."""
        return self._send(encode_request(spans))

    def export_data(
        self, spans: Sequence[SpanData], resource: Resource, scope: InstrumentationScope
    ) -> SpanExportResult:
        """Send kisys's own spans (one resource and scope), encoded with no SDK objects."""
        return self._send(encode_batch(spans, resource, scope))

    def _send(self, body: bytes) -> SpanExportResult:
        if self._gzip:
            body = gzip.compress(body, compresslevel=6)
        deadline = time.monotonic() + self._timeout
        retry = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                status = self._post(body, max(remaining, 0.01))
            except (OSError, http.client.HTTPException) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                return SpanExportResult.FAILURE
            if 200 <= status < 300:
                self.last_error = None
                return SpanExportResult.SUCCESS
            self.last_error = f"HTTP {status} from the collector"
            backoff = backoff_delay(retry, 0.05)
            if status not in _RETRYABLE or backoff > deadline - time.monotonic():
                return SpanExportResult.FAILURE
            time.sleep(backoff)
            retry += 1

    def shutdown(self) -> None:
        """No connection is kept between exports."""
