"""Report formats: SARIF 2.1.0 against the official schema, CycloneDX 1.5, kisys-report/1,
GitHub workflow commands."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_kisys.purl import purl
from pytest_kisys.record import RunRecord
from pytest_kisys.report.cyclonedx import build_sbom
from pytest_kisys.report.github import escape_data
from pytest_kisys.report.github import escape_property
from pytest_kisys.report.github import workflow_commands
from pytest_kisys.report.json_report import build_report
from pytest_kisys.report.sarif import build_sarif
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import Suppressed
from pytest_kisys.settings import IgnoreRule
from pytest_kisys.settings import Settings


SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

CODE = Finding("bandit", "B602", "high", "high", "app.py", 5, "shell=True", "aaaa000011112222",
               rule_name="subprocess_popen_with_shell_equals_true", cwe=78,
               help_url="https://bandit.readthedocs.io/en/latest/plugins/b602.html")
LOW = Finding("bandit", "B311", "low", "high", "app.py", 9, "random", "bbbb000011112222",
              rule_name="blacklist", cwe=330)
SECRET = Finding("detect-secrets", "GitHubTokenDetector", "high", "high", "creds.py", 1,
                 "GitHub Token (value not shown; sha1 0123456789ab...)", "cccc000011112222",
                 rule_name="GitHub Token", cwe=798)
VULN = Finding("pip-audit", "PYSEC-2099-1", "high", "high", "", 0, "tiny 1.0: bad (fix: 1.2)",
               "dddd000011112222", rule_name="known-vulnerability", fix_versions=("1.2.0",),
               aliases=("CVE-2099-0001",), package="kisys-tiny-vuln", version="1.0.0")


def checks() -> list[CheckResult]:
    return [
        CheckResult("code", "bandit", "1.9.4", findings=(CODE,),
                    suppressed=(Suppressed(LOW, "ignore", "accepted: not crypto"),),
                    inconclusive=(Inconclusive("bandit", "broken.py", "syntax error"),)),
        CheckResult("deps", "pip-audit", "2.10.1", findings=(VULN,)),
        CheckResult("secrets", "detect-secrets", "1.5.0", findings=(SECRET,)),
    ]


def settings(root: Path, **kw: Any) -> Settings:
    return Settings(rootdir=root, **kw)


def sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SARIF_SCHEMA.read_text())
    return jsonschema.Draft4Validator(schema)


def test_sarif_validates_against_the_official_schema(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    log = build_sarif(checks(), settings(tmp_path))
    errors = sorted(sarif_validator().iter_errors(log), key=str)
    assert errors == []
    assert [run["tool"]["driver"]["name"] for run in log["runs"]] == [
        "bandit", "pip-audit", "detect-secrets"
    ]
    bandit = log["runs"][0]
    results = {r["ruleId"]: r for r in bandit["results"]}
    assert results["B602"]["locations"][0]["physicalLocation"]["region"] == {"startLine": 5}
    assert results["B602"]["partialFingerprints"] == {
        "primaryLocationLineHash": "aaaa000011112222:1", "kisysFingerprint/v1": "aaaa000011112222"}
    assert results["B311"]["suppressions"][0]["justification"] == "ignore: accepted: not crypto"
    rules = bandit["tool"]["driver"]["rules"]
    assert rules[results["B602"]["ruleIndex"]]["properties"]["security-severity"] == "8.0"
    assert bandit["invocations"][0]["executionSuccessful"] is False
    assert "broken.py" in bandit["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
    deps = log["runs"][1]["results"][0]
    assert deps["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pyproject.toml"
    assert deps["properties"]["fixVersions"] == ["1.2.0"]


def test_schema_validation_is_not_vacuous(tmp_path: Path) -> None:
    log = build_sarif(checks(), settings(tmp_path))
    log["runs"][0]["results"][0]["level"] = "catastrophic"
    assert list(sarif_validator().iter_errors(log))


def test_sarif_of_a_real_scan_validates(tmp_path: Path) -> None:
    from pytest_kisys.scan.runner import run_checks

    (tmp_path / "app.py").write_text("import pickle\n\n\ndef f(b):\n    return pickle.loads(b)\n")
    (tmp_path / "creds.py").write_text('T = "ghp_FAKEfakeFAKEfake0123456789abcdefABCD"\n')
    s = settings(tmp_path, cache_dir=tmp_path / ".cache", scan=frozenset({"code", "secrets"}))
    log = build_sarif(run_checks(s), s)
    assert list(sarif_validator().iter_errors(log)) == []
    assert sum(len(run["results"]) for run in log["runs"]) >= 4


def test_cyclonedx_sbom_validates_and_links_vulnerabilities(tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    components = [
        {"type": "library", "bom-ref": purl("kisys-tiny-vuln", "1.0.0"), "name": "kisys-tiny-vuln",
         "version": "1.0.0", "purl": purl("kisys-tiny-vuln", "1.0.0")},
    ]
    sbom = build_sbom(checks(), tmp_path, components=components)
    validator = JsonStrictValidator(SchemaVersion.V1_5)
    assert validator.validate_str(json.dumps(sbom)) is None
    [vuln] = sbom["vulnerabilities"]
    assert vuln["affects"] == [{"ref": "pkg:pypi/kisys-tiny-vuln@1.0.0"}]
    assert vuln["recommendation"] == "Upgrade kisys-tiny-vuln to 1.2.0"
    broken = {**sbom, "specVersion": "1.5", "bomFormat": "SPDX"}
    assert validator.validate_str(json.dumps(broken)) is not None


def test_sbom_of_this_environment_lists_installed_distributions(tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    sbom = build_sbom([], tmp_path)
    names = {c["purl"].split("/")[1].split("@")[0] for c in sbom["components"]}
    assert {"pytest", "bandit", "pip-audit"} <= names
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(sbom)) is None


class _Decision:
    def to_json(self) -> dict[str, Any]:
        return {"name": "tabulate", "decision": "allow"}


def test_json_report_shape(tmp_path: Path) -> None:
    record = RunRecord()
    record.add("decisions", _Decision())
    for check in checks():
        record.add("checks", check)
    report = build_report(record, settings(tmp_path, allow_inconclusive=True), exit_status=16)
    assert report["schema"] == "kisys-report/1"
    assert report["decisions"] == [{"name": "tabulate", "decision": "allow"}]
    assert [c["status"] for c in report["checks"]] == ["inconclusive", "findings", "findings"]
    assert report["verdict"] == {
        "checks_failed": True, "stages_failed": [], "reasons": ["3 finding(s) at or above 'high'"]
    }
    assert {f["check"] for f in report["findings"]} == {"code", "deps", "secrets"}
    assert report["inconclusive"] == [
        {"check": "code", "tool": "bandit", "item": "broken.py", "reason": "syntax error"}
    ]
    assert report["checks"][0]["suppressed"][0]["suppressed_by"] == "ignore"
    json.dumps(report)  # serialisable as is


def test_github_escaping() -> None:
    assert escape_data("50% done\nnext") == "50%25 done%0Anext"
    assert escape_property("a:b,c") == "a%3Ab%2Cc"


def test_github_commands_levels_follow_fail_on(tmp_path: Path) -> None:
    lines = workflow_commands(checks(), settings(tmp_path, fail_on="critical"))
    assert lines[0].startswith("::warning file=app.py,line=5,title=bandit B602 (high)::shell=True")
    assert lines[1] == "::error title=bandit could not check broken.py::syntax error"
    assert lines[2].startswith("::warning title=pip-audit PYSEC-2099-1 (high)::")


@pytest.mark.parametrize("expired", [False, True])
def test_terminal_mentions_expired_ignores(tmp_path: Path, expired: bool) -> None:
    from pytest_kisys.report.terminal import render_checks

    when = dt.date(2020, 1, 1) if expired else None
    s = settings(tmp_path, ignore=(IgnoreRule("B602", "later", when),))
    result = CheckResult("code", "bandit", "1", findings=(CODE,),
                         expired_ignores=("B602",) if expired else ())
    text = "\n".join(line for line, _ in render_checks([result], s))
    assert ("expired on 2020-01-01" in text) is expired


def test_one_purl_rule_for_the_sbom_and_the_spans() -> None:
    """purl ``pypi``: lowercase, ``_`` -> ``-``, dots kept, version percent-encoded."""
    from pytest_kisys.telemetry.findings import finding_attributes

    assert purl("zope.interface", "5.0") == "pkg:pypi/zope.interface@5.0"
    assert purl("Foo_Bar", "1.0+local") == "pkg:pypi/foo-bar@1.0%2Blocal"
    assert purl("zope.interface") == "pkg:pypi/zope.interface"
    finding = Finding(
        tool="pip-audit",
        rule_id="PYSEC-0",
        severity="high",
        confidence="high",
        path="",
        line=0,
        message="m",
        fingerprint="f",
        package="zope.interface",
        version="5.0",
    )
    assert finding_attributes(finding)["artifact.purl"] == purl("zope.interface", "5.0")

