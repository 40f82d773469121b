"""Lightweight per-test records, turned into standard SDK spans only on the export thread.

A test costs one small tuple on its hot path (no SDK ``Span``, no attribute dict, no lock);
:class:`SpanBuilder` makes the ``ReadableSpan`` objects, redacted, in batches later. The output
is ordinary OTLP: any exporter accepts it.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from opentelemetry.trace import TraceState
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


class SpanData(NamedTuple):
    """One finished span as plain values: what kisys's own encoders write.

    Test records become these directly (no SDK ``SpanContext`` or ``ReadableSpan``);
    :meth:`SpanBuilder.readable` turns one into a ``ReadableSpan`` for any other exporter.
    """

    trace_id: int
    span_id: int
    parent_id: int  # 0: a root span
    parent_remote: bool
    trace_state: TraceState | None  # None when empty
    name: str
    kind: int  # OTLP's SpanKind (INTERNAL = 1; the SDK's enum starts at 0)
    start: int
    end: int
    attributes: Mapping[str, Any]
    status_code: int  # OTLP's StatusCode value (UNSET 0, OK 1, ERROR 2)
    status_message: str
    events: tuple[tuple[int, str, Mapping[str, Any]], ...] = ()


def data_of(span: ReadableSpan) -> SpanData:
    """The plain values of a finished SDK span."""
    ctx = span.context
    assert ctx is not None  # noqa: S101  # nosec B101 - a finished SDK span always has a context
    parent = span.parent
    return SpanData(
        ctx.trace_id,
        ctx.span_id,
        parent.span_id if parent is not None else 0,
        bool(parent is not None and parent.is_remote),
        ctx.trace_state or None,
        span.name,
        span.kind.value + 1,
        span.start_time or 0,
        span.end_time or 0,
        span.attributes or {},
        span.status.status_code.value,
        span.status.description or "",
        tuple((e.timestamp, e.name, e.attributes or {}) for e in span.events),
    )


_KINDS = {kind.value + 1: kind for kind in SpanKind}
_STATUS = {code.value: code for code in StatusCode}


class SpanBuilder:
    """Makes spans from queued records, redacted; runs on the export thread.

    :meth:`data` gives the plain :class:`SpanData` that kisys's own exporters encode;
    calling the builder gives ``ReadableSpan`` objects for any other ``SpanExporter``.
    """

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
        self._contexts: dict[tuple[int, int, bool, int], tuple[TraceState | None, SpanContext]] = {}

    def parent_index(self, ctx: SpanContext) -> int:
        """A small integer standing for ``ctx`` in queued test records."""
        if ctx not in self._parents:
            self._parents.append(ctx)
        return self._parents.index(ctx)

    def parent_of(self, index: int) -> SpanContext:
        """The context a queued test record's ``parent`` index stands for."""
        return self._parents[index]

    def __call__(self, item: Any) -> list[ReadableSpan]:
        """The ``ReadableSpan`` objects one queued item stands for (SDK spans unchanged)."""
        if isinstance(item, ReadableSpan) and self.rebase is None:
            return [item]
        return [self.readable(d) for d in self.data(item)]

    def data(self, item: Any) -> list[SpanData]:
        """The spans one queued item stands for, as :class:`SpanData`."""
        if type(item) is tuple:
            return self.test_spans(TestRecord._make(item))
        if isinstance(item, FixtureRecord):
            parent = item.parent
            return [self._fixture_span(item.fixture, parent.trace_id, parent.span_id, parent.trace_state)]
        data = data_of(item)
        rebase = self.rebase
        if rebase is not None and data.trace_id == rebase[0].trace_id:
            return self._rebased(data, *rebase)
        return [data]

    def readable(self, data: SpanData) -> ReadableSpan:
        """``data`` as an SDK ``ReadableSpan`` with this builder's resource and scope."""
        state = data.trace_state
        ctx = SpanContext(data.trace_id, data.span_id, False, _SAMPLED, state)
        parent = None
        if data.parent_id:
            # Every test span of a stage has the same parent: one immutable context for all.
            # (TraceState is unhashable; the cache keeps the state alive, so its id holds.)
            key = (data.trace_id, data.parent_id, data.parent_remote, id(state))
            hit = self._contexts.get(key)
            if hit is not None and hit[0] is state:
                parent = hit[1]
            else:
                parent = SpanContext(data.trace_id, data.parent_id, data.parent_remote, _SAMPLED, state)
                if len(self._contexts) < 1024:
                    self._contexts[key] = (state, parent)
        code = data.status_code
        status = _UNSET if not code else Status(_STATUS[code], data.status_message or None)
        return ReadableSpan(
            name=data.name,
            context=ctx,
            parent=parent,
            resource=self.resource,
            attributes=data.attributes,
            events=tuple(Event(name, attrs, when) for when, name, attrs in data.events),
            kind=_KINDS[data.kind],
            status=status,
            start_time=data.start,
            end_time=data.end,
            instrumentation_scope=self.scope,
        )

    def _rebased(self, data: SpanData, stand_in: SpanContext, session: SpanContext) -> list[SpanData]:
        """``data`` moved from the stand-in trace into the session's trace."""
        if not session.trace_flags.sampled:
            return []
        parent_id, remote = data.parent_id, data.parent_remote
        if not parent_id or parent_id == stand_in.span_id:
            parent_id, remote = session.span_id, session.is_remote
        return [
            data._replace(
                trace_id=session.trace_id,
                parent_id=parent_id,
                parent_remote=remote,
                trace_state=session.trace_state or None,
            )
        ]

    def test_spans(self, record: TestRecord) -> list[SpanData]:
        """The test span, plus phase and fixture spans when they were recorded."""
        redact = self.redactor.redact
        # Redacted in the test process already (it is what the cost section shows).
        nodeid = record.nodeid
        path, lineno, function = record.location
        # The function is the node id's last part when the id survived redaction unchanged
        # around it: then it needs no second pass (a masked part would differ from it).
        if not nodeid.endswith(function) or nodeid[-len(function) - 2 : -len(function)] != "::":
            function = redact(function)
        setup, call, teardown = record.durations
        attrs: dict[str, Any] = {
            "test.case.name": nodeid,
            "test.suite.name": suite_name(nodeid),
            "test.case.result.status": record.status,
            "pytest.outcome": record.outcome,
            "code.file.path": redact(path),
            "code.function.name": function,
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
        code = 0
        message = ""
        events: tuple[tuple[int, str, Mapping[str, Any]], ...] = ()
        exc = record.exception
        if record.status in FAILED_STATUSES:
            attrs["error.type"] = exc.type if exc is not None else "AssertionError"
            code = 2
            message = redact(exc.message)[:500] if exc is not None else record.status
            if exc is not None:
                exception = {
                    "exception.type": exc.type,
                    "exception.message": redact(exc.message),
                    "exception.stacktrace": redact(exc.stacktrace),
                }
                events = ((exc.time_ns, "exception", exception),)
        parent = self.parent_of(record.parent)
        trace_id, state = parent.trace_id, parent.trace_state or None
        span_id = self.ids.span_id()
        spans = [
            SpanData(
                trace_id, span_id, parent.span_id, parent.is_remote, state, nodeid, 1,
                record.start_ns, record.end_ns, attrs, code, message, events,
            )
        ]
        setup_id = span_id
        for phase in record.phases:
            phase_id = self.ids.span_id()
            if phase.when == "setup":
                setup_id = phase_id
            failed = phase.outcome == "failed"
            spans.append(
                SpanData(
                    trace_id, phase_id, span_id, False, state, phase.when, 1,
                    int(phase.start * 1e9), int(phase.stop * 1e9),
                    {"pytest.when": phase.when, "pytest.outcome": phase.outcome},
                    2 if failed else 0, phase.outcome if failed else "",
                )
            )
        for fixture in record.fixtures:
            spans.append(self._fixture_span(fixture, trace_id, setup_id, state))
        return spans

    def _fixture_span(
        self, fixture: FixtureTiming, trace_id: int, parent_id: int, state: TraceState | None
    ) -> SpanData:
        return SpanData(
            trace_id, self.ids.span_id(), parent_id, False, state or None, f"fixture {fixture.name}", 1,
            fixture.start_ns, fixture.end_ns,
            {"pytest.fixture.name": fixture.name, "pytest.fixture.scope": fixture.scope}, 0, "",
        )
