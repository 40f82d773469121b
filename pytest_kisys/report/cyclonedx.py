"""CycloneDX 1.5 JSON SBOM of the test environment.

Components are the distributions importable by the interpreter running the tests
(``importlib.metadata``), each with its ``pkg:pypi`` package URL; vulnerabilities are the
dependency check's advisories (counted and suppressed), linked to their component with
``affects`` and carrying the fix versions as the recommendation. Written by hand (a dozen
fields) rather than through a library, so the SBOM costs no import when it is not asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
import datetime as dt
import importlib.metadata
from pathlib import Path
from typing import Any
import uuid

from packaging.utils import canonicalize_name

from pytest_kisys._version import __version__
from pytest_kisys.purl import purl
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.scan.interface import Finding


SPEC_VERSION = "1.5"


def _field(dist: importlib.metadata.Distribution, name: str) -> str | None:
    """One core-metadata field, None when absent (some importlib_metadata versions raise)."""
    values = dist.metadata.get_all(name) or []
    return str(values[0]) if values else None
def environment_components(
    distributions: Iterable[importlib.metadata.Distribution] | None = None,
) -> list[dict[str, Any]]:
    """One ``library`` component per installed distribution, sorted, without duplicates."""
    seen: dict[str, dict[str, Any]] = {}
    for dist in distributions if distributions is not None else importlib.metadata.distributions():
        name = _field(dist, "Name")
        version = dist.version
        if not name or not version:
            continue
        ref = purl(name, version)
        if ref in seen:
            continue
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": ref,
            "name": name,
            "version": version,
            "purl": ref,
        }
        summary = _field(dist, "Summary")
        if summary and summary != "UNKNOWN":
            component["description"] = summary[:500]
        license_name = _field(dist, "License-Expression") or _field(dist, "License")
        if license_name and license_name != "UNKNOWN" and len(license_name) < 100:
            component["licenses"] = [{"license": {"name": license_name}}]
        seen[ref] = component
    return [seen[k] for k in sorted(seen)]


def _vulnerability(finding: Finding, refs: dict[str, str]) -> dict[str, Any]:
    vuln: dict[str, Any] = {
        "bom-ref": f"{finding.rule_id}/{finding.package}",
        "id": finding.rule_id,
        "source": {"name": "OSV", "url": f"https://osv.dev/vulnerability/{finding.rule_id}"},
        "description": finding.message,
    }
    if finding.aliases:
        vuln["references"] = [
            {"id": alias, "source": {"name": "alias"}} for alias in finding.aliases
        ]
    if finding.fix_versions:
        vuln["recommendation"] = f"Upgrade {finding.package} to {', '.join(finding.fix_versions)}"
    ref = refs.get(canonicalize_name(finding.package or ""))
    if ref is not None:
        vuln["affects"] = [{"ref": ref}]
    return vuln


def build_sbom(
    checks: Sequence[CheckResult],
    rootdir: Path,
    *,
    components: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The SBOM document: environment components plus the deps check's vulnerabilities."""
    comps = components if components is not None else environment_components()
    refs: dict[str, str] = {canonicalize_name(c["name"]): str(c["bom-ref"]) for c in comps}
    advisories = [
        f
        for check in checks
        if check.kind == "deps"
        for f in (*check.findings, *(s.finding for s in check.suppressed))
        if f.package
    ]
    document: dict[str, Any] = {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": uuid.uuid4().urn,
        "version": 1,
        "metadata": {
            "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "tools": {
                "components": [
                    {"type": "application", "name": "pytest-kisys", "version": __version__}
                ]
            },
            "component": {
                "type": "application",
                "bom-ref": "project",
                "name": rootdir.resolve().name or "project",
            },
        },
        "components": comps,
    }
    if advisories:
        document["vulnerabilities"] = [_vulnerability(f, refs) for f in advisories]
    return document
