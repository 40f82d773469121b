"""The installer's release checks: wheel inspection of the whole batch before anything is
installed, and the denial when nothing is old enough (the resolvers' cooldown knobs are in
:mod:`pytest_kisys.install.gate_options`).

Kept out of :mod:`pytest_kisys.install.installer` so that the pipeline there only calls
a few functions: :func:`inspect_batch`, :func:`deny_unavailable` and :func:`explain_unavailable`.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
from pathlib import Path
import sys
import time
from typing import TYPE_CHECKING
import urllib.error

from pytest_kisys.concurrency import in_background
from pytest_kisys.concurrency import interruptible_map
from pytest_kisys.inspect import environment_view
from pytest_kisys.inspect import inspect_wheel
from pytest_kisys.inspect import InspectFinding
from pytest_kisys.inspect import WheelInspection
from pytest_kisys.install import artifacts
from pytest_kisys.install.batch import requirement_text
from pytest_kisys.install.batch import Root
from pytest_kisys.install.environment import is_running_interpreter
from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.install.gate_options import Cooldown
from pytest_kisys.install.gate_options import cooldown
from pytest_kisys.install.interface import DeniedItem
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.pep503 import canonicalize_name
from pytest_kisys.settings import Settings
from pytest_kisys.vet.interface import ProjectSignals
from pytest_kisys.vet.release_age import format_duration
from pytest_kisys.vet.release_age import too_new
from pytest_kisys.vet.release_checks import exemption_hint


if TYPE_CHECKING:
    from pytest_kisys.vet.interface import Decision
    from pytest_kisys.vet.vetter import Vetter


@dataclass(frozen=True)
class BatchInspection:
    """Findings per planned item, and the wheels fetched for them (reused by later checks)."""

    results: Mapping[str, WheelInspection]
    paths: Mapping[str, Path]

    def installable(self, items: Sequence[PlannedItem]) -> list[PlannedItem]:
        """``items`` pointing at their inspected copies, which the backends install (hash
        checked again) instead of downloading: what was inspected is what is installed."""
        paths = self.paths
        return [
            dataclasses.replace(item, wheel_file=str(paths[item.name])) if item.name in paths else item
            for item in items
        ]

    def findings(self, name: str) -> tuple[InspectFinding, ...]:
        """The findings of ``name``'s wheel (empty when clean)."""
        result = self.results.get(name)
        return result.findings if result is not None else ()


def inspect_batch(
    items: Sequence[PlannedItem], env: TargetEnv, directory: Path, *, cert: str | None
) -> BatchInspection:
    """Fetch every planned wheel (hash checked) into ``directory`` and inspect it.

    A wheel that cannot be fetched is a high finding: what could not be inspected is not
    installed.
    """
    dirs = list(env.site_dirs)
    if is_running_interpreter(env.python):
        # What this process imports from outside the environment (.pth-added dirs) counts too.
        dirs += [
            Path(entry) for entry in sys.path if entry and Path(entry).is_dir() and Path(entry) not in dirs
        ]
    # Reading every installed RECORD takes a few tenths of a second in a large environment:
    # done while the wheels download, not before.
    view = in_background(lambda: environment_view(dirs), name="kisys-envview")

    def one(item: PlannedItem) -> tuple[str, WheelInspection, Path | None]:
        try:
            path = artifacts.fetch(item, directory, cert=cert)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            finding = InspectFinding(
                "archive.unfetched", "high", item.filename, 0, f"could not be fetched for inspection: {exc}"
            )
            return item.name, WheelInspection(item.name, item.version, item.filename, (finding,)), None
        return item.name, inspect_wheel(path, item.name, item.version, view.result()), path

    # Ctrl-C stops waiting at once: a slow download is abandoned, not waited for.
    done = interruptible_map(one, list(items), workers=min(4, max(1, len(items))), name="kisys-inspect")
    return BatchInspection(
        {name: result for name, result, _ in done},
        {name: path for name, _, path in done if path is not None},
    )


def explain_unavailable(
    requirement: str, signals: ProjectSignals | None, gate: Cooldown, now: float, settings: Settings
) -> tuple[str, str] | None:
    """``(reason, hint)`` when the cooldown is why ``requirement`` could not be resolved."""
    if gate.uploaded_before is None or signals is None or not signals.checked:
        return None
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        return None
    name = canonicalize_name(req.name)
    if name in gate.exempt:
        return None
    fresh = [
        v
        for v in too_new(signals.uploads, gate.uploaded_before)
        if req.specifier.contains(v, prereleases=True)
    ]
    if not fresh:
        return None
    newest = fresh[-1]
    reason = (
        f"nothing old enough satisfies {requirement}: every matching release is younger than "
        f"min_release_age {format_duration(settings.min_release_age)} (newest {newest}, uploaded "
        f"{format_duration(now - signals.uploads[newest])} ago)"
    )
    return reason, exemption_hint(name)


def deny_unavailable(
    roots: Sequence[Root], unavailable: Mapping[str, str], vetter: Vetter, settings: Settings
) -> list[DeniedItem]:
    """One denial per request the resolver could not resolve, for the reason that applies.

    The resolver only knows it found no wheel; the vetting engine knows why. A project that is
    not on the index at all, or that cannot be vetted offline, is denied for that reason (with
    the engine's "did you mean"), and one held back by the cooldown says so, with the hint.
    """
    if not unavailable:
        return []
    from pytest_kisys.vet.interface import VetRequest

    pairs = [
        (
            next(
                r
                for r in roots
                if r.request.requirement == requirement or requirement_text(r.parsed) == requirement
            ),
            why,
        )
        for requirement, why in unavailable.items()
    ]
    decisions = vetter.vet([VetRequest(root.parsed, None, (root.request.reason,)) for root, _ in pairs])
    by_name: dict[str, Decision] = {canonicalize_name(d.name): d for d in decisions}
    gate = cooldown(settings, time.time())
    signals = getattr(vetter, "signals", None)
    out: list[DeniedItem] = []
    for root, why in pairs:
        hint = ""
        decision = by_name.get(root.name)
        if decision is not None and decision.action == "block" and decision.reasons:
            why = "; ".join(decision.reasons)
        if gate.uploaded_before is not None and signals is not None:
            found = signals([root.name]).get(root.name)
            explained = explain_unavailable(
                requirement_text(root.parsed), found, gate, time.time(), settings
            )
            if explained is not None:
                why, hint = explained
        out.append(DeniedItem(root.name, None, why, hint, (root.request.reason,)))
    return out
