"""``pytest_kisys_approve``: a plugin answers the install consent under ``CI=true``.

Real runs through the e2e fixtures of :mod:`tests.test_collect_e2e` (a throwaway venv, the
loopback index, real pip); the approving plugin is a ``-p`` module, as only plugins loaded
before the pre-collection batch can answer it.
"""

from __future__ import annotations

import json

import pluggy
import pytest

from pytest_kisys import hookspecs
from pytest_kisys.errors import InstallError
from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.consent import HookConsent
from pytest_kisys.install.interface import ConsentAnswer
from pytest_kisys.install.interface import ConsentItem
from pytest_kisys.install.interface import ConsentRequest
from tests.test_collect_e2e import add_module_project
from tests.test_collect_e2e import Project
from tests.test_collect_e2e import project  # noqa: F401  (the fixture)


def _approver(answer: str) -> str:
    """A plugin module answering every batch with ``answer`` (a Python expression)."""
    return (
        "import json, pytest\n"
        "from pytest_kisys.install.interface import ConsentAnswer\n"
        "@pytest.hookimpl(optionalhook=True)\n"
        "def pytest_kisys_approve(config, request):\n"
        "    with open('asked.jsonl', 'a') as out:\n"
        "        out.write(json.dumps([[i.name, i.suspicious] for i in request.asking()]) + '\\n')\n"
        f"    return {answer}\n"
    )


def _asked(run: Project) -> list[list[list[object]]]:
    path = run.pytester.path / "asked.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_plugin_that_approves_installs_a_clean_unlisted_package(project: Project) -> None:  # noqa: F811
    module = add_module_project(project.index, "kisys-approve-clean")
    project.configure(import_map={module: "kisys-approve-clean"})
    project.pytester.makepyfile(
        approver=_approver('ConsentAnswer("yes", "team policy")'),
        test_uses=f"import {module}\n\ndef test_value():\n    assert {module}.VALUE == 42\n",
    )
    result = project.run("-p", "approver")
    result.assert_outcomes(passed=1)
    assert "kisys_approve_clean" in project.installed()
    assert _asked(project) == [[["kisys-approve-clean", False]]]
    notes = [note for batch in project.install_batches() for note in batch["notes"]]  # type: ignore[attr-defined]
    assert "consent: yes for kisys-approve-clean (approved by plugin approver: team policy)" in notes


def test_a_plugin_that_declines_skips_with_its_name_in_the_reason(project: Project) -> None:  # noqa: F811
    add_module_project(project.index, "kisys-approve-declined")
    project.configure(import_map={"kisys_approve_declined": "kisys-approve-declined"})
    project.pytester.makepyfile(
        approver=_approver('ConsentAnswer("no", "not on the list")'),
        test_marker=(
            "import pytest\n"
            "@pytest.mark.requires('kisys-approve-declined')\n"
            "def test_needs_it():\n    pass\n"
        ),
    )
    result = project.run("-p", "approver")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*= 1 kisys-skipped in *"])
    result.stdout.fnmatch_lines(
        [
            "*SKIPPED test_marker.py::test_needs_it: kisys: kisys-approve-declined not confirmed "
            "(declined by plugin approver: not on the list)*",
        ]
    )
    assert "kisys_approve_declined" not in project.installed()


def test_a_plugin_returning_none_leaves_the_usual_ci_denial(project: Project) -> None:  # noqa: F811
    add_module_project(project.index, "kisys-approve-none")
    project.configure(import_map={"kisys_approve_none": "kisys-approve-none"})
    project.pytester.makepyfile(
        approver=_approver("None"),
        test_marker=(
            "import pytest\n"
            "@pytest.mark.requires('kisys-approve-none')\n"
            "def test_needs_it():\n    pass\n"
        ),
    )
    result = project.run("-p", "approver")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*= 1 kisys-skipped in *"])
    result.stdout.fnmatch_lines(
        [
            "denied: kisys: kisys-approve-none needs confirmation (nobody can answer: CI is set*); "
            "run with --kisys-allow kisys-approve-none*",
        ]
    )
    assert _asked(project) == [[["kisys-approve-none", False]]]
    assert "kisys_approve_none" not in project.installed()


def test_a_plugin_yes_never_covers_a_suspicious_package(project: Project) -> None:  # noqa: F811
    clean = add_module_project(project.index, "kisys-approve-fine")
    # One release only: "few releases" makes it suspicious, so only a person may confirm it.
    risky = add_module_project(project.index, "kisys-approve-risky", versions=("1.0",))
    project.configure(import_map={clean: "kisys-approve-fine", risky: "kisys-approve-risky"})
    project.pytester.makepyfile(
        approver=_approver('ConsentAnswer("yes", "team policy")'),
        test_fine=f"import {clean}\n\ndef test_fine():\n    assert {clean}.VALUE == 42\n",
        test_risky=(
            "import pytest\n"
            "@pytest.mark.requires('kisys-approve-risky')\n"
            "def test_risky():\n    pass\n"
        ),
    )
    result = project.run("-p", "approver")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*= 1 passed, 1 kisys-skipped in *"])
    result.stdout.fnmatch_lines(
        [
            "*SKIPPED test_risky.py::test_risky: kisys: kisys-approve-risky needs confirmation "
            "(nobody can answer: CI is set*)*",
        ]
    )
    result.stdout.fnmatch_lines(["*kisys-approve-risky looks suspicious (WARNING: few releases*"])
    # The hook was asked about both (and saw which one is suspicious); only the clean one installed.
    assert sorted(map(tuple, _asked(project)[0])) == [
        ("kisys-approve-fine", False),
        ("kisys-approve-risky", True),
    ]
    installed = project.installed()
    assert "kisys_approve_fine" in installed
    assert "kisys_approve_risky" not in installed


def test_a_conftest_answers_the_collection_safety_net(project: Project) -> None:  # noqa: F811
    add_module_project(project.index, "kisys-approve-dyn")
    project.configure(import_map={"kisys_approve_dyn": "kisys-approve-dyn"})
    # The import is dynamic: the static scan misses it, the safety net installs it at collection,
    # when conftest.py is loaded and can answer.
    project.pytester.makeconftest(_approver('ConsentAnswer("yes", "conftest policy")'))
    project.pytester.makepyfile(
        test_dyn=(
            "import importlib\n"
            "mod = importlib.import_module('kisys_approve_' + 'dyn')\n"
            "def test_dyn():\n    assert mod.VALUE == 42\n"
        )
    )
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["installed during collection (missed by the static import reader): kisys-approve-dyn==2.0"]
    )
    assert _asked(project) == [[["kisys-approve-dyn", False]]]


# -- HookConsent on a real pluggy manager (no subprocess)


def _manager(*plugins: object) -> pluggy.PluginManager:
    manager = pluggy.PluginManager("pytest")
    manager.add_hookspecs(hookspecs)
    for number, plugin in enumerate(plugins):
        manager.register(plugin, name=f"approver-{number}")
    return manager


class _Answers:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    @pytest.hookimpl
    def pytest_kisys_approve(self, request: ConsentRequest) -> object:
        return self.answer


REQUEST = ConsentRequest(
    (
        ConsentItem("clean", "2.0", ("import clean",), ("not whitelisted",)),
        ConsentItem("risky", "1.0", ("import risky",), ("WARNING: few releases: 1",), suspicious=True),
    )
)


def test_a_plugin_yes_asks_the_person_about_the_suspicious_items_alone() -> None:
    person = FixedConsent(False, "declined at the terminal")
    manager = _manager(_Answers(ConsentAnswer("yes", "policy")))
    consent = HookConsent(manager.hook.pytest_kisys_approve, None, person)
    answer = consent.ask(REQUEST)
    clean = answer.for_item("clean")
    assert (clean.answer, clean.answered_by) == ("yes", "plugin")
    assert clean.why == "approved by plugin approver-0: policy"
    risky = answer.for_item("risky")
    assert (risky.why, risky.answered_by) == ("declined at the terminal", "fixed")
    assert [item.name for item in person.asked[0].asking()] == ["risky"]


def test_the_last_registered_plugin_answers_first_and_none_passes_on() -> None:
    person = FixedConsent(False, "nobody can answer: CI is set")
    manager = _manager(_Answers(ConsentAnswer("no", "")), _Answers(None))
    answer = HookConsent(manager.hook.pytest_kisys_approve, None, person).ask(REQUEST)
    assert answer == ConsentAnswer("no", "declined by plugin approver-0", answered_by="plugin")
    assert not person.asked
    nobody = HookConsent(_manager(_Answers(None)).hook.pytest_kisys_approve, None, person)
    assert nobody.ask(REQUEST).why == "nobody can answer: CI is set"


def test_a_wrong_return_value_is_an_error_naming_the_plugin() -> None:
    manager = _manager(_Answers(True))
    consent = HookConsent(manager.hook.pytest_kisys_approve, None, FixedConsent(True))
    with pytest.raises(InstallError, match=r"approver-0 returned True; expected ConsentAnswer"):
        consent.ask(REQUEST)
