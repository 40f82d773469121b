"""The ``kisys`` terminal section: what the resolve pipeline found, installed and denied."""

from __future__ import annotations

from collections.abc import Iterable

from pytest_kisys.resolve.outcome import ResolveOutcome
from pytest_kisys.resolve.probe import module_importable


__all__ = ["section_lines"]


def section_lines(outcome: ResolveOutcome, decisions: Iterable[object] = ()) -> list[str]:
    """The lines of the ``kisys`` section; ``decisions`` are shown with ``-v`` (vetter lines)."""
    from pytest_kisys.early import early_lines
    from pytest_kisys.vet.audit import format_decision
    from pytest_kisys.vet.interface import Decision

    plan = outcome.plan
    lines = [
        *early_lines(),
        f"read the imports of {outcome.files} file{'s' if outcome.files != 1 else ''} in "
        f"{outcome.scan_seconds * 1000:.0f} ms: "
        f"{plan.satisfied} third-party imports/requirements present, "
        f"{len(plan.needs)} to install" + (f", {len(plan.unmapped)} not resolvable" if plan.unmapped else ""),
    ]
    if outcome.suite is not None:
        lines.extend(outcome.suite.lines())
    for import_name, dist, kind in plan.mapped:
        lines.append(f"resolved: import {import_name} -> {dist} ({kind.replace('_', ' ')})")
    if outcome.batch:
        lines.append(outcome.batch)
    # The batch was vetted before the terminal reporter existed, so the -v decision lines the
    # vetter would echo are shown here instead.
    lines.extend(format_decision(d) for d in decisions if isinstance(d, Decision))
    for item in outcome.installed:
        lines.append(f"installed: {item}")
    lines.extend(outcome.activated)
    for denial in outcome.denied.values():
        lines.append(f"denied: {denial.message()}")
    for unmapped in plan.unmapped:
        lines.append(
            f"not installed: import {unmapped.import_name} ({unmapped.where}): "
            f"{unmapped.why}; {unmapped.hint}"
        )
    for malformed in plan.malformed:
        lines.append(f"malformed requirement {malformed.text!r} at {malformed.where}")
    for name, where in plan.lazy_missing:
        if module_importable(name):
            continue  # the batch brought it (e.g. declared with a requires marker)
        lines.append(
            f"lazy import {name} ({where}) is missing and not installed; "
            f'declare it with @pytest.mark.requires("...") to resolve it before the run'
        )
    if outcome.error:
        lines.append(f"install batch failed: {outcome.error}")
    return lines
