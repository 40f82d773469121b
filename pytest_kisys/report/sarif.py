"""SARIF 2.1.0 output: one run per tool, for GitHub code scanning and other SARIF consumers.

Each run lists the rules its results use (with ``security-severity`` for GitHub), every counted
finding as a result, suppressed findings as results with a ``suppressions`` entry (baseline:
``external``, ignore: ``external`` with the reason as justification), and inconclusive items as
tool execution notifications with ``executionSuccessful: false``. Locations are relative to
``%SRCROOT%`` (the rootdir). Dependency findings point at the project manifest when there is
one. Validated in tests against the official OASIS schema and GitHub's upload rules:

* a check that ran two tools (``code``: bandit and semgrep) gives two runs;
* every run has its own ``automationDetails.id`` (GitHub rejects several runs in one
  category): ``kisys/<kind>/`` for the kind's own tool and for extra scanners,
  ``kisys/<kind>-<tool>/`` for a second tool, made unique if an extra kind collides;
* every result has ``partialFingerprints.primaryLocationLineHash`` (kisys's line-shift-proof
  fingerprint, ``<16 hex>:1``), ``level`` and ``security-severity`` from its severity;
* a finding merged from several tools lists the others in ``relatedLocations`` and
  ``properties`` (``tools``, ``ruleIds``);
* at most :data:`MAX_RESULTS_PER_RUN` results per run: the highest severities are kept and a
  notification says how many were left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_kisys._version import __version__
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import TOOL_OF_KIND
from pytest_kisys.settings import Settings
from pytest_kisys.settings import SEVERITY_RANK


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
MAX_RESULTS_PER_RUN = 25_000
"""GitHub code scanning's limit of results per run (it rejects a file above it)."""
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.5", "info": "0.0"}
_INFO_URI = {
    "bandit": "https://bandit.readthedocs.io/",
    "semgrep": "https://semgrep.dev/docs/",
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


def _rule(finding: Finding, severity: str) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": finding.rule_id,
        "name": finding.rule_name or finding.rule_id,
        "shortDescription": {"text": (finding.rule_name or finding.rule_id)[:200]},
        "properties": {
            "security-severity": _SECURITY_SEVERITY.get(severity, "5.5"),
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
        "partialFingerprints": {
            "primaryLocationLineHash": f"{finding.fingerprint}:1",
            "kisysFingerprint/v1": finding.fingerprint,
        },
        "properties": {
            "severity": finding.severity,
            "security-severity": _SECURITY_SEVERITY.get(finding.severity, "5.5"),
            "confidence": finding.confidence,
        },
    }
    if finding.merged:
        result["properties"].update(
            tools=list(finding.tools),
            ruleIds={finding.tool: finding.rule_id, **{m.tool: m.rule_id for m in finding.merged}},
        )
        result["relatedLocations"] = [
            {**location, "id": number,
             "message": {"text": f"also reported by {m.tool} {m.rule_id}: {m.message}"[:1000]}}
            for number, m in enumerate(finding.merged, start=1)
            for location in _location(m, manifest)[:1]
        ]
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


def _rank(entry: tuple[Finding, dict[str, Any] | None]) -> tuple[int, int]:
    finding, suppression = entry
    return (suppression is not None, -SEVERITY_RANK.get(finding.severity, 0))


def category(kind: str, tool: str) -> str:
    """The run's ``automationDetails`` category: ``kisys/<kind>`` for the kind's own tool (and
    extra scanners), ``kisys/<kind>-<tool>`` for another tool of the same check."""
    own = TOOL_OF_KIND.get(kind, tool)
    return f"kisys/{kind}" if tool == own else f"kisys/{kind}-{tool}"


def sarif_run(
    check: CheckResult,
    root: Path,
    *,
    tool: str | None = None,
    limit: int = MAX_RESULTS_PER_RUN,
    run_id: str | None = None,
) -> dict[str, Any]:
    """One SARIF run for ``tool``'s part of one check (the whole check when ``tool`` is None)."""
    tool = tool or check.tool
    tools = check.tools
    first = tool == tools[0]

    def mine(name: str) -> bool:
        # The first run also takes what no run of this check is named after (an item the
        # runner reported under the check's combined name).
        return name == tool or (first and name not in tools)

    manifest = _manifest(root)
    entries: list[tuple[Finding, dict[str, Any] | None]] = [
        (f, None) for f in check.findings if mine(f.tool)
    ]
    entries += [
        (s.finding, {"kind": "external", "status": "accepted", "justification": f"{s.by}: {s.reason}"})
        for s in check.suppressed
        if mine(s.finding.tool)
    ]
    total = len(entries)
    if total > limit:
        entries = sorted(entries, key=_rank)[:limit]
    worst: dict[str, str] = {}
    for finding, _ in entries:
        if SEVERITY_RANK.get(finding.severity, 0) >= SEVERITY_RANK.get(worst.get(finding.rule_id, "info"), 0):
            worst[finding.rule_id] = finding.severity
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for finding, suppression in entries:
        if finding.rule_id not in index:
            index[finding.rule_id] = len(rules)
            rules.append(_rule(finding, worst[finding.rule_id]))
        results.append(_result(finding, index[finding.rule_id], manifest, suppression))
    driver: dict[str, Any] = {
        "name": tool,
        "informationUri": _INFO_URI.get(tool, "https://example.invalid/pytest-kisys"),
        "rules": rules,
    }
    version = check.tool_versions.get(tool, check.tool_version if len(tools) == 1 else "")
    if version:
        driver["version"] = version
    inconclusive = [item for item in check.inconclusive if mine(item.tool)]
    notifications = [
        {
            "level": "error",
            "message": {"text": f"could not check {item.item}: {item.reason}"},
            "descriptor": {"id": "kisys-inconclusive"},
        }
        for item in inconclusive
    ]
    if total > limit:
        notifications.append({
            "level": "warning",
            "message": {"text": (
                f"{total} results, more than the {limit} a run may hold: kept the {limit} with "
                f"the highest severities (counted before suppressed), left out {total - limit}; "
                "the JSON report (--kisys-report) lists them all")},
            "descriptor": {"id": "kisys-truncated"},
        })
    return {
        "tool": {
            "driver": driver,
            "extensions": [{"name": "pytest-kisys", "version": __version__}],
        },
        "automationDetails": {"id": run_id or f"{category(check.kind, tool)}/"},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": root.resolve().as_uri() + "/"}},
        "invocations": [
            {
                "executionSuccessful": not inconclusive,
                "toolExecutionNotifications": notifications,
            }
        ],
        "results": results,
    }


def sarif_runs(
    checks: Sequence[CheckResult], root: Path, *, limit: int = MAX_RESULTS_PER_RUN
) -> list[dict[str, Any]]:
    """One run per tool of each check, each with a category no other run of the file has."""
    runs: list[dict[str, Any]] = []
    taken: set[str] = set()
    for check in checks:
        for tool in check.tools:
            base = category(check.kind, tool)
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}-{n}"
            taken.add(name)
            runs.append(sarif_run(check, root, tool=tool, limit=limit, run_id=f"{name}/"))
    return runs


def sarif_log(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A SARIF 2.1.0 log holding ``runs``."""
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": list(runs)}


def build_sarif(
    checks: Sequence[CheckResult], settings: Settings, *, limit: int = MAX_RESULTS_PER_RUN
) -> dict[str, Any]:
    """The SARIF 2.1.0 log with one run per tool of each check."""
    return sarif_log(sarif_runs(checks, settings.rootdir, limit=limit))


def split_sarif(
    checks: Sequence[CheckResult], settings: Settings, *, limit: int = MAX_RESULTS_PER_RUN
) -> dict[str, dict[str, Any]]:
    """``--kisys-sarif-split``: file name -> a SARIF log with one run (``kisys-code.sarif``...)."""
    out: dict[str, dict[str, Any]] = {}
    for run in sarif_runs(checks, settings.rootdir, limit=limit):
        name = run["automationDetails"]["id"].strip("/").replace("/", "-")
        out[f"{name}.sarif"] = sarif_log([run])
    return out
