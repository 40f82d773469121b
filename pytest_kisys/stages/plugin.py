"""The stage graph inside a pytest session: the ``kisys-stages`` plugin object and the small
API other subsystems use to take part: :func:`bind_stage`, :func:`add_check_stage` and
:func:`stage_scope` to run work as a stage; :func:`has_stage`, :func:`settle_stages` and
:func:`stage_result` to wait for and read stages. The session state itself is private.

Phases of a session:

1. before conftests load, subsystems run ``resolve``/``vet``/``install`` inside
   :func:`stage_scope`; the results are kept until the graph exists;
2. ``pytest_configure``: the graph is built from the built-in stages, ``stages`` in the
   configuration and every ``pytest_kisys_stages`` implementation, and validated;
3. ``pytest_sessionstart``: every stage that is ready starts in the background (the scans,
   config stages without needs);
4. ``pytest_runtestloop``: waits for what ``tests`` needs, then the tests run as the ``tests``
   stage while the background stages go on;
5. ``pytest_sessionfinish``: first everything except ``report`` is joined (so report writers
   see every row), and last the graph is finished and failed stages fail the session.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import AbstractContextManager
from contextlib import contextmanager
from contextlib import nullcontext
import dataclasses
from dataclasses import dataclass
from dataclasses import field
import os
import threading
import time
from typing import Any

import pytest

from pytest_kisys.errors import StageError
from pytest_kisys.record import RUN_KEY
from pytest_kisys.settings import Settings
from pytest_kisys.settings import SEVERITY_RANK
from pytest_kisys.stages.builtin import BUILTIN
from pytest_kisys.stages.builtin import builtin_stages
from pytest_kisys.stages.builtin import off_reasons
from pytest_kisys.stages.builtin import with_report_last
from pytest_kisys.stages.config import parse_stages
from pytest_kisys.stages.config import StageSource
from pytest_kisys.stages.config import yaml_stage_lines
from pytest_kisys.stages.graph import build_graph
from pytest_kisys.stages.graph import StageGraph
from pytest_kisys.stages.model import BUILTIN_STAGES
from pytest_kisys.stages.model import Stage
from pytest_kisys.stages.model import StageAction
from pytest_kisys.stages.model import StageConfigError
from pytest_kisys.stages.model import StageResult
from pytest_kisys.stages.runner import close_span
from pytest_kisys.stages.runner import ExternalStage
from pytest_kisys.stages.runner import failing_on_error
from pytest_kisys.stages.runner import StageRunner
from pytest_kisys.workers import is_xdist_worker


@dataclass
class StageState:
    """Per-run state in ``config.stash[_STATE_KEY]``: bindings, early results, the runner."""

    bindings: dict[str, StageAction] = field(default_factory=dict)
    checks: dict[str, Stage] = field(default_factory=dict)
    """Extra ``scan.<kind>`` stages of ``pytest_kisys_scanners`` plugins (:func:`add_check_stage`)."""
    early: dict[str, StageResult] = field(default_factory=dict)
    graph: StageGraph | None = None
    runner: StageRunner | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


_STATE_KEY: pytest.StashKey[StageState] = pytest.StashKey()


def _state(config: pytest.Config) -> StageState:
    return config.stash.setdefault(_STATE_KEY, StageState())


def has_stage(config: pytest.Config, name: str) -> bool:
    """Whether this session's stage graph is running and has stage ``name``."""
    runner = _state(config).runner
    return runner is not None and name in runner.graph


def settle_stages(config: pytest.Config, names: Iterable[str], timeout: float | None = None) -> None:
    """Wait until each of ``names`` is decided (at most ``timeout`` seconds; no graph: no wait)."""
    runner = _state(config).runner
    if runner is not None:
        runner.settle([n for n in names if n in runner.graph], timeout=timeout)


def stage_result(config: pytest.Config, name: str) -> StageResult | None:
    """The recorded result of stage ``name`` in this session, if it has one yet."""
    runner = _state(config).runner
    return runner.result(name) if runner is not None and name in runner.graph else None


def bind_stage(config: pytest.Config, name: str, action: StageAction) -> None:
    """Make ``action`` the work of built-in stage ``name`` in this run.

    Call it before ``pytest_sessionstart`` (for example from ``pytest_configure``); the runner
    then calls it when the stage's needs are done, in a worker thread.
    """
    if name not in BUILTIN_STAGES:
        known = ", ".join(BUILTIN_STAGES)
        raise StageError(f"cannot bind {name!r}: not a built-in stage ({known})")
    state = _state(config)
    with state.lock:
        if state.runner is not None:
            raise StageError(f"cannot bind {name!r}: the stage graph is already running")
        state.bindings[name] = action


def add_check_stage(
    config: pytest.Config, kind: str, action: StageAction, *, source: str, timeout: float | None
) -> str:
    """Add ``scan.<kind>``, a session check beyond the built-in three, to this run's graph.

    It is placed like the built-in scans (from session start alongside the tests; before the
    tests with ``scan_first``; before ``report``), and like theirs its failure is judged by the
    scan plugin (exit status 16), not as a plugin stage's. Call it before the graph is built
    (the scan plugin does in a ``tryfirst`` ``pytest_configure``). Returns the stage name.
    """
    name = f"scan.{kind}"
    state = _state(config)
    with state.lock:
        if state.graph is not None:
            raise StageError(f"cannot add {name!r}: the stage graph is already built")
        state.checks[name] = Stage(
            name,
            description=f"extra session check ({source})",
            action=action,
            source=source,
            timeout=timeout,
        )
    return name


@contextmanager
def stage_scope(config: pytest.Config, name: str) -> Iterator[ExternalStage]:
    """Do the work of stage ``name`` in this block, timed, recorded and traced as that stage.

    Before the graph runs (e.g. ``resolve``/``vet``/``install`` before conftests load) the
    result is kept and reported when the graph starts. Once the graph runs, the block first
    waits for the stage's needs; when the stage was already decided (a need failed, or it ran
    already) ``handle.active`` is False and the block should do nothing.
    """
    state = _state(config)
    with state.lock:
        runner = state.runner
    if runner is not None:
        if name not in runner.external_names:
            raise StageError(f"stage {name!r} is not run by its subsystem in this session")
        with runner.external(name) as handle:
            yield handle
        return
    if name not in BUILTIN_STAGES:
        raise StageError(f"stage {name!r} cannot run before the stage graph exists")
    clock = time.time
    handle = ExternalStage(name)
    started = clock()
    with _telemetry_span(config, name, {"cicd.pipeline.task.name": name}) as span:
        try:
            with failing_on_error(handle):
                yield handle
        finally:
            result = StageResult(
                name,
                handle.outcome.status,
                handle.outcome.reason,
                attempts=1,
                started=started,
                ended=clock(),
                findings=handle.outcome.findings,
                source=BUILTIN,
                kind=handle.outcome.kind,
            )
            _close_telemetry_span(span, result)
            handle.result = result
            with state.lock:
                state.early[name] = result


def _telemetry_span(
    config: pytest.Config | None, name: str, attributes: Mapping[str, Any]
) -> AbstractContextManager[Any]:
    """The telemetry subsystem's stage span (a no-op while tracing is off)."""
    if config is None or name == "tests":
        # The telemetry plugin opens the ``tests`` span itself around the run loop.
        return nullcontext()
    from pytest_kisys import telemetry

    clean = {key: tuple(v) if isinstance(v, list) else v for key, v in attributes.items()}
    return telemetry.stage_span(config, name, clean)


def _close_telemetry_span(span: Any, result: StageResult) -> None:
    close_span(span, result)
    if span is None:
        return
    from pytest_kisys import telemetry

    if result.findings:
        telemetry.add_findings(span, result.findings)
    outcome = {"passed": "success", "failed": "failure", "skipped": "skip"}[result.status]
    if result.kind == "timeout":
        outcome = "timeout"
    span.set_result(outcome)


def collect_stages(config: pytest.Config, settings: Settings) -> StageGraph:
    """Built-in + config + plugin stages as one validated graph (UsageError when invalid)."""
    state = _state(config)
    try:
        checks = tuple(state.checks.values())
        declared: list[Stage] = list(builtin_stages(settings, state.bindings, checks))
        declared.extend(parse_stages(settings.stages, config_source(settings)))
        for plugin_stages in config.hook.pytest_kisys_stages(config=config, settings=settings):
            declared.extend(_plugin_stages(plugin_stages))
        return build_graph(with_report_last(declared))
    except StageConfigError as error:
        raise pytest.UsageError(f"kisys stages: {error}") from error


def config_source(settings: Settings) -> StageSource:
    """Where each stage came from, relative to rootdir, for messages and the report: in
    ``kisys.yaml`` the stage's own line (``kisys.yaml:12``), elsewhere the setting's source
    and the entry's index (``pyproject.toml [tool.kisys] stages[1]``)."""
    where = settings.source_of("stages")
    if where == "default":
        return "config"
    where = where.replace(f"{settings.rootdir}{os.sep}", "")
    if where.startswith("kisys.yaml:"):
        lines = yaml_stage_lines(settings.rootdir / "kisys.yaml")

        def yaml_line(index: int, name: str | None) -> str:
            line = lines.get((index, name)) or lines.get((index, None))
            return f"kisys.yaml:{line}" if line is not None else where

        return yaml_line
    return lambda index, name: f"{where} stages[{index}]"


def _plugin_stages(returned: object) -> list[Stage]:
    if returned is None:
        return []
    items: list[object] = list(returned) if isinstance(returned, list | tuple) else [returned]
    stages: list[Stage] = []
    for item in items:
        if not isinstance(item, Stage):
            raise StageConfigError(
                f"pytest_kisys_stages returned {item!r}; expected pytest_kisys.stages.Stage objects"
            )
        stages.append(item)
    return stages


def stage_fails_run(result: StageResult, settings: Settings) -> bool:
    """Whether a failed config or plugin stage fails the session.

    Findings count from ``fail_on`` up; a failure without findings (an error, a timeout
    without output) is an inconclusive check: it fails unless ``allow_inconclusive`` is set.
    """
    if result.status != "failed" or result.source == BUILTIN:
        return False
    if not result.findings:
        return not settings.allow_inconclusive
    if settings.fail_on == "never":
        return False
    threshold = SEVERITY_RANK[settings.fail_on]
    return any(SEVERITY_RANK.get(f.severity, -1) >= threshold for f in result.findings)


class StagesPlugin:
    """Drives the stage graph through the phases of a pytest session (``kisys-stages``)."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.active = True

    def pytest_configure(self, config: pytest.Config) -> None:
        """Build and validate the graph (conftest plugins are loaded by now)."""
        # Under xdist the controller runs the graph; workers only run their share of tests.
        self.active = not is_xdist_worker(config)
        if self.active:
            _state(config).graph = collect_stages(config, self.settings)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Start every stage that is ready, in the background."""
        state = _state(self.config)
        if not self.active or state.graph is None:
            return
        record = self.config.stash.get(RUN_KEY, None)
        with state.lock:
            # Bindings made after the graph was built (up to now) still count.
            graph = StageGraph(
                tuple(
                    dataclasses.replace(stage, action=state.bindings[stage.name])
                    if stage.source == BUILTIN and stage.name in state.bindings
                    else stage
                    for stage in state.graph.stages
                )
            )
            state.graph = graph
            runner = StageRunner(
                graph,
                settings=self.settings,
                config=self.config,
                rootdir=self.settings.rootdir,
                max_workers=self.settings.effective_workers(),
                external=[
                    s.name for s in graph.stages if s.source == BUILTIN and s.action is None
                ],
                done=state.early,
                off=off_reasons(self.settings),
                on_result=(lambda r: record.add("stages", r)) if record is not None else None,
                span=lambda name, attrs: _telemetry_span(self.config, name, attrs),
                close=_close_telemetry_span,
            )
            state.runner = runner
        runner.start()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Iterator[None]:
        """Run the tests as the ``tests`` stage, once what it needs is done."""
        runner = _state(self.config).runner
        if runner is None or "tests" not in runner.graph:
            return (yield)
        with runner.external("tests") as handle:
            failed_scans = [
                r.name
                for r in runner.results()
                if r.name.startswith("scan.") and r.status == "failed" and self.settings.scan_first
            ]
            if not failed_scans:
                try:
                    return (yield)
                finally:
                    if session.testsfailed:
                        handle.fail(f"{session.testsfailed} failed")
            handle.fail(f"not run: {', '.join(failed_scans)} failed first (scan_first)")
        # With scan_first a failed scan stops the run before any test.
        raise session.Failed(f"kisys: {', '.join(failed_scans)} failed before the tests (scan_first)")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Join every stage but ``report``, so report writers see all the rows."""
        runner = _state(self.config).runner
        if runner is not None and "report" in runner.graph:
            runner.settle(runner.graph.upstream("report"))
            # Decided now as well, so report writers see the final exit status.
            self._fail_session(session, runner.results())

    # A second sessionfinish implementation on the same object, hence specname.
    @pytest.hookimpl(trylast=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_graph(self, session: pytest.Session) -> None:
        """Finish the graph; a failed config or plugin stage makes the exit status non-zero."""
        runner = _state(self.config).runner
        if runner is None:
            return
        # After an interrupt, do not wait for background stages that may take minutes.
        interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED
        self._fail_session(session, runner.finish(timeout=0.0 if interrupted else None))

    def _fail_session(self, session: pytest.Session, results: tuple[StageResult, ...]) -> None:
        # Extra check stages are judged by the scan plugin, like the built-in scans (exit 16).
        checks = _state(self.config).checks
        if session.exitstatus == pytest.ExitCode.OK and any(
            stage_fails_run(result, self.settings) for result in results if result.name not in checks
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """A ``kisys stages`` section for failed and skipped stages (all of them with ``-v``)."""
        runner = _state(self.config).runner
        if runner is None:
            return
        verbose = self.config.get_verbosity() > 0
        shown = [
            r
            for r in runner.results()
            if verbose or r.status == "failed" or r.skip_kind in ("condition", "needs")
        ]
        if not shown:
            return
        terminalreporter.section("kisys stages")
        for result in shown:
            timing = f" {result.duration:.2f}s" if result.duration else ""
            tries = f", {result.attempts} attempts" if result.attempts > 1 else ""
            reason = f": {result.reason}" if result.reason else ""
            terminalreporter.line(f"{result.status:<8} {result.name}{timing}{tries}{reason}")
            for finding in result.findings:
                message = "" if finding.message == result.reason else f" {finding.message}"
                terminalreporter.line(f"    [{finding.severity}]{message}")
                for line in finding.detail.splitlines()[-10:]:
                    terminalreporter.line(f"      | {line}")
