"""``kisys scan [PATH] [--json|--sarif FILE]``: the same checks without pytest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_kisys.cli import main
from tests.support.osv_server import AuditEnvs
from tests.support.osv_server import OSVServer


SHELL = "import subprocess\n\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KISYS_CACHE_DIR", str(tmp_path_factory.mktemp("kisys-cache")))


def test_findings_exit_1_with_json_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.py").write_text(SHELL)
    code = main(["scan", str(tmp_path), "--scan", "code,secrets", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    report = json.loads(out)
    assert report["schema"] == "kisys-report/1"
    assert report["run"]["exit_status"] == 1
    assert {f["rule_id"] for f in report["findings"]} == {"B602", "B404"}
    assert "kisys checks FAILED" in err  # the summary goes to stderr when stdout is JSON


def test_clean_tree_exits_0_and_writes_sarif(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.py").write_text("X = 1\n")
    sarif = tmp_path / "out" / "scan.sarif"
    code = main(["scan", str(tmp_path), "--scan", "code,secrets", "--sarif", str(sarif)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "kisys checks passed (fail_on = high)" in out
    log = json.loads(sarif.read_text())
    assert [run["tool"]["driver"]["name"] for run in log["runs"]] == ["bandit", "detect-secrets"]


def test_fail_on_flag_and_bad_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "app.py").write_text("import random\n\nX = random.random()\n")
    assert main(["scan", str(tmp_path), "--scan", "code"]) == 0
    assert main(["scan", str(tmp_path), "--scan", "code", "--fail-on", "low"]) == 1
    assert main(["scan", str(tmp_path), "--fail-on", "severe"]) == 2
    _, err = capsys.readouterr()
    assert "severe" in err
    assert "low, medium, high, critical, never" in err


def test_missing_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_dependency_check_that_audited_nothing_fails(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    audit_envs: AuditEnvs,
    osv_server: OSVServer,
    capsys: pytest.CaptureFixture[str],
    isolated_pip: dict[str, str],
) -> None:
    monkeypatch.setenv("PIPAPI_PYTHON_LOCATION", audit_envs.all_skipped)
    monkeypatch.setenv("KISYS_AUDIT_SERVICE", "osv")
    monkeypatch.setenv("KISYS_OSV_URL", osv_server.url)
    code = main(["scan", str(tmp_path), "--scan", "deps"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "pip-audit (OSV batch) (deps): INCONCLUSIVE" in out  # the OSV batch audit
    assert "1 inconclusive check(s) (pip-audit)" in out


def test_json_flag_never_swallows_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "app.py").write_text("X = 1\n")
    code = main(["scan", "--json", str(tmp_path), "--scan", "code", "--report", str(tmp_path / "r.json")])
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["schema"] == "kisys-report/1"
    assert json.loads((tmp_path / "r.json").read_text())["schema"] == "kisys-report/1"
