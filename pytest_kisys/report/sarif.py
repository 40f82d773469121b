"""SARIF 2.1.0 output: one run per tool, for GitHub code scanning and other SARIF consumers.

Each run lists the rules its results use (with ``security-severity`` for GitHub), every counted
finding as a result, suppressed findings as results with a ``suppressions`` entry (baseline:
``external``, ignore: ``external`` with the reason as justification), and inconclusive items as
tool execution notifications with ``executionSuccessful: false``. Locations are relative to
``%SRCROOT%`` (the rootdir). Dependency findings point at the project manifest when there is
one. Validated in tests against the official OASIS schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_kisys._version import __version__
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.scan.interface import Finding
from pytest_kisys.settings import Settings


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.5", "info": "0.0"}
_INFO_URI = {
    "bandit": "https://bandit.readthedocs.io/",
    "pip-audit": "https://github.com/pypa/pip-audit",
    "detect-secrets": "https://github.com/Yelp/detect-secrets",  # pragma: allowlist secret
}
_MANIFESTS = ("pyproject.toml", "requirements.txt", "setup.cfg", "setup.py")


def _manifest(root: Path) -> str | None:
    return next((m for m in _MANIFESTS if (root / m).is_file()), None)


def _location(finding: Finding, manifest: str | None) -> list[dict[str, Any]]:
    path = finding.path or manifest
    if not path:
        return []
    physical: dict[str, Any] = {"artifactLocation": {"uri": path, "uriBaseId": "%SRCROOT%"}}
    physical["region"] = {"startLine": max(finding.line, 1)}
    return [{"physicalLocation": physical}]


def _rule(finding: Finding) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": finding.rule_id,
        "name": finding.rule_name or finding.rule_id,
        "shortDescription": {"text": (finding.rule_name or finding.rule_id)[:200]},
        "properties": {
            "security-severity": _SECURITY_SEVERITY.get(finding.severity, "5.5"),
            "tags": ["security"] + ([f"external/cwe/cwe-{finding.cwe}"] if finding.cwe else []),
        },
    }
    if finding.help_url:
        rule["helpUri"] = finding.help_url
    return rule


def _result(
    finding: Finding, rule_index: int, manifest: str | None, suppression: dict[str, Any] | None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL.get(finding.severity, "warning"),
        "message": {"text": finding.message},
        "locations": _location(finding, manifest),
        "partialFingerprints": {"kisysFingerprint/v1": finding.fingerprint},
        "properties": {
            "severity": finding.severity,
            "confidence": finding.confidence,
        },
    }
    if finding.package:
        result["properties"].update(
            package=finding.package,
            version=finding.version,
            fixVersions=list(finding.fix_versions),
            aliases=list(finding.aliases),
        )
    if suppression is not None:
        result["suppressions"] = [suppression]
    return result


def sarif_run(check: CheckResult, root: Path) -> dict[str, Any]:
    """One SARIF run for one check."""
    manifest = _manifest(root)
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    entries: list[tuple[Finding, dict[str, Any] | None]] = [(f, None) for f in check.findings]
    entries += [
        (s.finding, {"kind": "external", "status": "accepted", "justification": f"{s.by}: {s.reason}"})
        for s in check.suppressed
    ]
    results = []
    for finding, suppression in entries:
        if finding.rule_id not in index:
            index[finding.rule_id] = len(rules)
            rules.append(_rule(finding))
        results.append(_result(finding, index[finding.rule_id], manifest, suppression))
    driver: dict[str, Any] = {
        "name": check.tool,
        "informationUri": _INFO_URI.get(check.tool, "https://example.invalid/pytest-kisys"),
        "rules": rules,
    }
    if check.tool_version:
        driver["version"] = check.tool_version
    notifications = [
        {
            "level": "error",
            "message": {"text": f"could not check {item.item}: {item.reason}"},
            "descriptor": {"id": "kisys-inconclusive"},
        }
        for item in check.inconclusive
    ]
    return {
        "tool": {
            "driver": driver,
            "extensions": [{"name": "pytest-kisys", "version": __version__}],
        },
        "automationDetails": {"id": f"kisys/{check.kind}/"},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": root.resolve().as_uri() + "/"}},
        "invocations": [
            {
                "executionSuccessful": not check.inconclusive,
                "toolExecutionNotifications": notifications,
            }
        ],
        "results": results,
    }


def build_sarif(checks: Sequence[CheckResult], settings: Settings) -> dict[str, Any]:
    """The SARIF 2.1.0 log with one run per check."""
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [sarif_run(check, settings.rootdir) for check in checks],
    }
