"""SARIF that GitHub code scanning accepts as it is: fingerprints, one category per run,
result limits, split files, merged findings (schema-validated too)."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
from typing import Any

from pytest_kisys.report.sarif import build_sarif
from pytest_kisys.report.sarif import MAX_RESULTS_PER_RUN
from pytest_kisys.report.sarif import split_sarif
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.merge import merge_findings
from pytest_kisys.settings import Settings
from tests.test_report_formats import checks
from tests.test_report_formats import sarif_validator


_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_SCORE = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.5", "info": "0.0"}


def github_problems(log: dict[str, Any]) -> list[str]:
    """What GitHub's upload would reject or mis-track in ``log``, as readable problems."""
    problems: list[str] = []
    categories: list[str] = []
    for number, run in enumerate(log["runs"]):
        run_id = run.get("automationDetails", {}).get("id")
        if not run_id:
            problems.append(f"run {number} has no automationDetails.id")
            continue
        categories.append(run_id.rsplit("/", 1)[0] if run_id.endswith("/") else run_id)
        if len(run["results"]) > MAX_RESULTS_PER_RUN:
            problems.append(f"run {number} has {len(run['results'])} results")
        for result in run["results"]:
            if "primaryLocationLineHash" not in result.get("partialFingerprints", {}):
                problems.append(f"run {number} result {result['ruleId']} has no line hash")
            severity = result["properties"]["severity"]
            if result["level"] != _LEVEL[severity]:
                problems.append(f"result {result['ruleId']}: level {result['level']} for {severity}")
            if result["properties"]["security-severity"] != _SCORE[severity]:
                problems.append(f"result {result['ruleId']}: security-severity off")
    duplicates = {c for c in categories if categories.count(c) > 1}
    if duplicates:
        problems.append(f"several runs in category {sorted(duplicates)}")
    return problems


def _finding(tool: str, rule: str, severity: str, line: int, cwe: int | None = 78) -> Finding:
    return Finding(tool, rule, severity, "high", "app.py", line, f"{tool} says {rule}",
                   f"{tool[:4]}{rule}{line:04d}".ljust(16, "0")[:16], cwe=cwe)


def _code_check() -> CheckResult:
    bandit = [_finding("bandit", "B602", "high", 5), _finding("bandit", "B311", "low", 9, 330)]
    semgrep = [_finding("semgrep", "rules.shell", "medium", 5), _finding("semgrep", "x", "info", 12, None)]
    merged = merge_findings([bandit, semgrep])
    return CheckResult(
        "code", "bandit+semgrep", "bandit 1.9.4, semgrep 1.185.0", findings=tuple(merged),
        inconclusive=(Inconclusive("semgrep", "bad.py", "could not parse"),),
        tool_versions={"bandit": "1.9.4", "semgrep": "1.185.0"},
    )


def _extra(kind: str) -> CheckResult:
    return CheckResult(kind, "licenses", "0.1", findings=(_finding("licenses", "GPL", "medium", 1),))


def test_every_run_has_its_own_category_and_every_result_a_line_hash(tmp_path: Path) -> None:
    everything = [_code_check(), *checks()[1:], _extra("licenses"), _extra("code-semgrep")]
    log = build_sarif(everything, Settings(rootdir=tmp_path))
    assert list(sarif_validator().iter_errors(log)) == []
    assert github_problems(log) == []
    ids = [run["automationDetails"]["id"] for run in log["runs"]]
    assert ids == ["kisys/code/", "kisys/code-semgrep/", "kisys/deps/", "kisys/secrets/",
                   "kisys/licenses/", "kisys/code-semgrep-2/"]
    names = [run["tool"]["driver"]["name"] for run in log["runs"]]
    assert names[:2] == ["bandit", "semgrep"]
    assert [r["tool"]["driver"]["version"] for r in log["runs"][:2]] == ["1.9.4", "1.185.0"]
    # The inconclusive semgrep item is in semgrep's run only.
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True
    assert log["runs"][1]["invocations"][0]["executionSuccessful"] is False


def test_the_checker_is_not_vacuous(tmp_path: Path) -> None:
    log = build_sarif([_code_check()], Settings(rootdir=tmp_path))
    log["runs"][1]["automationDetails"]["id"] = "kisys/code/"
    del log["runs"][0]["results"][0]["partialFingerprints"]["primaryLocationLineHash"]
    problems = github_problems(log)
    assert any("several runs in category" in p for p in problems)
    assert any("no line hash" in p for p in problems)


def test_a_merged_finding_names_both_tools_and_rule_ids(tmp_path: Path) -> None:
    log = build_sarif([_code_check()], Settings(rootdir=tmp_path))
    bandit_run, semgrep_run = log["runs"]
    merged = next(r for r in bandit_run["results"] if r["ruleId"] == "B602")
    assert merged["properties"]["tools"] == ["bandit", "semgrep"]
    assert merged["properties"]["ruleIds"] == {"bandit": "B602", "semgrep": "rules.shell"}
    assert merged["relatedLocations"][0]["message"]["text"].startswith(
        "also reported by semgrep rules.shell")
    # Counted once: semgrep's run holds only its own unmerged finding.
    assert [r["ruleId"] for r in semgrep_run["results"]] == ["x"]


def test_a_run_over_the_limit_keeps_the_highest_severities_and_says_so(tmp_path: Path) -> None:
    severities = ["low"] * 20 + ["critical"] * 3 + ["medium"] * 5 + ["high"] * 4
    findings = tuple(_finding("bandit", f"B{i:03d}", sev, i + 1) for i, sev in enumerate(severities))
    check = CheckResult("code", "bandit", "1.9.4", findings=findings)
    log = build_sarif([check], Settings(rootdir=tmp_path), limit=10)
    assert list(sarif_validator().iter_errors(log)) == []
    kept = [r["properties"]["severity"] for r in log["runs"][0]["results"]]
    assert kept == ["critical"] * 3 + ["high"] * 4 + ["medium"] * 3
    note = log["runs"][0]["invocations"][0]["toolExecutionNotifications"][-1]
    assert note["descriptor"]["id"] == "kisys-truncated"
    assert "32 results" in note["message"]["text"]
    assert "left out 22" in note["message"]["text"]
    # GitHub's own limit is the default.
    big = tuple(_finding("bandit", "B1", "low", n) for n in range(1, MAX_RESULTS_PER_RUN + 2))
    full = build_sarif([CheckResult("code", "bandit", "1", findings=big)], Settings(rootdir=tmp_path))
    assert len(full["runs"][0]["results"]) == MAX_RESULTS_PER_RUN
    assert github_problems(full) == []


def test_split_writes_one_valid_file_per_tool(tmp_path: Path) -> None:
    files = split_sarif([_code_check(), *checks()[1:]], Settings(rootdir=tmp_path))
    assert sorted(files) == ["kisys-code-semgrep.sarif", "kisys-code.sarif", "kisys-deps.sarif",
                             "kisys-secrets.sarif"]
    for log in files.values():
        assert len(log["runs"]) == 1
        assert list(sarif_validator().iter_errors(log)) == []


def test_kisys_scan_sarif_split_writes_the_files(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "app.py").write_text("import pickle\n\n\ndef f(b):\n    return pickle.loads(b)\n")
    out = tmp_path / "split"
    done = subprocess.run(
        [sys.executable, "-m", "pytest_kisys", "scan", str(root), "--scan", "code",
         "--sarif", str(tmp_path / "all.sarif"), "--sarif-split", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "KISYS_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stdout + done.stderr  # medium and low: below fail_on
    assert sorted(p.name for p in out.iterdir()) == ["kisys-code.sarif"]
    split = json.loads((out / "kisys-code.sarif").read_text())
    whole = json.loads((tmp_path / "all.sarif").read_text())
    assert split["runs"] == whole["runs"]
    assert github_problems(split) == []
