"""The ``kisys-telemetry`` plugin object: session, stage and per-test spans, cost, export.

Registered by :func:`pytest_kisys.roles.register_roles` only when tracing is on. The per-test hot
path is a new-style ``pytest_runtest_protocol`` wrapper and an append per report; everything
else (span objects, attributes, redaction, encoding) happens on the export thread.

Test span attributes: ``test.case.name`` (node id), ``test.suite.name``,
``test.case.result.status`` (``pass``, ``fail``, and the custom values ``skipped``, ``xfail``,
``xpass`` for a non-strict unexpected pass, ``error`` for a setup or teardown failure; a strict
XPASS is ``fail``), ``pytest.outcome``, ``code.file.path``, ``code.line.number``,
``code.function.name``, ``pytest.{setup,call,teardown}.duration`` (seconds),
``kisys.cpu.time`` (seconds), ``kisys.memory.peak`` (bytes), and on failure ``error.type``,
status ERROR and an ``exception`` event.
"""

from __future__ import annotations

from collections.abc import Generator
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
import os
import time
from typing import Any

from opentelemetry.trace import SpanContext
import pytest

from pytest_kisys.errors import ConfigError
from pytest_kisys.record import RUN_KEY
from pytest_kisys.secrets.masking import redactor_of
from pytest_kisys.settings import Settings
from pytest_kisys.telemetry import RUNTIME_KEY
from pytest_kisys.telemetry import subprocess_env
from pytest_kisys.telemetry.cost import CostSummary
from pytest_kisys.telemetry.cost import peak_rss_bytes
from pytest_kisys.telemetry.costrole import LEDGER_KEY
from pytest_kisys.telemetry.costrole import write_cost_section
from pytest_kisys.telemetry.export import ExportOutcome
from pytest_kisys.telemetry.records import ExceptionInfo
from pytest_kisys.telemetry.records import FAILED_STATUSES
from pytest_kisys.telemetry.records import FixtureRecord
from pytest_kisys.telemetry.records import FixtureTiming
from pytest_kisys.telemetry.records import Phase
from pytest_kisys.telemetry.runtime import TelemetryRuntime
from pytest_kisys.telemetry.runtime import traceparent_of
from pytest_kisys.workers import early_worker_id


COST_KEY: pytest.StashKey[CostSummary] = pytest.StashKey()
"""The run's :class:`CostSummary`, for the report writers (set at session finish)."""

WORKERINPUT_KEY = "kisys_trace_carrier"
WORKEROUTPUT_KEY = "kisys_trace"
_PHASE_INDEX = {"setup": 0, "call": 1, "teardown": 2}


def classify(reports: list[pytest.TestReport]) -> tuple[str, str, str | None, list[float]]:
    """``(test.case.result.status, pytest outcome, skip/xfail reason, phase durations)``."""
    status = "pass"
    outcome = "passed"
    reason: str | None = None
    durations = [0.0, 0.0, 0.0]
    for report in reports:
        when = report.when
        durations[_PHASE_INDEX.get(when, 1)] = report.duration
        result = report.outcome  # what report.passed / .failed read, without the properties
        if result == "passed":
            if when == "call" and hasattr(report, "wasxfail"):
                status = "xpass"
        elif result == "failed":
            if status not in FAILED_STATUSES:
                status = "fail" if when == "call" else "error"
            outcome = "failed"
        else:
            outcome = "skipped"
            if hasattr(report, "wasxfail"):
                status = "xfail"
                reason = str(report.wasxfail) or None
            else:
                status = "skipped"
                longrepr = report.longrepr
                if isinstance(longrepr, tuple):
                    reason = str(longrepr[2]).removeprefix("Skipped: ")
    return status, outcome, reason, durations


def _keep_rule(keep: str) -> tuple[bool, float | None]:
    """``(failed only, slow threshold)`` from ``trace_keep``."""
    if keep == "all":
        return False, None
    if keep == "failed":
        return True, None
    if keep.startswith("slow:"):
        try:
            return True, float(keep[len("slow:") :])
        except ValueError:
            pass
    raise ConfigError(f"trace_keep={keep!r} is not valid; allowed: all, failed, slow:SECONDS")


class FixtureTimer:
    """Registered only with ``trace_phases``: times every fixture setup."""

    def __init__(self, owner: TelemetryPlugin) -> None:
        self.owner = owner

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        """Time the fixture; function-scoped ones go on the test, wider ones on the session."""
        start = time.time_ns()
        result = yield
        timing = FixtureTiming(fixturedef.argname, fixturedef.scope, start, time.time_ns())
        self.owner.fixture_done(timing)
        return result


class TelemetryPlugin:
    """Spans for the session, the ``collect`` and ``tests`` stages and every test."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.config = config
        self.settings = settings
        # Possibly an xdist worker: known for sure only in pytest_configure (workerinput); a
        # pytest run started from inside a worker's test inherits the variable but is not one.
        maybe_worker = early_worker_id(environ) is not None
        self._is_worker = False
        try:
            self.runtime = TelemetryRuntime(
                settings, environ, defer_session=maybe_worker, redactor=redactor_of(config)
            )
            self._keep_failed, self._slow = _keep_rule(settings.trace_keep)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from exc
        config.stash[RUNTIME_KEY] = self.runtime
        self._pipeline = self.runtime.pipeline
        self._ledger = self.runtime.cost
        config.stash[LEDGER_KEY] = self._ledger
        self._by_marker = settings.cost_per_cpu_hour is not None
        self._phases = settings.trace_phases
        self._recording = False
        # The parent of test spans, set when the test loop starts.
        self._parent: SpanContext | None = None
        self._parent_index = 0
        self._reports: list[pytest.TestReport] | None = None
        self._exception: ExceptionInfo | None = None
        self._fixtures: list[FixtureTiming] = []
        self._worker_outcomes: list[dict[str, Any]] = []
        self.outcome: ExportOutcome | None = None
        if not maybe_worker:
            self.runtime.start_session(config.invocation_params.args)

    # -- session -------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        """Join the controller's trace on xdist workers; pick the exporter; start exporting."""
        workerinput = getattr(config, "workerinput", None)
        self._is_worker = isinstance(workerinput, dict)
        if isinstance(workerinput, dict):
            self.runtime.start_session(
                config.invocation_params.args,
                carrier=workerinput.get(WORKERINPUT_KEY),
                worker_id=str(workerinput.get("workerid", "gw?")),
            )
        else:
            self.runtime.start_session(config.invocation_params.args)
        exporter = config.hook.pytest_kisys_span_exporter(config=config)
        try:
            self.runtime.start_export(exporter, fresh=not self._is_worker)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from exc
        if self._phases:
            config.pluginmanager.register(FixtureTimer(self), "kisys-telemetry-fixtures")

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: hand the session's context to each worker."""
        ctx = self.runtime.session_span.get_span_context()
        node.workerinput[WORKERINPUT_KEY] = traceparent_of(ctx)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist controller: collect each worker's export outcome and cost entries."""
        output = getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY)
        if isinstance(output, dict):
            self._worker_outcomes.append(output)
            self._ledger.extend(output.get("cost", ()))

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        """The ``collect`` stage."""
        with self.runtime.stage_span("collect", {}) as stage:
            result = yield
            stage.set_attribute("pytest.tests.collected", len(session.items))
            if session.testsfailed:
                stage.set_result("failure", "CollectError")
            return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """The ``tests`` stage; test spans become its children (a worker's span on xdist)."""
        self._recording = self.runtime.sampled
        if self._is_worker:
            self._set_parent(self.runtime.session_span.get_span_context())
            with _trace_context_in_environ(subprocess_env(self.config, {})):
                return (yield)
        with self.runtime.stage_span("tests", {}) as stage:
            self._set_parent(stage.span.get_span_context())
            with _trace_context_in_environ(subprocess_env(self.config, {})):
                result = yield
            if session.testsfailed:
                stage.set_result("failure", "TestFailure")
            return result

    def _set_parent(self, ctx: SpanContext) -> None:
        self._parent = ctx
        self._parent_index = self.runtime.builder.parent_index(ctx)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """End the session span, flush within ``trace_timeout``, publish cost and outcome."""
        failed = int(exitstatus) not in (0, 5)
        attrs: dict[str, Any] = {
            "test.suite.run.status": "failure" if failed else "success",
            "cicd.pipeline.task.run.result": "failure" if failed else "success",
            "pytest.exitstatus": int(exitstatus),
            "pytest.tests.collected": session.testscollected,
            "pytest.tests.failed": session.testsfailed,
        }
        summary = self._ledger.summary(self.settings.cost_per_cpu_hour)
        self.config.stash[COST_KEY] = summary
        if summary.tests:
            attrs["kisys.cost.cpu_time"] = summary.total_cpu_seconds
            attrs["kisys.cost.top_tests"] = tuple(n for n, _ in summary.top_tests)
            attrs["kisys.cost.top_modules"] = tuple(m for m, _ in summary.top_modules)
        self.outcome = self.runtime.finish(attrs, failed)
        workeroutput = getattr(self.config, "workeroutput", None)
        if isinstance(workeroutput, dict):
            workeroutput[WORKEROUTPUT_KEY] = {
                "dropped": self.outcome.dropped,
                "exported": self.outcome.exported,
                "error": self.outcome.error,
                "cost": [list(entry) for entry in self._ledger.entries],
            }

    def warning_line(self) -> str | None:
        """The one warning line about lost spans, or None when everything was delivered."""
        outcomes = [self.outcome] if self.outcome is not None else []
        dropped = sum(o.dropped for o in outcomes) + sum(
            int(w.get("dropped", 0)) for w in self._worker_outcomes
        )
        errors = [o.error for o in outcomes if o.error] + [
            str(w["error"]) for w in self._worker_outcomes if w.get("error")
        ]
        if not dropped and not errors:
            return None
        target = self.outcome.target if self.outcome is not None else self.settings.trace
        reason = errors[0] if errors else "spans arrived after export closed"
        return f"kisys: trace export to {target} failed: {reason}; {dropped} spans dropped"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Cost summary (with ``-v`` or a cost rate) and the single export warning line."""
        summary = self.config.stash.get(COST_KEY, None)
        show_cost = self.settings.cost_per_cpu_hour is not None or self.config.get_verbosity() > 0
        if show_cost:
            write_cost_section(terminalreporter, summary)
        warning = self.warning_line()
        if warning is not None:
            terminalreporter.write_line(warning, yellow=True, bold=True)
            record = self.config.stash.get(RUN_KEY, None)
            if record is not None:
                record.notes.append(warning)

    # -- per test (hot path) ---------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        """Measure one test from the start of setup to the end of teardown."""
        self._reports = []
        self._exception = None
        if self._phases:
            self._fixtures = []
        start = time.time_ns()
        cpu = time.process_time_ns()
        result = yield
        self._finish(item, start, cpu)
        return result

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the report for the test in progress (the xdist controller has none)."""
        reports = self._reports
        if reports is not None:
            reports.append(report)

    def pytest_exception_interact(
        self, node: pytest.Item | pytest.Collector, call: pytest.CallInfo[Any], report: Any
    ) -> None:
        """Capture the first real failure of the test in progress (never xfail or skip)."""
        if self._reports is None or self._exception is not None or call.excinfo is None:
            return
        excinfo = call.excinfo
        self._exception = ExceptionInfo(
            excinfo.typename, str(excinfo.value), str(report.longrepr), time.time_ns()
        )

    def fixture_done(self, timing: FixtureTiming) -> None:
        """A fixture finished setting up (``trace_phases`` only)."""
        if timing.scope == "function":
            self._fixtures.append(timing)
        elif self._recording and self._parent is not None:
            self._pipeline.submit(FixtureRecord(timing, self._parent))

    def _finish(self, item: pytest.Item, start: int, cpu: int) -> None:
        end = time.time_ns()
        cpu_ns = time.process_time_ns() - cpu
        reports = self._reports or []
        self._reports = None
        status, outcome, reason, durations = classify(reports)
        # Ids may hold a secret given as an explicit parametrize id: the cost section shows them.
        nodeid = self.runtime.redactor.redact(item.nodeid)
        markers = tuple({m.name for m in item.iter_markers()}) if self._by_marker else ()
        self._ledger.add(nodeid, cpu_ns / 1e9, markers)
        if not self._recording or self._parent is None:
            return
        if self._pipeline.failed:
            # The collector is down for good: count the test, build nothing.
            self._pipeline.submit(None)
            return
        if self._keep_failed and status not in FAILED_STATUSES:
            slow = self._slow
            if slow is None or (end - start) / 1e9 < slow:
                return
        phases: tuple[Phase, ...] = ()
        fixtures: tuple[FixtureTiming, ...] = ()
        if self._phases:
            phases = tuple(Phase(r.when, r.start, r.stop, r.outcome) for r in reports)
            fixtures = tuple(self._fixtures)
        # A plain tuple in TestRecord's field order (see there: it stays out of the GC's way).
        self._pipeline.submit(
            (
                nodeid,
                item.location,
                status,
                outcome,
                start,
                end,
                (durations[0], durations[1], durations[2]),
                cpu_ns,
                peak_rss_bytes(),
                self._parent_index,
                self._exception,
                reason,
                phases,
                fixtures,
            )
        )


@contextmanager
def _trace_context_in_environ(carrier: Mapping[str, str]) -> Iterator[None]:
    """``TRACEPARENT``/``TRACESTATE`` of ``carrier`` in ``os.environ`` for the block, then back."""
    keys = ("TRACEPARENT", "TRACESTATE")
    saved = {key: os.environ.get(key) for key in keys}
    for key in keys:
        if key in carrier:
            os.environ[key] = carrier[key]
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

