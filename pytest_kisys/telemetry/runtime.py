"""The live tracing state of one process: own TracerProvider, session span, stages, export.

Created only when tracing is on. The provider is a private instance: the global
``opentelemetry.trace`` provider is never set or replaced, so an application under test that
installs its own keeps it.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from contextvars import ContextVar
import itertools
import resource
import time
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import Status
from opentelemetry.trace.status import StatusCode
import pytest

from pytest_kisys._version import __version__
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.settings import Settings
from pytest_kisys.telemetry import AttributeValue
from pytest_kisys.telemetry.cost import CostLedger
from pytest_kisys.telemetry.cost import peak_rss_bytes
from pytest_kisys.telemetry.envconfig import read_trace_env
from pytest_kisys.telemetry.envconfig import TraceEnv
from pytest_kisys.telemetry.export import build_exporter
from pytest_kisys.telemetry.export import ExportOutcome
from pytest_kisys.telemetry.export import ExportPipeline
from pytest_kisys.telemetry.records import SpanBuilder
from pytest_kisys.telemetry.records import SpanIds
from pytest_kisys.telemetry.resource import resource_attributes


SCOPE_NAME = "pytest-kisys"
_PROPAGATOR = TraceContextTextMapPropagator()
_SAMPLED = trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED)
_TASK_TYPES = {"tests": "test", "collect": "test", "install": "build", "report": "report"}


def task_type(stage: str) -> str:
    """``cicd.pipeline.task.type`` of a stage: ``scan`` for ``scan.code``, the declared name
    for a matrix expansion (``mx`` for ``mx[3.11]``, never a name cut at the dot)."""
    if stage in _TASK_TYPES:
        return _TASK_TYPES[stage]
    base = stage.partition("[")[0]
    return base.partition(".")[0] if base.startswith("scan.") else base


def make_sampler(name: str, ratio: float) -> sampling.Sampler:
    """The SDK sampler for an ``OTEL_TRACES_SAMPLER`` name (validated by envconfig)."""
    root = name.removeprefix("parentbased_")
    base: sampling.Sampler
    if root == "always_on":
        base = sampling.ALWAYS_ON
    elif root == "always_off":
        base = sampling.ALWAYS_OFF
    else:
        base = sampling.TraceIdRatioBased(ratio)
    return sampling.ParentBased(root=base) if name.startswith("parentbased_") else base


def traceparent_of(ctx: SpanContext) -> dict[str, str]:
    """W3C ``traceparent`` (and ``tracestate``) headers for ``ctx``."""
    carrier = {"traceparent": f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"}
    if ctx.trace_state:
        carrier["tracestate"] = ctx.trace_state.to_header()
    return carrier


class _Ids(IdGenerator):
    """Routes the provider's ids through the private generator shared with test records."""

    def __init__(self, ids: SpanIds) -> None:
        self._ids = ids

    def generate_span_id(self) -> int:
        return self._ids.span_id()

    def generate_trace_id(self) -> int:
        return self._ids.trace_id()


class _QueueProcessor(SpanProcessor):
    """Hands every ended SDK span to the export pipeline (no per-span export work)."""

    def __init__(self, pipeline: ExportPipeline) -> None:
        self._pipeline = pipeline

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            self._pipeline.submit(span)


class _Stage:
    """The :class:`~pytest_kisys.telemetry.StageHandle` of a live stage span."""

    def __init__(self, span: trace_api.Span, redactor: Redactor) -> None:
        self.span = span
        self._redactor = redactor
        self.result: str | None = None
        self.error_type: str | None = None

    def _clean(self, value: AttributeValue) -> AttributeValue:
        if isinstance(value, str):
            return self._redactor.redact(value)
        if isinstance(value, tuple):
            return tuple(self._redactor.redact(v) for v in value)
        return value

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set one attribute, redacted."""
        self.span.set_attribute(key, self._clean(value))

    def set_result(self, result: str, error_type: str | None = None) -> None:
        """Remember the ``cicd.pipeline.task.run.result`` to set when the stage ends."""
        self.result = result
        self.error_type = error_type

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue]) -> None:
        """Add one event, redacted."""
        self.span.add_event(name, {k: self._clean(v) for k, v in attributes.items()})


def _exception_result(exc: BaseException) -> str:
    if isinstance(exc, pytest.skip.Exception):
        return "skip"
    if isinstance(exc, KeyboardInterrupt):
        return "cancellation"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "failure"


class TelemetryRuntime:
    """One process's tracer, session span, stage spans, test-record queue and export."""

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        defer_session: bool = False,
        redactor: Redactor | None = None,
    ) -> None:
        self.settings = settings
        self.trace_env: TraceEnv = read_trace_env(environ)
        # The session's one redactor (secrets fetched by tests are added to it later).
        if redactor is None:
            redactor = Redactor.from_environment(environ, settings.mask_env, enabled=settings.mask)
        self.redactor = redactor
        self.redactor.add(self.trace_env.headers.values())
        redact = self.redactor.redact
        self.resource = Resource(
            {k: redact(v) for k, v in resource_attributes(self.trace_env, environ).items()}
        )
        self.scope = InstrumentationScope(SCOPE_NAME, __version__)
        self.ids = SpanIds()
        self.builder = SpanBuilder(self.resource, self.scope, self.redactor, self.ids)
        self.pipeline = ExportPipeline(self.builder, max_queue=settings.trace_queue_max)
        self.provider = TracerProvider(
            sampler=make_sampler(self.trace_env.sampler, self.trace_env.sampler_ratio),
            resource=self.resource,
            shutdown_on_exit=False,
            id_generator=_Ids(self.ids),
        )
        self.provider.add_span_processor(_QueueProcessor(self.pipeline))
        self.tracer = self.provider.get_tracer(SCOPE_NAME, __version__)
        self.cost = CostLedger()
        self.worker_id: str | None = None
        self._session: trace_api.Span | None = None
        # An xdist worker learns its parent only in pytest_configure; spans opened before
        # that hang off this stand-in and are moved into the real trace before export.
        self._provisional: trace_api.Span | None = None
        if defer_session:
            self._provisional = trace_api.NonRecordingSpan(
                SpanContext(self.ids.trace_id(), self.ids.span_id(), False, _SAMPLED)
            )
        self._current: ContextVar[trace_api.Span | None] = ContextVar("kisys_stage", default=None)
        self._stage_ids = itertools.count(1)
        self._created_ns = time.time_ns()
        self._outcome: ExportOutcome | None = None

    # -- setup ---------------------------------------------------------------------------

    def start_export(self, exporter: SpanExporter | None, fresh: bool = True) -> None:
        """Start exporting, to ``exporter`` or else to what ``settings.trace`` selects."""
        if exporter is None:
            exporter, target = build_exporter(
                self.settings.trace, self.trace_env, self.settings.trace_timeout, fresh
            )
        else:
            target = f"{type(exporter).__name__} (pytest_kisys_span_exporter)"
        self.pipeline.start(exporter, target)

    def start_session(
        self,
        args: Sequence[str] = (),
        carrier: Mapping[str, str] | None = None,
        worker_id: str | None = None,
    ) -> trace_api.Span:
        """Start the session span (once); ``carrier`` is an xdist controller's context."""
        if self._session is not None:
            return self._session
        self.worker_id = worker_id
        if carrier is None:
            carrier = {}
            if self.settings.traceparent:
                carrier = {"traceparent": self.settings.traceparent}
                if self.trace_env.tracestate:
                    carrier["tracestate"] = self.trace_env.tracestate
        parent = _PROPAGATOR.extract(carrier=dict(carrier))
        attrs: dict[str, AttributeValue] = {
            "test.suite.name": self.settings.rootdir.name,
            "pytest.args": tuple(self.redactor.redact_args(args)),
            "cicd.pipeline.task.type": "test",
        }
        if worker_id is not None:
            attrs["pytest.xdist.worker"] = worker_id
        name = f"pytest worker {worker_id}" if worker_id else "pytest session"
        session = self.tracer.start_span(
            name, context=parent, kind=SpanKind.INTERNAL, attributes=attrs, start_time=self._created_ns
        )
        self._session = session
        if self._provisional is not None:
            self.builder.rebase = (self._provisional.get_span_context(), session.get_span_context())
            self._provisional = None
        return session

    @property
    def session_span(self) -> trace_api.Span:
        """The session span, started on first use (a stand-in on a worker before configure)."""
        if self._session is not None:
            return self._session
        if self._provisional is not None:
            return self._provisional
        return self.start_session()

    @property
    def sampled(self) -> bool:
        """Whether this trace is recorded at all (``OTEL_TRACES_SAMPLER`` and the parent)."""
        return bool(self.session_span.get_span_context().trace_flags.sampled)

    # -- stages --------------------------------------------------------------------------

    def current_carrier(self) -> dict[str, str]:
        """``TRACEPARENT``/``TRACESTATE`` of the innermost open stage, else of the session."""
        span = self._current.get() or self.session_span
        carrier = traceparent_of(span.get_span_context())
        return {key.upper(): value for key, value in carrier.items()}

    @contextmanager
    def stage_span(self, name: str, attributes: Mapping[str, AttributeValue]) -> Iterator[_Stage]:
        """Open a ``cicd.pipeline.task`` span; see :func:`pytest_kisys.telemetry.stage_span`."""
        parent = self._current.get() or self.session_span
        attrs: dict[str, AttributeValue] = {
            "cicd.pipeline.task.name": name,
            "cicd.pipeline.task.run.id": f"{name}-{next(self._stage_ids)}",
            "cicd.pipeline.task.type": task_type(name),
        }
        run_url = self.resource.attributes.get("cicd.pipeline.run.url.full")
        if run_url:
            attrs["cicd.pipeline.task.run.url.full"] = str(run_url)
        span = self.tracer.start_span(name, context=trace_api.set_span_in_context(parent), attributes=attrs)
        stage = _Stage(span, self.redactor)
        for key, value in attributes.items():
            stage.set_attribute(key, value)
        token = self._current.set(span)
        cpu_start = time.thread_time_ns()
        children_start = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            yield stage
        except BaseException as exc:
            if stage.result is None:
                stage.set_result(_exception_result(exc), type(exc).__qualname__)
            span.add_event(
                "exception",
                {
                    "exception.type": type(exc).__qualname__,
                    "exception.message": self.redactor.redact(str(exc))[:2000],
                },
            )
            raise
        finally:
            self._current.reset(token)
            self._end_stage(stage, cpu_start, children_start)

    def _end_stage(self, stage: _Stage, cpu_start: int, children_start: Any) -> None:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = (children.ru_utime - children_start.ru_utime) + (
            children.ru_stime - children_start.ru_stime
        )
        span = stage.span
        result = stage.result or "success"
        span.set_attribute("cicd.pipeline.task.run.result", result)
        span.set_attribute("kisys.cpu.time", (time.thread_time_ns() - cpu_start) / 1e9)
        # Subprocess CPU of every child reaped meanwhile (concurrent stages share this figure).
        span.set_attribute("kisys.cpu.children_time", round(child_cpu, 6))
        span.set_attribute("kisys.memory.peak", peak_rss_bytes())
        if result in ("failure", "error", "timeout"):
            error_type = stage.error_type or result
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()

    # -- finish --------------------------------------------------------------------------

    def finish(self, attributes: Mapping[str, AttributeValue], failed: bool) -> ExportOutcome:
        """End the session span and flush within ``trace_timeout``; idempotent."""
        if self._outcome is not None:
            return self._outcome
        span = self.session_span
        clean = _Stage(span, self.redactor)
        for key, value in attributes.items():
            clean.set_attribute(key, value)
        if failed:
            span.set_status(Status(StatusCode.ERROR, "test session failed"))
        span.end()
        self._outcome = self.pipeline.close(self.settings.trace_timeout)
        self.provider.shutdown()
        return self._outcome
