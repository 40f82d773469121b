"""The ``kisys-history`` plugin object: records the run as it goes, and writes ``--kisys-html``.

On the xdist controller (or a plain run) it turns test reports into ``tests`` rows and span
events, and polls the :class:`~pytest_kisys.record.RunRecord` for decisions, installs, checks
and stages; the :class:`~pytest_kisys.history.recorder.Recorder` writes them. On an xdist worker
it only attaches each test's marker names to its reports (for cost by marker); workers never
write. A store that cannot be written is one line in the terminal summary, never a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Generator
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
from pytest_kisys.outputs import OutputError
from pytest_kisys.record import RUN_KEY
from pytest_kisys.secrets.masking import redactor_of
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.settings import Settings
from pytest_kisys.workers import early_worker_id


MARKERS_ATTR = "kisys_markers"
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
    ) -> None:
        self.config = config
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
        self._phases: dict[str, dict[str, tuple[str, bool]]] = {}
        self._times: dict[str, list[float]] = {}
        self._poll_lock = threading.Lock()
        self._marks: dict[str, tuple[str, ...]] = {}
        self._costs: list[tuple[str, float, tuple[str, ...]]] = []
        self._counts = dict.fromkeys(R.OUTCOMES, 0)
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
            "outcomes": R.dumps(self._counts),
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

    # -- xdist workers: markers travel with the reports --------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Generator[None, Any, Any]:
        """Attach the test's marker names to its report (the controller groups cost by them)."""
        report = yield
        if call.when == "setup":
            setattr(report, MARKERS_ATTR, sorted({m.name for m in item.iter_markers()}))
        return report

    # -- controller --------------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Start recording: ``run.started`` and the session span."""
        if self.worker:
            return
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

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        """Note when a test started."""
        if not self.worker:
            self._times[nodeid] = [time.time(), 0.0]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Note the outcome and duration of each phase."""
        if self.worker:
            return
        self._phases.setdefault(report.nodeid, {})[report.when] = (
            report.outcome,
            bool(getattr(report, "wasxfail", None) is not None),
        )
        times = self._times.setdefault(report.nodeid, [time.time(), 0.0])
        times[1] += report.duration
        if report.when == "setup":
            self._marks[report.nodeid] = tuple(getattr(report, MARKERS_ATTR, ()))

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        """A test is done: one ``tests`` row and its span events."""
        if self.worker:
            return
        phases = self._phases.pop(nodeid, {})
        started, duration = self._times.pop(nodeid, [time.time(), 0.0])
        outcome = R.outcome_of(phases)
        self._counts[outcome] += 1
        markers = self._marks.pop(nodeid, ())
        self._costs.append((nodeid, duration, markers))
        # Node ids are masked where pytest makes them (the masking role's parametrize ids).
        self.recorder.add("tests", [{
            "nodeid": nodeid, "module": nodeid.partition("::")[0], "outcome": outcome,
            "started": started, "duration": duration, "markers": R.dumps(list(markers)) if markers else "[]",
        }])
        span = R.span(nodeid, "test", started, started + duration, outcome)
        self.recorder.emit([Event("trace.span.created", started, {**span, "end": None, "status": ""}),
                            Event("trace.span.ended", time.time(), span)])

    def _poll(self) -> None:
        """Record what the run record gained since the last poll (writer thread, and at the end)."""
        record = self.config.stash.get(RUN_KEY, None)
        if record is None:
            return
        with self._poll_lock:
            self._poll_record(record)
            tests = sum(self._counts.values())
            if tests != self._counted:
                # Once per flush, not per test: the runs list shows live counts.
                self._counted = tests
                self.recorder.update_run(outcomes=R.dumps(self._counts), tests=tests)

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
        costs = R.cost_rows(self._costs, self.settings.cost_per_cpu_hour)
        self.recorder.add("costs", costs)
        seconds = sum(c[1] for c in self._costs)
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
                            "outcomes": self._counts,
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
            write_html(target, bundle(self.recorder.run, self.recorder.rows))
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
