"""The bookkeeping and the pure steps of one install batch (the installer drives them).

Nothing here runs a process or talks to the network: which requests survive a denial, which
items a person must see, which changes are refused, what would let a denied name through,
and the audit-log line of a finished batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import datetime as dt
import importlib
import os
from pathlib import Path
import site
import sys
from typing import Any
from typing import TYPE_CHECKING

from pytest_kisys.errors import ConfigError
from pytest_kisys.errors import InstallError
from pytest_kisys.install.environment import is_running_interpreter
from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.install.interface import BatchResult
from pytest_kisys.install.interface import ConsentItem
from pytest_kisys.install.interface import DeniedItem
from pytest_kisys.install.interface import InstalledItem
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.interface import RefusedChange
from pytest_kisys.install.interface import Resolution
from pytest_kisys.install.learn import learn
from pytest_kisys.install.learn import learning_target
from pytest_kisys.install.resolver import closure
from pytest_kisys.install.snapshot import dist_infos
from pytest_kisys.install.snapshot import Snapshot
from pytest_kisys.pep503 import canonicalize_name
from pytest_kisys.settings import Settings
from pytest_kisys.vet.audit import append_audit


if TYPE_CHECKING:
    from pytest_kisys.vet.interface import Decision
    from pytest_kisys.vet.interface import ParsedRequirement


@dataclass
class Root:
    """One request that made it past parsing."""

    request: InstallRequest
    parsed: ParsedRequirement

    @property
    def name(self) -> str:
        return self.parsed.name


@dataclass
class Batch:
    """Mutable bookkeeping of one :meth:`Installer.install` call."""

    started: float
    denied: list[DeniedItem] = field(default_factory=list)
    refused: list[RefusedChange] = field(default_factory=list)
    satisfied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # name -> (reason, hint) for items that may not be installed
    blocked_items: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The installer that ran, kept for the result even when the batch ends in an error.
    backend: str = ""
    wheels: Path = field(default_factory=Path)
    """Where the batch's wheels are fetched for inspection (a temporary directory)."""


ALLOW_FLAGS: Mapping[str, tuple[str, str]] = {
    "pytest": ("--kisys-allow", "--kisys-level"),
    "install": ("--allow", "--level"),
}
"""Per command verb (``pytest --kisys``, ``kisys install``): its allow flag and level flag."""


def allow_hint(name: str, settings: Settings, verb: str = "pytest") -> str:
    """The exact flag or config line that would let ``name`` through without a prompt.

    :param verb: the command in use (``pytest`` or ``install``): the hint names only flags
        that command accepts.
    """
    allow, level = ALLOW_FLAGS.get(verb, ALLOW_FLAGS["pytest"])
    flag = f"{allow} {name}"
    if settings.level == "paranoid":
        flag = f"{level} balanced {flag}"
    config = settings.config_file
    if config is not None and config.suffix in {".yaml", ".yml"}:
        line = f"add '- {name}' under 'allow:' in {config.name}"
    else:
        line = f'add "{name}" to allow = [...] under [tool.kisys] in pyproject.toml'
    return f"{flag} (or {line})"


def refuse_changes(
    items: Mapping[str, PlannedItem],
    needed_by: Mapping[str, tuple[str, ...]],
    env: TargetEnv,
    batch: Batch,
    resolution: Resolution,
) -> None:
    changing = any(item.change != "new" for item in items.values())
    imported = imported_distributions() if changing and is_running_interpreter(env.python) else set()
    for item in items.values():
        if item.change == "new" or item.installed_version is None:
            continue
        if item.change == "downgrade":
            reason = (
                f"would downgrade {item.name} {item.installed_version} -> {item.version}; "
                "kisys never downgrades an installed package"
            )
        elif item.name in imported:
            reason = (
                f"would upgrade {item.name} {item.installed_version} -> {item.version}, "
                "which this process has already imported (the running tests would keep "
                "the old code); upgrade it before starting pytest"
            )
        else:
            continue
        batch.refused.append(
            RefusedChange(item.name, item.installed_version, item.version, item.change, reason)
        )
        batch.blocked_items[item.name] = (reason, "")
    if resolution.conflict and not batch.refused:
        batch.notes.append(f"requirements need changes to installed packages: {resolution.conflict}")


def forced_confirmations(items: Mapping[str, PlannedItem]) -> dict[str, str]:
    """Items a person must see even when the policy allows the name."""
    forced: dict[str, str] = {}
    for item in items.values():
        if item.change == "upgrade":
            forced[item.name] = f"upgrades the installed {item.name} {item.installed_version}"
        if item.yanked:
            forced[item.name] = f"{item.name} {item.version} is yanked on the index"
    return forced


def allow_or_confirm_hint(
    name: str, decision: Decision, forced: Mapping[str, str], settings: Settings, verb: str = "pytest"
) -> str:
    """What would let ``name`` through next time, given why a person had to be asked."""
    if decision.action != "confirm" and name in forced:
        return f"{forced[name]}: make that change yourself before the run, or answer y"
    if decision.suspicious:
        return (
            f"{name} looks suspicious ({'; '.join(decision.reasons)}): only a person at a "
            "terminal can confirm it; or pin a well-established alternative"
        )
    evidence = decision.evidence
    if evidence.get("whitelisted") or evidence.get("declared"):
        # Allowing it again changes nothing: only the level (or a person) lets it through.
        _, level = ALLOW_FLAGS.get(verb, ALLOW_FLAGS["pytest"])
        already = "already allowed" if evidence.get("whitelisted") else "declared by the project"
        return (
            f"{name} is {already}; the {settings.level} level confirms every package: answer y "
            f"at a terminal, or run with {level} balanced"
        )
    return allow_hint(name, settings, verb)


def consent_items(
    items: Mapping[str, PlannedItem],
    decisions: Mapping[str, Decision],
    forced: Mapping[str, str],
    reasons: Mapping[str, tuple[str, ...]],
    viable: set[str],
) -> list[ConsentItem]:
    lines: list[ConsentItem] = []
    for name, item in items.items():
        if name not in viable:
            continue
        decision = decisions[name]
        why: list[str] = []
        if decision.action == "confirm":
            why.extend(decision.reasons)
        if name in forced:
            why.append(forced[name])
        lines.append(
            ConsentItem(
                name=name,
                version=item.version,
                reasons=reasons.get(name, ()),
                why_confirm=tuple(why),
                evidence=tuple(evidence_lines(decision)),
                change=item.change,
                installed_version=item.installed_version,
                needs_answer=bool(why),
                suspicious=decision.action == "confirm" and decision.suspicious,
            )
        )
    return lines


def surviving(
    items: Mapping[str, PlannedItem],
    reach: Mapping[str, set[str]],
    roots: Mapping[str, Root],
    needed_by: Mapping[str, tuple[str, ...]],
    batch: Batch,
) -> list[PlannedItem]:
    """Drop each request that needs a denied item; keep what surviving requests need."""
    surviving: set[str] = set()
    for name, root in roots.items():
        if name not in reach:
            continue
        version = items[name].version if name in items else None
        bad = sorted(reach[name] & batch.blocked_items.keys())
        if not bad:
            surviving.add(name)
            continue
        hints = [batch.blocked_items[b][1] for b in bad if batch.blocked_items[b][1]]
        own = batch.blocked_items.get(name)
        reason = (
            own[0]
            if own is not None
            else ("needs " + ", ".join(f"{b} ({batch.blocked_items[b][0]})" for b in bad))
        )
        batch.denied.append(
            DeniedItem(
                name,
                version,
                reason,
                hints[0] if len(hints) == 1 else "; ".join(hints),
                (root.request.reason,),
            )
        )
    for name in sorted(batch.blocked_items):
        if name in roots or name not in items:
            continue
        reason, hint = batch.blocked_items[name]
        batch.denied.append(
            DeniedItem(
                name,
                items[name].version,
                reason,
                hint,
                tuple(roots[r].request.reason for r in needed_by.get(name, ()) if r in roots),
            )
        )
    keep_names: set[str] = set()
    for name in surviving:
        keep_names |= reach[name]
    return [item for item in items.values() if item.name in keep_names]


def write_audit(path: Path, result: BatchResult, *, python: str) -> None:
    """Append one JSON line describing ``result`` to the audit log at ``path``."""
    entry: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(),
        "event": "install",
        "python": python,
        "result": "error" if result.error else ("partial" if not result.ok else "ok"),
    }
    entry.update(result.to_json())
    # Redacted there: pip's error output may quote an index URL.
    append_audit(path, [entry])


def requirement_text(parsed: ParsedRequirement) -> str:
    """The requirement for pip: name, extras, specifier (the marker was evaluated already)."""
    return parsed.without_marker()


def reach_of(
    items: Mapping[str, PlannedItem], graph: Mapping[str, set[str]], roots: Mapping[str, Root]
) -> dict[str, set[str]]:
    """For each request, the planned items it needs (itself included when planned).

    A request that is installed already but needs new items for its extras is not a node of
    the graph; the items no planned request reaches belong to such requests.
    """
    reach = {name: closure(graph, name) & items.keys() for name in roots if name in items}
    claimed = set().union(*reach.values()) if reach else set()
    orphans = set(items) - claimed
    outside = [name for name in roots if name not in items]
    if orphans:
        extra = set().union(*(closure(graph, name) for name in orphans)) & items.keys()
        for name in outside or list(reach):
            reach[name] = reach.get(name, set()) | extra
    return reach


def needed_by_of(
    items: Mapping[str, PlannedItem], reach: Mapping[str, set[str]]
) -> dict[str, tuple[str, ...]]:
    """For each item, the requests (by name) that pull it in."""
    owners: dict[str, list[str]] = {name: [] for name in items}
    for root, names in reach.items():
        for name in names:
            owners[name].append(root)
    return {name: tuple(sorted(found)) for name, found in owners.items()}


def reasons_of(
    needed_by: Mapping[str, tuple[str, ...]], roots: Mapping[str, Root]
) -> dict[str, tuple[str, ...]]:
    """Why each item is needed, in the words of the requests (which import, test, marker)."""
    reasons: dict[str, tuple[str, ...]] = {}
    for name, owners in needed_by.items():
        lines = []
        for owner in owners:
            why = roots[owner].request.reason
            lines.append(why if owner == name else f"dependency of {owner} ({why})")
        reasons[name] = tuple(lines)
    return reasons


def evidence_lines(decision: Decision) -> list[str]:
    lines = [f"decision: {decision.action} ({'; '.join(decision.reasons)})"]
    for key, value in sorted(decision.evidence.items()):
        if value in (None, "", [], {}, False):
            continue
        lines.append(f"{key}: {value}")
    return lines


def imported_distributions() -> set[str]:
    """Canonical names of installed distributions whose top-level modules are imported."""
    mapping = importlib.metadata.packages_distributions()
    found: set[str] = set()
    for module in list(sys.modules):
        top = module.partition(".")[0]
        for dist in mapping.get(top, ()):
            found.add(canonicalize_name(dist))
    return found


def activate(snapshot: Snapshot) -> None:
    """Make this process see what was just installed: caches and new ``.pth`` files."""
    importlib.invalidate_caches()
    known = {os.path.normcase(p) for p in sys.path}
    for pth in snapshot.new_pth_files():
        # Only the new files: re-running every .pth would repeat their import lines.
        site.addpackage(str(pth.parent), pth.name, known)
    importlib.invalidate_caches()


def installed_items(
    keep: Sequence[PlannedItem], reasons: Mapping[str, tuple[str, ...]], duration: float
) -> tuple[InstalledItem, ...]:
    """What one batch installed, in plan order, each with the requests that needed it."""
    return tuple(
        InstalledItem(
            name=item.name,
            version=item.version,
            sha256=item.sha256,
            duration=duration,
            reasons=reasons.get(item.name, ()),
            change=item.change,
        )
        for item in keep
    )


def verify_installed(keep: Sequence[PlannedItem], env: TargetEnv) -> None:
    """Every planned distribution is now in the environment's own site-packages."""
    found = dist_infos(env.site_dirs)
    wrong = [
        f"{item.name} (wanted {item.version}, found "
        f"{found[item.name].version if item.name in found else 'nothing'})"
        for item in keep
        if item.name not in found or found[item.name].version != item.version
    ]
    if wrong:
        raise InstallError(
            "the installer reported success but the environment does not match the plan: " + ", ".join(wrong)
        )


def learn_confirmed(
    settings: Settings, confirmed: tuple[str, ...], keep: Sequence[PlannedItem], batch: Batch
) -> tuple[str, ...]:
    """Learning mode: add the confirmed names that were installed to the allow list."""
    if not settings.learn or not confirmed:
        return ()
    installed = {item.name for item in keep}
    names = [name for name in confirmed if name in installed]
    if not names:
        return ()
    target = learning_target(settings.config_file, settings.rootdir)
    try:
        added = learn(target, names)
    except (ConfigError, OSError) as exc:
        batch.notes.append(f"learning mode: {exc}")
        return ()
    if added:
        batch.notes.append(f"learning mode: added {', '.join(added)} to allow in {target}")
    return added
