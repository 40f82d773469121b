"""The release-level checks of the policy: cooldown, PEP 792 status, index set, inspection.

Pure functions of (request, evidence, settings), called by :func:`pytest_kisys.vet.policy.decide`:
:func:`blockers` (reasons that stop a release whatever the allow list or level says),
:func:`suspicions` (reasons a person must confirm), :func:`notes` (said, not decisive:
held-back releases) and :func:`facts` (the JSON evidence).
"""

from __future__ import annotations

from collections.abc import Mapping
import datetime as dt
from typing import Any

from packaging.version import InvalidVersion
from packaging.version import Version

from pytest_kisys.settings import Settings
from pytest_kisys.vet.interface import Evidence
from pytest_kisys.vet.interface import ProjectSignals
from pytest_kisys.vet.interface import VetRequest
from pytest_kisys.vet.release_age import cutoff
from pytest_kisys.vet.release_age import format_duration
from pytest_kisys.vet.release_age import held_back
from pytest_kisys.vet.release_age import iso
from pytest_kisys.vet.release_age import ReleaseAgeExemption


ESTABLISHED_DAYS = 365
"""A project first uploaded longer ago than this, with :data:`ESTABLISHED_RELEASES` releases,
is established: looking like another name is not held against it."""
ESTABLISHED_RELEASES = 10
SUSPICIOUS_STATUSES = ("archived", "deprecated")


def exemption_hint(name: str) -> str:
    """The config entry and the flag that would let a fresh release of ``name`` through."""
    return (
        f'add {{name = "{name}", reason = "...", expires = "YYYY-MM-DD"}} to release_age_exempt '
        "under [tool.kisys], or lower --kisys-min-release-age (0 turns the cooldown off)"
    )


def _exemption(name: str, settings: Settings) -> ReleaseAgeExemption | None:
    return next((e for e in settings.release_age_exempt if e.name == name), None)


def _today(now: float) -> dt.date:
    return dt.datetime.fromtimestamp(now, dt.UTC).date()


def _cooldown(request: VetRequest, evidence: Evidence, settings: Settings) -> float | None:
    """The cutoff that applies to ``request``, None when off or exempt (and in force)."""
    limit = cutoff(evidence.now, settings.min_release_age)
    exemption = _exemption(request.name, settings)
    if limit is None or (exemption is not None and exemption.active(_today(evidence.now))):
        return None
    return limit


def established(signals: ProjectSignals | None, now: float) -> bool:
    """Old enough and with enough releases that a look-alike name is a coincidence."""
    if signals is None or not signals.checked or signals.first_upload is None:
        return False
    old = now - signals.first_upload > ESTABLISHED_DAYS * 86400
    return old and signals.release_count >= ESTABLISHED_RELEASES


def blockers(request: VetRequest, evidence: Evidence, settings: Settings) -> list[str]:
    """Reasons that block: quarantined, too fresh, dependency confusion, high findings."""
    out: list[str] = []
    signals = evidence.index
    if signals is not None and signals.checked and signals.status == "quarantined":
        why = f": {signals.status_reason}" if signals.status_reason else ""
        out.append(f"{request.name} is quarantined on {signals.index_url} (PEP 792 project status{why})")
    limit = _cooldown(request, evidence, settings)
    version = request.version
    if limit is not None and signals is not None and signals.checked and version is not None:
        uploaded = signals.uploads.get(version)
        if uploaded is not None and uploaded > limit:
            out.append(
                f"nothing old enough: {request.name} {version} was uploaded "
                f"{format_duration(evidence.now - uploaded)} ago, less than min_release_age "
                f"{format_duration(settings.min_release_age)} ({settings.source_of('min_release_age')}); "
                + exemption_hint(request.name)
            )
    verdict = evidence.index_set
    if verdict is not None and verdict.blocked:
        out.append(verdict.reason)
    if verdict is not None and verdict.pinned_to and request.sha256 and signals is not None:
        served = set(signals.file_hashes.values())
        if signals.checked and request.sha256 not in served:
            out.append(
                f"the resolved file of {request.name} (sha256 {request.sha256[:12]}...) is not one that "
                f"{verdict.pinned_to}, the index it is pinned to with index_for, serves"
            )
    for finding in request.inspection:
        if finding.severity == "high":
            out.append(f"wheel inspection: {finding.describe()}")
    return out


def suspicions(request: VetRequest, evidence: Evidence) -> list[str]:
    """Reasons a person must confirm: archived or deprecated status, medium findings."""
    out: list[str] = []
    signals = evidence.index
    if signals is not None and signals.checked and signals.status in SUSPICIOUS_STATUSES:
        why = f": {signals.status_reason}" if signals.status_reason else ""
        out.append(f"{request.name} is {signals.status} on {signals.index_url} (PEP 792 project status{why})")
    for finding in request.inspection:
        if finding.severity == "medium":
            out.append(f"wheel inspection: {finding.describe()}")
    return out


def notes(request: VetRequest, evidence: Evidence, settings: Settings) -> list[str]:
    """Held-back newer releases and expired exemptions (not decisive, always shown)."""
    out: list[str] = []
    exemption = _exemption(request.name, settings)
    if exemption is not None and not exemption.active(_today(evidence.now)):
        out.append(f"release_age_exempt for {request.name} expired on {exemption.expires}; cooldown applies")
    limit = _cooldown(request, evidence, settings)
    signals = evidence.index
    if limit is not None and signals is not None and signals.checked:
        # Without a resolved version (``kisys vet NAME``), compare with the newest old-enough one.
        version = request.version or newest_old_enough(signals.uploads, limit)
        out.extend(
            h.describe(evidence.now, installing=request.installing)
            for h in held_back(request.name, signals.uploads, version, limit)
        )
    return out


def newest_old_enough(uploads: Mapping[str, float], limit: float) -> str | None:
    """The newest final version first uploaded at or before ``limit``, None when there is none."""
    best: tuple[Version, str] | None = None
    for version, when in uploads.items():
        try:
            key = Version(version)
        except InvalidVersion:
            continue
        if when <= limit and not key.is_prerelease and (best is None or key > best[0]):
            best = (key, version)
    return best[1] if best else None


def facts(request: VetRequest, evidence: Evidence, settings: Settings) -> dict[str, Any]:
    """JSON evidence: ``release_age``, ``project_status``, ``index_set``, ``inspection``."""
    out: dict[str, Any] = {}
    signals = evidence.index
    limit = cutoff(evidence.now, settings.min_release_age)
    if limit is not None:
        exemption = _exemption(request.name, settings)
        active = _cooldown(request, evidence, settings)
        entry: dict[str, Any] = {
            "min_release_age_s": settings.min_release_age,
            "uploaded_before": iso(limit),
            "exempt": exemption is not None and active is None,
        }
        if exemption is not None:
            entry["exemption"] = {
                "reason": exemption.reason,
                "expires": exemption.expires.isoformat() if exemption.expires else None,
            }
        # Without a resolved version (``kisys vet NAME``), the newest old-enough one.
        version = request.version
        if version is None and active is not None and signals is not None and signals.checked:
            version = newest_old_enough(signals.uploads, active)
        if signals is not None and signals.checked and version is not None:
            uploaded = signals.uploads.get(version)
            entry["uploaded"] = iso(uploaded) if uploaded is not None else None
            if active is not None:
                entry["held_back"] = [
                    {**h.to_json(), "text": h.describe(evidence.now, installing=request.installing)}
                    for h in held_back(request.name, signals.uploads, version, active)
                ]
        out["release_age"] = entry
    if signals is not None and signals.checked and signals.status:
        out["project_status"] = {"status": signals.status, "reason": signals.status_reason}
    if evidence.index_set is not None:
        out["index_set"] = evidence.index_set.to_json()
    if request.inspection:
        out["inspection"] = [f.to_json() for f in request.inspection]
    return out
