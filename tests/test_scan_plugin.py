"""The session checks inside ``pytest --kisys``: exit status, terminal section, ignore rules,
scan-first, the check-result hook, GitHub annotations, and secrets never leaking anywhere."""

from __future__ import annotations

import json

import pytest

# Imported here so in-process pytester runs share these modules (and their stash keys) with
# the plugin instead of importing fresh copies inside the run.
import pytest_kisys.record  # noqa: F401
import pytest_kisys.report.plugin  # noqa: F401
import pytest_kisys.roles  # noqa: F401
import pytest_kisys.scan.plugin  # noqa: F401
from pytest_kisys.scan.plugin import EXIT_CHECKS_FAILED
import pytest_kisys.stages.plugin  # noqa: F401
from tests.support.osv_server import AuditEnvs
from tests.support.osv_server import OSVServer


SHELL = "import subprocess\n\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"
FAKE_TOKEN = "ghp_FAKEfakeFAKEfake0123456789abcdefABCD"
PASSING = "def test_ok():\n    assert True\n"
KISYS = ("--kisys", "-p", "no:cacheprovider")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KISYS_CACHE_DIR", str(tmp_path_factory.mktemp("kisys-cache")))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def project(pytester: pytest.Pytester, kisys_toml: str = "", **files: str) -> None:
    pytester.makepyprojecttoml(f"[tool.pytest.ini_options]\n\n[tool.kisys]\n{kisys_toml}")
    pytester.makepyfile(**{"test_app": PASSING, **files})


def test_findings_fail_a_passing_session_with_exit_status_16(pytester: pytest.Pytester) -> None:
    project(pytester, app=SHELL)
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code")
    result.assert_outcomes(passed=1)
    assert result.ret == EXIT_CHECKS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*= kisys checks =*",
            "bandit * (code): 2 finding(s) ?high 1, low 1? *",
            "  high     B602       app.py:5  subprocess call with shell=True*?id *?",
            "kisys checks FAILED: 1 finding(s) at or above 'high'",
        ]
    )


def test_failing_tests_keep_pytests_exit_status(pytester: pytest.Pytester) -> None:
    project(pytester, app=SHELL, test_bad="def test_bad():\n    assert False\n")
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["kisys checks FAILED*"])


def test_findings_below_fail_on_pass(pytester: pytest.Pytester) -> None:
    project(pytester, app="import random\n\nTOKEN = random.random()\n")
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code,secrets")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "bandit * (code): 1 finding(s) ?low 1? *",
            "  low      B311 *app.py:3*",
            "detect-secrets * (secrets): clean*",
            "kisys checks passed (fail_on = high)",
        ]
    )


def test_fail_on_lower_threshold(pytester: pytest.Pytester) -> None:
    project(pytester, app="import random\n\nTOKEN = random.random()\n")
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code", "--kisys-fail-on", "low")
    assert result.ret == EXIT_CHECKS_FAILED


def test_ignore_with_reason_suppresses(pytester: pytest.Pytester) -> None:
    toml = 'ignore = [{id = "B602", reason = "command is a constant"}, {id = "B404", reason = "ok"}]\n'
    project(pytester, toml, app=SHELL)
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code", "-v")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "bandit * (code): clean*",
            "  suppressed: 0 by baseline, 2 by ignore entries",
            "    B602 app.py:5 (ignore: command is a constant)",
        ]
    )


def test_expired_ignore_stops_applying_and_says_so(pytester: pytest.Pytester) -> None:
    toml = 'ignore = [{id = "B602", reason = "until the fix lands", expires = 2020-01-31}]\n'
    project(pytester, toml, app=SHELL)
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code")
    assert result.ret == EXIT_CHECKS_FAILED
    result.stdout.fnmatch_lines(
        ["*B602*app.py:5*", "  ignore entry 'B602' expired on 2020-01-31 and no longer applies"]
    )


def test_inconclusive_fails_unless_allowed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(pytester, broken="def broken(:\n    pass\n")
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code")
    result.assert_outcomes(passed=1)
    assert result.ret == EXIT_CHECKS_FAILED
    result.stdout.fnmatch_lines(
        [
            "bandit * (code): INCONCLUSIVE*",
            "  could not check broken.py: bandit could not scan it: syntax error*",
            "kisys checks FAILED: 1 inconclusive check(s) (bandit); set allow_inconclusive*",
        ]
    )
    monkeypatch.setenv("KISYS_ALLOW_INCONCLUSIVE", "true")
    accepted = pytester.runpytest(*KISYS, "--kisys-scan", "code")
    assert accepted.ret == 0
    accepted.stdout.fnmatch_lines(
        [
            "kisys checks passed (fail_on = high), but 1 check(s) could not check everything "
            "(bandit); accepted because allow_inconclusive = true"
        ]
    )


def test_scan_first_stops_before_the_tests(pytester: pytest.Pytester) -> None:
    project(pytester, app=SHELL)
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code", "--kisys-scan-first")
    assert result.ret == EXIT_CHECKS_FAILED
    result.assert_outcomes()
    result.stdout.fnmatch_lines(["failed   tests *: not run: scan.code failed first (scan_first)"])
    result.stdout.no_fnmatch_line("*test_app.py .*")


def test_scan_first_with_clean_checks_runs_the_tests(pytester: pytest.Pytester) -> None:
    project(pytester, app="X = 1\n")
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code", "--kisys-scan-first")
    assert result.ret == 0
    result.assert_outcomes(passed=1)


def test_check_result_hook_sees_each_check(pytester: pytest.Pytester) -> None:
    project(pytester, app=SHELL)
    pytester.makeconftest(
        """
        import json, pathlib

        def pytest_kisys_check_result(config, result):
            rows = [f.rule_id for f in result.findings]
            path = pathlib.Path("hooked.json")
            seen = json.loads(path.read_text()) if path.exists() else {}
            seen[result.kind] = {"status": result.status, "rules": sorted(rows)}
            path.write_text(json.dumps(seen))
        """
    )
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code,secrets")
    assert result.ret == EXIT_CHECKS_FAILED
    seen = json.loads((pytester.path / "hooked.json").read_text())
    assert seen == {
        "code": {"status": "findings", "rules": ["B404", "B602"]},
        "secrets": {"status": "clean", "rules": []},
    }


def test_github_annotations(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    project(pytester, app=SHELL)
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code")
    result.stdout.fnmatch_lines(
        [
            "::notice file=app.py,line=1,title=bandit B404 (low)::*",
            "::error file=app.py,line=5,title=bandit B602 (high)::subprocess call with shell=True*",
        ]
    )


def test_secret_value_appears_in_no_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Terminal, JSON report, SARIF, SBOM, JUnit XML and spans: type/file/line/hash only."""
    monkeypatch.setenv("KISYS_TRACE_TIMEOUT", "30")  # a loaded machine must not drop spans
    project(
        pytester,
        creds=f'GITHUB_TOKEN = "{FAKE_TOKEN}"\npassword = "fake-password-for-tests-77"\n',
        test_app="def test_ok():\n    print('running')\n",
    )
    (pytester.path / "out").mkdir()
    result = pytester.runpytest(
        *KISYS,
        "--kisys-scan", "code,secrets",
        "--kisys-report", "out/report.json",
        "--kisys-sarif", "out/report.sarif",
        "--kisys-sbom", "out/sbom.json",
        "--junitxml", "out/junit.xml",
        "--kisys-trace", "file:out/spans.jsonl",
        "-v",
    )
    assert result.ret == EXIT_CHECKS_FAILED
    result.stdout.fnmatch_lines(["*GitHubTokenDetector*creds.py:1*GitHub Token (value not shown*"])
    outputs = {
        "terminal": result.stdout.str() + result.stderr.str(),
        **{p.name: p.read_text() for p in (pytester.path / "out").iterdir()},
    }
    assert set(outputs) >= {"terminal", "report.json", "report.sarif", "junit.xml", "spans.jsonl"}
    assert "GitHubTokenDetector" in outputs["report.sarif"]
    # the scan.secrets span carries one finding event per counted finding (hash, no value)
    assert "scan.secrets" in outputs["spans.jsonl"], result.stdout.str()
    assert "GitHubTokenDetector" in outputs["spans.jsonl"], outputs["spans.jsonl"][-2000:]
    for name, text in outputs.items():
        assert FAKE_TOKEN not in text, name
        assert "fake-password-for-tests-77" not in text, name


def test_report_files_are_not_scanned_on_the_next_run(pytester: pytest.Pytester) -> None:
    project(pytester, app=SHELL)
    args = (*KISYS, "--kisys-scan", "secrets", "--kisys-report", "r.json", "--kisys-sarif", "r.sarif")
    assert pytester.runpytest(*args).ret == 0
    again = pytester.runpytest(*args)
    assert again.ret == 0
    again.stdout.fnmatch_lines(["detect-secrets * (secrets): clean*"])


def test_json_report_carries_checks_and_verdict(pytester: pytest.Pytester) -> None:
    project(pytester, app=SHELL)
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code", "--kisys-report", "report.json")
    assert result.ret == EXIT_CHECKS_FAILED
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["schema"] == "kisys-report/1"
    assert report["run"]["exit_status"] == EXIT_CHECKS_FAILED
    assert report["verdict"] == {
        "checks_failed": True,
        "stages_failed": [],
        "reasons": ["1 finding(s) at or above 'high'"],
    }
    [check] = report["checks"]
    assert (check["kind"], check["tool"], check["status"]) == ("code", "bandit", "findings")
    assert {f["rule_id"] for f in report["findings"]} == {"B602", "B404"}
    stage_names = {row["name"] for row in report["stages"]}
    assert "scan.code" in stage_names
    result.stdout.fnmatch_lines(["kisys: JSON report written to *report.json"])


def test_deps_check_in_the_session(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    audit_envs: AuditEnvs,
    osv_server: OSVServer,
    isolated_pip: dict[str, str],
) -> None:
    monkeypatch.setenv("PIPAPI_PYTHON_LOCATION", audit_envs.vulnerable)
    monkeypatch.setenv("KISYS_AUDIT_SERVICE", "osv")
    monkeypatch.setenv("KISYS_OSV_URL", osv_server.url)
    project(pytester)
    result = pytester.runpytest(*KISYS, "--kisys-scan", "deps")
    assert result.ret == EXIT_CHECKS_FAILED
    result.stdout.fnmatch_lines(
        [
            "pip-audit * (deps): 1 finding(s) ?high 1? *",
            "  high     PYSEC-2099-1 kisys-tiny-vuln  kisys-tiny-vuln 1.0.0: PYSEC-2099-1: *(fix: 1.2.0)*",
        ]
    )
    monkeypatch.setenv("PIPAPI_PYTHON_LOCATION", audit_envs.all_skipped)
    skipped = pytester.runpytest(*KISYS, "--kisys-scan", "deps")
    assert skipped.ret == EXIT_CHECKS_FAILED
    skipped.stdout.fnmatch_lines(
        ["pip-audit * (deps): INCONCLUSIVE*", "*pip-audit audited no dependency of*"]
    )


def test_terminal_section_is_absent_when_scans_are_off(pytester: pytest.Pytester) -> None:
    project(pytester, app=SHELL)
    result = pytester.runpytest(*KISYS, "--kisys-scan", "none")
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*kisys checks*")


def test_without_the_stage_engine_checks_are_inconclusive_never_clean(
    pytester: pytest.Pytester,
) -> None:
    project(pytester, app=SHELL)
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_configure(config):
            config.pluginmanager.unregister(name="kisys-stages")
        """
    )
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code")
    result.assert_outcomes(passed=1)
    # The stage engine is the only way checks run: without it nothing was checked.
    assert result.ret == EXIT_CHECKS_FAILED
    result.stdout.fnmatch_lines(["*the check did not run: no stage engine ran it (kisys-stages)*"])
    result.stdout.no_fnmatch_line("*B602*")


def test_under_xdist_the_controller_runs_the_checks_once(pytester: pytest.Pytester) -> None:
    project(pytester, app=SHELL, test_more="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = pytester.runpytest_subprocess(*KISYS, "--kisys-scan", "code", "-n", "2")
    result.assert_outcomes(passed=3)
    assert result.ret == EXIT_CHECKS_FAILED
    assert result.stdout.str().count("= kisys checks =") == 1


def test_collect_only_runs_no_checks(pytester: pytest.Pytester) -> None:
    project(pytester, app=SHELL)
    result = pytester.runpytest(*KISYS, "--kisys-scan", "code", "--collect-only")
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*kisys checks*")
