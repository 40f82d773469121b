"""Export to a real loopback OTLP/HTTP receiver, bounded failure modes, redaction, stage API."""

from __future__ import annotations

import json
from pathlib import Path
import time

import pytest

from tests.support.otlp_receiver import OtlpReceiver
from tests.support.telemetry_harness import TelemetryHarness


FAKE_TOKEN = "fake-ci-token-0000111122223333"
FAKE_FOUND = "fake-found-secret-9999888877776666"


def test_otlp_http_export_reaches_the_receiver(
    pytester: pytest.Pytester, otlp_receiver: OtlpReceiver
) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.parametrize("n", range(20))
        def test_many(n):
            assert n != 13
        """
    )
    harness = TelemetryHarness(
        in_memory=False,
        environ={
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp_receiver.endpoint,
            "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{FAKE_TOKEN}",
            "OTEL_SERVICE_NAME": "kisys-selftest",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        },
    )
    result = pytester.runpytest(plugins=[harness])
    result.assert_outcomes(passed=19, failed=1)
    spans = otlp_receiver.wait_for(23)
    assert len(spans) == 23  # session, collect, tests, 20 tests
    assert otlp_receiver.headers[0]["authorization"] == f"Bearer {FAKE_TOKEN}"
    assert otlp_receiver.headers[0]["content-type"] == "application/x-protobuf"
    assert {s.resource["service.name"] for s in spans} == {"kisys-selftest"}
    assert spans[0].resource["deployment.environment"] == "test"
    assert {s.scope for s in spans} == {"pytest-kisys"}
    failed = [s for s in spans if s.attributes.get("test.case.result.status") == "fail"]
    assert [s.name for s in failed] == ["test_otlp_http_export_reaches_the_receiver.py::test_many[13]"]
    assert failed[0].status_code == 2
    assert failed[0].events[0][0] == "exception"
    assert len({s.trace_id for s in spans}) == 1
    assert "kisys: trace export" not in result.stdout.str()


@pytest.mark.parametrize("mode", ["down", "hang"])
def test_unreachable_collector_costs_at_most_trace_timeout_and_warns_once(
    pytester: pytest.Pytester, dead_endpoint: str, mode: str
) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.parametrize("n", range(300))
        def test_many(n):
            pass
        """
    )
    endpoint = dead_endpoint
    receiver = OtlpReceiver(mode="hang")
    if mode == "hang":
        receiver.start()
        endpoint = receiver.endpoint
    # The same run exporting to memory is the baseline, so a loaded machine slows both alike.
    start = time.monotonic()
    pytester.runpytest(plugins=[TelemetryHarness(in_memory=True)]).assert_outcomes(passed=300)
    baseline = time.monotonic() - start
    harness = TelemetryHarness(
        in_memory=False,
        trace_timeout=0.5,
        environ={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint},
    )
    start = time.monotonic()
    result = pytester.runpytest(plugins=[harness])
    elapsed = time.monotonic() - start
    if mode == "hang":
        receiver.stop()
    result.assert_outcomes(passed=300)
    warnings = [line for line in result.stdout.lines if "kisys: trace export" in line]
    assert len(warnings) == 1, result.stdout.str()
    assert "spans dropped" in warnings[0]
    assert endpoint in warnings[0]
    assert "Transient error" not in result.stdout.str() + result.stderr.str()
    assert harness.plugin is not None
    assert harness.plugin.outcome is not None
    assert harness.plugin.outcome.dropped == 303
    # Export may add at most trace_timeout (0.5 s) over the baseline; 1 s of slack for noise.
    assert elapsed < baseline + 1.5, (elapsed, baseline)


def test_planted_secrets_are_masked_in_every_attribute(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeconftest(
        f"""
        from pytest_kisys.telemetry import RUNTIME_KEY

        def pytest_sessionstart(session):
            # The run's one redactor masks what it is given everywhere, spans included.
            session.config.stash[RUNTIME_KEY].redactor.add(["{FAKE_FOUND}"])
        """
    )
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("url", ["https://bob:fake-pass-777@index.example/simple"])
        def test_leaky(url):
            token = "{FAKE_TOKEN}"
            found = "{FAKE_FOUND}"
            assert url == token + found
        """
    )
    out = tmp_path / "spans.jsonl"
    harness = TelemetryHarness(
        in_memory=False,
        trace=f"file:{out}",
        environ={"MY_CI_TOKEN": FAKE_TOKEN},
    )
    # The token also reaches the command line (recorded as the session's pytest.args).
    result = pytester.runpytest("-o", f"junit_suite_name={FAKE_TOKEN}", plugins=[harness])
    result.assert_outcomes(failed=1)
    text = out.read_text()
    assert "exception.stacktrace" in text
    assert "junit_suite_name=***" in text
    for secret in (FAKE_TOKEN, FAKE_FOUND, "fake-pass-777"):
        assert secret not in text
    assert "https://***@index.example/simple" in text
    spans = [
        span
        for line in text.splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]
    assert any(s["name"].startswith("test_planted") for s in spans)


def test_stage_span_api_findings_and_subprocess_traceparent(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from pytest_kisys import telemetry

        def pytest_sessionstart(session):
            config = session.config
            with telemetry.stage_span(config, "scan.code", {"kisys.scanner": "bandit"}) as stage:
                env = telemetry.subprocess_env(config, {"PATH": "/bin"})
                stage.set_attribute("kisys.child_traceparent", env["TRACEPARENT"])
                telemetry.add_findings(stage, [
                    {"rule_id": "B602", "severity": "high", "path": "app.py", "line": 3,
                     "scanner": "bandit", "message": "subprocess with shell=True"},
                ])
                stage.set_result("failure", "FindingsAtThreshold")
            with pytest.raises(OSError):
                with telemetry.stage_span(config, "scan.deps"):
                    raise OSError("pip-audit missing")
        """
    )
    pytester.makepyfile("def test_one(): pass")
    harness = TelemetryHarness()
    pytester.runpytest(plugins=[harness]).assert_outcomes(passed=1)
    spans = harness.by_name()
    code = spans["scan.code"]
    assert code.context is not None
    assert code.attributes is not None
    session = spans["pytest session"]
    assert code.parent is not None
    assert session.context is not None
    assert code.parent.span_id == session.context.span_id
    assert code.attributes["cicd.pipeline.task.name"] == "scan.code"
    assert code.attributes["cicd.pipeline.task.type"] == "scan"
    assert code.attributes["cicd.pipeline.task.run.result"] == "failure"
    assert code.attributes["error.type"] == "FindingsAtThreshold"
    assert code.attributes["kisys.scanner"] == "bandit"
    assert code.attributes["kisys.child_traceparent"] == (
        f"00-{code.context.trace_id:032x}-{code.context.span_id:016x}-01"
    )
    (finding,) = code.events
    assert finding.name == "finding"
    assert finding.attributes is not None
    assert finding.attributes["security_rule.uuid"] == "B602"
    assert finding.attributes["code.line.number"] == 3
    deps = spans["scan.deps"]
    assert deps.attributes is not None
    assert deps.attributes["cicd.pipeline.task.run.result"] == "failure"
    assert deps.attributes["error.type"] == "OSError"
    assert deps.events[0].name == "exception"


def test_gzip_compression_and_generic_endpoint(
    pytester: pytest.Pytester, otlp_receiver: OtlpReceiver
) -> None:
    pytester.makepyfile("def test_one(): pass")
    base = otlp_receiver.endpoint.removesuffix("/v1/traces")
    harness = TelemetryHarness(
        in_memory=False,
        environ={"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
    )
    pytester.runpytest(plugins=[harness]).assert_outcomes(passed=1)
    spans = otlp_receiver.wait_for(4)
    assert otlp_receiver.headers[0]["content-encoding"] == "gzip"
    assert "test_gzip_compression_and_generic_endpoint.py::test_one" in {s.name for s in spans}


def test_collector_answering_503_is_reported_once(pytester: pytest.Pytester) -> None:
    receiver = OtlpReceiver(mode="error")
    receiver.start()
    pytester.makepyfile("def test_one(): pass")
    harness = TelemetryHarness(
        in_memory=False,
        trace_timeout=0.3,
        environ={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint},
    )
    result = pytester.runpytest(plugins=[harness])
    receiver.stop()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["kisys: trace export to otlp * failed: HTTP 503 *; 4 spans dropped"])


def test_http_proxy_is_used_for_remote_collectors(
    pytester: pytest.Pytester, otlp_receiver: OtlpReceiver
) -> None:
    pytester.makepyfile("def test_one(): pass")
    proxy = otlp_receiver.endpoint.removesuffix("/v1/traces")
    harness = TelemetryHarness(
        in_memory=False,
        environ={
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector.invalid:4318/v1/traces",
            "HTTP_PROXY": proxy.replace("http://", "http://proxyuser:fake-proxy-pw@"),
            "NO_PROXY": "internal.example",
        },
    )
    pytester.runpytest(plugins=[harness]).assert_outcomes(passed=1)
    otlp_receiver.wait_for(4)
    # The receiver plays the proxy: it gets the absolute URL of the real collector.
    assert otlp_receiver.paths[0] == "http://collector.invalid:4318/v1/traces"
    assert otlp_receiver.headers[0]["proxy-authorization"].startswith("Basic ")
    assert otlp_receiver.headers[0]["host"] == "collector.invalid:4318"


def test_proxy_for_bypasses_loopback_and_no_proxy() -> None:
    from urllib.parse import urlsplit

    from pytest_kisys.telemetry.otlp_http import proxy_for

    proxies = {"https": "proxy.example:3128", "no": ".corp.example,localhost"}
    assert proxy_for(urlsplit("https://127.0.0.1:4318/v1/traces"), proxies) is None
    assert proxy_for(urlsplit("https://otel.corp.example/v1/traces"), proxies) is None
    remote = proxy_for(urlsplit("https://api.vendor.example/v1/traces"), proxies)
    assert remote is not None
    assert (remote.hostname, remote.port) == ("proxy.example", 3128)
    assert proxy_for(urlsplit("http://api.vendor.example/v1/traces"), proxies) is None
