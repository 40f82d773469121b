"""kisys's own encoders of test records: same spans as the SDK path, secrets still masked.

Test records reach kisys's exporters as plain ``SpanData`` (no SDK span objects); any other
exporter gets ``ReadableSpan``. Both must describe the same spans: the protobuf is compared
with the SDK's own encoder, the JSON lines with the ``ReadableSpan`` path's.
"""

from __future__ import annotations

import json
from pathlib import Path
import random

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext
from opentelemetry.trace import TraceFlags
from opentelemetry.trace import TraceState

from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.telemetry import records
from pytest_kisys.telemetry.cost import CostLedger
from pytest_kisys.telemetry.otlp_json import encode_test
from pytest_kisys.telemetry.otlp_json import JsonLinesSpanExporter
from pytest_kisys.telemetry.records import ExceptionInfo
from pytest_kisys.telemetry.records import FixtureRecord
from pytest_kisys.telemetry.records import FixtureTiming
from pytest_kisys.telemetry.records import Phase
from pytest_kisys.telemetry.records import SpanBuilder
from pytest_kisys.telemetry.records import SpanIds


SECRET = "hunter2-very-secret-value"


def _builder() -> tuple[SpanBuilder, int, int]:
    resource = Resource({"service.name": "pytest", "host.cpus": 2})
    scope = InstrumentationScope("pytest-kisys", "0.1")
    builder = SpanBuilder(resource, scope, Redactor([SECRET]), SpanIds())
    local = builder.parent_index(SpanContext(0xABC, 0x11, False, TraceFlags(1)))
    remote = builder.parent_index(
        SpanContext(0xDEF, 0x22, True, TraceFlags(1), TraceState([("vendor", "v1")]))
    )
    return builder, local, remote


def _record(*fields: object) -> tuple[object, ...]:
    """A queued record as the plugin submits it: a plain tuple in TestRecord's field order."""
    return tuple(records.TestRecord(*fields))  # type: ignore[arg-type]


def _records(local: int, remote: int) -> list[object]:
    failure = ExceptionInfo("ValueError", f"bad {SECRET}", f"Traceback ... {SECRET}", 1_700_000_000_500)
    passed = _record(
        "m.py::test_ok", ("m.py", 3, "test_ok"), "pass", "passed", 10, 20, (0.1, 0.2, 0.3), 5, 1024, local
    )
    failed = _record(
        "m.py::test_bad[x]", ("m.py", None, f"test_bad[{SECRET}]"), "fail", "failed", 30, 40,
        (0.0, 1.5, 0.0), 7, 2048, remote, failure, None,
        (Phase("setup", 1.0, 1.5, "passed"), Phase("call", 1.5, 2.0, "failed")),
        (FixtureTiming("tmp_path", "function", 11, 12),),
    )
    skipped = _record(
        "m.py::T::test_skip", ("m.py", 9, "T.test_skip"), "skipped", "skipped", 50, 60,
        (0.0, 0.0, 0.0), 0, 0, local, None, "not today",
    )
    session_fixture = FixtureRecord(FixtureTiming("db", "session", 1, 2), SpanContext(0xABC, 0x11, False))
    return [passed, failed, skipped, session_fixture]


def test_protobuf_of_span_data_equals_the_sdk_encoder_of_the_same_spans() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from pytest_kisys.telemetry.otlp_proto import encode_batch

    builder, local, remote = _builder()
    data = [span for item in _records(local, remote) for span in builder.data(item)]
    assert len(data) == 1 + 4 + 1 + 1  # test, failed test + 2 phases + fixture, skipped, session fixture
    mine = ExportTraceServiceRequest()
    mine.ParseFromString(encode_batch(data, builder.resource, builder.scope))
    reference = encode_spans([builder.readable(span) for span in data])
    assert mine == reference
    spans = mine.resource_spans[0].scope_spans[0].spans
    assert [s.flags for s in spans[:2]] == [0x100, 0x300]  # the second test's parent is remote
    assert spans[1].trace_state == "vendor=v1"


def test_json_lines_of_span_data_equal_the_readable_span_path(tmp_path: Path) -> None:
    builder, local, remote = _builder()
    data = [span for item in _records(local, remote) for span in builder.data(item)]
    direct, sdk = tmp_path / "direct.jsonl", tmp_path / "sdk.jsonl"
    JsonLinesSpanExporter(direct).export_data(data, builder.resource, builder.scope)
    JsonLinesSpanExporter(sdk).export([builder.readable(span) for span in data])
    assert json.loads(direct.read_text()) == json.loads(sdk.read_text())
    request = json.loads(direct.read_text())
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    failed = spans[1]
    assert failed["status"] == {"code": 2, "message": "bad ***"}
    assert failed["parentSpanId"] == f"{0x22:016x}"
    assert failed["flags"] == 0x300
    values = {a["key"]: a["value"] for a in failed["attributes"]}
    assert values["pytest.call.duration"] == {"doubleValue": 1.5}
    assert values["kisys.memory.peak"] == {"intValue": "2048"}
    assert "code.line.number" not in values  # the location had no line
    assert SECRET not in direct.read_text()


def test_a_function_name_is_redacted_unless_it_survived_in_the_node_id() -> None:
    builder, local, remote = _builder()
    spans = builder.data(_records(local, remote)[1])
    attrs = spans[0].attributes
    # The record's node id does not end with the function (the plugin redacted it): masked here.
    assert attrs["code.function.name"] == "test_bad[***]"
    record = _record(
        "m.py::test_p[a]", ("m.py", 1, "test_p[a]"), "pass", "passed", 1, 2, (0.0, 0.0, 0.0), 0, 0, local
    )
    assert builder.data(record)[0].attributes["code.function.name"] == "test_p[a]"


def test_cost_top_ten_is_the_head_of_the_full_ranking() -> None:
    rng = random.Random(7)  # noqa: S311 - reproducible test data
    ledger = CostLedger()
    for n in range(2000):
        # Coarse values make ties: the order must break them by name, as a full sort does.
        ledger.add(f"tests/test_{n % 37}.py::test_{n}", round(rng.random(), 2))
    summary = ledger.summary(None)
    ranked = sorted(((n, s) for n, s, _ in ledger.entries), key=lambda e: (-e[1], e[0]))
    assert summary.top_tests == tuple(ranked[:10])
    modules: dict[str, float] = {}
    for nodeid, seconds, _ in ledger.entries:
        module = nodeid.partition("::")[0]
        modules[module] = modules.get(module, 0.0) + seconds
    assert summary.top_modules == tuple(sorted(modules.items(), key=lambda kv: (-kv[1], kv[0]))[:10])


def _without_span_ids(line: str) -> object:
    """The request with each span id replaced by the span's place (new random ids on each path)."""
    request = json.loads(line)
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    places = {span.pop("spanId"): n for n, span in enumerate(spans)}
    for span in spans:
        span["parentSpanId"] = places.get(span["parentSpanId"], span["parentSpanId"])
    return request


def test_a_passing_test_written_from_its_record_equals_the_span_data_path(tmp_path: Path) -> None:
    builder, local, remote = _builder()
    passed = [
        _record(
            f"sub/***.py::test_{n}",
            (f"sub/{SECRET}.py", n if n % 3 else None, f"test_{n}"),
            "pass",
            "passed",
            10 + n,
            20 + n,
            (0.1 * n, 0.2, 1e-7),
            5 * n,
            1024,
            local,
        )
        for n in range(6)
    ]
    xpass = _record(
        "m.py::test_x", ("m.py", 4, "test_x"), "xpass", "passed", 1, 2, (0.0, 0.5, 0.0), 9, 8, local
    )
    items = [*passed, xpass, *_records(local, remote)]
    encoded, generic = tmp_path / "encoded.jsonl", tmp_path / "generic.jsonl"
    exporter = JsonLinesSpanExporter(encoded)
    exporter.export_encoded(exporter.encode_items(items, builder), builder.resource, builder.scope)
    data = [span for item in items for span in builder.data(item)]
    JsonLinesSpanExporter(generic).export_data(data, builder.resource, builder.scope)
    assert _without_span_ids(encoded.read_text()) == _without_span_ids(generic.read_text())
    assert SECRET not in encoded.read_text()  # the path is redacted on this path too
    # Written from the record: the passing tests (test_ok among _records' too); the failed and
    # skipped ones and the session fixture take the general path.
    fast = [item for item in items if type(item) is tuple and encode_test(item, builder) is not None]
    assert fast == [*passed, xpass, _records(local, remote)[0]]


def test_only_a_passing_test_with_its_function_at_the_end_of_the_id_is_written_from_the_record() -> None:
    builder, local, remote = _builder()
    fields = ("m.py::test_p[a]", ("m.py", 1, "test_p[a]"), "pass", "passed", 1, 2, (0.0, 0.0, 0.0), 0, 0)
    assert encode_test(_record(*fields, local), builder) is not None
    assert encode_test(_record(*fields, remote), builder) is None  # a trace state
    moved = ("m.py::test_p[***]", ("m.py", 1, f"test_p[{SECRET}]"), *fields[2:])
    assert encode_test(_record(*moved, local), builder) is None  # the function needs redaction
    reason = _record(*fields[:2], "skipped", "skipped", *fields[4:], local, None, "why")
    assert encode_test(reason, builder) is None
    phases = _record(*fields, local, None, None, (Phase("call", 1.0, 2.0, "passed"),))
    assert encode_test(phases, builder) is None
    for durations in ((0, 0.0, 0.0), (float("inf"), 0.0, 0.0)):  # written as key_values writes them
        odd = _record(*fields[:6], durations, *fields[7:], local)
        assert encode_test(odd, builder) is None
