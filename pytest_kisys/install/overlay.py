"""Overlay mode: vetted installs go to a content-addressed directory, never into the environment.

With ``isolate = true`` (``--kisys-isolate``), and automatically in an externally managed
(PEP 668) environment, the installer still resolves against the environment under test (so
the set is additive: nothing installed there is duplicated or replaced) and vets every item,
then installs the vetted files by hash with ``--target`` into
``<cache>/overlays/<interpreter>-<digest of the vetted set>``. The directory is built under a
temporary name and renamed when complete, so a half-built overlay is never used.

Activation puts the overlay at the end of ``sys.path`` (its ``.pth`` files processed) and at
the front of ``PYTHONPATH``, so xdist workers and the tests' subprocesses import from it too.
A later run whose missing requirements an existing overlay of the same interpreter satisfies
reuses it without resolving or installing anything, after two checks that need no network:
its files are exactly those recorded when it was built (:func:`tree_stamp`: path, size,
modification and change time of every file, bytecode included, which is compiled at build
time so imports add none), and none of its distributions is now on the deny list or the
known-malicious list (``kisys db update`` may have added it since). A changed overlay is
deleted and built again from vetted, hash-pinned files; a now-blocked one is not used, so
the normal install path vets (and blocks) its items. The stamp detects edits, additions and
removals, accidental or not; it is not a defence against someone who can rewrite the cache
(they could rewrite the vetting cache too). ``pip freeze --all`` of the environment
is the same before and after. ``kisys tools overlays`` lists them, ``kisys tools prune``
removes them.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
import hashlib
import importlib
import json
import os
from pathlib import Path
import shutil
import site
import sys
import tempfile
import time
from typing import Any
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pytest_kisys.errors import InstallError
from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.install.interface import BatchResult


if TYPE_CHECKING:
    from pytest_kisys.install.interface import InstallBackend
    from pytest_kisys.install.interface import InstallRequest
    from pytest_kisys.install.interface import PlannedItem
    from pytest_kisys.settings import Settings


MANIFEST = "kisys-overlay.json"


def interpreter_id(prefix: str, python_version: str) -> str:
    """``cpython3.11-<digest of the environment's prefix>``: overlays are per environment,
    because they were resolved against what that environment has installed."""
    digest = hashlib.sha256(f"{os.path.realpath(prefix)}\0{python_version}".encode()).hexdigest()[:10]
    return f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}-{digest}"


@dataclass(frozen=True)
class Overlay:
    """One built overlay directory and what it holds."""

    path: Path
    interpreter: str
    items: tuple[tuple[str, str], ...]
    created: float
    last_used: float
    stamp: str = ""
    """:func:`tree_stamp` of the directory when it was built ("" for an overlay built before)."""

    def intact(self) -> bool:
        """Whether the files are exactly those recorded at build time."""
        return bool(self.stamp) and tree_stamp(self.path) == self.stamp

    def discard(self) -> bool:
        """Delete this overlay; False when its manifest could not be removed.

        The manifest goes first: without it no store lists the directory again, so a tree that
        cannot be removed completely is left behind as debris, never reused or found again.
        """
        try:
            (self.path / MANIFEST).unlink(missing_ok=True)
        except OSError:
            return False
        shutil.rmtree(self.path, ignore_errors=True)
        return True

    def satisfies(self, requirement: str, installed: dict[str, str]) -> bool:
        """Whether ``requirement`` is met by this overlay's items or ``installed`` (name -> version)."""
        try:
            req = Requirement(requirement)
        except InvalidRequirement:
            return False
        name = canonicalize_name(req.name)
        version = dict(self.items).get(name) or installed.get(name)
        return version is not None and req.specifier.contains(version, prereleases=True)


class OverlayStore:
    """The overlays under ``<cache_dir>/overlays``."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / "overlays"

    def overlays(self) -> list[Overlay]:
        """Every complete overlay, most recently used first (damaged ones are skipped)."""
        found = []
        for path in self.root.glob("*") if self.root.is_dir() else ():
            try:
                data: dict[str, Any] = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
                found.append(
                    Overlay(
                        path=path,
                        interpreter=str(data["interpreter"]),
                        items=tuple((str(n), str(v)) for n, v in data["items"]),
                        created=float(data["created"]),
                        last_used=(path / MANIFEST).stat().st_mtime,
                        stamp=str(data.get("stamp", "")),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(found, key=lambda o: -o.last_used)

    def find(
        self,
        requirements: Sequence[str],
        interpreter: str,
        installed: dict[str, str],
        *,
        among: Sequence[Overlay] | None = None,
    ) -> Overlay | None:
        """An overlay of ``interpreter`` that, with ``installed``, meets every requirement
        (looked for ``among`` the overlays given, default :meth:`overlays`)."""
        for overlay in self.overlays() if among is None else among:
            if overlay.interpreter == interpreter and all(
                overlay.satisfies(r, installed) for r in requirements
            ):
                return overlay
        return None

    def build(
        self,
        items: Sequence[PlannedItem],
        *,
        python: str,
        interpreter: str,
        backend: InstallBackend,
        retries: int,
    ) -> tuple[Overlay, BackendOutcome]:
        """Install ``items`` (vetted, pinned by hash) into a new overlay; returns it and the run.

        An overlay of the same set that already exists is returned as it is. On failure nothing
        is left behind.
        """
        # Imported here: reusing an overlay (every run but the first) needs no installer.
        from pytest_kisys.install import pipcmd
        from pytest_kisys.install.pip_backend import pinned_requirements
        from pytest_kisys.install.snapshot import dist_infos

        pins = sorted((i.name, i.version, i.sha256) for i in items)
        digest = hashlib.sha256(json.dumps([interpreter, pins]).encode()).hexdigest()[:24]
        final = self.root / f"{interpreter}-{digest}"
        self.root.mkdir(parents=True, exist_ok=True)
        existing = next((o for o in self.overlays() if o.path == final), None)
        if existing is not None and existing.intact():
            return existing, BackendOutcome(0, "", "", 0.0, ())
        if existing is not None and not existing.discard():
            raise InstallError(
                f"overlay {final} changed since it was built and its manifest cannot be removed; "
                "delete the directory (or run `kisys tools prune`) and run again"
            )
        staging = Path(tempfile.mkdtemp(prefix=".building-", dir=self.root))
        try:
            with tempfile.TemporaryDirectory(prefix="kisys-overlay-") as tmp:
                requirements = Path(tmp) / "vetted-requirements.txt"
                requirements.write_text(pinned_requirements(items), encoding="utf-8")
                command = overlay_command(backend, python, str(requirements), staging)
                env = pipcmd.child_env()
                outcome = pipcmd.with_retries(lambda: pipcmd.run(command, env=env), retries)
            if not outcome.ok:
                return Overlay(final, interpreter, (), 0.0, 0.0), outcome
            found = dist_infos([staging])
            names = tuple(sorted((name, info.version) for name, info in found.items()))
            manifest = {
                "interpreter": interpreter, "items": names, "created": time.time(), "python": python,
                "stamp": tree_stamp(staging),
            }  # fmt: skip
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            try:
                os.replace(staging, final)
            except OSError:
                if not (final / MANIFEST).is_file():  # not another run building the same set
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        overlay = next(o for o in self.overlays() if o.path == final)
        return overlay, outcome

    def prune(self, older_than_days: float | None = None) -> list[Path]:
        """Remove overlays unused for ``older_than_days`` (all of them when None)."""
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        removed = []
        for path in self.root.glob("*") if self.root.is_dir() else ():
            manifest = path / MANIFEST
            used = manifest.stat().st_mtime if manifest.is_file() else 0.0
            if cutoff is None or used < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed


def tree_stamp(root: Path) -> str:
    """A digest of every file under ``root`` but the manifest: relative path, size, modification
    and change time (a change time cannot be set back by hand). Stat only: reusing an overlay
    costs a directory walk, not a read of every file."""
    entries: list[str] = []
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            if relative == MANIFEST:
                continue
            st = os.lstat(path)
            entries.append(f"{relative}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}")
    text = "\n".join(entries).encode("utf-8", "surrogateescape")
    return hashlib.sha256(text).hexdigest()


def overlay_command(backend: InstallBackend, python: str, requirements: str, target: Path) -> list[str]:
    """The backend's hash-checked install command, aimed at ``target`` instead of the environment."""
    from pytest_kisys.install.pip_backend import PipBackend
    from pytest_kisys.install.uv_backend import UvBackend

    if isinstance(backend, UvBackend):
        return [
            backend.uv, "pip", "install", "--python", python, "--target", str(target), "--no-deps",
            "--require-hashes", "--no-build", "--compile-bytecode",
            # Files of its own: uv hard-links from its cache by default, and an overlay's files
            # must be neither shared with the cache nor stamped by another file's times.
            "--link-mode", "copy", *backend.config.uv_options(),
            *(["--offline"] if backend.options.offline else []), "--requirement", requirements,
        ]
    if isinstance(backend, PipBackend):
        return [*backend.command(python, requirements), "--target", str(target)]
    raise TypeError(f"overlay mode cannot drive the {backend.name!r} backend")


def now_blocked(overlay: Overlay, settings: Settings) -> list[str]:
    """The overlay's distributions that are now on the deny list or the known-malicious list
    (``kisys db update`` may have added them since it was built): such an overlay is not used."""
    from pytest_kisys.vet.data import known_malicious

    refused = {canonicalize_name(n) for n in settings.deny} | known_malicious(settings.resolved_cache_dir())
    return sorted(name for name, _ in overlay.items if name in refused)


def reuse_existing(
    requests: Sequence[InstallRequest],
    settings: Settings,
    *,
    python: str,
    say: Callable[[str], None] | None = None,
) -> BatchResult | None:
    """The batch of a run whose missing requests an existing overlay meets, without the installer.

    Every run after an overlay's first goes this way: the same checks as the installer's
    overlay reuse (:func:`pytest_kisys.install.overlay_mode.reuse`), its stamp verified and the
    deny and known-malicious lists applied, then the overlay activated, and neither the
    installer nor the vetting engine imported. None hands the batch to the installer: not
    overlay mode, a request that does not parse, no overlay of this environment at all (then
    the environment is not described here: the installer does it, once), or none that is
    intact, not blocked, and meets every request (the installer then says why, deletes a
    changed overlay and builds).
    """
    from pytest_kisys.errors import KisysError
    from pytest_kisys.errors import RequirementError
    from pytest_kisys.install import overlay_mode
    from pytest_kisys.install.environment import describe_environment
    from pytest_kisys.install.environment import is_running_interpreter
    from pytest_kisys.vet.requirements import parse_requirement

    started = time.monotonic()
    # Only the running process can use an overlay; a venv is never externally managed.
    if not is_running_interpreter(python) or not (settings.isolate or sys.prefix == sys.base_prefix):
        return None
    notes: list[str] = []
    satisfied: list[str] = []
    roots: dict[str, tuple[str, str]] = {}  # name -> (the first request's text, the requirement)
    for request in requests:
        try:
            parsed = parse_requirement(request.requirement)
        except RequirementError:
            return None  # the installer denies it, with its reason
        if not parsed.applies():
            satisfied.append(request.requirement)
            notes.append(f"{request.requirement}: marker does not apply here")
            continue
        roots.setdefault(parsed.name, (request.requirement, parsed.without_marker()))
    if not roots:
        return None
    store = OverlayStore(settings.resolved_cache_dir())
    version = ".".join(str(part) for part in sys.version_info[:3])  # the probe's python_version
    interpreter = interpreter_id(sys.prefix, version)  # python is this process's (checked above)
    candidates = [o for o in store.overlays() if o.interpreter == interpreter]
    if not candidates:
        # Nothing to reuse (the first overlay run): the installer describes the environment
        # and builds; describing it here as well cost a second probe of every distribution.
        return None
    try:
        env = describe_environment(python)
    except KisysError:
        return None
    if not overlay_mode.wanted(python, env, settings):
        return None
    pending = []
    for requested, requirement in roots.values():
        if env.satisfies(requirement):
            satisfied.append(requested)
        else:
            pending.append((requested, requirement))
    found = None
    if pending:
        installed = {name: dist.version for name, dist in env.installed.items()}
        wanted = [requirement for _, requirement in pending]
        found = store.find(wanted, interpreter, installed, among=candidates)
        if found is None or not found.intact() or now_blocked(found, settings):
            return None
    note = overlay_mode.managed_note(python, env, settings)
    if note is not None:
        notes.append(note)
        if say is not None:
            say(note)
    if found is not None:
        activate(found)
        satisfied.extend(requested for requested, _ in pending)
        notes.append(f"overlay: reused {found.path} (nothing installed)")
    return BatchResult(satisfied=tuple(satisfied), duration=time.monotonic() - started, notes=tuple(notes))


def activate(overlay: Overlay) -> None:
    """Make this process, its xdist workers and its subprocesses import from ``overlay``."""
    path = str(overlay.path)
    if path not in sys.path:
        # After site-packages: the overlay only adds distributions the environment lacks.
        site.addsitedir(path)
    current = os.environ.get("PYTHONPATH", "")
    if path not in current.split(os.pathsep):
        os.environ["PYTHONPATH"] = path + (os.pathsep + current if current else "")
    importlib.invalidate_caches()
    try:
        os.utime(overlay.path / MANIFEST)  # last use, for pruning
    except OSError:
        pass  # a read-only cache still works; it only cannot be pruned by age


def activate_inherited(cache_dir: Path) -> list[str]:
    """Put the overlays named in ``PYTHONPATH`` on ``sys.path`` (an xdist worker's, which xdist
    copies from the controller before it installed); returns the directories added."""
    root = os.path.realpath(cache_dir / "overlays")
    added = []
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if not entry or entry in sys.path or os.path.dirname(os.path.realpath(entry)) != root:
            continue
        if os.path.isfile(os.path.join(entry, MANIFEST)):
            site.addsitedir(entry)
            added.append(entry)
    if added:
        importlib.invalidate_caches()
    return added
