"""The ``kisys-scan`` plugin object: the session checks inside a pytest run.

Each check kind in ``settings.scan`` becomes the built-in stage ``scan.<kind>`` (bound with
:func:`pytest_kisys.stages.bind_stage`), so the stage engine starts it in the background at
session start, traces it as a span and, with ``scan_first``, holds the tests until it passed.
Scanners from ``pytest_kisys_scanners`` plugins join them as extra ``scan.<kind>`` stages
(:func:`pytest_kisys.stages.plugin.add_check_stage`) and count the same way.
Where no stage engine runs the checks, this object runs them in its own background thread.

At session finish the results are joined; if the session would otherwise exit 0 and a check
fails (findings at or above ``fail_on``, or an inconclusive check without
``allow_inconclusive``), the exit status becomes :data:`EXIT_CHECKS_FAILED` (16). When tests
already failed, pytest's own exit status stays.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import os
import threading
from typing import Any

import pytest

from pytest_kisys.errors import StageError
from pytest_kisys.record import RUN_KEY
from pytest_kisys.scan.extra import GuardedScanner
from pytest_kisys.scan.interface import CHECK_KINDS
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import TOOL_OF_KIND
from pytest_kisys.settings import Settings
from pytest_kisys.stages.model import StageAction
from pytest_kisys.stages.model import StageFinding
from pytest_kisys.stages.model import StageOutcome


EXIT_CHECKS_FAILED = 16
"""Exit status of a session whose tests passed but whose security checks failed.

Not 6: pytest 9.2 took 6 for ``ExitCode.MAX_WARNINGS_ERROR``. 16 keeps clear of pytest's own
small codes, of the sysexits range (64-78) and of the shell's (126 and up).
"""

# Beyond scan_timeout (each scanner enforces it itself) allow this long for the join.
_JOIN_GRACE = 30.0


@dataclass(frozen=True)
class CheckStageFinding(StageFinding):
    """A stage finding that also exposes its scanner :class:`Finding`'s fields.

    Telemetry reads ``rule_id``, ``path``, ``line``, ``fingerprint``, ``package``... duck-typed
    for the span events of the ``scan.*`` stages; the report keeps the plain stage fields.
    """

    finding: Finding | None = None

    def __getattr__(self, name: str) -> Any:
        inner = object.__getattribute__(self, "finding")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)


def stage_findings(
    result: CheckResult, fail_on: str, *, only_failing: bool = False
) -> tuple[StageFinding, ...]:
    """The check's counted findings as stage findings (carrying rule, file, line, fingerprint)."""
    stage = stage_name(result.kind)
    out: list[StageFinding] = []
    chosen = result.failing_findings(fail_on) if only_failing else result.findings
    for finding in chosen:
        where = f" {finding.path}:{finding.line}" if finding.path else ""
        fails = " (fails the run)" if finding.at_or_above(fail_on) else ""
        out.append(
            CheckStageFinding(
                stage=stage,
                severity=finding.severity,
                message=f"{finding.tool} {finding.rule_id}{where}: {finding.message}",
                detail=f"id {finding.fingerprint}{fails}",
                finding=finding,
            )
        )
    return tuple(out)


def stage_name(kind: str) -> str:
    """The stage that runs check ``kind``: ``scan.<kind>``."""
    return f"scan.{kind}"


class ScanPlugin:
    """Runs the session checks and decides what they mean for the exit status."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.kinds = [k for k in CHECK_KINDS if k in settings.scan]
        self.extra: dict[str, GuardedScanner] = {}
        """Scanners from ``pytest_kisys_scanners``, by kind (filled in ``pytest_configure``)."""
        # Under xdist the controller runs the checks; workers only run tests.
        self.active = "PYTEST_XDIST_WORKER" not in os.environ and bool(self.kinds)
        self._results: dict[str, CheckResult] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Kinds whose stage the engine runs (bound or added); the others run in our thread.
        self._staged: set[str] = set()
        self.failed = False
        if self.active:
            self._bind_stages()

    @property
    def all_kinds(self) -> list[str]:
        """Built-in kinds in ``settings.scan``, then the extra kinds in hook order."""
        return [*self.kinds, *self.extra]

    # -- running ---------------------------------------------------------------------------

    def _bind_stages(self) -> None:
        from pytest_kisys.stages.plugin import bind_stage

        try:
            for kind in self.kinds:
                bind_stage(self.config, stage_name(kind), self._stage_action(kind))
                self._staged.add(kind)
        except StageError:
            self._staged.clear()

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        """Collect the plugins' extra scanners as stages, before the stage graph is built.

        ``--collect-only`` runs nothing, so it checks nothing either (options are final now).
        """
        if not self.active:
            return
        from pytest_kisys.scan.extra import collect_scanners

        self.extra = collect_scanners(config, self.settings)
        if config.getoption("collectonly", False):
            self.active = False
        if not self.extra or not self._staged:
            return
        from pytest_kisys.stages.plugin import add_check_stage

        # Third-party scanners may not enforce scan_timeout themselves; the engine does.
        timeout = self.settings.scan_timeout if self.settings.scan_timeout > 0 else None
        try:
            for kind, scanner in self.extra.items():
                action = self._stage_action(kind)
                add_check_stage(config, kind, action, source=scanner.source, timeout=timeout)
                self._staged.add(kind)
        except StageError:
            self._staged.difference_update(self.extra)

    def _stage_action(self, kind: str) -> StageAction:
        def action(ctx: Any) -> StageOutcome:
            del ctx
            if not self.active:
                return StageOutcome.skipped("--collect-only: no checks")
            result = self._run(kind)
            self._store(result)
            fail_on = self.settings.fail_on
            reason = describe(result, self.settings)
            if result.fails(fail_on, self.settings.allow_inconclusive):
                # Only what fails the run: the stage section would repeat the whole list.
                failing = stage_findings(result, fail_on, only_failing=True)
                return StageOutcome("failed", reason, failing)
            return StageOutcome("passed", reason, stage_findings(result, fail_on))

        return action

    def _run(self, kind: str) -> CheckResult:
        from pytest_kisys.scan.runner import run_check

        return run_check(kind, self.settings, scanner=self.extra.get(kind))

    def _store(self, result: CheckResult) -> None:
        with self._lock:
            if result.kind in self._results:
                return
            self._results[result.kind] = result
        record = self.config.stash.get(RUN_KEY, None)
        if record is not None:
            record.add("checks", result)
        self.config.hook.pytest_kisys_check_result(config=self.config, result=result)

    def _engine(self) -> tuple[Any, list[str]]:
        """The stage runner of this session (or None) and the kinds whose stages it runs."""
        from pytest_kisys.stages.plugin import STATE_KEY

        state = self.config.stash.get(STATE_KEY, None)
        runner = state.runner if state is not None else None
        if runner is None:
            return None, []
        kinds = [k for k in self.all_kinds if k in self._staged and stage_name(k) in runner.graph]
        return runner, kinds

    def _run_in_thread(self, kinds: list[str]) -> None:
        with ThreadPoolExecutor(len(kinds), thread_name_prefix="kisys-check") as pool:
            for result in pool.map(self._run, kinds):
                self._store(result)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Start the checks the stage engine does not run in a background thread."""
        if not self.active:
            return
        _, staged = self._engine()
        rest = [k for k in self.all_kinds if k not in staged]
        if not rest:
            return
        self._thread = threading.Thread(
            target=self._run_in_thread, args=(rest,), name="kisys-checks", daemon=True
        )
        self._thread.start()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """With ``scan_first`` (and no stage engine), wait for the checks and stop if they fail."""
        if not self.active or not self.settings.scan_first or self._thread is None:
            return
        results = self.join()
        if any(r.fails(self.settings.fail_on, self.settings.allow_inconclusive) for r in results):
            raise session.Failed("kisys: security checks failed before the tests (scan_first)")

    def join(self) -> list[CheckResult]:
        """Wait for every check; a check that never reported is an inconclusive result."""
        timeout = self.settings.scan_timeout + _JOIN_GRACE
        runner, staged = self._engine()
        if staged:
            runner.settle([stage_name(k) for k in staged], timeout=timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        for kind in self.all_kinds:
            if kind in self._results:
                continue
            reason = "the check did not finish"
            stage = runner.result(stage_name(kind)) if kind in staged else None
            if stage is not None and stage.reason:
                reason = f"the check did not run: {stage.reason}"
            tool = self.extra[kind].tool if kind in self.extra else TOOL_OF_KIND[kind]
            self._store(CheckResult(kind, tool, "", inconclusive=(Inconclusive(tool, kind, reason),)))
        with self._lock:
            return [self._results[k] for k in self.all_kinds if k in self._results]

    # -- outcome ---------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Join the checks and turn a failed check into exit status 16 (if tests passed)."""
        if not self.active:
            return
        results = self.join()
        self.failed = any(
            r.fails(self.settings.fail_on, self.settings.allow_inconclusive) for r in results
        )
        if not self.failed:
            return
        status = int(session.exitstatus)
        # scan_first stops the run with TESTS_FAILED before any test ran: that is our failure.
        stopped_first = status == pytest.ExitCode.TESTS_FAILED and session.testsfailed == 0
        if status == pytest.ExitCode.OK or (self.settings.scan_first and stopped_first):
            session.exitstatus = EXIT_CHECKS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The ``kisys checks`` section, and GitHub annotations when running in Actions."""
        if not self.active:
            return
        from pytest_kisys.report.terminal import render_checks

        with self._lock:
            results = [self._results[k] for k in self.all_kinds if k in self._results]
        verbose = self.config.get_verbosity() > 0
        terminalreporter.section("kisys checks")
        for line, markup in render_checks(results, self.settings, verbose=verbose):
            terminalreporter.line(line, **markup)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            from pytest_kisys.report.github import workflow_commands

            for line in workflow_commands(results, self.settings):
                terminalreporter.write_line(line)


def describe(result: CheckResult, settings: Settings) -> str:
    """One line for the stage row: status, counts, what made it fail."""
    if result.inconclusive:
        first = result.inconclusive[0]
        more = f" (+{len(result.inconclusive) - 1} more)" if len(result.inconclusive) > 1 else ""
        return f"inconclusive: {first.item}: {first.reason}{more}"
    failing = result.failing_findings(settings.fail_on)
    if failing:
        return f"{len(failing)} finding(s) at or above {settings.fail_on}"
    if result.findings:
        return f"{len(result.findings)} finding(s) below {settings.fail_on}"
    return "clean"
