"""Bounded export: spans leave on one background thread and never hold up the session.

:class:`ExportPipeline` collects finished items (SDK spans of the session and stages, and the
lightweight test records that are turned into spans only here, off the test's hot path),
exports them in batches, and on :meth:`ExportPipeline.close` waits at most the remaining
``trace_timeout`` budget. After the first failed export the collector is considered down: the
rest is dropped and counted instead of retried, so a dead collector costs at most
``trace_timeout`` in total and produces one warning line (from the plugin), not a log storm.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
import enum
import logging
from pathlib import Path
import sys
import threading
import time
from typing import Any
from typing import Protocol
from typing import runtime_checkable

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from pytest_kisys.errors import ConfigError
from pytest_kisys.telemetry.envconfig import TraceEnv
from pytest_kisys.telemetry.records import SpanBuilder
from pytest_kisys.telemetry.records import SpanData


BATCH_SIZE = 512
SCHEDULE_DELAY = 1.0
QUEUE_MAX = 10_000
"""Default bound of the export queue (``trace_queue_max``): more waiting items are dropped."""
_THREAD_NAME = "kisys-span-export"


class _Mode(enum.Enum):
    """What the exporter is handed: encoded texts, :class:`SpanData`, or SDK spans."""

    ENCODED = "encoded"
    DATA = "data"
    SDK = "sdk"


@runtime_checkable
class DataExporter(Protocol):
    """An exporter of kisys's own that encodes :class:`SpanData` directly (no SDK span objects)."""

    def export_data(
        self, spans: Sequence[SpanData], resource: Resource, scope: InstrumentationScope
    ) -> SpanExportResult:
        """Export spans that all share ``resource`` and ``scope``."""


@runtime_checkable
class EncodingExporter(Protocol):
    """An exporter of kisys's own that encodes queued items itself (``file:``): a passing
    test's span is written from its record, with no :class:`SpanData` in between."""

    def encode_items(self, items: Sequence[Any], builder: SpanBuilder) -> list[str]:
        """The encoded spans the queued ``items`` stand for."""

    def export_encoded(
        self, spans: Sequence[str], resource: Resource, scope: InstrumentationScope
    ) -> SpanExportResult:
        """Export spans :meth:`encode_items` encoded, all sharing ``resource`` and ``scope``."""


@dataclass(frozen=True)
class ExportOutcome:
    """What happened to the spans of a run once the pipeline closed."""

    target: str
    exported: int
    dropped: int
    error: str | None

    @property
    def ok(self) -> bool:
        """True when every span was delivered."""
        return self.error is None and self.dropped == 0


class _OwnThreadOnly(logging.Filter):
    """Drops exporter log records raised on the export thread: the plugin reports them once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != _THREAD_NAME


_QUIET = _OwnThreadOnly()
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "urllib3.connectionpool",
)


def build_exporter(
    trace: str, trace_env: TraceEnv, timeout: float, fresh: bool = True
) -> tuple[SpanExporter, str]:
    """The exporter ``trace`` selects, and a target for messages; ``fresh`` empties a file."""
    if trace == "console":
        # xdist workers' stdout is the controller's channel; their spans go to stderr.
        stream = (sys.__stdout__ if fresh else sys.__stderr__) or sys.stderr
        return ConsoleSpanExporter(out=stream), "console"
    if trace.startswith("file:"):
        from pytest_kisys.telemetry.otlp_json import JsonLinesSpanExporter

        path = Path(trace[len("file:") :]).expanduser()
        if not path.parent.is_dir():
            raise ConfigError(f"--kisys-trace {trace}: directory {path.parent} does not exist")
        return JsonLinesSpanExporter(path, truncate=fresh), f"file {path}"
    if trace == "otlp":
        return _otlp_exporter(trace_env, timeout), f"otlp {trace_env.endpoint}"
    raise ConfigError(f"--kisys-trace {trace!r} is not supported; allowed: none, console, otlp, file:PATH")


def _otlp_exporter(trace_env: TraceEnv, timeout: float) -> SpanExporter:
    # http/protobuf uses kisys's own lean exporter; grpc needs the SDK's optional package.
    bounded = max(timeout, 0.05)
    if trace_env.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        except ImportError as exc:
            raise ConfigError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc; "
                "install it or use http/protobuf"
            ) from exc
        exporter: SpanExporter = GrpcExporter(
            endpoint=trace_env.endpoint, headers=dict(trace_env.headers), timeout=bounded
        )
        return exporter
    from pytest_kisys.telemetry.otlp_http import OtlpHttpSpanExporter

    return OtlpHttpSpanExporter(
        trace_env.endpoint,
        trace_env.headers,
        bounded,
        compression=trace_env.compression,
        certificate=trace_env.certificate,
        client_certificate=trace_env.client_certificate,
        client_key=trace_env.client_key,
        proxies=trace_env.proxies,
    )


class ExportPipeline:
    """A queue of finished items, drained in batches by one daemon thread.

    ``builder`` turns one queued item into the spans it stands for; it runs on the export
    thread, so building spans never costs the test that produced them. kisys's own exporters
    (:class:`DataExporter`) get plain :class:`SpanData`; any other gets SDK ``ReadableSpan``.
    """

    def __init__(
        self,
        builder: SpanBuilder,
        batch_size: int = BATCH_SIZE,
        delay: float = SCHEDULE_DELAY,
        max_queue: int = QUEUE_MAX,
    ) -> None:
        self.exporter: SpanExporter | None = None
        self.target = "nowhere (export never started)"
        self._builder = builder
        self._batch_size = batch_size
        self._delay = delay
        self._max_queue = max(1, max_queue)
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._accepting = True
        self._exported = 0
        self._dropped = 0
        self._in_flight = 0
        self._error: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, exporter: SpanExporter, target: str) -> None:
        """Start the export thread; items submitted earlier are queued until now."""
        self.exporter = exporter
        self.target = target
        for name in _EXPORTER_LOGGERS:
            logging.getLogger(name).addFilter(_QUIET)
        self._thread = threading.Thread(target=self._run, name=_THREAD_NAME, daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        """Whether an export failed: the collector is down, nothing more will be sent."""
        return self._error is not None

    def submit(self, item: Any) -> None:
        """Queue one finished item; wakes the thread once a batch is full.

        Dropped and counted instead: after close, once an export failed for good, or when
        ``max_queue`` items are already waiting (a slow collector never grows memory).
        """
        queue = self._queue
        if not self._accepting or self._error is not None or len(queue) >= self._max_queue:
            with self._lock:
                self._dropped += 1
            return
        queue.append(item)
        if len(queue) >= self._batch_size:
            self._wake.set()

    def _take(self) -> list[Any]:
        items = []
        queue = self._queue
        while queue:
            items.append(queue.popleft())
        return items

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay)
            self._wake.clear()
            closing = self._closing
            items = self._take()
            if items:
                self._export_items(items)
            if closing and not self._queue:
                break
        self._shutdown_exporter()

    def _export_items(self, items: Sequence[Any]) -> None:
        if self._error is not None:
            # The collector is down for good: no span is built for nothing.
            with self._lock:
                self._dropped += len(items)
            return
        exporter: object = self.exporter
        spans: list[Any] = []
        if isinstance(exporter, EncodingExporter):
            mode = _Mode.ENCODED
            spans = exporter.encode_items(items, self._builder)
        else:
            mode = _Mode.DATA if isinstance(exporter, DataExporter) else _Mode.SDK
            convert = self._builder.data if mode is _Mode.DATA else self._builder
            for item in items:
                spans.extend(convert(item))
        for start in range(0, len(spans), self._batch_size):
            batch = spans[start : start + self._batch_size]
            with self._lock:
                self._in_flight = len(spans) - start
            if self._error is not None:
                with self._lock:
                    self._dropped += len(batch)
                continue
            error = self._export_batch(batch, mode)
            with self._lock:
                if error is None:
                    self._exported += len(batch)
                else:
                    self._error = error
                    self._dropped += len(batch)
        with self._lock:
            self._in_flight = 0

    def _export_batch(self, batch: Sequence[Any], mode: _Mode) -> str | None:
        exporter = self.exporter
        assert exporter is not None  # noqa: S101  # nosec B101 - only the started thread exports
        try:
            if mode is _Mode.ENCODED:
                assert isinstance(exporter, EncodingExporter)  # noqa: S101  # nosec B101 - checked by the caller
                result = exporter.export_encoded(batch, self._builder.resource, self._builder.scope)
            elif mode is _Mode.DATA:
                assert isinstance(exporter, DataExporter)  # noqa: S101  # nosec B101 - checked by the caller
                result = exporter.export_data(batch, self._builder.resource, self._builder.scope)
            else:
                result = exporter.export(batch)
        except Exception as exc:  # noqa: BLE001 - any exporter failure means "collector down"
            return f"{type(exc).__name__}: {exc}"
        if result is not SpanExportResult.SUCCESS:
            detail = getattr(self.exporter, "last_error", None)
            return str(detail) if detail else "the exporter reported a failure"
        return None

    def _shutdown_exporter(self) -> None:
        assert self.exporter is not None  # noqa: S101  # nosec B101 - only the started thread shuts down
        try:
            self.exporter.shutdown()
        except Exception as exc:  # noqa: BLE001 - shutdown errors only matter if spans were lost
            with self._lock:
                self._error = self._error or f"shutdown: {type(exc).__name__}: {exc}"

    def close(self, budget: float) -> ExportOutcome:
        """Flush what is queued, waiting at most ``budget`` seconds; count what did not make it."""
        deadline = time.monotonic() + max(budget, 0.0)
        self._accepting = False
        self._closing = True
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(max(deadline - time.monotonic(), 0.0))
        with self._lock:
            error = self._error
            dropped = self._dropped
            if thread is None or thread.is_alive():
                # Whatever is still queued or in flight is given up on; the thread is a daemon.
                dropped += len(self._queue) + self._in_flight
                self._queue.clear()
                if thread is None:
                    error = error or "export was never started"
                else:
                    error = error or f"export did not finish within {budget:g}s"
            return ExportOutcome(self.target, self._exported, dropped, error)
