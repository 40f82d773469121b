"""Decisions travel as fields: rewording a message changes no decision.

Each test rewrites the text a decision used to be matched on (the ``WARNING:`` prefix of a
suspicion, the ``nobody can answer`` consent reason, ``timed out`` in a stage reason) and
checks that the decision is the same: these tests fail again if a decision goes back to
matching text.
"""

from __future__ import annotations

import io
import threading

import pytest

from pytest_kisys.install.batch import consent_items
from pytest_kisys.install.consent import TerminalConsent
from pytest_kisys.install.interface import ConsentItem
from pytest_kisys.install.interface import ConsentRequest
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.settings import Settings
from pytest_kisys.stages import plugin as stages_plugin
from pytest_kisys.stages.graph import build_graph
from pytest_kisys.stages.model import Stage
from pytest_kisys.stages.model import StageContext
from pytest_kisys.stages.model import StageOutcome
from pytest_kisys.stages.model import StageResult
from pytest_kisys.stages.runner import StageRunner
from pytest_kisys.vet import policy
from pytest_kisys.vet.interface import Evidence
from pytest_kisys.vet.interface import ProjectSignals
from pytest_kisys.vet.interface import VetRequest


NOW = 1000 * 86400.0


def _signals() -> ProjectSignals:
    return ProjectSignals(
        name="pkg",
        index_url="https://idx",
        checked=True,
        exists=True,
        versions=("1.0", "1.1", "2.0"),
        wheel_versions=("1.0", "1.1", "2.0"),
        has_wheels=True,
        first_upload=0.0,
    )


@pytest.mark.parametrize("prefix", [policy.WARNING, "", "Caution - "])
def test_suspicious_is_a_field_whatever_the_reason_says(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    monkeypatch.setattr(policy, "WARNING", prefix)
    settings = Settings(level="autonomous", allow=("dataclasses",))
    suspicious = policy.decide(VetRequest.of("dataclasses"), Evidence(index=_signals(), now=NOW), settings)
    assert (suspicious.action, suspicious.suspicious) == ("confirm", True)
    expected = prefix + "dataclasses has the name of the standard-library module dataclasses"
    assert suspicious.reasons[0] == expected
    assert suspicious.to_json()["suspicious"] is True
    # The installer marks it suspicious for the consent (a plugin's yes never covers it).
    item = PlannedItem("dataclasses", "2.0", "https://idx/dataclasses-2.0-py3-none-any.whl", "0" * 64, True)
    (line,) = consent_items({"dataclasses": item}, {"dataclasses": suspicious}, {}, {}, {"dataclasses"})
    assert (line.needs_answer, line.suspicious) == (True, True)
    clean = policy.decide(VetRequest.of("numpy"), Evidence(index=_signals(), now=NOW), Settings())
    assert clean.suspicious is False


def test_who_answered_is_a_field(monkeypatch: pytest.MonkeyPatch) -> None:
    request = ConsentRequest((ConsentItem("pkg", "1.0", ("import pkg",), ("unknown project",)),))
    nobody = TerminalConsent(environ={"CI": "true"}).ask(request)
    assert (nobody.answer, nobody.answered_by) == ("no", "nobody")
    # A person who does not answer in time is not "nobody": the verdict differs.
    monkeypatch.setattr("pytest_kisys.install.consent._read_line", lambda stdin, timeout: None)
    late = TerminalConsent(terminal=True, environ={}, stdin=io.StringIO(""), write=lambda s: None)
    answer = late.ask(request)
    assert (answer.answer, answer.answered_by) == ("no", "person")
    assert "nobody" not in answer.why


def _timed_out_stage() -> StageResult:
    release = threading.Event()

    def hangs(ctx: StageContext) -> None:
        release.wait(10)

    try:
        (result,) = StageRunner(build_graph([Stage("slow", action=hangs, timeout=0.05)]), max_workers=1).run()
    finally:
        release.set()
    return result


class _Span:
    def __init__(self) -> None:
        self.result: str | None = None

    def set_result(self, result: str) -> None:
        self.result = result

    def set_attribute(self, key: str, value: object) -> None:
        """Attributes do not matter here."""

    def end(self) -> None:
        """Nothing to end."""


def test_a_timeout_is_an_outcome_kind_not_a_phrase(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _timed_out_stage()
    assert (result.status, result.kind) == ("failed", "timeout")
    monkeypatch.setattr(stages_plugin, "close_span", lambda span, result: None)
    # The same result reworded is still a timeout; a failure that merely says "timed out" is not.
    reworded = StageResult("slow", "failed", "took longer than allowed", kind="timeout")
    says_it = StageResult("db", "failed", "the query timed out after 3s (its own message)")
    spans = {}
    for label, row in (("timeout", result), ("reworded", reworded), ("says", says_it)):
        spans[label] = _Span()
        stages_plugin._close_telemetry_span(spans[label], row)
    assert {k: s.result for k, s in spans.items()} == {
        "timeout": "timeout",
        "reworded": "timeout",
        "says": "failure",
    }
    assert StageOutcome.timed_out("x").kind == "timeout"
    assert StageOutcome.failed("timed out after 1s").kind == "completed"
