"""A real OTLP/HTTP trace receiver on 127.0.0.1 that decodes the protobuf payloads.

``OtlpReceiver`` accepts ``POST /v1/traces`` (``application/x-protobuf``, optionally gzip or
deflate), decodes each body as an ``ExportTraceServiceRequest`` with ``opentelemetry-proto``
and keeps the spans in a simple form for assertions. ``mode`` makes it misbehave on purpose:
``"hang"`` never answers (a collector stuck behind a proxy), ``"error"`` replies 503.

Fixtures: ``otlp_receiver`` (a fresh receiver per test) and ``dead_endpoint`` (a loopback
URL on which nothing listens).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
import socket
import threading
import time
from typing import Any
import zlib

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
import pytest

from tests.support.loopback import LoopbackHandler
from tests.support.loopback import LoopbackHTTPServer


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    return getattr(value, kind) if kind else None


@dataclass(frozen=True)
class ReceivedSpan:
    """One decoded span with its resource attributes."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    events: tuple[tuple[str, dict[str, Any]], ...]
    resource: dict[str, Any]
    scope: str


@dataclass
class OtlpReceiver:
    """Loopback OTLP/HTTP receiver; ``endpoint`` is the full ``/v1/traces`` URL."""

    mode: str = "ok"
    spans: list[ReceivedSpan] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Serve on an ephemeral port in a daemon thread."""
        receiver = self

        class Handler(LoopbackHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.mode == "hang":
                    receiver._release.wait(30)
                    return
                if receiver.mode == "error":
                    self.send_response(503)
                    self.end_headers()
                    return
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                receiver._store(body, {k.lower(): v for k, v in self.headers.items()}, self.path)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self._server = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT/v1/traces``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/traces"

    def stop(self) -> None:
        """Release hanging handlers and stop serving."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _store(self, body: bytes, headers: dict[str, str], path: str) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        decoded = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    decoded.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            status_code=span.status.code,
                            status_message=span.status.message,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            events=tuple(
                                (e.name, {a.key: _value(a.value) for a in e.attributes}) for e in span.events
                            ),
                            resource=resource,
                            scope=scope_spans.scope.name,
                        )
                    )
        with self._lock:
            self.requests += 1
            self.headers.append(headers)
            self.paths.append(path)
            self.spans.extend(decoded)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedSpan]:
        """The spans received, once at least ``count`` arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.spans) >= count:
                    break
            time.sleep(0.02)
        with self._lock:
            return list(self.spans)


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A running loopback OTLP/HTTP receiver that answers 200."""
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def dead_endpoint() -> str:
    """An OTLP URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/traces"
