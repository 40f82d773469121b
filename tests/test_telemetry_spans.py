"""Span tree, names, statuses and attributes, through pytester with an in-memory exporter."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace.status import StatusCode
import pytest

from tests.support.telemetry_harness import TelemetryHarness


OUTCOMES = """
import pytest

def test_pass():
    pass

def test_fail():
    assert 1 == 2, "numbers differ"

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert 0

@pytest.mark.xfail(reason="maybe fixed")
def test_xpass():
    pass

@pytest.mark.xfail(reason="must fail", strict=True)
def test_xpass_strict():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("setup broke")

def test_setup_error(broken):
    pass

@pytest.fixture
def bad_teardown():
    yield
    raise ValueError("teardown broke")

def test_teardown_error(bad_teardown):
    pass
"""


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


@pytest.fixture
def outcome_run(pytester: pytest.Pytester) -> TelemetryHarness:
    pytester.makepyfile(test_outcomes=OUTCOMES)
    harness = TelemetryHarness()
    result = pytester.runpytest("-p", "no:cacheprovider", plugins=[harness])
    result.assert_outcomes(passed=2, failed=2, skipped=1, xfailed=1, xpassed=1, errors=2)
    return harness


def test_span_tree_session_collect_tests_and_one_span_per_test(
    outcome_run: TelemetryHarness,
) -> None:
    spans = outcome_run.by_name()
    session = spans["pytest session"]
    tests_stage = spans["tests"]
    assert session.parent is None
    assert _parent(spans["collect"]) == _span_id(session)
    assert _parent(tests_stage) == _span_id(session)
    test_spans = [s for s in outcome_run.spans() if s.name.startswith("test_outcomes.py::")]
    assert len(test_spans) == 8
    assert {_parent(s) for s in test_spans} == {_span_id(tests_stage)}
    assert len({s.context.trace_id for s in outcome_run.spans() if s.context}) == 1
    assert tests_stage.attributes is not None
    assert tests_stage.attributes["cicd.pipeline.task.name"] == "tests"
    assert tests_stage.attributes["cicd.pipeline.task.run.result"] == "failure"
    assert session.status.status_code is StatusCode.ERROR
    assert session.attributes is not None
    assert session.attributes["test.suite.run.status"] == "failure"


@pytest.mark.parametrize(
    ("test", "status", "code"),
    [
        ("test_pass", "pass", StatusCode.UNSET),
        ("test_fail", "fail", StatusCode.ERROR),
        ("test_skip", "skipped", StatusCode.UNSET),
        ("test_xfail", "xfail", StatusCode.UNSET),
        ("test_xpass", "xpass", StatusCode.UNSET),
        ("test_xpass_strict", "fail", StatusCode.ERROR),
        ("test_setup_error", "error", StatusCode.ERROR),
        ("test_teardown_error", "error", StatusCode.ERROR),
    ],
)
def test_each_outcome_has_its_status(
    outcome_run: TelemetryHarness, test: str, status: str, code: StatusCode
) -> None:
    span = outcome_run.by_name()[f"test_outcomes.py::{test}"]
    assert span.attributes is not None
    assert span.attributes["test.case.result.status"] == status
    assert span.status.status_code is code


def test_test_span_attributes_and_exception_event(outcome_run: TelemetryHarness) -> None:
    span = outcome_run.by_name()["test_outcomes.py::test_fail"]
    attrs = dict(span.attributes or {})
    assert attrs["test.case.name"] == "test_outcomes.py::test_fail"
    assert attrs["test.suite.name"] == "test_outcomes.py"
    assert attrs["code.file.path"] == "test_outcomes.py"
    assert attrs["code.line.number"] == 6
    assert attrs["error.type"] == "AssertionError"
    assert attrs["pytest.call.duration"] >= 0.0
    assert attrs["kisys.cpu.time"] >= 0.0
    assert attrs["kisys.memory.peak"] > 0
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "AssertionError"
    assert "numbers differ" in str(event.attributes["exception.stacktrace"])
    setup_error = outcome_run.by_name()["test_outcomes.py::test_setup_error"]
    assert setup_error.attributes is not None
    assert setup_error.attributes["error.type"] == "RuntimeError"
    skip = outcome_run.by_name()["test_outcomes.py::test_skip"]
    assert skip.attributes is not None
    assert skip.attributes["pytest.reason"] == "not today"
    assert not skip.events


def test_trace_keep_failed_keeps_only_failed_tests_and_all_stages(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES)
    harness = TelemetryHarness(trace_keep="failed")
    pytester.runpytest(plugins=[harness])
    names = {s.name for s in harness.spans()}
    tests = {n for n in names if n.startswith("test_outcomes.py::")}
    assert tests == {
        "test_outcomes.py::test_fail",
        "test_outcomes.py::test_xpass_strict",
        "test_outcomes.py::test_setup_error",
        "test_outcomes.py::test_teardown_error",
    }
    assert {"pytest session", "collect", "tests"} <= names


def test_trace_keep_slow_keeps_slow_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time
        def test_quick():
            pass
        def test_slow():
            time.sleep(0.3)
        """
    )
    harness = TelemetryHarness(trace_keep="slow:0.1")
    pytester.runpytest(plugins=[harness]).assert_outcomes(passed=2)
    tests = {s.name for s in harness.spans() if "::" in s.name}
    assert tests == {"test_trace_keep_slow_keeps_slow_tests.py::test_slow"}


def test_trace_phases_adds_phase_and_fixture_spans(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="module")
        def shared():
            return 1

        @pytest.fixture
        def per_test(shared):
            return shared

        def test_one(per_test):
            pass
        """
    )
    harness = TelemetryHarness(trace_phases=True)
    pytester.runpytest(plugins=[harness]).assert_outcomes(passed=1)
    spans = harness.by_name()
    test = spans["test_trace_phases_adds_phase_and_fixture_spans.py::test_one"]
    setup = spans["setup"]
    assert _parent(setup) == _span_id(test)
    assert _parent(spans["call"]) == _span_id(test)
    assert _parent(spans["teardown"]) == _span_id(test)
    assert _parent(spans["fixture per_test"]) == _span_id(setup)
    # Wider-scoped fixtures are not charged to the first test that asks for them (#40 upstream).
    assert _parent(spans["fixture shared"]) == _span_id(spans["tests"])


def test_without_trace_phases_there_is_one_span_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one(tmp_path): pass")
    harness = TelemetryHarness()
    pytester.runpytest(plugins=[harness]).assert_outcomes(passed=1)
    assert sorted(s.name for s in harness.spans()) == sorted(
        [
            "pytest session",
            "collect",
            "tests",
            "test_without_trace_phases_there_is_one_span_per_test.py::test_one",
        ]
    )


def test_always_off_sampler_records_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one(): pass")
    harness = TelemetryHarness(environ={"OTEL_TRACES_SAMPLER": "always_off"})
    pytester.runpytest(plugins=[harness]).assert_outcomes(passed=1)
    assert harness.spans() == []


def test_traceparent_makes_the_session_a_child(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one(): pass")
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    harness = TelemetryHarness(
        traceparent=f"00-{trace_id}-b7ad6b7169203331-01",
        environ={"TRACESTATE": "ci=1"},
    )
    pytester.runpytest(plugins=[harness]).assert_outcomes(passed=1)
    session = harness.by_name()["pytest session"]
    assert session.parent is not None
    assert session.parent.span_id == 0xB7AD6B7169203331
    assert {f"{s.context.trace_id:032x}" for s in harness.spans() if s.context} == {trace_id}
    assert session.context is not None
    assert session.context.trace_state.get("ci") == "1"


def test_cost_summary_in_terminal_with_a_rate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_costly="""
        import pytest

        @pytest.mark.slow
        def test_burn():
            sum(i * i for i in range(200_000))

        def test_idle():
            pass
        """
    )
    pytester.makeini("[pytest]\nmarkers = slow: slow")
    harness = TelemetryHarness(cost_per_cpu_hour=0.5)
    result = pytester.runpytest(plugins=[harness])
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*kisys cost*",
            "cpu time *s over 2 tests",
            "  test  *test_costly.py::test_burn",
            "estimated cost * at 0.5 per cpu hour",
            "  marker  *  slow",
        ]
    )
    burn = harness.by_name()["test_costly.py::test_burn"]
    idle = harness.by_name()["test_costly.py::test_idle"]
    assert burn.attributes is not None
    assert idle.attributes is not None
    assert burn.attributes["kisys.cpu.time"] > idle.attributes["kisys.cpu.time"]
    session = harness.by_name()["pytest session"]
    assert session.attributes is not None
    assert session.attributes["kisys.cost.top_tests"][0] == "test_costly.py::test_burn"
    assert session.attributes["kisys.cost.top_modules"] == ("test_costly.py",)


def test_worker_stages_opened_before_configure_join_the_controllers_trace() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from pytest_kisys.settings import Settings
    from pytest_kisys.telemetry.runtime import TelemetryRuntime

    runtime = TelemetryRuntime(Settings(trace="otlp"), {}, defer_session=True)
    with runtime.stage_span("resolve", {}), runtime.stage_span("vet", {}):
        pass  # e.g. run in pytest_load_initial_conftests, before workerinput exists
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    controller = f"00-{trace_id}-00f067aa0ba902b7-01"
    runtime.start_session(carrier={"traceparent": controller}, worker_id="gw3")
    memory = InMemorySpanExporter()
    runtime.start_export(memory)
    runtime.finish({}, failed=False)
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert set(spans) == {"resolve", "vet", "pytest worker gw3"}
    assert {f"{s.context.trace_id:032x}" for s in spans.values() if s.context} == {trace_id}
    worker = spans["pytest worker gw3"]
    assert worker.parent is not None
    assert worker.parent.span_id == 0x00F067AA0BA902B7
    assert _parent(spans["resolve"]) == _span_id(worker)
    assert _parent(spans["vet"]) == _span_id(spans["resolve"])
    assert worker.start_time is not None
    assert spans["resolve"].start_time is not None
    assert worker.start_time <= spans["resolve"].start_time


def test_tests_subprocesses_continue_the_trace_of_the_tests_stage(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    pytester.makepyfile(
        test_child="""
        import os
        import subprocess
        import sys

        def test_child_sees_the_trace(tmp_path):
            code = "import os; print(os.environ.get('TRACEPARENT', ''))"
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            with open(os.environ["KISYS_HOUSE_OUT"], "w") as handle:
                handle.write(out.stdout.strip())
        """
    )
    out = pytester.path / "traceparent.txt"
    monkeypatch.setenv("KISYS_HOUSE_OUT", str(out))
    monkeypatch.delenv("TRACEPARENT", raising=False)
    harness = TelemetryHarness()
    result = pytester.runpytest("-p", "no:cacheprovider", plugins=[harness])
    result.assert_outcomes(passed=1)
    spans = harness.by_name()
    tests_stage = spans["tests"]
    assert tests_stage.context is not None
    version, trace_id, parent_id, flags = out.read_text().split("-")
    assert (version, flags) == ("00", "01")
    assert int(trace_id, 16) == tests_stage.context.trace_id
    assert int(parent_id, 16) == tests_stage.context.span_id
    # Back to how it was once the tests are over.
    assert "TRACEPARENT" not in os.environ

