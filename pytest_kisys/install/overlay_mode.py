"""Overlay mode for the installer: vetted installs into a content-addressed overlay.

Used instead of the environment when ``isolate`` is set, or instead of refusing a PEP 668
interpreter (this process only: only the running process can put an overlay on its path).
The environment under test is never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_kisys.errors import InstallError
from pytest_kisys.install.environment import is_running_interpreter
from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.install.interface import InstallBackend
from pytest_kisys.install.interface import InstalledItem
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.settings import Settings


if TYPE_CHECKING:
    from pytest_kisys.install.batch import Batch
    from pytest_kisys.install.batch import Root
    from pytest_kisys.install.overlay import OverlayStore


def wanted(python: str, env: TargetEnv, settings: Settings) -> bool:
    """Overlay mode: asked for, or instead of refusing a PEP 668 environment (this process)."""
    if not is_running_interpreter(python):
        return False  # only the running process can put an overlay on its path
    managed = bool(env.externally_managed) and not settings.allow_system_install
    return settings.isolate or managed


def start(
    python: str, env: TargetEnv, settings: Settings, batch: Batch, say: Callable[[str], None]
) -> tuple[OverlayStore, str]:
    """The overlay store and this interpreter's id; says why when PEP 668 chose overlay mode."""
    from pytest_kisys.install.overlay import interpreter_id
    from pytest_kisys.install.overlay import OverlayStore

    note = managed_note(python, env, settings)
    if note is not None:
        batch.notes.append(note)
        say(note)
    return OverlayStore(settings.resolved_cache_dir()), interpreter_id(env.prefix, env.python_version)


def managed_note(python: str, env: TargetEnv, settings: Settings) -> str | None:
    """What to say when PEP 668, not ``isolate``, chose overlay mode (None when it did not)."""
    if env.externally_managed and not settings.isolate:
        return (
            f"{python} is externally managed (PEP 668): installing into an overlay "
            "under the cache instead of the environment"
        )
    return None


def reuse(
    store: OverlayStore,
    interpreter: str,
    pending: Sequence[Root],
    env: TargetEnv,
    batch: Batch,
    settings: Settings,
) -> bool:
    """Activate an existing overlay that satisfies every pending request (nothing installed).

    Only an intact overlay none of whose distributions is now denied or known-malicious is put
    on ``sys.path``; a changed one is deleted (the install path builds it again).
    """
    from pytest_kisys.install.batch import requirement_text
    from pytest_kisys.install.overlay import activate
    from pytest_kisys.install.overlay import now_blocked

    installed = {name: dist.version for name, dist in env.installed.items()}
    wanted = [requirement_text(r.parsed) for r in pending]
    while (found := store.find(wanted, interpreter, installed)) is not None:
        if not found.intact():
            if not found.discard():  # listed again on the next turn: stop here, never loop
                batch.notes.append(
                    f"overlay: {found.path} changed since it was built and cannot be deleted; not reused"
                )
                return False
            batch.notes.append(f"overlay: {found.path} changed since it was built; deleted, not reused")
            continue
        blocked = now_blocked(found, settings)
        if blocked:
            batch.notes.append(
                f"overlay: {found.path} not reused: {', '.join(blocked)} is now denied or known-malicious"
            )
            return False
        activate(found)
        batch.satisfied.extend(r.request.requirement for r in pending)
        batch.notes.append(f"overlay: reused {found.path} (nothing installed)")
        return True
    return False


def block_changes(items: Mapping[str, PlannedItem], env: TargetEnv, batch: Batch) -> None:
    """Overlay mode never upgrades or downgrades what the environment already has."""
    for name, item in items.items():
        if item.change != "new":
            batch.blocked_items.setdefault(
                name,
                (
                    f"overlay mode never changes an installed distribution ({item.change} of "
                    f"{env.version_of(name)} to {item.version})",
                    "",
                ),
            )


def apply(
    keep: list[PlannedItem],
    backend: InstallBackend,
    reasons: Mapping[str, tuple[str, ...]],
    batch: Batch,
    overlay_of: tuple[OverlayStore, str],
    *,
    python: str,
    retries: int,
    say: Callable[[str], None],
) -> tuple[InstalledItem, ...]:
    """Install ``keep`` into a new overlay (the environment is not touched) and activate it."""
    from pytest_kisys.install.batch import installed_items
    from pytest_kisys.install.overlay import activate

    store, interpreter = overlay_of
    say(f"installing {len(keep)} package(s) with {backend.name} into an overlay")
    batch.backend = backend.name
    overlay, outcome = store.build(
        keep, python=python, interpreter=interpreter, backend=backend, retries=retries
    )
    if not outcome.ok:
        tail = "\n".join(outcome.stderr.strip().splitlines()[-8:])
        raise InstallError(
            f"{backend.name} failed (exit {outcome.returncode}); no overlay was made: {tail}"
        )
    found = dict(overlay.items)
    wrong = [i.name for i in keep if found.get(i.name) != i.version]
    if wrong:
        raise InstallError(f"the overlay {overlay.path} does not match the plan: {', '.join(wrong)}")
    activate(overlay)
    batch.notes.append(f"overlay: {overlay.path}")
    return installed_items(keep, reasons, outcome.duration)
