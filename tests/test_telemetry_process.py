"""Whole-process behaviour: xdist joins one trace, the app's own provider is left alone, flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.telemetry_harness import conftest_source


def _spans(path: Path) -> list[dict[str, Any]]:
    return [
        span
        for line in path.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]


def test_xdist_workers_join_the_controllers_trace(pytester: pytest.Pytester) -> None:
    out = pytester.path / "spans.jsonl"
    pytester.makeconftest(conftest_source(trace=f"file:{out}", cost_per_cpu_hour=1.0))
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.parametrize("n", range(8))
        def test_many(n):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)
    # The workers' cost entries reach the controller's summary.
    result.stdout.fnmatch_lines(["cpu time *s over 8 tests"])
    spans = _spans(out)
    assert len({s["traceId"] for s in spans}) == 1
    by_id = {s["spanId"]: s for s in spans}
    (session,) = [s for s in spans if s["name"] == "pytest session"]
    workers = [s for s in spans if s["name"].startswith("pytest worker gw")]
    assert len(workers) == 2
    assert {w["parentSpanId"] for w in workers} == {session["spanId"]}
    tests = [s for s in spans if "::" in s["name"]]
    assert len(tests) == 8
    assert {by_id[t["parentSpanId"]]["name"] for t in tests} <= {"pytest worker gw0", "pytest worker gw1"}


def test_the_applications_global_tracer_provider_is_left_alone(
    pytester: pytest.Pytester,
) -> None:
    out = pytester.path / "spans.jsonl"
    pytester.makeconftest(conftest_source(trace=f"file:{out}"))
    pytester.makepyfile(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        def test_app_installs_its_provider():
            mine = TracerProvider()
            trace.set_tracer_provider(mine)
            assert trace.get_tracer_provider() is mine
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "Overriding of current TracerProvider" not in result.stderr.str()
    assert any(s["name"].endswith("test_app_installs_its_provider") for s in _spans(out))


def test_kisys_flags_turn_tracing_on_through_the_entry_point(pytester: pytest.Pytester) -> None:
    out = pytester.path / "flags.jsonl"
    pytester.makepyfile("def test_one(): pass")
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "none", f"--kisys-trace=file:{out}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    names = {s["name"] for s in _spans(out)}
    test_name = "test_kisys_flags_turn_tracing_on_through_the_entry_point.py::test_one"
    assert {"pytest session", "tests", test_name} <= names


def test_otel_sdk_disabled_turns_tracing_off(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = pytester.path / "off.jsonl"
    pytester.makepyfile("def test_one(): pass")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "none", f"--kisys-trace=file:{out}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    assert not out.exists()


def test_span_exporter_hook_in_a_conftest_replaces_the_configured_exporter(
    pytester: pytest.Pytester,
) -> None:
    hooked = pytester.path / "hooked.jsonl"
    configured = pytester.path / "configured.jsonl"
    pytester.makeconftest(
        f"""
        from pathlib import Path

        import pytest


        @pytest.hookimpl(optionalhook=True)
        def pytest_kisys_span_exporter(config):
            from pytest_kisys.telemetry.otlp_json import JsonLinesSpanExporter

            return JsonLinesSpanExporter(Path({str(hooked)!r}))
        """
    )
    pytester.makepyfile("def test_one(): pass")
    args = ["--kisys", "--kisys-scan", "none", f"--kisys-trace=file:{configured}"]
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not configured.exists()
    assert "pytest session" in {s["name"] for s in _spans(hooked)}
    # optionalhook: the same conftest still loads when kisys is disabled.
    pytester.runpytest_subprocess("-p", "no:kisys", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_dead_collector_under_xdist_gives_one_line_with_every_workers_drops(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dead_endpoint: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", dead_endpoint)
    pytester.makeconftest(conftest_source(trace="otlp", trace_timeout=0.5))
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.parametrize("n", range(6))
        def test_many(n):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    lines = [line for line in result.stdout.lines if "kisys: trace export" in line]
    assert len(lines) == 1, result.stdout.str()
    # controller: session, collect, tests; each worker: its span, collect, its tests.
    assert lines[0].endswith("; 13 spans dropped")


def test_a_run_started_inside_an_xdist_worker_is_its_own_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A test running on an xdist worker that starts pytest inherits PYTEST_XDIST_WORKER.
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")
    out = pytester.path / "spans.jsonl"
    pytester.makeconftest(conftest_source(trace=f"file:{out}"))
    pytester.makepyfile("def test_one(): pass")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    spans = _spans(out)
    (session,) = [s for s in spans if s["name"] == "pytest session"]
    assert "parentSpanId" not in session
    by_id = {s["spanId"]: s["name"] for s in spans}
    test = next(s for s in spans if s["name"].endswith("::test_one"))
    assert by_id[test["parentSpanId"]] == "tests"
