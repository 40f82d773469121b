"""The ``kisys-scan`` plugin object: the session checks inside a pytest run.

Each check kind in ``settings.scan`` becomes the built-in stage ``scan.<kind>`` (bound with
:func:`pytest_kisys.stages.bind_stage`), so the stage engine starts it in the background at
session start, traces it as a span and, with ``scan_first``, holds the tests until it passed.
Scanners from ``pytest_kisys_scanners`` plugins join them as extra ``scan.<kind>`` stages
(:func:`pytest_kisys.stages.plugin.add_check_stage`) and count the same way.
The stage engine is the only way the checks run: without it (``kisys-stages`` unregistered)
every check is inconclusive, never clean.

At session finish the results are joined; if the session would otherwise exit 0 and a check
fails (findings at or above ``fail_on``, or an inconclusive check without
``allow_inconclusive``), the exit status becomes :data:`EXIT_CHECKS_FAILED` (16). When tests
already failed, pytest's own exit status stays.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from pytest_kisys.workers import is_xdist_worker


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
        self.active = bool(self.kinds)
        self._results: dict[str, CheckResult] = {}
        self._lock = threading.Lock()
        # Kinds whose stage the engine runs (bound or added); any other is inconclusive.
        self._staged: set[str] = set()
        self.failed = False

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
        # Under xdist the controller runs the checks; workers only run tests.
        self.active = self.active and not is_xdist_worker(config)
        if not self.active:
            return
        self._bind_stages()
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
            reason = describe_check(result, self.settings)
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

    def join(self) -> list[CheckResult]:
        """Wait for every check; a check that never reported is an inconclusive result."""
        from pytest_kisys.stages.plugin import has_stage
        from pytest_kisys.stages.plugin import settle_stages
        from pytest_kisys.stages.plugin import stage_result

        timeout = self.settings.scan_timeout + _JOIN_GRACE
        staged = [k for k in self.all_kinds if k in self._staged and has_stage(self.config, stage_name(k))]
        settle_stages(self.config, [stage_name(k) for k in staged], timeout=timeout)
        for kind in self.all_kinds:
            if kind in self._results:
                continue
            reason = "the check did not finish"
            stage = stage_result(self.config, stage_name(kind)) if kind in staged else None
            if stage is not None and stage.reason:
                reason = f"the check did not run: {stage.reason}"
            elif kind not in staged:
                reason = "the check did not run: no stage engine ran it (kisys-stages)"
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


def describe_check(result: CheckResult, settings: Settings) -> str:
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
