"""Extra session checks from ``pytest_kisys_scanners``, implemented in a generated conftest:
exit status 16, terminal section, JSON report, SARIF, failing closed, usage errors, scan none."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

# Imported here so in-process pytester runs share these modules (and their stash keys) with
# the plugin instead of importing fresh copies inside the run.
import pytest_kisys.record  # noqa: F401
import pytest_kisys.report.plugin  # noqa: F401
import pytest_kisys.roles  # noqa: F401
import pytest_kisys.scan.plugin  # noqa: F401
from pytest_kisys.scan.plugin import EXIT_CHECKS_FAILED
from pytest_kisys.settings import Settings
from pytest_kisys.stages.builtin import builtin_stages
from pytest_kisys.stages.graph import build_graph
from pytest_kisys.stages.model import Stage
import pytest_kisys.stages.plugin  # noqa: F401


SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
# The cheapest built-in check keeps checks on; the extra scanner is what these tests look at.
KISYS = ("--kisys", "-p", "no:cacheprovider", "--kisys-scan", "secrets")
PASSING = "def test_ok():\n    assert True\n"

CONFTEST = """
from pathlib import Path

import pytest

from pytest_kisys.errors import ScanError
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import ScanOutput


class LicenseScanner:
    kind = {kind!r}
    tool = "licensecheck"

    def scan(self, settings):
        Path(settings.rootdir, "scanned-" + self.kind).write_text("yes")
{body}


@pytest.hookimpl(optionalhook=True)
def pytest_kisys_scanners(config, settings):
    return [LicenseScanner()]
"""

HIGH = """
        finding = Finding("licensecheck", "LIC001", "high", "high", "app.py", 3,
                          "GPL-3.0 dependency in a proprietary project", "feedfacefeedface",
                          rule_name="copyleft-license")
        return ScanOutput("1.0", findings=(finding,), items_checked=4)
"""
CLEAN = """
        return ScanOutput("1.0", items_checked=4)
"""


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KISYS_CACHE_DIR", str(tmp_path_factory.mktemp("kisys-cache")))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("KISYS_ALLOW_INCONCLUSIVE", raising=False)


def project(pytester: pytest.Pytester, body: str, kind: str = "license") -> None:
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n\n[tool.kisys]\n")
    pytester.makeconftest(CONFTEST.format(kind=kind, body=body.rstrip("\n")))
    pytester.makepyfile(test_app=PASSING, app="X = 1\n")


def test_a_high_finding_fails_the_session_and_reaches_every_report(
    pytester: pytest.Pytester,
) -> None:
    project(pytester, HIGH)
    result = pytester.runpytest(
        *KISYS, "--kisys-report", "out/report.json", "--kisys-sarif", "out/report.sarif"
    )
    result.assert_outcomes(passed=1)
    assert result.ret == EXIT_CHECKS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*= kisys checks =*",
            "licensecheck 1.0 (license): 1 finding(s) ?high 1? (4 checked, *",
            "  high     LIC001     app.py:3  GPL-3.0 dependency in a proprietary project"
            "  ?id feedfacefeedface?",
            "kisys checks FAILED: 1 finding(s) at or above 'high'",
        ]
    )
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    check = next(c for c in report["checks"] if c["kind"] == "license")
    assert (check["tool"], check["status"], check["counts"]["high"]) == ("licensecheck", "findings", 1)
    assert [(f["check"], f["rule_id"], f["id"]) for f in report["findings"]] == [
        ("license", "LIC001", "feedfacefeedface")
    ]
    assert report["verdict"]["checks_failed"] is True
    stage = next(s for s in report["stages"] if s["name"] == "scan.license")
    assert (stage["status"], stage["source"]) == ("failed", "conftest.LicenseScanner")
    sarif = json.loads((pytester.path / "out" / "report.sarif").read_text())
    validator = jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text()))
    assert sorted(validator.iter_errors(sarif), key=str) == []
    runs = {run["tool"]["driver"]["name"]: run for run in sarif["runs"]}
    assert set(runs) == {"detect-secrets", "licensecheck"}
    extra = runs["licensecheck"]
    assert extra["automationDetails"]["id"] == "kisys/license/"
    assert extra["results"][0]["ruleId"] == "LIC001"
    assert extra["results"][0]["level"] == "error"
    location = extra["results"][0]["locations"][0]["physicalLocation"]
    assert (location["artifactLocation"]["uri"], location["region"]) == ("app.py", {"startLine": 3})


def test_an_ignore_entry_applies_and_annotations_include_the_extra_check(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester, HIGH)
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\n\n[tool.kisys]\n'
        'ignore = [{id = "LIC001", reason = "legal signed off"}]\n'
    )
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = pytester.runpytest(*KISYS)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["licensecheck 1.0 (license): clean*", "  suppressed: 0 by baseline, 1 by ignore entries"]
    )
    assert "::error" not in result.stdout.str()
    project(pytester, HIGH)
    failing = pytester.runpytest(*KISYS)
    assert failing.ret == EXIT_CHECKS_FAILED
    failing.stdout.fnmatch_lines(
        ["::error file=app.py,line=3,title=licensecheck LIC001 (high)::GPL-3.0 dependency*"]
    )


def test_a_clean_extra_check_passes(pytester: pytest.Pytester) -> None:
    project(pytester, CLEAN)
    result = pytester.runpytest(*KISYS)
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["licensecheck 1.0 (license): clean (4 checked, *", "kisys checks passed (fail_on = high)"]
    )
    assert (pytester.path / "scanned-license").read_text() == "yes"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("        raise RuntimeError('licence server said no')",
         "licensecheck raised RuntimeError: licence server said no"),
        ("        raise ScanError('no licence database')", "no licence database"),
        ("        return {'findings': []}",
         "licensecheck: scan() returned dict; expected pytest_kisys.scan.interface.ScanOutput"),
        ("        return ScanOutput('1.0', findings=(Finding('licensecheck', 'L', 'urgent', 'high',"
         " 'app.py', 1, 'm', 'f'),))",
         "licensecheck: finding L has severity 'urgent'; expected one of info, *"),
    ],
    ids=["raises", "scan-error", "not-scan-output", "bad-severity"],
)
def test_an_extra_check_that_cannot_run_is_inconclusive(
    pytester: pytest.Pytester, body: str, reason: str
) -> None:
    project(pytester, body)
    result = pytester.runpytest(*KISYS)
    result.assert_outcomes(passed=1)
    assert result.ret == EXIT_CHECKS_FAILED
    result.stdout.fnmatch_lines(
        [
            "licensecheck (license): INCONCLUSIVE*",
            f"  could not check license: check could not run: {reason}",
            "kisys checks FAILED: 1 inconclusive check(s) (licensecheck); set allow_inconclusive*",
        ]
    )


def test_allow_inconclusive_accepts_a_crashing_extra_check(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester, "        raise KeyError('x')")
    monkeypatch.setenv("KISYS_ALLOW_INCONCLUSIVE", "true")
    result = pytester.runpytest(*KISYS)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["kisys checks passed (fail_on = high), but 1 check(s) could not check everything "
         "(licensecheck); accepted because allow_inconclusive = true"]
    )


def test_an_extra_check_past_scan_timeout_is_inconclusive(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A subprocess: the abandoned scanner thread must not outlive the run inside this process.
    project(pytester, "        import time\n        time.sleep(30)")
    monkeypatch.setenv("KISYS_SCAN_TIMEOUT", "2")
    result = pytester.runpytest_subprocess(*KISYS, timeout=60)
    assert result.ret == EXIT_CHECKS_FAILED
    result.stdout.fnmatch_lines(
        [
            "licensecheck (license): INCONCLUSIVE*",
            "  could not check license: the check did not run: timed out after 2s",
        ]
    )


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("code", "kind 'code' is a built-in check; expected a new check name: *"),
        ("Bad Kind", "kind 'Bad Kind' is not accepted; expected a new check name: *"),
        ("none", "kind 'none' is not accepted; expected a new check name: *"),
    ],
)
def test_a_bad_kind_is_a_usage_error_naming_the_scanner(
    pytester: pytest.Pytester, kind: str, problem: str
) -> None:
    project(pytester, CLEAN, kind=kind)
    result = pytester.runpytest(*KISYS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: kisys: pytest_kisys_scanners: scanner conftest.LicenseScanner: {problem}"]
    )
    assert not list(pytester.path.glob("scanned-*"))


def test_a_duplicate_kind_is_a_usage_error(pytester: pytest.Pytester) -> None:
    project(pytester, CLEAN)
    pytester.makepyfile(
        conftest=(pytester.path / "conftest.py").read_text().replace(
            "return [LicenseScanner()]", "return [LicenseScanner(), LicenseScanner()]"
        )
    )
    result = pytester.runpytest(*KISYS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*scanner conftest.LicenseScanner: kind 'license' is already used by scanner "
         "conftest.LicenseScanner; choose another"]
    )


def test_scan_none_runs_no_extra_check(pytester: pytest.Pytester) -> None:
    project(pytester, HIGH)
    result = pytester.runpytest("--kisys", "-p", "no:cacheprovider", "--kisys-scan", "none")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    assert "kisys checks" not in result.stdout.str()
    assert not (pytester.path / "scanned-license").exists()


def test_scan_first_stops_before_the_tests_on_a_failed_extra_check(
    pytester: pytest.Pytester,
) -> None:
    project(pytester, HIGH)
    result = pytester.runpytest(*KISYS, "--kisys-scan-first")
    assert result.ret == EXIT_CHECKS_FAILED
    result.assert_outcomes()
    result.stdout.fnmatch_lines(["failed   tests *: not run: scan.license failed first (scan_first)"])


def test_scan_first_makes_the_tests_wait_for_extra_checks() -> None:
    extra = Stage("scan.license", source="conftest.LicenseScanner")
    graph = build_graph(builtin_stages(Settings(scan_first=True), checks=(extra,)))
    assert "scan.license" in graph["tests"].needs
    assert "scan.license" in graph["report"].needs
    assert "scan.license" not in build_graph(builtin_stages(checks=(extra,)))["tests"].needs
