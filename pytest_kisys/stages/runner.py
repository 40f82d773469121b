"""Running a :class:`~pytest_kisys.stages.graph.StageGraph`: stages start as soon as what they
need is done, independent ones in parallel up to ``max_workers``.

The pytest session drives the runner in phases: :meth:`StageRunner.start` runs everything that
is ready (in background threads), :meth:`StageRunner.external` wraps work the session does itself
(the ``tests`` stage is pytest's own run loop), and :meth:`StageRunner.finish` waits for the rest
and runs what needed it. Clock and sleep are injectable so retry schedules can be tested exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from contextlib import contextmanager
from contextlib import nullcontext
from dataclasses import dataclass
from dataclasses import field
import os
from pathlib import Path
import threading
import time
from typing import Any
from typing import TYPE_CHECKING

import pytest

from pytest_kisys.errors import StageError
from pytest_kisys.stages.condition import Condition
from pytest_kisys.stages.condition import Scope
from pytest_kisys.stages.graph import StageGraph
from pytest_kisys.stages.model import SkipKind
from pytest_kisys.stages.model import Stage
from pytest_kisys.stages.model import StageContext
from pytest_kisys.stages.model import StageFinding
from pytest_kisys.stages.model import StageOutcome
from pytest_kisys.stages.model import StageResult


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings


SpanFactory = Callable[[str, Mapping[str, Any]], AbstractContextManager[Any]]
ResultSink = Callable[[StageResult], None]


def no_span(name: str, attributes: Mapping[str, Any]) -> AbstractContextManager[Any]:
    """The span factory used when telemetry is off: nothing is recorded."""
    return nullcontext()


def span_attributes(stage: Stage) -> dict[str, Any]:
    """Attributes a stage span starts with (CI/CD semantic conventions plus kisys ones)."""
    attributes: dict[str, Any] = {
        "cicd.pipeline.task.name": stage.name,
        "kisys.stage.source": stage.source,
        "kisys.stage.needs": list(stage.needs),
        "kisys.stage.always": stage.always,
    }
    for key, value in stage.matrix_values.items():
        attributes[f"kisys.stage.matrix.{key}"] = value
    return attributes


def close_span(span: Any, result: StageResult) -> None:
    """Put the result on a span object when it accepts attributes (an OTel span does)."""
    set_attribute = getattr(span, "set_attribute", None)
    if set_attribute is None:
        return
    set_attribute("kisys.stage.status", result.status)
    set_attribute("kisys.stage.attempts", result.attempts)
    set_attribute("kisys.stage.findings", len(result.findings))
    if result.reason:
        set_attribute("kisys.stage.reason", result.reason)


@dataclass
class ExternalStage:
    """Handle for a stage whose work the caller does itself inside :meth:`StageRunner.external`.

    ``active`` is False when the stage was already decided (skipped because a need failed, or
    recorded earlier): the caller should then not do the work. Set :attr:`outcome` (or call
    :meth:`fail`) to record anything but "passed"; an exception escaping the block fails it.
    """

    name: str
    active: bool = True
    outcome: StageOutcome = field(default_factory=StageOutcome)
    result: StageResult | None = None

    def fail(self, reason: str, *findings: StageFinding) -> None:
        """Record the stage as failed with ``reason`` and any findings."""
        self.outcome = StageOutcome.failed(reason, *findings)

    def skip(self, reason: str) -> None:
        """Record the stage as skipped (it had nothing to do; dependants still run)."""
        self.outcome = StageOutcome.skipped(reason)


@contextmanager
def failing_on_error(handle: ExternalStage) -> Iterator[None]:
    """An exception escaping the block fails ``handle``'s stage with it, then propagates."""
    try:
        yield
    except BaseException as error:
        handle.fail(f"{type(error).__name__}: {error}")
        raise


class StageRunner:
    """Runs one stage graph once. Thread-safe; every public method may block."""

    def __init__(
        self,
        graph: StageGraph,
        *,
        settings: Settings | None = None,
        config: pytest.Config | None = None,
        env: Mapping[str, str] | None = None,
        rootdir: Path | None = None,
        max_workers: int = 1,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        external: Iterable[str] = (),
        done: Mapping[str, StageResult] | None = None,
        off: Mapping[str, str] | None = None,
        on_result: ResultSink | None = None,
        span: SpanFactory = no_span,
        close: Callable[[Any, StageResult], None] = close_span,
    ) -> None:
        self.graph = graph
        self.settings = settings
        self.config = config
        self.env = dict(os.environ if env is None else env)
        self.rootdir = rootdir or (settings.rootdir if settings else Path.cwd())
        self.max_workers = max(1, max_workers)
        self.clock = clock
        self.sleep = sleep
        self.external_names = frozenset(external)
        self.off = dict(off or {})
        self.on_result = on_result
        self.span = span
        self.close = close
        self._results: dict[str, StageResult] = {}
        self._running: set[str] = set()
        self._cond = threading.Condition()
        self._executor: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []
        self._early = dict(done or {})

    # -- phases -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start every stage that is ready; later stages start as their needs finish."""
        with self._cond:
            if self._executor is not None:
                return
            self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="kisys-stage")
            for name in self.graph.names:
                if name in self._early:
                    self._record(self._early[name])
            self._schedule()

    def settle(self, names: Iterable[str], timeout: float | None = None) -> None:
        """Wait until each of ``names`` has a result; external stages among them that can no
        longer be started by anyone (nothing else is running) are skipped as not run."""
        self.start()
        deadline = None if timeout is None else self.clock() + timeout
        with self._cond:
            self._settle(set(names), deadline)

    def wait_for(self, names: Iterable[str], timeout: float | None = None) -> bool:
        """Block until each of ``names`` has a result; False if ``timeout`` ran out first."""
        wanted = list(names)
        with self._cond:
            return self._cond.wait_for(
                lambda: all(name in self._results for name in wanted), timeout
            )

    @contextmanager
    def external(self, name: str) -> Iterator[ExternalStage]:
        """Run stage ``name`` as the body of this block, after waiting for what it needs."""
        self.start()
        stage = self.graph[name]
        with self._cond:
            self._settle(set(self.graph.upstream(name)), None)
            self._schedule()
            decided = self._results.get(name)
            if decided is None:
                self._running.add(name)
        if decided is not None:
            yield ExternalStage(name, active=False, result=decided)
            return
        handle = ExternalStage(name)
        started = self.clock()
        with self.span(name, span_attributes(stage)) as span:
            try:
                with failing_on_error(handle):
                    yield handle
            finally:
                result = self._result(stage, handle.outcome, 1, started, self.clock())
                self.close(span, result)
                handle.result = result
                with self._cond:
                    self._running.discard(name)
                    self._record(result)
                    self._schedule()

    def finish(self, timeout: float | None = None) -> tuple[StageResult, ...]:
        """Wait for every stage, skipping external stages nobody ran; returns all results.

        With a ``timeout``, stages still waiting when it runs out are recorded as skipped
        ("not finished when the session ended") and running ones are abandoned.
        """
        self.start()
        deadline = None if timeout is None else self.clock() + timeout
        with self._cond:
            self._settle(set(self.graph.names), deadline)
            for stage in self.graph.stages:
                if stage.name not in self._results and stage.name not in self._running:
                    reason = "not finished when the session ended"
                    self._record(self._skipped(stage, "not-run", reason))
        executor = self._executor
        if executor is not None:
            executor.shutdown(wait=timeout is None)
        for future in self._futures:
            if future.done() and future.exception() is not None:
                raise StageError("the stage runner failed") from future.exception()
        return self.results()

    def run(self) -> tuple[StageResult, ...]:
        """Run the whole graph (no external stages driven) and return the results."""
        self.start()
        return self.finish()

    def results(self) -> tuple[StageResult, ...]:
        """The results so far, in topological order."""
        with self._cond:
            return tuple(self._results[n] for n in self.graph.names if n in self._results)

    def result(self, name: str) -> StageResult | None:
        """The result of stage ``name``, or None while it has none."""
        with self._cond:
            return self._results.get(name)

    # -- scheduling (callers hold self._cond) -----------------------------------------------

    def _schedulable(self) -> bool:
        return any(
            name not in self._results
            and name not in self._running
            and name not in self.external_names
            and all(need in self._results for need in self.graph[name].needs)
            for name in self.graph.names
        )

    def _settle(self, names: set[str], deadline: float | None) -> None:
        """Wait until every stage in ``names`` has a result. When nothing can make progress
        any more, external stages among them that nobody started are skipped: the session
        has moved past the point where it would have run them."""

        def settled() -> bool:
            return all(name in self._results for name in names)

        while not settled():
            self._cond.wait_for(
                lambda: settled() or (not self._running and not self._schedulable()), 0.5
            )
            if settled():
                return
            if self._running or self._schedulable():
                if deadline is not None and self.clock() > deadline:
                    return
                continue
            self._skip_unstarted_external(names)

    def _skip_unstarted_external(self, names: set[str]) -> None:
        for name in self.graph.names:
            stage = self.graph[name]
            if (
                name in names
                and name in self.external_names
                and name not in self._results
                and name not in self._running
                and all(need in self._results for need in stage.needs)
            ):
                reason = "not run in this session"
                self._record(self._skipped(stage, "not-run", reason))
        self._schedule()

    def _schedule(self) -> None:
        changed = True
        while changed:
            changed = False
            for stage in self.graph.stages:
                name = stage.name
                if name in self._results or name in self._running:
                    continue
                if not all(need in self._results for need in stage.needs):
                    continue
                decided = self._decide(stage)
                if decided is not None:
                    self._record(decided)
                    changed = True
                elif name not in self.external_names:
                    self._submit(stage)

    def _submit(self, stage: Stage) -> None:
        if self._executor is None:
            raise StageError(f"stage {stage.name!r} scheduled before StageRunner.start()")
        self._running.add(stage.name)
        self._futures.append(self._executor.submit(self._execute, stage))

    def _decide(self, stage: Stage) -> StageResult | None:
        """A skip result for ``stage`` when it must not run; None when it should run."""
        if stage.name in self.off:
            return self._skipped(stage, "off", self.off[stage.name])
        blockers = [n for n in stage.needs if self._results[n].blocks_dependants]
        if blockers and not stage.always:
            first = self._results[blockers[0]]
            what = "failed" if first.status == "failed" else "was skipped"
            return self._skipped(stage, "needs", f"needs {first.name!r}, which {what}")
        if stage.condition is not None:
            scope = Scope(self.env, self.settings, stage.matrix_values)
            if not Condition.parse(stage.condition).evaluate(scope):
                return self._skipped(stage, "condition", f"if: {stage.condition} is false")
        if stage.action is None and stage.name not in self.external_names:
            return self._skipped(stage, "off", "nothing to run")
        return None

    def _skipped(self, stage: Stage, kind: SkipKind, reason: str) -> StageResult:
        now = self.clock()
        result = StageResult(
            stage.name,
            "skipped",
            reason,
            attempts=0,
            started=now,
            ended=now,
            skip_kind=kind,
            source=stage.source,
            matrix=stage.matrix_values,
        )
        with self.span(stage.name, span_attributes(stage)) as span:
            self.close(span, result)
        return result

    def _record(self, result: StageResult) -> None:
        self._results[result.name] = result
        if self.on_result is not None:
            self.on_result(result)
        self._cond.notify_all()

    # -- execution (worker threads) ---------------------------------------------------------

    def _execute(self, stage: Stage) -> None:
        started = self.clock()
        outcome = StageOutcome.failed("not attempted")
        attempt = 0
        result: StageResult | None = None
        try:
            with self.span(stage.name, span_attributes(stage)) as span:
                for attempt in range(1, stage.retry.attempts + 1):
                    if attempt > 1:
                        self.sleep(stage.retry.delay_before(attempt))
                    outcome = self._attempt(stage, attempt)
                    if outcome.status != "failed":
                        break
                result = self._result(stage, outcome, attempt, started, self.clock())
                self.close(span, result)
        finally:
            # Recorded whatever the span machinery did, or finish() would wait forever; an
            # error of the span itself surfaces from finish() through the future.
            if result is None:
                outcome = StageOutcome.failed(f"stage {stage.name!r} did not complete")
                result = self._result(stage, outcome, attempt, started, self.clock())
            with self._cond:
                self._running.discard(stage.name)
                self._record(result)
                self._schedule()

    def _attempt(self, stage: Stage, attempt: int) -> StageOutcome:
        ctx = StageContext(
            stage=stage,
            attempt=attempt,
            settings=self.settings,
            config=self.config,
            env=self.env,
            rootdir=self.rootdir,
            timeout=stage.timeout,
        )
        if stage.timeout is None:
            return _call(stage, ctx)
        box: list[StageOutcome] = []
        # A thread cannot be killed: on timeout the runner stops waiting and moves on; the
        # abandoned thread is a daemon so it never holds the process open. Commands kill
        # their own process group on the same timeout.
        worker = threading.Thread(
            target=lambda: box.append(_call(stage, ctx)),
            name=f"kisys-stage-{stage.name}",
            daemon=True,
        )
        worker.start()
        worker.join(stage.timeout)
        if box:
            return box[0]
        return StageOutcome.timed_out(f"timed out after {stage.timeout:g}s")

    def _result(
        self, stage: Stage, outcome: StageOutcome, attempts: int, started: float, ended: float
    ) -> StageResult:
        return StageResult(
            stage.name,
            outcome.status,
            outcome.reason,
            attempts=attempts,
            started=started,
            ended=ended,
            findings=outcome.findings,
            source=stage.source,
            matrix=stage.matrix_values,
            kind=outcome.kind,
        )


def _call(stage: Stage, ctx: StageContext) -> StageOutcome:
    """Run the action once; an exception from it is that stage's failure, not the runner's."""
    if stage.action is None:
        return StageOutcome.skipped("nothing to run")
    try:
        outcome: object = stage.action(ctx)
    except Exception as error:  # noqa: BLE001 - any error of a stage action fails that stage
        return StageOutcome.failed(f"{type(error).__name__}: {error}")
    if outcome is None:
        return StageOutcome()
    if not isinstance(outcome, StageOutcome):
        return StageOutcome.failed(
            f"stage action returned {type(outcome).__name__}, expected StageOutcome or None"
        )
    return outcome
