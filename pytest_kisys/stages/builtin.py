"""The built-in stages of a kisys session and how config and plugin stages join them.

::

    resolve -> vet -> install -> tests -> report
    scan.code, scan.secrets ---------------^          (in the background, alongside tests)
    install -> scan.deps ----------------^            (audits what install added)

``tests`` is pytest's own run loop and always runs (the installer skips what it could not
install, test by test); ``report`` runs last, after every stage that does not need it.
With ``scan_first`` the tests also wait for the scans.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from typing import TYPE_CHECKING

from pytest_kisys.stages.model import Stage
from pytest_kisys.stages.model import StageAction


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings


SCAN_STAGES = {
    "scan.code": "code",
    "scan.deps": "deps",
    "scan.secrets": "secrets",  # pragma: allowlist secret
}
BUILTIN = "built-in"

_DESCRIPTIONS = {
    "resolve": "find the third-party imports and requires markers of the suite",
    "vet": "vet each missing distribution against the security policy",
    "install": "install exactly what was vetted, in one batch",
    "scan.code": "bandit over the project's own sources",
    "scan.deps": "pip-audit of the test environment",
    "scan.secrets": "detect-secrets over the project's files",
    "tests": "pytest's own test run",
    "report": "terminal summary, JSON, SARIF, SBOM",
}


def builtin_stages(
    settings: Settings | None = None,
    bindings: Mapping[str, StageAction] | None = None,
    checks: Sequence[Stage] = (),
) -> tuple[Stage, ...]:
    """The eight built-in stages, with the actions other subsystems bound to them.

    ``checks`` are the extra ``scan.<kind>`` stages of ``pytest_kisys_scanners`` plugins: they
    are placed like the built-in scans (``tests`` waits for them under ``scan_first``).
    """
    bound = bindings or {}
    scans = (*SCAN_STAGES, *(check.name for check in checks))
    scan_first = bool(settings and settings.scan_first)
    needs: dict[str, tuple[str, ...]] = {
        "resolve": (),
        "vet": ("resolve",),
        "install": ("vet",),
        "scan.code": (),
        "scan.deps": ("install",),
        "scan.secrets": (),
        "tests": ("install", *scans) if scan_first else ("install",),
        "report": ("tests", *scans),
    }
    stages = [
        Stage(
            name,
            needs=stage_needs,
            always=name in ("tests", "report"),
            description=_DESCRIPTIONS[name],
            action=bound.get(name),
            source=BUILTIN,
        )
        for name, stage_needs in needs.items()
    ]
    before_tests = list(needs).index("tests")
    return (*stages[:before_tests], *checks, *stages[before_tests:])


def off_reasons(settings: Settings | None) -> dict[str, str]:
    """Built-in stages switched off by settings, with the reason the report shows."""
    if settings is None:
        return {}
    chosen = ",".join(sorted(settings.scan)) or "none"
    return {
        name: f"off: scan = {chosen}"
        for name, check in SCAN_STAGES.items()
        if check not in settings.scan
    }


def with_report_last(stages: Iterable[Stage]) -> tuple[Stage, ...]:
    """Make ``report`` need every stage that does not itself (transitively) need ``report``."""
    stages = tuple(stages)
    needs = {stage.name: set(stage.needs) for stage in stages}
    after_report: set[str] = {"report"}
    grew = True
    while grew:
        grew = False
        for name, wanted in needs.items():
            if name not in after_report and wanted & after_report:
                after_report.add(name)
                grew = True
    before = {stage.name for stage in stages if stage.name not in after_report}
    # Only the last stages of each chain: report then transitively follows all the others.
    needed_by_others = {need for name in before for need in needs[name]}
    last = tuple(stage.name for stage in stages if stage.name in before - needed_by_others)
    return tuple(
        dataclasses.replace(stage, needs=tuple(dict.fromkeys((*stage.needs, *last))))
        if stage.name == "report" and stage.source == BUILTIN
        else stage
        for stage in stages
    )
