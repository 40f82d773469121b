"""Pure logic of the telemetry package: env parsing, resource, redaction, findings, cost, JSON."""

from __future__ import annotations

from dataclasses import dataclass
import json
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext
from opentelemetry.trace import SpanKind
from opentelemetry.trace import TraceFlags
from opentelemetry.trace.status import Status
from opentelemetry.trace.status import StatusCode
import pytest

from pytest_kisys import telemetry
from pytest_kisys.errors import ConfigError
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.settings import Settings
from pytest_kisys.telemetry.cost import CostLedger
from pytest_kisys.telemetry.envconfig import read_trace_env
from pytest_kisys.telemetry.export import build_exporter
from pytest_kisys.telemetry.findings import finding_attributes
from pytest_kisys.telemetry.otlp_json import JsonLinesSpanExporter
from pytest_kisys.telemetry.resource import resource_attributes
from pytest_kisys.telemetry.runtime import make_sampler


def test_env_defaults_are_http_protobuf_to_localhost() -> None:
    env = read_trace_env({})
    assert env.protocol == "http/protobuf"
    assert env.endpoint == "http://localhost:4318/v1/traces"
    assert env.service_name == "pytest"
    assert env.sampler == "parentbased_always_on"


def test_env_endpoints_headers_and_service_name() -> None:
    env = read_trace_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=fake%20key,tenant=t1",
            "OTEL_SERVICE_NAME": "my-suite",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci,team=qa",
            "TRACESTATE": "vendor=1",
        }
    )
    assert env.endpoint == "http://collector:4318/v1/traces"
    assert env.headers == {"x-api-key": "fake key", "tenant": "t1"}
    assert env.service_name == "my-suite"
    assert env.resource_attributes["team"] == "qa"
    assert env.tracestate == "vendor=1"
    signal = read_trace_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:1/custom"})
    assert signal.endpoint == "http://x:1/custom"


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("OTEL_TRACES_SAMPLER", "sometimes", "always_on"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "http/protobuf"),
        ("OTEL_RESOURCE_ATTRIBUTES", "novalue", "key=value"),
    ],
)
def test_bad_env_values_name_the_variable_and_the_allowed_values(
    variable: str, value: str, named: str
) -> None:
    with pytest.raises(ConfigError, match=variable) as err:
        read_trace_env({variable: value})
    assert named in str(err.value)


def test_sampler_ratio_is_validated_and_built() -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER_ARG"):
        read_trace_env({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"})
    env = read_trace_env(
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}
    )
    sampler = make_sampler(env.sampler, env.sampler_ratio)
    assert isinstance(sampler, sampling.ParentBased)
    assert "0.25" in sampler.get_description()
    assert make_sampler("always_off", 1.0) is sampling.ALWAYS_OFF


def test_tracing_enabled_honours_trace_none_and_sdk_disabled() -> None:
    on = Settings(trace="otlp")
    assert telemetry.tracing_enabled(on, {})
    assert not telemetry.tracing_enabled(on, {"OTEL_SDK_DISABLED": "true"})
    assert not telemetry.tracing_enabled(Settings(trace="none"), {})


def test_github_actions_resource() -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/widgets",
        "GITHUB_RUN_ID": "42",
        "GITHUB_SHA": "abc123",
        "GITHUB_REF_NAME": "main",
        "GITHUB_WORKFLOW": "CI",
    }
    attrs = resource_attributes(read_trace_env({"OTEL_SERVICE_NAME": "svc"}), env)
    assert attrs["cicd.pipeline.run.url.full"] == "https://github.com/acme/widgets/actions/runs/42"
    assert attrs["vcs.ref.head.revision"] == "abc123"
    assert attrs["vcs.repository.name"] == "widgets"
    assert attrs["service.name"] == "svc"


def test_gitlab_resource() -> None:
    env = {"GITLAB_CI": "true", "CI_PIPELINE_ID": "7", "CI_COMMIT_SHA": "def", "CI_JOB_NAME": "t"}
    attrs = resource_attributes(read_trace_env({}), env)
    assert attrs["cicd.pipeline.run.id"] == "7"
    assert attrs["cicd.pipeline.task.name"] == "t"
    assert "vcs.change.id" not in attrs  # empty values are left out


def test_redactor_masks_env_secrets_url_credentials_assignments_and_args() -> None:
    redactor = Redactor.from_environment(
        {"MY_API_TOKEN": "fake-token-0123456789", "HOME": "/home/someone", "SHORT_KEY": "ab"}
    )
    text = redactor.redact(
        "tok fake-token-0123456789 at https://bob:fake-pw@index.example/simple password=hunter22"
    )
    assert "fake-token-0123456789" not in text
    assert "fake-pw" not in text
    assert "bob" not in text
    assert "hunter22" not in text
    assert "https://***@index.example/simple" in text
    assert redactor.redact("/home/someone ab") == "/home/someone ab"
    assert redactor.redact_args(["-k", "x", "--api-token", "fake-1234", "--db-password=fake-pw"]) == [
        "-k",
        "x",
        "--api-token",
        "***",
        "--db-password=***",
    ]
    redactor.add(["found-by-secret-scan"])
    assert redactor.redact("value found-by-secret-scan!") == "value ***!"
    assert redactor.redact("KeyError: 'x'") == "KeyError: 'x'"


@dataclass
class _BanditLike:
    rule_id: str
    severity: str
    path: str
    line: int
    message: str
    scanner: str = "bandit"


def test_finding_attributes_for_code_and_dependency_findings() -> None:
    code = finding_attributes(_BanditLike("B602", "high", "app/run.py", 12, "shell=True"))
    assert code["security_rule.uuid"] == "B602"
    assert code["security_rule.ruleset.name"] == "bandit"
    assert code["code.file.path"] == "app/run.py"
    assert code["code.line.number"] == 12
    dep = finding_attributes({"id": "PYSEC-1", "package": "Jinja2", "version": "2.0", "severity": "critical"})
    assert dep["artifact.purl"] == "pkg:pypi/jinja2@2.0"
    assert dep["kisys.finding.id"] == "PYSEC-1"


def test_add_findings_and_stage_span_are_noops_when_tracing_is_off(
    pytestconfig: pytest.Config,
) -> None:
    with telemetry.stage_span(pytestconfig, "scan.code", {"a": 1}) as stage:
        telemetry.add_findings(stage, [{"rule_id": "B1"}])
        stage.set_result("failure")
    env = telemetry.subprocess_env(pytestconfig, {"PATH": "/bin"})
    assert env == {"PATH": "/bin"}


def test_cost_summary_tops_and_money_by_module_and_marker() -> None:
    ledger = CostLedger()
    ledger.add("tests/test_a.py::test_slow", 7.2, ("slow",))
    ledger.add("tests/test_a.py::test_fast", 0.0, ())
    ledger.extend([["tests/test_b.py::test_x", 3.6, ["slow", "db"]]])
    plain = ledger.summary(None)
    assert plain.top_tests[0] == ("tests/test_a.py::test_slow", 7.2)
    assert plain.top_modules[0][0] == "tests/test_a.py"
    assert "money_by_module" not in plain.to_json()
    priced = ledger.summary(3.6)  # 0.001 per cpu second
    money = priced.to_json()
    assert money["money_by_module"] == {"tests/test_a.py": 0.0072, "tests/test_b.py": 0.0036}
    assert money["money_by_marker"]["slow"] == pytest.approx(0.0108)
    assert money["money_by_marker"]["(none)"] == 0.0
    assert any("estimated cost" in line for line in priced.lines())


def test_build_exporter_rejects_unknown_trace_and_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="allowed: none, console, otlp, file:PATH"):
        build_exporter("jaeger", read_trace_env({}), 1.0)
    with pytest.raises(ConfigError, match="does not exist"):
        build_exporter(f"file:{tmp_path}/missing/x.jsonl", read_trace_env({}), 1.0)


def test_json_lines_exporter_writes_otlp_json(tmp_path: Path) -> None:
    parent = SpanContext(0xABC, 0x1, is_remote=True)
    span = ReadableSpan(
        name="t",
        context=SpanContext(0xABC, 0x2, is_remote=False, trace_flags=TraceFlags(1)),
        parent=parent,
        resource=Resource({"service.name": "pytest"}),
        attributes={"n": 3, "f": 0.5, "b": True, "s": "x", "a": ("p", "q")},
        events=(Event("exception", {"exception.type": "E"}, 5),),
        kind=SpanKind.INTERNAL,
        status=Status(StatusCode.ERROR, "boom"),
        start_time=1,
        end_time=2,
        instrumentation_scope=InstrumentationScope("pytest-kisys", "0.1"),
    )
    path = tmp_path / "spans.jsonl"
    exporter = JsonLinesSpanExporter(path)
    exporter.export([span])
    exporter.export([span])
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    request = json.loads(lines[0])
    encoded = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert encoded["traceId"] == f"{0xABC:032x}"
    assert encoded["parentSpanId"] == f"{1:016x}"
    assert encoded["kind"] == 1
    assert encoded["status"] == {"code": 2, "message": "boom"}
    values = {a["key"]: a["value"] for a in encoded["attributes"]}
    assert values["n"] == {"intValue": "3"}
    assert values["b"] == {"boolValue": True}
    assert values["a"] == {"arrayValue": {"values": [{"stringValue": "p"}, {"stringValue": "q"}]}}
    assert encoded["events"][0]["timeUnixNano"] == "5"


def test_own_protobuf_encoding_equals_the_sdk_encoder() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from pytest_kisys.telemetry.otlp_proto import encode_request

    resource = Resource({"service.name": "pytest", "n": 2})
    scope = InstrumentationScope("pytest-kisys", "0.1")
    parent = SpanContext(0xABC, 0x1, is_remote=True)
    spans = [
        ReadableSpan(
            name=name,
            context=SpanContext(0xABC, 0x2 + i, is_remote=False, trace_flags=TraceFlags(1)),
            parent=parent if i else None,
            resource=resource,
            attributes={"n": -3, "f": 0.25, "b": False, "s": "ü", "a": ("p", "q"), "big": 2**40},
            events=(Event("exception", {"exception.type": "E"}, 5),) if i else (),
            kind=SpanKind.INTERNAL,
            status=Status(StatusCode.ERROR, "boom") if i else Status(StatusCode.UNSET),
            start_time=1_700_000_000_000_000_000,
            end_time=1_700_000_000_000_000_001,
            instrumentation_scope=scope,
        )
        for i, name in enumerate(["session", "test"])
    ]
    mine = ExportTraceServiceRequest()
    mine.ParseFromString(encode_request(spans))
    reference = encode_spans(spans)
    # Full equality, Span.flags included (the child of the remote parent has IS_REMOTE set).
    assert [s.flags for s in mine.resource_spans[0].scope_spans[0].spans] == [0x100, 0x300]
    assert mine == reference
