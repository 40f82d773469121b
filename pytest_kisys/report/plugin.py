"""The ``kisys-report`` plugin object: writes ``--kisys-report``, ``--kisys-sarif`` and
``--kisys-sbom`` at session finish, as the built-in ``report`` stage, and the ``kisys checks``
terminal section (with GitHub annotations in Actions) of the session checks.

Runs after the ``kisys-scan`` plugin has joined the checks and set the exit status (both in
``pytest_sessionfinish``; the scan plugin's is ``tryfirst``). Only on the controller under
xdist. A report that cannot be written is an error on the terminal naming the path, and fails
the run (exit status 4, a usage error: the path given cannot take a report).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_kisys.errors import StageError
from pytest_kisys.record import RUN_KEY
from pytest_kisys.record import RunRecord
from pytest_kisys.settings import Settings
from pytest_kisys.workers import is_xdist_worker


class ReportPlugin:
    """Writes the report files once everything else has finished."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.active = True
        self.written: list[tuple[str, Path]] = []
        self.errors: list[str] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        """Under xdist the controller writes the reports; workers do not."""
        self.active = not is_xdist_worker(config)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write every requested report."""
        if not self.active or not (self.settings.report or self.settings.sarif or self.settings.sbom):
            return
        record = self.config.stash.get(RUN_KEY, RunRecord())
        from pytest_kisys.telemetry.costrole import cost_summary

        record.cost = cost_summary(self.config, self.settings)
        status = int(session.exitstatus)
        from pytest_kisys.stages.plugin import stage_scope

        # The report stage is the only way reports are written: its span, row and timing.
        try:
            with stage_scope(self.config, "report"):
                self.write_all(record, status)
        except StageError as exc:
            self.errors.append(f"kisys: no report was written: {exc}")
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
        """Where the reports went, the ``kisys checks`` section, GitHub annotations in Actions."""
        for label, target in self.written:
            terminalreporter.write_line(f"kisys: {label} written to {target}")
        for error in self.errors:
            terminalreporter.write_line(error, red=True)
        if not self.active:
            return
        from pytest_kisys.report.json_report import check_results
        from pytest_kisys.report.terminal import render_checks
        from pytest_kisys.scan.interface import CHECK_KINDS

        checks = check_results(self.config.stash.get(RUN_KEY, RunRecord()))
        if not checks:
            return
        # Built-in kinds in their order, then the extra checks in the order they finished.
        ranked: dict[str, int] = {kind: rank for rank, kind in enumerate(CHECK_KINDS)}
        results = sorted(checks, key=lambda r: ranked.get(r.kind, len(ranked)))
        verbose = self.config.get_verbosity() > 0
        terminalreporter.section("kisys checks")
        for line, markup in render_checks(results, self.settings, verbose=verbose):
            terminalreporter.line(line, **markup)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            from pytest_kisys.report.github import workflow_commands

            for line in workflow_commands(results, self.settings):
                terminalreporter.write_line(line)


def _sarif(checks: Any, settings: Settings) -> Any:
    from pytest_kisys.report.sarif import build_sarif

    return build_sarif(checks, settings)


def _sbom(checks: Any, settings: Settings) -> Any:
    from pytest_kisys.report.cyclonedx import build_sbom

    return build_sbom(checks, settings.rootdir)
