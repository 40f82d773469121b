"""The security policy: a pure function from (request, evidence, settings) to a :class:`Decision`.

Order, cheapest and most decisive first: deny list, known-malicious list, index facts that make
a project uninstallable (not on the index, no files, every release yanked, pinned version
missing), then suspicious signals (typosquat, very new, few releases, sdist-only, pinned version
yanked), then the level table (the same as in docs/security-model.md):

=========== ===================== =============== ================================
level       whitelisted + clean   unknown + clean suspicious
=========== ===================== =============== ================================
paranoid    confirm               confirm         confirm, with warning
balanced    allow                 confirm         confirm, with warning
autonomous  allow                 allow           confirm, with warning
=========== ===================== =============== ================================

A requirement the project declares for its tests (dependency group, test extra, requirements
file, tox deps: ``VetRequest.declared``) counts as whitelisted at balanced and autonomous, and
is confirmed at paranoid; every check before the level table still applies to it.

A popular, clean transitive dependency of an allowed request is allowed at balanced and
autonomous. What could not be vetted (index unreachable or offline without a cache entry) is
blocked unless whitelisted: a check that could not run is never clean.
"""

from __future__ import annotations

import sys
from typing import Any

from packaging.version import InvalidVersion
from packaging.version import Version

from pytest_kisys.settings import Settings
from pytest_kisys.vet import release_checks
from pytest_kisys.vet.interface import Action
from pytest_kisys.vet.interface import Decision
from pytest_kisys.vet.interface import Evidence
from pytest_kisys.vet.interface import VetRequest


NEW_PROJECT_DAYS = 30
"""A project whose first upload is younger than this is "very new"."""
MIN_RELEASES = 3
"""A project with fewer releases than this has "few releases"."""
WARNING = "WARNING: "


def _contains_version(versions: tuple[str, ...], wanted: str) -> bool:
    """PEP 440 membership: ``1.0`` matches ``1.0.0``; unparsable strings compare as text."""
    try:
        target = Version(wanted)
    except InvalidVersion:
        return wanted in versions
    for version in versions:
        try:
            if Version(version) == target:
                return True
        except InvalidVersion:
            continue
    return False


def _days(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


def _facts(request: VetRequest, evidence: Evidence) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "whitelisted": evidence.whitelisted,
        "popular": evidence.popular,
        "on_malicious_list": evidence.on_malicious_list,
        "on_deny_list": evidence.on_deny_list,
        "offline": evidence.offline,
    }
    if evidence.typosquat_of:
        facts["typosquat_of"] = evidence.typosquat_of
        if evidence.typosquat_signal:
            facts["typosquat_signal"] = evidence.typosquat_signal
    if request.transitive_of:
        facts["transitive_of"] = request.transitive_of
    if request.declared:
        facts["declared"] = True
    signals = evidence.index
    if signals is not None:
        facts["index"] = {
            "url": signals.index_url,
            "checked": signals.checked,
            "source": signals.source,
            "fetched_at": signals.fetched_at,
        }
        if signals.checked:
            facts["index"].update(
                exists=signals.exists,
                releases=signals.release_count,
                all_yanked=signals.all_yanked,
                has_wheels=signals.has_wheels,
                first_upload=signals.first_upload,
                summary=signals.summary,
                project_urls=dict(signals.project_urls),
            )
        else:
            facts["index"]["error"] = signals.error
    return facts


def _blockers(request: VetRequest, evidence: Evidence, settings: Settings) -> list[str]:
    name = request.name
    if evidence.on_deny_list:
        return [f"{name} is on the deny list ({settings.source_of('deny')})"]
    if evidence.on_malicious_list:
        return [f"{name} is on the known-malicious list (OpenSSF malicious-packages)"]
    signals = evidence.index
    if signals is None or not signals.checked:
        if evidence.whitelisted:
            return []
        if evidence.offline:
            return [f"{name} cannot be vetted offline (no cached index data)"]
        why = signals.error if signals is not None else "index not consulted"
        return [f"{name} could not be vetted: {why}"]
    if not signals.exists:
        reason = f"{name} does not exist on {signals.index_url}"
        if evidence.typosquat_of:
            reason += f" (did you mean {evidence.typosquat_of}?)"
        return [reason]
    if not signals.versions:
        return [f"{name} has no release files on {signals.index_url}"]
    if signals.all_yanked:
        return [f"every release of {name} is yanked"]
    pinned = request.pinned_version
    if pinned is not None and not _contains_version(signals.versions, pinned):
        return [f"{name} has no release {pinned} on {signals.index_url}"]
    return []


def _suspicions(request: VetRequest, evidence: Evidence) -> list[str]:
    reasons = []
    shadowed = request.name.replace("-", "_")
    if shadowed in sys.stdlib_module_names:
        # Backports such as ``dataclasses`` or ``typing`` shadow the real module on 3.11+.
        reasons.append(f"{request.name} has the name of the standard-library module {shadowed}")
    if evidence.typosquat_of and not release_checks.established(evidence.index, evidence.now):
        reasons.append(
            f"{request.name} looks like a typo of the popular project "
            f"{evidence.typosquat_of}"
            + (f" ({evidence.typosquat_signal})" if evidence.typosquat_signal else "")
            + f": did you mean {evidence.typosquat_of}?"
        )
    signals = evidence.index
    if signals is None or not signals.checked:
        return reasons
    if signals.first_upload is not None:
        age = evidence.now - signals.first_upload
        if age < NEW_PROJECT_DAYS * 86400:
            reasons.append(f"very new: first upload {_days(max(age, 0.0))} ago")
    if signals.release_count < MIN_RELEASES and not evidence.popular:
        reasons.append(f"few releases: {signals.release_count}")
    if signals.sdist_only:
        reasons.append("sdist only: no wheel, installing would run its build code")
    pinned = request.pinned_version
    if pinned is not None and _contains_version(signals.yanked_versions, pinned):
        reasons.append(f"release {pinned} is yanked")
    return reasons


def _level_action(request: VetRequest, evidence: Evidence, settings: Settings) -> tuple[Action, str]:
    level = settings.level
    if evidence.whitelisted:
        if level == "paranoid":
            return "confirm", "whitelisted, but the paranoid level confirms everything"
        return "allow", "whitelisted"
    if request.declared:
        # The maintainers chose it for their tests: it plays the allow list's role at balanced.
        if level == "paranoid":
            return "confirm", "declared by the project for its tests; the paranoid level confirms everything"
        return "allow", "declared by the project for its tests"
    if request.transitive_of and evidence.popular and level != "paranoid":
        return "allow", f"popular dependency of {request.transitive_of}"
    if level == "autonomous":
        return "allow", "clean (autonomous level installs unknown clean projects)"
    return "confirm", f"not whitelisted; the {level} level asks first"


def decide(request: VetRequest, evidence: Evidence, settings: Settings) -> Decision:
    """The decision for one request; pure (no I/O, no clock: ``evidence.now`` is the time)."""
    facts = _facts(request, evidence)
    facts.update(release_checks.facts(request, evidence, settings))
    if evidence.typosquat_of and release_checks.established(evidence.index, evidence.now):
        facts["typosquat_cleared"] = "established project (first upload over a year ago, many releases)"
    common: dict[str, Any] = {
        "name": request.name,
        "version": request.pinned_version,
        "requested_by": request.requested_by,
        "level": settings.level,
        "requirement": str(request.requirement),
    }
    blockers = [
        *release_checks.blockers(request, evidence, settings),
        *_blockers(request, evidence, settings),
    ]
    if blockers:
        return Decision(action="block", reasons=tuple(blockers), evidence=facts, **common)
    notes: list[str] = release_checks.notes(request, evidence, settings)
    signals = evidence.index
    if signals is None or not signals.checked:
        notes.append(
            "index not checked ("
            + ("offline" if evidence.offline else str(signals.error if signals else "skipped"))
            + ")"
        )
    elif signals.source == "cache":
        notes.append("index data from cache")
    suspicions = [*_suspicions(request, evidence), *release_checks.suspicions(request, evidence)]
    if suspicions:
        reasons = tuple(WARNING + reason for reason in suspicions) + tuple(notes)
        return Decision(action="confirm", reasons=reasons, evidence=facts, suspicious=True, **common)
    action, why = _level_action(request, evidence, settings)
    return Decision(action=action, reasons=(why, *notes), evidence=facts, **common)
