"""Runs the session's one :class:`~pytest_kisys.secrets.redact.Redactor` over pytest's reports.

Each process of a run (the controller and every xdist worker) has its own redactor in
``config.stash[REDACTOR_KEY]``, built from the environment and ``mask_env`` before any conftest
is imported; fetched secrets and ``kisys_secrets.mask`` add to it. :class:`MaskingPlugin` cleans
every report where it is made (``pytest_runtest_makereport``, ``pytest_make_collect_report``),
before any other plugin sees it, so the terminal, ``-rA`` sections, JUnit XML, xdist's
transport and kisys's own writers all receive masked text. Parametrize ids are masked where
pytest makes them (``pytest_make_parametrize_id``), so node ids, span names and the cost
section never hold a value either. An explicit id is masked in every report; what pytest
writes from the item itself (the ``-v`` line a test starts with, ``--collect-only``) is masked
by the terminal writer, guarded only once an id is found to hold a value.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Mapping
import os
from typing import Any
from urllib.parse import urlsplit
import warnings

import pytest

from pytest_kisys.secrets.interface import SecretError
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.settings import Settings
from pytest_kisys.workers import is_xdist_worker


REDACTOR_KEY: pytest.StashKey[Redactor] = pytest.StashKey()
# Set on a call-phase report whose exception was a SecretError: the test errors, not fails.
UNAVAILABLE_ATTR = "kisys_secret_error"
# Set by an xdist worker on a report whose node id holds a value only that worker knows (one a
# test registered there): the masked id, which the controller puts in the report's place.
MASKED_NODEID_ATTR = "kisys_masked_nodeid"
# Set by an xdist worker on the report made when its ids were answered again after such a
# value was registered: (index in the collection, masked id) of each id the value is in, so the
# controller masks them before their tests start (the -v start line is written from the id).
NEWLY_MASKED_ATTR = "kisys_newly_masked_ids"

ReportTap = Callable[[pytest.Item, pytest.CallInfo[None], pytest.TestReport], None]
"""Sees a test report whose phase raised, once masked (see :meth:`MaskingPlugin.on_raise`)."""
ReportLog = Callable[[pytest.TestReport], None]
"""Sees every test report, once masked (see :meth:`MaskingPlugin.on_report`)."""


def session_redactor(settings: Settings, environ: Mapping[str, str]) -> Redactor:
    """The redactor of one process: secret-looking environment values and URL credentials."""
    redactor = Redactor.from_environment(environ, settings.mask_env, enabled=settings.mask)
    for url in (settings.index.url, settings.osv_url):
        if url:
            parts = urlsplit(url)
            if parts.password:
                redactor.register(parts.password)
                redactor.register(parts.username or "")
    return redactor


def redactor_of(config: pytest.Config | None) -> Redactor | None:
    """The session's redactor (None outside an enabled pytest run)."""
    if config is None:
        return None
    return config.stash.get(REDACTOR_KEY, None)


class SecretErrorStatus:
    """Registered once a test failed on a secret it could not fetch: that test is an error."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport | pytest.CollectReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, Mapping[str, bool]]] | None:
        """A test whose secret could not be fetched is an error, as a failed fixture would be."""
        if getattr(report, UNAVAILABLE_ATTR, False) and report.failed:
            return "error", "E", ("ERROR", {"red": True})
        return None


class MaskingPlugin:
    """Masks secrets in every report, parametrize id and warning of the run."""

    def __init__(self, config: pytest.Config, redactor: Redactor) -> None:
        self.config = config
        self.redactor = redactor
        self._mask_ids: bool | None = None  # known for sure from the first report on
        self._status: SecretErrorStatus | None = None
        self._taps: list[ReportTap] = []
        self._logs: list[ReportLog] = []
        # Node id -> location of the collected tests with nothing to mask in either, valid
        # while the redactor's generation is the one they were answered in.
        self._clean_names: dict[str, object] = {}
        self._clean_generation = -1
        self._items: list[pytest.Item] = []
        self._newly_masked: list[tuple[int, str]] = []  # worker: sent with the next report
        self._worker_ids: list[str] = []  # xdist controller: the workers' collection
        self._terminal_guarded = False

    def on_raise(self, tap: ReportTap) -> None:
        """Have ``tap`` see each test report whose phase raised, after masking.

        This plugin's wrapper is the run's one per-report wrapper: a role that looks only at
        failures (the collection role's lazy-import tags) adds a tap instead of a wrapper of
        its own, so a passing report costs one wrapper call, not one per role.
        """
        self._taps.append(tap)

    def on_report(self, log: ReportLog) -> None:
        """Have ``log`` see every test report this process makes, after masking.

        For a role that keeps each report (the run history): one call from this wrapper
        costs a fraction of one more ``pytest_runtest_logreport`` hookimpl. An xdist
        controller makes no reports (they arrive logged): there the role keeps a hook.
        """
        self._logs.append(log)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Mask the collected tests' node ids in one pass: their reports find them done.

        Before the terminal's own (``--collect-only`` lists the items there): when an id holds
        a value, the terminal is guarded (:meth:`guard_terminal`).
        """
        self._items = session.items
        if self.redactor.enabled and self._items:
            self._answer_ids()

    def _answer_ids(self) -> None:
        # Again after a value is registered while tests run: once per value, not per report.
        items = self._items
        generation = self.redactor.generation
        before = self._clean_names if self._clean_generation >= 0 else None
        # Each report's location is its item's (pytest computes it once per item).
        answers = self.redactor.redact_many([i.nodeid for i in items] + [i.location[2] for i in items])
        # The tests whose id and name came back unchanged: their reports skip both lookups
        # while no value is registered (a report whose location is another object is looked at).
        self._clean_names = {
            i.nodeid: i.location
            for i in items
            if answers[i.nodeid] == i.nodeid and answers[i.location[2]] == i.location[2]
        }
        self._clean_generation = generation
        if before is not None and not self._masks_ids():
            self._newly_masked += [
                (index, answers[item.nodeid])
                for index, item in enumerate(items)
                if item.nodeid in before and item.nodeid not in self._clean_names
            ]
        if len(self._clean_names) < len(items):
            self.guard_terminal()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        """xdist controller: a worker's collected ids, looked at once (the controller collects none)."""
        self._worker_ids = ids
        if not self._terminal_guarded and self.redactor.enabled:
            answers = self.redactor.redact_many(ids)
            if any(answers[i] != i for i in ids):
                self.guard_terminal()

    def guard_terminal(self) -> None:
        """Mask everything the terminal reporter writes from now on (once per run).

        pytest writes an item's own node id where no report can reach it: the ``-v`` line
        when a test starts (``pytest_runtest_logstart``), ``--collect-only``. An item cannot be
        renamed, so the text is masked on its way out, through the writer
        :meth:`pytest.Config.get_terminal_writer` hands out. Only a run that has a value in a
        node id (found at collection finish, or registered while tests run) pays for it.
        """
        if self._terminal_guarded:
            return
        self._terminal_guarded = True
        # An xdist worker's output is not the terminal; without the reporter there is none.
        if is_xdist_worker(self.config) or not self.config.pluginmanager.has_plugin("terminalreporter"):
            return
        writer = self.config.get_terminal_writer()
        # pytest >= 8.3 sends every write through write_raw; before that through write.
        name = "write_raw" if hasattr(writer, "write_raw") else "write"
        original: Callable[..., None] = getattr(writer, name)
        redact = self.redactor.redact

        def masked(msg: str, **kwargs: bool) -> None:
            original(redact(msg), **kwargs)

        setattr(writer, name, masked)  # noqa: B010 - an instance attribute, not a private one

    def _secret_error_seen(self) -> None:
        # The teststatus hook is registered only now: no per-report call in a run without one.
        if self._status is None:
            self._status = SecretErrorStatus()
            self.config.pluginmanager.register(self._status, "kisys-masking-status")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """The report with its node id, sections, properties and failure text masked."""
        report = yield
        excinfo = call.excinfo
        if excinfo is not None and excinfo.errisinstance(SecretError) and report.failed:
            setattr(report, UNAVAILABLE_ATTR, True)
            self._secret_error_seen()
        if self.redactor.enabled:
            report = self.clean(report)
        if excinfo is not None:
            for tap in self._taps:
                tap(item, call, report)
        for log in self._logs:
            log(report)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        """A collection error's text masked (an import-time exception may quote a value)."""
        report = yield
        cleaned: pytest.CollectReport = self.clean(report)
        return cleaned

    def _masks_ids(self) -> bool:
        mask_ids = self._mask_ids
        if mask_ids is None:
            # xdist's worker checks each report's node id against its item's; the controller
            # masks it when the report arrives (pytest_report_from_serializable).
            mask_ids = self._mask_ids = not is_xdist_worker(self.config)
        return mask_ids

    def _mask_names(self, report: Any) -> None:
        # The redactor remembers its answer for an id (every phase repeats it; the ids of the
        # collected tests are all answered at collection finish); the setter parses the id
        # again: assigned only when masking changed it.
        nodeid = report.nodeid
        masked = self.redactor.redact(nodeid)
        if masked != nodeid:
            report.nodeid = masked
        self._mask_location(report)

    def _mask_for_controller(self, report: Any) -> None:
        # An xdist worker sends its item's own node id (xdist checks it): a value only this
        # worker knows travels masked beside it, and the test's name is masked in place.
        nodeid = report.nodeid
        masked = self.redactor.redact(nodeid)
        if masked != nodeid:
            setattr(report, MASKED_NODEID_ATTR, masked)
        self._mask_location(report)

    def _mask_location(self, report: Any) -> None:
        # The test's name in its location heads its -rA section and JUnit's testcase.
        location = getattr(report, "location", None)
        if location is not None and isinstance(location[2], str):
            domain = self.redactor.redact(location[2])
            if domain != location[2]:
                report.location = (location[0], location[1], domain)

    def clean(self, report: Any) -> Any:
        """``report`` masked: in place where pytest allows it, rebuilt when its failure text changes."""
        if not self.redactor.enabled:
            return report
        redact = self.redactor.redact
        generation = self.redactor.generation
        if self._clean_generation != generation and self._items:
            self._answer_ids()  # a value was registered: the ids answered again, once
            if self._newly_masked:
                setattr(report, NEWLY_MASKED_ATTR, self._newly_masked)
                self._newly_masked = []
        known = self._clean_names.get(report.nodeid) if self._clean_generation == generation else None
        if known is None or known is not report.location:
            if self._masks_ids():
                self._mask_names(report)
            else:
                self._mask_for_controller(report)
        # A passing test has no sections, properties or failure text: nothing more to look at.
        if report.sections:
            report.sections = [(title, redact(content)) for title, content in report.sections]
        if getattr(report, "user_properties", None):
            report.user_properties = [
                (name, redact(value) if isinstance(value, str) else value)
                for name, value in report.user_properties
            ]
        longrepr = report.longrepr
        if longrepr is None:
            return report
        if isinstance(longrepr, str):
            report.longrepr = redact(longrepr)
            return report
        if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
            path, line, reason = longrepr
            report.longrepr = (path, line, redact(str(reason)))
            return report
        return self._rebuilt(report)

    def _rebuilt(self, report: Any) -> Any:
        # The failure representation is pytest's own object tree; its public serialisation
        # hooks (the ones xdist uses) turn it into plain data and back without losing structure.
        hook = self.config.hook
        data = hook.pytest_report_to_serializable(config=self.config, report=report)
        if data is None:
            return report
        # The node id was masked by clean() where that is allowed: an xdist worker must send
        # its item's own (xdist checks it), and a masked one there crashed the worker.
        nodeid = data.pop("nodeid", None)
        masked = self.redactor.redact_json(data, keys=False)
        if nodeid is not None:
            data["nodeid"] = masked["nodeid"] = nodeid
        if masked == data:
            return report
        rebuilt = hook.pytest_report_from_serializable(config=self.config, data=masked)
        return rebuilt if rebuilt is not None else report

    @pytest.hookimpl(wrapper=True)
    def pytest_report_from_serializable(
        self, config: pytest.Config, data: dict[str, Any]
    ) -> Generator[None, Any, Any]:
        """xdist controller: a worker's report with its node id masked (an explicit id may
        hold a value the parametrize-id hook never saw)."""
        report = yield
        nodeid = getattr(report, "nodeid", None)
        # A worker rebuilding a failed report of its own (_rebuilt) keeps the item's id.
        if report is not None and isinstance(nodeid, str) and self._masks_ids():
            newly = getattr(report, NEWLY_MASKED_ATTR, None)
            if newly is not None:
                delattr(report, NEWLY_MASKED_ATTR)
                self._learn_worker_values(newly)
            masked = getattr(report, MASKED_NODEID_ATTR, None)
            if isinstance(masked, str):
                report.nodeid = masked
                delattr(report, MASKED_NODEID_ATTR)
            self._mask_names(report)
        if getattr(report, UNAVAILABLE_ATTR, False):
            self._secret_error_seen()
        return report

    def _learn_worker_values(self, newly: list[tuple[int, str]]) -> None:
        # A worker masked these ids with a value the controller does not know: the text the
        # masked id hides is that value (or a span around it), masked here from now on.
        ids = self._worker_ids
        for index, masked in newly:
            if 0 <= index < len(ids):
                self.redactor.register(hidden_span(ids[index], masked))
        self.guard_terminal()

    def pytest_make_parametrize_id(self, config: pytest.Config, val: object, argname: str) -> str | None:
        """A masked id for a parametrize value that holds a secret (None: pytest's own id)."""
        if isinstance(val, bytes):
            val = val.decode("latin-1")
        if isinstance(val, str):
            masked = self.redactor.redact(val)
            if masked != val:
                return masked
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_warning_recorded(
        self,
        warning_message: warnings.WarningMessage,
        when: str,
        nodeid: str,
        location: tuple[str, int, str] | None,
    ) -> None:
        """Mask the warning's text before the terminal's warnings summary stores it."""
        text = str(warning_message.message)
        masked = self.redactor.redact(text)
        if masked == text:
            return
        category = warning_message.category
        try:
            warning_message.message = category(masked)
        except TypeError:  # a warning class with its own constructor
            warning_message.message = UserWarning(masked)


def hidden_span(text: str, masked: str) -> str:
    """The part of ``text`` that ``masked`` (``text`` with values masked) replaced."""
    head = len(os.path.commonprefix([text, masked]))
    tail = len(os.path.commonprefix([text[head:][::-1], masked[head:][::-1]]))
    return text[head : len(text) - tail]
