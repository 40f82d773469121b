"""Lightweight per-test records, turned into standard SDK spans only on the export thread.

A test costs one small tuple on its hot path (no SDK ``Span``, no attribute dict, no lock);
:class:`SpanBuilder` makes the ``ReadableSpan`` objects, redacted, in batches later. The output
is ordinary OTLP: any exporter accepts it.
"""

from __future__ import annotations

from collections.abc import Iterable
import os
import random
from typing import Any
from typing import NamedTuple

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext
from opentelemetry.trace import SpanKind
from opentelemetry.trace import TraceFlags
from opentelemetry.trace.status import Status
from opentelemetry.trace.status import StatusCode

from pytest_kisys.secrets.redact import Redactor


FAILED_STATUSES = frozenset({"fail", "error"})
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)


class ExceptionInfo(NamedTuple):
    """The failure of a test, captured in ``pytest_exception_interact``."""

    type: str
    message: str
    stacktrace: str
    time_ns: int


class Phase(NamedTuple):
    """One of setup/call/teardown, from its report (epoch seconds)."""

    when: str
    start: float
    stop: float
    outcome: str


class FixtureTiming(NamedTuple):
    """One fixture setup, timed by the phases plugin."""

    name: str
    scope: str
    start_ns: int
    end_ns: int


class TestRecord(NamedTuple):
    """Everything about one finished test that its span needs.

    The plugin queues a *plain* tuple in this field order (see :meth:`SpanBuilder.parent_index`
    for ``parent``): a tuple of strings and numbers is untracked by the garbage collector, so
    thousands of queued records never trigger an extra full collection of the test process.
    """

    nodeid: str
    location: tuple[str, int | None, str]
    status: str
    outcome: str
    start_ns: int
    end_ns: int
    durations: tuple[float, float, float]
    cpu_ns: int
    peak_rss: int
    parent: int
    exception: ExceptionInfo | None = None
    reason: str | None = None
    phases: tuple[Phase, ...] = ()
    fixtures: tuple[FixtureTiming, ...] = ()


class FixtureRecord(NamedTuple):
    """A fixture of wider than function scope, kept off test spans (parented to the session)."""

    fixture: FixtureTiming
    parent: SpanContext


class SpanIds:
    """64-bit span ids from a private generator (immune to tests reseeding ``random``)."""

    def __init__(self) -> None:
        self._random = random.Random(os.urandom(16))  # noqa: S311  # nosec B311 - ids, not secrets

    def span_id(self) -> int:
        """A non-zero random span id."""
        return self._random.getrandbits(64) or 1

    def trace_id(self) -> int:
        """A non-zero random trace id."""
        return self._random.getrandbits(128) or 1


def suite_name(nodeid: str) -> str:
    """The nodeid without its last ``::`` part: the module, or module::Class."""
    head, sep, _ = nodeid.rpartition("::")
    return head if sep else nodeid


class SpanBuilder:
    """Makes ``ReadableSpan`` objects from records; runs on the export thread."""

    def __init__(
        self, resource: Resource, scope: InstrumentationScope, redactor: Redactor, ids: SpanIds
    ) -> None:
        self.resource = resource
        self.scope = scope
        self.redactor = redactor
        self.ids = ids
        # (stand-in session context, real session context) on xdist workers; see runtime.
        self.rebase: tuple[SpanContext, SpanContext] | None = None
        self._parents: list[SpanContext] = []

    def parent_index(self, ctx: SpanContext) -> int:
        """A small integer standing for ``ctx`` in queued test records."""
        if ctx not in self._parents:
            self._parents.append(ctx)
        return self._parents.index(ctx)

    def __call__(self, item: Any) -> Iterable[ReadableSpan]:
        """The spans one queued item stands for (SDK spans pass through unchanged)."""
        if type(item) is tuple:
            return self.test_spans(TestRecord._make(item))
        if isinstance(item, FixtureRecord):
            ctx = self._child_context(item.parent)
            return [self._fixture_span(item.fixture, ctx, item.parent)]
        rebase = self.rebase
        if rebase is not None and item.context.trace_id == rebase[0].trace_id:
            return self._rebased(item, *rebase)
        return [item]

    def _rebased(self, span: ReadableSpan, stand_in: SpanContext, session: SpanContext) -> list[ReadableSpan]:
        """``span`` moved from the stand-in trace into the session's trace."""
        if not session.trace_flags.sampled:
            return []
        old_parent = span.parent
        parent = session
        if old_parent is not None and old_parent.span_id != stand_in.span_id:
            parent = SpanContext(session.trace_id, old_parent.span_id, False, _SAMPLED, session.trace_state)
        assert span.context is not None  # noqa: S101  # nosec B101 - ended SDK spans have a context
        ctx = SpanContext(session.trace_id, span.context.span_id, False, _SAMPLED, session.trace_state)
        return [
            ReadableSpan(
                name=span.name,
                context=ctx,
                parent=parent,
                resource=span.resource,
                attributes=span.attributes,
                events=span.events,
                links=span.links,
                kind=span.kind,
                status=span.status,
                start_time=span.start_time,
                end_time=span.end_time,
                instrumentation_scope=span.instrumentation_scope,
            )
        ]

    def _child_context(self, parent: SpanContext) -> SpanContext:
        return SpanContext(
            parent.trace_id,
            self.ids.span_id(),
            is_remote=False,
            trace_flags=_SAMPLED,
            trace_state=parent.trace_state,
        )

    def _span(
        self,
        name: str,
        ctx: SpanContext,
        parent: SpanContext,
        attributes: dict[str, Any],
        start: int,
        end: int,
        status: Status = _UNSET,
        events: tuple[Event, ...] = (),
    ) -> ReadableSpan:
        return ReadableSpan(
            name=name,
            context=ctx,
            parent=parent,
            resource=self.resource,
            attributes=attributes,
            events=events,
            kind=SpanKind.INTERNAL,
            status=status,
            start_time=start,
            end_time=end,
            instrumentation_scope=self.scope,
        )

    def test_spans(self, record: TestRecord) -> list[ReadableSpan]:
        """The test span, plus phase and fixture spans when they were recorded."""
        redact = self.redactor.redact
        nodeid = redact(record.nodeid)
        path, lineno, function = record.location
        setup, call, teardown = record.durations
        attrs: dict[str, Any] = {
            "test.case.name": nodeid,
            "test.suite.name": suite_name(nodeid),
            "test.case.result.status": record.status,
            "pytest.outcome": record.outcome,
            "code.file.path": redact(path),
            "code.function.name": redact(function),
            "pytest.setup.duration": setup,
            "pytest.call.duration": call,
            "pytest.teardown.duration": teardown,
            "kisys.cpu.time": record.cpu_ns / 1e9,
            "kisys.memory.peak": record.peak_rss,
        }
        if lineno is not None:
            attrs["code.line.number"] = lineno + 1
        if record.reason:
            attrs["pytest.reason"] = redact(record.reason)[:500]
        status = _UNSET
        events: tuple[Event, ...] = ()
        exc = record.exception
        if record.status in FAILED_STATUSES:
            error_type = exc.type if exc is not None else "AssertionError"
            attrs["error.type"] = error_type
            message = redact(exc.message)[:500] if exc is not None else record.status
            status = Status(StatusCode.ERROR, message)
            if exc is not None:
                events = (
                    Event(
                        "exception",
                        {
                            "exception.type": exc.type,
                            "exception.message": redact(exc.message),
                            "exception.stacktrace": redact(exc.stacktrace),
                        },
                        exc.time_ns,
                    ),
                )
        parent = self._parents[record.parent]
        ctx = self._child_context(parent)
        spans = [self._span(nodeid, ctx, parent, attrs, record.start_ns, record.end_ns, status, events)]
        setup_ctx = ctx
        for phase in record.phases:
            phase_ctx = self._child_context(ctx)
            if phase.when == "setup":
                setup_ctx = phase_ctx
            phase_status = Status(StatusCode.ERROR, phase.outcome) if phase.outcome == "failed" else _UNSET
            spans.append(
                self._span(
                    phase.when,
                    phase_ctx,
                    ctx,
                    {"pytest.when": phase.when, "pytest.outcome": phase.outcome},
                    int(phase.start * 1e9),
                    int(phase.stop * 1e9),
                    phase_status,
                )
            )
        for fixture in record.fixtures:
            spans.append(self._fixture_span(fixture, self._child_context(setup_ctx), setup_ctx))
        return spans

    def _fixture_span(self, fixture: FixtureTiming, ctx: SpanContext, parent: SpanContext) -> ReadableSpan:
        return self._span(
            f"fixture {fixture.name}",
            ctx,
            parent,
            {"pytest.fixture.name": fixture.name, "pytest.fixture.scope": fixture.scope},
            fixture.start_ns,
            fixture.end_ns,
        )
