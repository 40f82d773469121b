"""OTLP/JSON encoding of finished spans, and the exporter behind ``--kisys-trace file:PATH``.

Each export call appends one line: an ``ExportTraceServiceRequest`` in the OTLP/JSON encoding
(hex trace and span ids, 64-bit integers as decimal strings, enum values as integers), the
same shape a collector's file exporter writes and ``otelcol`` can replay. Every line is one
``write`` on a file opened for appending, so xdist workers sharing the file do not interleave.

The text is written directly (strings escaped by the ``json`` module's C escaper, keys
encoded once) rather than built as dicts and serialised: on the export thread, which shares
the GIL with the tests, that is several times cheaper per span.
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
from pytest_kisys.telemetry.records import SpanData


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
        return f'{{"doubleValue":{float.__repr__(value) if math.isfinite(value) else json.dumps(value)}}}'
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
            out.append(f'{prefix}{{"doubleValue":{float.__repr__(value)}}}}}')
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
    body = ",".join(map(encode_data, spans))
    return '{"resourceSpans":[' + _resource_spans(resource, [(scope, body)]) + "]}"


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

    def shutdown(self) -> None:
        """Nothing is held open between exports."""
