"""The ``kisys-report`` plugin object: writes ``--kisys-report``, ``--kisys-sarif`` and
``--kisys-sbom`` at session finish, as the built-in ``report`` stage.

Runs after the ``kisys-scan`` plugin has joined the checks and set the exit status (both in
``pytest_sessionfinish``; the scan plugin's is ``tryfirst``). Only on the controller under
xdist. A report that cannot be written is an error on the terminal naming the path, and fails
the run (exit status 4, a usage error: the path given cannot take a report).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from contextlib import nullcontext
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_kisys.errors import StageError
from pytest_kisys.record import RUN_KEY
from pytest_kisys.record import RunRecord
from pytest_kisys.settings import Settings


class ReportPlugin:
    """Writes the report files once everything else has finished."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.active = "PYTEST_XDIST_WORKER" not in os.environ
        self.written: list[tuple[str, Path]] = []
        self.errors: list[str] = []

    def _scope(self) -> AbstractContextManager[Any]:
        from pytest_kisys.stages.plugin import stage_scope
        from pytest_kisys.stages.plugin import STATE_KEY

        state = self.config.stash.get(STATE_KEY, None)
        if state is None or state.runner is None or "report" not in state.runner.graph:
            return nullcontext()
        return stage_scope(self.config, "report")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write every requested report."""
        if not self.active:
            return
        record = self.config.stash.get(RUN_KEY, RunRecord())
        status = int(session.exitstatus)
        try:
            with self._scope():
                self.write_all(record, status)
        except StageError:
            # The engine would not run "report" here (someone else bound it): write anyway.
            if not self.written and not self.errors:
                self.write_all(record, status)
        if self.errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def write_all(self, record: RunRecord, exit_status: int) -> None:
        """Write the JSON report, SARIF and SBOM that the settings ask for."""
        from pytest_kisys.outputs import OutputError
        from pytest_kisys.report.json_report import build_report
        from pytest_kisys.report.json_report import check_results
        from pytest_kisys.report.json_report import write_json
        from pytest_kisys.secrets.masking import redactor_of

        checks = check_results(record)
        jobs: list[tuple[str, Path | None, Any]] = [
            ("JSON report", self.settings.report, lambda: build_report(
                record, self.settings, exit_status=exit_status)),
            ("SARIF", self.settings.sarif, lambda: _sarif(checks, self.settings)),
            ("SBOM", self.settings.sbom, lambda: _sbom(checks, self.settings)),
        ]
        split = self.settings.sarif_split
        if split is not None:
            from pytest_kisys.report.sarif import split_sarif

            folder = split if split.is_absolute() else self.settings.rootdir / split
            for name, log in split_sarif(checks, self.settings).items():
                jobs.append((f"SARIF {name}", folder / name, lambda log=log: log))
        for label, path, build in jobs:
            if path is None:
                continue
            target = path if path.is_absolute() else self.settings.rootdir / path
            try:
                write_json(target, build(), redactor_of(self.config))
            except OutputError as exc:
                self.errors.append(f"kisys: the {label} was not written: {exc}")
                continue
            self.written.append((label, target))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Say where the reports went (and what could not be written)."""
        for label, target in self.written:
            terminalreporter.write_line(f"kisys: {label} written to {target}")
        for error in self.errors:
            terminalreporter.write_line(error, red=True)


def _sarif(checks: Any, settings: Settings) -> Any:
    from pytest_kisys.report.sarif import build_sarif

    return build_sarif(checks, settings)


def _sbom(checks: Any, settings: Settings) -> Any:
    from pytest_kisys.report.cyclonedx import build_sbom

    return build_sbom(checks, settings.rootdir)
