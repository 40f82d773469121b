"""Pure logic of the history: outcomes from phases, cost grouping, rows and redaction, views."""

from __future__ import annotations

import json

import pytest

from pytest_kisys.history import history_url
from pytest_kisys.history import rows as R
from pytest_kisys.history import sqlite_path
from pytest_kisys.history import views
from pytest_kisys.history.interface import Event
from pytest_kisys.history.testlog import MarkerNames
from pytest_kisys.history.testlog import TestRows
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.settings import Settings


@pytest.mark.parametrize(
    ("phases", "outcome"),
    [
        ({"setup": ("passed", False), "call": ("passed", False), "teardown": ("passed", False)}, "passed"),
        ({"setup": ("passed", False), "call": ("failed", False)}, "failed"),
        ({"setup": ("failed", False)}, "error"),
        ({"setup": ("skipped", False)}, "skipped"),
        ({"setup": ("passed", False), "call": ("skipped", True)}, "xfailed"),
        ({"setup": ("passed", False), "call": ("passed", True)}, "xpassed"),
        ({"setup": ("passed", False), "call": ("passed", False), "teardown": ("failed", False)}, "error"),
    ],
)
def test_outcome_of_phases(phases: dict[str, tuple[str, bool]], outcome: str) -> None:
    assert R.outcome_of(phases) == outcome


def test_cost_rows_group_by_module_and_every_marker() -> None:
    entries = [("a.py::t1", 2.0, ("slow", "db")), ("a.py::t2", 1.0, ()), ("b.py::t", 3.0, ("slow",))]
    rows = R.cost_rows(entries, 36.0)
    by = {(r["grp"], r["name"]): r for r in rows}
    assert by[("module", "a.py")]["seconds"] == 3.0
    assert by[("module", "b.py")]["seconds"] == 3.0
    assert by[("marker", "slow")]["seconds"] == 5.0
    assert by[("marker", "(none)")]["seconds"] == 1.0
    assert by[("marker", "slow")]["money"] == pytest.approx(5.0 / 3600 * 36.0)
    assert all(r["money"] is None for r in R.cost_rows(entries, None))


def test_install_and_decision_rows_are_redacted() -> None:
    redact = Redactor(["hunter2-secret-value"]).redact
    batch = {
        "backend": "pip",
        "installed": [{"name": "rich", "version": "13.0", "reasons": []}],
        "denied": [{"name": "evil", "reason": "token=hunter2-secret-value in the URL", "hint": ""}],
        "refused": [],
        "error": None,
    }
    rows = R.install_rows(batch, redact)
    assert [(r["name"], r["action"]) for r in rows] == [("rich", "installed"), ("evil", "denied")]
    assert "hunter2" not in json.dumps(rows)
    decision_json = {"name": "rich", "action": "allow", "reasons": ["https://u:pw@host/x"]}
    [decision] = R.decision_rows(decision_json, redact)
    assert "pw@" not in decision["data"]
    assert decision["action"] == "allow"


def test_secret_rows_keep_type_file_line_and_hash_only() -> None:
    check = {"kind": "secrets", "tool": "detect-secrets", "status": "findings", "counts": {"high": 1},
             "findings": [{"id": "abc123", "tool": "detect-secrets", "rule_id": "GitHubTokenDetector",
                           "rule_name": "GitHub Token", "severity": "high", "path": "app.py", "line": 3,
                           "message": "GitHub Token (value not shown)"}]}
    [row] = R.check_rows(check, str)
    events = R.check_events(check, [row], 1.0)
    assert [e.type for e in events] == ["scan.completed", "secret.detected"]
    assert events[1].data == {"type": "GitHub Token", "path": "app.py", "line": 3, "hash": "abc123"}
    assert set(views.typed_finding(row)) == {"type", "path", "line", "hash", "check", "new"}


def test_new_since_previous_run() -> None:
    row = {"check_kind": "code", "tool": "bandit", "rule_id": "B1", "rule_name": "", "severity": "low",
           "path": "a.py", "line": 1, "message": "m", "fingerprint": "f1", "package": None}
    assert views.finding_view(row, frozenset({"f1"}))["new"] is False
    assert views.finding_view(row, frozenset({"f2"}))["new"] is True
    assert views.finding_view(row, None)["new"] is None


def test_store_urls(tmp_path: object) -> None:
    root = Settings().rootdir
    assert history_url(Settings()) == f"sqlite:///{root / '.kisys' / 'history.db'}"
    assert history_url(Settings(history_url="h/x.db")) == f"sqlite:///{root / 'h' / 'x.db'}"
    assert history_url(Settings(history_url="postgresql+psycopg://u@h/db")) == "postgresql+psycopg://u@h/db"
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql://h/db") is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("192.0.2.7", False), ("::", False), ("example.invalid", False)],  # noqa: S104
)
def test_only_loopback_hosts_go_without_a_token(host: str, loopback: bool) -> None:
    from pytest_kisys.commands.dashboard import is_loopback
    from pytest_kisys.commands.dashboard import token_for

    assert is_loopback(host) is loopback
    token, generated = token_for(host, None)
    assert (token is None) is loopback
    assert generated is not loopback
    assert token_for(host, "given") == ("given", False)


def test_dashboard_verb_names_an_unusable_history(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_kisys.cli import main

    assert main(["dashboard", "--history", "nosuchdialect://user:hunter2@db/x"]) == 2
    err = capsys.readouterr().err
    assert "not usable" in err
    assert "hunter2" not in err


def _report(
    nodeid: str, when: str, outcome: str, duration: float, start: float, **extra: object
) -> pytest.TestReport:
    return pytest.TestReport(nodeid, ("a.py", 0, "t"), {}, outcome, None, when, (),  # type: ignore[arg-type]
                             duration, start, start + duration, **extra)


def test_a_test_row_from_its_reports_ends_with_its_teardown() -> None:
    nodeid = 'a.py::t[\u00e9"\\x]'
    other = "b.py::u"
    reports = [
        _report(nodeid, "setup", "passed", 0.5, 10.0),
        _report(other, "setup", "passed", 0.0, 10.1),
        _report(nodeid, "call", "skipped", 0.25, 10.5, wasxfail="reason"),
        _report(nodeid, "teardown", "passed", 0.125, 10.75),
    ]
    build = TestRows(MarkerNames(list, str))
    assert build.build(reports) == [(nodeid, "a.py", "xfailed", 10.0, 0.875, "[]")]
    assert build.counts["xfailed"] == 1
    # The other test's setup waits for its teardown in a later batch; a worker's markers count.
    later = [_report(other, "call", "failed", 1.0, 10.2), _report(other, "teardown", "passed", 0.0, 11.2)]
    later[0].kisys_markers = ["slow"]  # type: ignore[attr-defined]  # only a setup report's count
    assert build.build(later) == [(other, "b.py", "failed", 10.1, 1.0, "[]")]
    build.build([_report("a.py::v", "teardown", "passed", 0.125, 12.0)])
    assert build.costs == [("a.py", 1.0, ()), ("b.py", 1.0, ())]  # one entry per module and markers
    by = {(r["grp"], r["name"]): r["seconds"] for r in R.cost_rows(build.costs, None)}
    assert by == {("module", "a.py"): 1.0, ("module", "b.py"): 1.0, ("marker", "(none)"): 2.0}
    assert Event("run.finished", 1.0, {"n": 1}).json() == '{"n": 1}'


def test_a_rerun_attempt_is_one_row_with_its_final_attempt_and_a_last_teardown_waits() -> None:
    # In a plain run the log sees each report when it is made: pytest-rerunfailures then
    # marks a failed attempt "rerun" and logs no teardown of it. The rows must be the ones
    # the logged reports give: one row for the test, the attempt's teardown not counted.
    nodeid = "a.py::flaky"
    attempt = [
        _report(nodeid, "setup", "passed", 0.5, 10.0),
        _report(nodeid, "call", "failed", 1.0, 10.5),
        _report(nodeid, "teardown", "passed", 8.0, 11.5),
    ]
    build = TestRows(MarkerNames(list, str))
    # Not final: the teardown that ends the batch may still see its test's reports change.
    assert build.build(attempt, final=False) == []
    attempt[1].outcome = "rerun"  # type: ignore[assignment]  # what the plugin does next
    again = [
        _report(nodeid, "setup", "passed", 0.5, 20.0),
        _report(nodeid, "call", "passed", 1.0, 20.5),
        _report(nodeid, "teardown", "passed", 0.25, 21.5),
    ]
    assert build.build(again[:2], final=False) == []
    assert build.build(again[2:], final=False) == []
    assert build.build([], final=True) == [(nodeid, "a.py", "passed", 10.0, 3.25, "[]")]
    assert build.counts["passed"] == 1
    assert sum(build.counts.values()) == 1
