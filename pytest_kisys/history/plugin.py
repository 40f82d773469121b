"""The ``kisys-history`` plugin object: records the run as it goes, and writes ``--kisys-html``.

On the xdist controller (or a plain run) its :class:`~pytest_kisys.history.testlog.TestLog`
keeps each report (one append per report, from the masking role's report wrapper in a plain
run, from ``pytest_runtest_logreport`` on an xdist controller: the only history work while a
test runs) and flushes, on the test loop's thread, at most every half second; the flush's poll turns the
reports into ``tests`` rows and reads the :class:`~pytest_kisys.record.RunRecord` for
decisions, installs, checks and stages; the :class:`~pytest_kisys.history.recorder.Recorder`
writes them (its thread flushes when a long test holds the loop). The tests' span events are
not stored one by one: the store keeps one event per flush that stands for them, and the
dashboard's feed sends each test's two span events in its place
(:data:`~pytest_kisys.history.interface.TESTS_RECORDED`). On an xdist worker it only attaches
each test's marker names to its reports (for cost by marker); workers never write. A store
that cannot be written is one line in the terminal summary, never a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
import datetime as dt
from pathlib import Path
import platform
import threading
import time
from typing import Any
import uuid

import pytest

from pytest_kisys._version import __version__
from pytest_kisys.history import history_url
from pytest_kisys.history import open_store
from pytest_kisys.history import rows as R
from pytest_kisys.history.interface import Event
from pytest_kisys.history.recorder import Recorder
from pytest_kisys.history.testlog import MarkerNames
from pytest_kisys.history.testlog import TestLog
from pytest_kisys.history.testlog import TestRows
from pytest_kisys.history.testlog import WorkerMarkers
from pytest_kisys.outputs import OutputError
from pytest_kisys.record import RUN_KEY
from pytest_kisys.secrets.masking import redactor_of
from pytest_kisys.secrets.masking import ReportLog
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.settings import Settings
from pytest_kisys.workers import early_worker_id


_SOURCES = ("decisions", "installs", "checks", "stages")


def run_name(settings: Settings, started: float) -> str:
    """``<rootdir name> <UTC start time>``, what the dashboard lists the run as."""
    when = dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{settings.rootdir.name} {when}"


class HistoryPlugin:
    """Feeds one run into the history store and the HTML report."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        html_writer: Callable[[Path, Mapping[str, Any]], None] | None = None,
        report_tap: Callable[[ReportLog], None] | None = None,
    ) -> None:
        self.config = config
        # Where every report of this process passes once masked (MaskingPlugin.on_report):
        # the test log taps it instead of adding a per-report hookimpl.
        self.report_tap = report_tap
        # The dashboard's page writer, handed in by the wiring: history never imports dashboard.
        if settings.html is not None and html_writer is None:
            raise ValueError("HistoryPlugin: --kisys-html is set but no html_writer was given")
        self.html_writer = html_writer
        self.settings = settings
        # Registered before pytest_configure, when only the variable can tell (workers.py).
        self.worker = early_worker_id() is not None
        # The session's one redactor (secret-looking environment values, fetched secrets...).
        self.redactor = redactor_of(config) or Redactor()
        self.started = time.time()
        self._seen = dict.fromkeys(_SOURCES, 0)
        self._poll_lock = threading.Lock()
        self._log = TestLog(self._flush)
        self._rows = TestRows(MarkerNames(list, self.redactor.redact))  # replaced at session start
        self._counted = 0
        self._findings = 0
        self.html_written: str | None = None
        self.html_error: str | None = None
        run = {
            "id": uuid.uuid4().hex,
            "name": run_name(settings, self.started),
            "project": str(settings.rootdir),
            "host": platform.node(),
            "kisys_version": __version__,
            "started": self.started,
            "ended": None,
            "status": "running",
            "exit_status": None,
            "outcomes": R.dumps(dict.fromkeys(R.OUTCOMES, 0)),
            "tests": 0,
            "findings": 0,
            "duration": None,
            "cost_seconds": 0.0,
            "money": None,
            "settings": R.dumps(
                {
                    "level": settings.level,
                    "scan": sorted(settings.scan),
                    "fail_on": settings.fail_on,
                    "offline": settings.offline,
                }
            ),
        }
        url = history_url(settings)
        opener = (lambda: open_store(url)) if settings.history and not self.worker else None
        self.recorder = Recorder(
            run, opener, poll=self._poll, keep=settings.history_keep, keep_rows=settings.html is not None
        )

    def _flush(self) -> None:
        self.recorder.flush()

    # -- per test: registered at session start, on the controller or on a worker -------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Start recording: ``run.started``, the session span, and the per-test log."""
        pm = self.config.pluginmanager
        if self.worker:
            pm.register(WorkerMarkers(), "kisys-history-markers")
            return
        self._rows = TestRows(MarkerNames(lambda: session.items, self.redactor.redact))
        if self.report_tap is None or pm.hasplugin("dsession"):
            pm.register(self._log, "kisys-history-tests")  # an xdist controller makes no reports
        else:
            self.report_tap(self._log.log)
        self.recorder.emit(
            [
                Event(
                    "run.started",
                    self.started,
                    {"run": {k: self.recorder.run[k] for k in ("id", "name", "project")}},
                ),
                Event("trace.span.created", self.started, R.span("session", "session", self.started)),
            ]
        )
        self.recorder.start()

    def _poll(self, final: bool = False) -> None:
        """Record what the run gained since the last poll (writer thread, and at the end)."""
        record = self.config.stash.get(RUN_KEY, None)
        with self._poll_lock:
            self._poll_tests(final)
            if record is not None:
                self._poll_record(record)
            counts = self._rows.counts
            tests = sum(counts.values())
            if tests != self._counted:
                # Once per flush, not per test: the runs list shows live counts.
                self._counted = tests
                self.recorder.update_run(outcomes=R.dumps(counts), tests=tests)

    def _poll_tests(self, final: bool) -> None:
        """The rows of the tests finished since the last poll."""
        reports = self._log.take()
        if reports or final:
            rows = self._rows.build(reports, final=final)
            if rows:
                self.recorder.add_tests(rows)

    def _poll_record(self, record: Any) -> None:
        now = time.time()
        redact = self.redactor.redact
        for source in _SOURCES:
            items = list(getattr(record, source, ()))
            new, self._seen[source] = items[self._seen[source] :], len(items)
            for item in new:
                data = item.to_json()
                if source == "decisions":
                    self.recorder.add("decisions", R.decision_rows(data, redact))
                elif source == "installs":
                    self.recorder.add("decisions", R.install_rows(data, redact))
                elif source == "stages":
                    row = R.stage_row(data, redact)
                    self.recorder.add("stages", [row])
                    self.recorder.emit(R.stage_events(row, now))
                else:
                    found = R.check_rows(data, redact)
                    self._findings += len(found)
                    self.recorder.add("findings", found)
                    self.recorder.emit(R.check_events(data, found, now))
                    self.recorder.update_run(findings=self._findings)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Costs, the run's end, the last write, pruning; then the HTML report."""
        if self.worker:
            return
        ended = time.time()
        self._poll(final=True)  # every test's row before the cost and the session's end
        entries = self._rows.costs
        costs = R.cost_rows(entries, self.settings.cost_per_cpu_hour)
        self.recorder.add("costs", costs)
        seconds = sum(c[1] for c in entries)
        rate = self.settings.cost_per_cpu_hour
        money = None if rate is None else seconds / 3600 * rate
        modules = sorted((c for c in costs if c["grp"] == "module"), key=lambda c: -c["seconds"])[:5]
        status = int(session.exitstatus)
        self.recorder.emit(
            [
                Event(
                    "cost.calculated",
                    ended,
                    {
                        "seconds": round(seconds, 6),
                        "money": money,
                        "top_modules": [{"name": c["name"], "seconds": c["seconds"]} for c in modules],
                    },
                ),
                Event(
                    "trace.span.ended", ended, R.span("session", "session", self.started, ended, "finished")
                ),
            ]
        )
        self.recorder.update_run(
            ended=ended,
            duration=ended - self.started,
            exit_status=status,
            status="interrupted" if status == int(pytest.ExitCode.INTERRUPTED) else "finished",
            cost_seconds=round(seconds, 6),
            money=money,
        )
        self._poll()
        self.recorder.emit(
            [
                Event(
                    "run.finished",
                    ended,
                    {
                        "run": {
                            "id": self.recorder.run["id"],
                            "exit_status": status,
                            "outcomes": dict(self._rows.counts),
                            "findings": self._findings,
                        }
                    },
                )
            ]
        )
        self.recorder.finish()
        if self.settings.html is not None:
            self._write_html()
            if self.html_error and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.USAGE_ERROR  # as for the other report files

    def _write_html(self) -> None:
        from pytest_kisys.history.views import bundle

        target, write_html = self.settings.html, self.html_writer
        if target is None or write_html is None:
            return  # checked in __init__: a writer comes with every --kisys-html
        target = target if target.is_absolute() else self.settings.rootdir / target
        try:
            write_html(target, bundle(self.recorder.run, self.recorder.kept()))
        except OutputError as exc:
            self.html_error = f"kisys: the HTML report was not written: {exc}"
            return
        self.html_written = str(target)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Where the HTML report went, and the one warning of a history that was not written."""
        if self.html_written:
            terminalreporter.write_line(f"kisys: HTML report written to {self.html_written}")
        if self.html_error:
            terminalreporter.write_line(self.html_error, red=True)
        if self.recorder.error:
            terminalreporter.write_line(
                f"kisys: warning: this run was not recorded in the history: {self.recorder.error}",
                yellow=True,
            )
