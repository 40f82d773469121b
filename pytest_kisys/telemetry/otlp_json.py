"""OTLP/JSON encoding of finished spans, and the exporter behind ``--kisys-trace file:PATH``.

Each export call appends one line: an ``ExportTraceServiceRequest`` in the OTLP/JSON encoding
(hex trace and span ids, 64-bit integers as decimal strings, enum values as integers), the
same shape a collector's file exporter writes and ``otelcol`` can replay. Every line is one
``write`` on a file opened for appending, so xdist workers sharing the file do not interleave.

The text is written directly (strings escaped by the ``json`` module's C escaper, keys
encoded once) rather than built as dicts and serialised: on the export thread, which shares
the GIL with the tests, that is several times cheaper per span. A passing test's span is
written straight from its queued record (:func:`encode_test`: one f-string, no attribute dict
or :class:`SpanData`), about 5.5 µs a span against 12 µs through :class:`SpanData`.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import json
from json.encoder import encode_basestring_ascii as _quote
import math
import os
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from pytest_kisys.telemetry.records import data_of
from pytest_kisys.telemetry.records import FAILED_STATUSES
from pytest_kisys.telemetry.records import SpanBuilder
from pytest_kisys.telemetry.records import SpanData
from pytest_kisys.telemetry.records import suite_name


# OTLP SpanFlags: HAS_IS_REMOTE, plus IS_REMOTE when the parent came from outside.
_FLAGS_LOCAL = 0x100
_FLAGS_REMOTE = 0x300
# '{"key":"name","value":' per attribute key, built once (keys are a fixed vocabulary).
_KEYS: dict[str, str] = {}
# Per key, the last value written and its KeyValue text (exporters run on one thread).
_LAST: dict[str, tuple[type, Any, str]] = {}


def any_value(value: Any) -> str:
    """One OTLP ``AnyValue`` as JSON text."""
    kind = type(value)
    if kind is str:
        return '{"stringValue":' + _quote(value) + "}"
    if kind is bool:
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if kind is int:
        return f'{{"intValue":"{value}"}}'
    if kind is float:
        return (
            f'{{"doubleValue":{value!r}}}'
            if math.isfinite(value)
            else f'{{"doubleValue":{json.dumps(value)}}}'
        )
    if isinstance(value, list | tuple):
        return '{"arrayValue":{"values":[' + ",".join(map(any_value, value)) + "]}}"
    # Subclasses (an IntEnum, a str subclass) as their base type.
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return any_value(base(value))
    return '{"stringValue":' + _quote(str(value)) + "}"


def key_values(attributes: Mapping[str, Any] | None) -> str:
    """OTLP ``KeyValue`` list as JSON text."""
    if not attributes:
        return "[]"
    keys = _KEYS
    last = _LAST
    out = []
    for key, value in attributes.items():
        kind = type(value)
        if kind is float and math.isfinite(value):  # durations and CPU times: new every span
            prefix = keys.get(key)
            if prefix is None:
                prefix = _key_prefix(key)
            out.append(f'{prefix}{{"doubleValue":{value!r}}}}}')  # !r: float's repr, no call
            continue
        # The same value as this key's previous one (a module's path, "passed", the peak
        # memory): its text again, not encoded again.
        seen = last.get(key)
        if seen is not None and seen[0] is kind and seen[1] == value:
            out.append(seen[2])
            continue
        prefix = keys.get(key)
        if prefix is None:
            prefix = _key_prefix(key)
        text = prefix + any_value(value) + "}"
        if len(last) < 4096 or key in last:
            last[key] = (kind, value, text)
        out.append(text)
    return "[" + ",".join(out) + "]"


def _key_prefix(key: str) -> str:
    prefix = '{"key":' + _quote(key) + ',"value":'
    if len(_KEYS) < 4096:
        _KEYS[key] = prefix
    return prefix


def encode_data(span: SpanData) -> str:
    """One OTLP/JSON ``Span``."""
    status = f'{{"code":{span.status_code}'
    if span.status_message:
        status += ',"message":' + _quote(span.status_message)
    text = (
        f'{{"traceId":"{span.trace_id:032x}","spanId":"{span.span_id:016x}","name":{_quote(span.name)},'
        f'"kind":{span.kind},"startTimeUnixNano":"{span.start}","endTimeUnixNano":"{span.end}",'
        f'"attributes":{key_values(span.attributes)},"status":{status}}},'
        f'"flags":{_FLAGS_REMOTE if span.parent_remote else _FLAGS_LOCAL}'
    )
    if span.parent_id:
        text += f',"parentSpanId":"{span.parent_id:016x}"'
    if span.trace_state:
        text += ',"traceState":' + _quote(span.trace_state.to_header())
    if span.events:
        events = ",".join(
            f'{{"timeUnixNano":"{when}","name":{_quote(name)},"attributes":{key_values(attrs)}}}'
            for when, name, attrs in span.events
        )
        text += ',"events":[' + events + "]"
    return text + "}"


# Per string, its quoted text (paths, suites, statuses: a few values repeated by every test).
_QUOTED: dict[str, str] = {}


def _quoted(text: str) -> str:
    hit = _QUOTED.get(text)
    if hit is None:
        hit = _quote(text)
        if len(_QUOTED) < 4096:
            _QUOTED[text] = hit
    return hit


def encode_test(item: tuple[Any, ...], builder: SpanBuilder) -> str | None:
    """A queued test record of a test that passed as one OTLP/JSON ``Span``, written at once.

    The same span as ``encode_data(builder.data(item)[0])`` (checked by the tests), without
    the attribute dict and :class:`SpanData` in between. None for any other record (a
    failure, a skip or xfail reason, phases, fixtures, a trace state, or a function name not
    at the end of the node id): those take :meth:`SpanBuilder.data`.
    """
    nodeid, (path, lineno, function), status, outcome, start, end, durations, cpu_ns, peak, parent = item[:10]
    exc, reason, phases, fixtures = item[10:]
    if exc is not None or reason or phases or fixtures or status in FAILED_STATUSES:
        return None
    if not nodeid.endswith(function) or nodeid[-len(function) - 2 : -len(function)] != "::":
        return None
    ctx = builder.parent_of(parent)
    if ctx.trace_state:
        return None
    setup, call, teardown = durations
    # Written with !r below, as key_values writes a finite float (never an int, inf or NaN).
    if not (type(setup) is type(call) is type(teardown) is float and math.isfinite(setup + call + teardown)):
        return None
    name = _quote(nodeid)
    line = ""
    if lineno is not None:
        line = f',{{"key":"code.line.number","value":{{"intValue":"{lineno + 1}"}}}}'

    return (
        f'{{"traceId":"{ctx.trace_id:032x}","spanId":"{builder.ids.span_id():016x}","name":{name},'
        f'"kind":1,"startTimeUnixNano":"{start}","endTimeUnixNano":"{end}","attributes":['
        f'{{"key":"test.case.name","value":{{"stringValue":{name}}}}},'
        f'{{"key":"test.suite.name","value":{{"stringValue":{_quoted(suite_name(nodeid))}}}}},'
        f'{{"key":"test.case.result.status","value":{{"stringValue":{_quoted(status)}}}}},'
        f'{{"key":"pytest.outcome","value":{{"stringValue":{_quoted(outcome)}}}}},'
        f'{{"key":"code.file.path","value":{{"stringValue":{_quoted(builder.redactor.redact(path))}}}}},'
        f'{{"key":"code.function.name","value":{{"stringValue":{_quote(function)}}}}},'
        f'{{"key":"pytest.setup.duration","value":{{"doubleValue":{setup!r}}}}},'
        f'{{"key":"pytest.call.duration","value":{{"doubleValue":{call!r}}}}},'
        f'{{"key":"pytest.teardown.duration","value":{{"doubleValue":{teardown!r}}}}},'
        f'{{"key":"kisys.cpu.time","value":{{"doubleValue":{cpu_ns / 1e9!r}}}}},'
        f'{{"key":"kisys.memory.peak","value":{{"intValue":"{peak}"}}}}{line}],'
        f'"status":{{"code":0}},"flags":{_FLAGS_REMOTE if ctx.is_remote else _FLAGS_LOCAL},'
        f'"parentSpanId":"{ctx.span_id:016x}"}}'
    )


def _resource_spans(resource: Resource, scopes: Sequence[tuple[InstrumentationScope | None, str]]) -> str:
    scope_spans = []
    for scope, spans in scopes:
        name, version = (scope.name, scope.version or "") if scope is not None else ("", "")
        scope_spans.append(
            f'{{"scope":{{"name":{_quote(name)},"version":{_quote(version)}}},"spans":[{spans}]}}'
        )
    return (
        f'{{"resource":{{"attributes":{key_values(resource.attributes)}}},'
        f'"scopeSpans":[{",".join(scope_spans)}]}}'
    )


def encode_batch(spans: Sequence[SpanData], resource: Resource, scope: InstrumentationScope) -> str:
    """An OTLP/JSON ``ExportTraceServiceRequest`` of spans sharing ``resource`` and ``scope``."""
    return encode_texts(list(map(encode_data, spans)), resource, scope)


def encode_texts(spans: Sequence[str], resource: Resource, scope: InstrumentationScope) -> str:
    """The request of already encoded ``Span`` texts sharing ``resource`` and ``scope``."""
    return '{"resourceSpans":[' + _resource_spans(resource, [(scope, ",".join(spans))]) + "]}"


def encode_request(spans: Sequence[ReadableSpan]) -> str:
    """An OTLP/JSON ``ExportTraceServiceRequest`` of SDK spans, grouped by resource and scope."""
    groups: dict[int, tuple[Resource, dict[tuple[str, str], tuple[Any, list[str]]]]] = {}
    for span in spans:
        entry = groups.setdefault(id(span.resource), (span.resource, {}))
        scope = span.instrumentation_scope
        key = (scope.name, scope.version or "") if scope is not None else ("", "")
        entry[1].setdefault(key, (scope, []))[1].append(encode_data(data_of(span)))
    parts = [
        _resource_spans(resource, [(scope, ",".join(encoded)) for scope, encoded in scopes.values()])
        for resource, scopes in groups.values()
    ]
    return '{"resourceSpans":[' + ",".join(parts) + "]}"


class JsonLinesSpanExporter(SpanExporter):
    """Appends one OTLP/JSON request per export call to ``path``."""

    def __init__(self, path: Path, truncate: bool = False) -> None:
        self.path = path
        if truncate:
            # One run, one file: the controller starts it empty, xdist workers append.
            path.write_bytes(b"")

    def _append(self, line: str) -> SpanExportResult:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        return SpanExportResult.SUCCESS

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write the batch as one line."""
        return self._append(encode_request(spans))

    def export_data(
        self, spans: Sequence[SpanData], resource: Resource, scope: InstrumentationScope
    ) -> SpanExportResult:
        """Write kisys's own spans (one resource and scope) as one line, no SDK objects."""
        return self._append(encode_batch(spans, resource, scope))

    def encode_items(self, items: Sequence[Any], builder: SpanBuilder) -> list[str]:
        """Each queued item's spans as OTLP/JSON ``Span`` texts (a passing test's at once)."""
        texts: list[str] = []
        for item in items:
            text = encode_test(item, builder) if type(item) is tuple else None
            if text is not None:
                texts.append(text)
            else:
                texts.extend(map(encode_data, builder.data(item)))
        return texts

    def export_encoded(
        self, spans: Sequence[str], resource: Resource, scope: InstrumentationScope
    ) -> SpanExportResult:
        """Write spans :meth:`encode_items` encoded (one resource and scope) as one line."""
        return self._append(encode_texts(spans, resource, scope))

    def shutdown(self) -> None:
        """Nothing is held open between exports."""
