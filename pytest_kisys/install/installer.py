"""The balanced-security installer: resolve, vet everything, one consent, install, verify.

One :meth:`Installer.install` call handles one batch:

1. parse every request (names only, no URLs or paths);
2. take the environment's lock, then drop what is already satisfied (another process may
   have installed it while we waited);
3. resolve the whole transitive set with pip's dry-run report, wheels only, additive;
4. vet every item (requested and transitive), refuse downgrades and changes to imported
   packages, check that wheels provide the import names asked for;
5. ask once for everything that needs a person; where nobody can answer the answer is no;
6. snapshot, install exactly the vetted artifacts by hash in one installer call, verify,
   and roll back on any failure or interrupt;
7. make the running interpreter see the new packages, learn confirmed names, write the
   audit log and the run record.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
import datetime as dt
import importlib
import importlib.metadata
import json
import os
from pathlib import Path
import site
import sys
import tempfile
import threading
import time
from typing import Any
from typing import Protocol
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from pytest_kisys.errors import ConfigError
from pytest_kisys.errors import InstallError
from pytest_kisys.errors import KisysError
from pytest_kisys.errors import RequirementError
from pytest_kisys.install import artifacts
from pytest_kisys.install import release_gate
from pytest_kisys.install.consent import TerminalConsent
from pytest_kisys.install.environment import describe
from pytest_kisys.install.environment import is_running_interpreter
from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.install.interface import BatchResult
from pytest_kisys.install.interface import Consent
from pytest_kisys.install.interface import ConsentItem
from pytest_kisys.install.interface import ConsentRequest
from pytest_kisys.install.interface import DeniedItem
from pytest_kisys.install.interface import InstallBackend
from pytest_kisys.install.interface import InstalledItem
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.interface import Recorder
from pytest_kisys.install.interface import RefusedChange
from pytest_kisys.install.learn import learn
from pytest_kisys.install.learn import learning_target
from pytest_kisys.install.lock import environment_lock
from pytest_kisys.install.lock import lock_path
from pytest_kisys.install.pip_backend import PipBackend
from pytest_kisys.install.resolver import closure
from pytest_kisys.install.resolver import dependency_graph
from pytest_kisys.install.resolver import Resolution
from pytest_kisys.install.resolver import Resolver
from pytest_kisys.install.resolver import ResolverOptions
from pytest_kisys.install.signals import deferred_interrupts
from pytest_kisys.install.signals import terminate_as_interrupt
from pytest_kisys.install.snapshot import dist_infos
from pytest_kisys.install.snapshot import Snapshot
from pytest_kisys.install.uv_backend import find_uv
from pytest_kisys.install.uv_backend import UvBackend
from pytest_kisys.install.uv_resolver import UvResolver
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.settings import Settings
from pytest_kisys.vet.policy import WARNING


if TYPE_CHECKING:
    from pytest_kisys.install.overlay import OverlayStore
    from pytest_kisys.vet.interface import Decision
    from pytest_kisys.vet.interface import ParsedRequirement
    from pytest_kisys.vet.interface import VetRequest
    from pytest_kisys.vet.vetter import Vetter as EngineVetterType


class Vetter(Protocol):
    """The vetting engine as the installer uses it (:class:`pytest_kisys.vet.Vetter`)."""

    def vet(self, requests: Sequence[VetRequest]) -> list[Decision]:
        """One decision per request."""
        ...


Progress = Callable[[str], None]

# How often a long install reports that it is still running.
_TICK_SECONDS = 5.0


@dataclass
class _Root:
    """One request that made it past parsing."""

    request: InstallRequest
    parsed: ParsedRequirement

    @property
    def name(self) -> str:
        return self.parsed.name


@dataclass
class _Batch:
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


class Installer:
    """Vets and installs batches of requirements into one environment.

    :param settings: the run's settings (``backend``, ``retries``, ``learn``,
        ``allow_system_install``, ``level``, ``allow``, ``deny``, ``offline``, ``index``,
        ``log_file``, ``config_file``, ``rootdir`` are used here or by the vetter).
    :param python: the interpreter whose environment receives the packages.
    :param vetter: the vetting engine (default: :class:`pytest_kisys.vet.vetter.Vetter`).
    :param consent: who answers the batch's question (default: :class:`TerminalConsent`).
    :param verb: the command the hints are for: ``pytest`` (``--kisys-allow``) or ``install``
        (``kisys install --allow``).
    :param record: where batch results and decisions go (a ``RunRecord``), optional.
    :param progress: receives one-line progress messages (verbose terminal output).
    :param lock_timeout: seconds to wait for another install into the same environment.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        python: str = sys.executable,
        vetter: Vetter | None = None,
        consent: Consent | None = None,
        record: Recorder | None = None,
        progress: Progress | None = None,
        lock_timeout: float = 900.0,
        backend: InstallBackend | None = None,
        verb: str = "pytest",
    ) -> None:
        self.settings = settings
        self.verb = verb
        self.python = python
        self._vetter = vetter
        self.consent: Consent = consent if consent is not None else TerminalConsent()
        self.record = record
        self.progress = progress
        self.lock_timeout = lock_timeout
        self._backend = backend
        self._own_vetter: EngineVetterType | None = None
        self._overlay: tuple[OverlayStore, str] | None = None

    # -- public API

    def install(self, requests: Sequence[InstallRequest]) -> BatchResult:
        """Vet and install ``requests`` as one batch; never raises for a failed batch.

        ``KeyboardInterrupt`` is the exception: the environment is restored first, then it
        propagates. SIGTERM and SIGHUP count as Ctrl-C here (:mod:`.signals`). Everything else
        that goes wrong is in :attr:`BatchResult.error`.
        """
        batch = _Batch(started=time.monotonic())
        try:
            with terminate_as_interrupt():
                result = self._install(list(requests), batch)
        except KisysError as exc:
            result = self._finish(batch, error=str(exc))
        finally:
            # Connections are not kept between batches (there are one or two per session).
            self.close()
        self._publish(result)
        return result

    # -- the pipeline

    def _install(self, requests: list[InstallRequest], batch: _Batch) -> BatchResult:
        roots = self._parse(requests, batch)
        if not roots:
            return self._finish(batch)
        env = describe(self.python)
        if self._use_overlay(env):
            return self._install_overlay(roots, env, batch)
        if env.externally_managed and not self.settings.allow_system_install:
            raise InstallError(
                f"refusing to install into {self.python}: it is an externally managed "
                f"environment (PEP 668): {env.externally_managed.strip()} -- run the tests in "
                "a virtualenv, or set allow_system_install = true to install anyway"
            )
        path = lock_path(env.purelib, self.settings.resolved_cache_dir())
        with environment_lock(path, self.lock_timeout) as waited:
            if waited > 1.0:
                self._say(f"waited {waited:.1f} s for another install into this environment")
            if env.changed_since_described():
                # Someone installed while we waited: look again before deciding what is missing.
                env = describe(self.python)
            pending = self._unsatisfied(roots, env, batch)
            if not pending:
                return self._finish(batch)
            return self._install_locked(pending, env, batch)

    def _use_overlay(self, env: TargetEnv) -> bool:
        """Overlay mode: asked for, or instead of refusing a PEP 668 environment (this process)."""
        if not is_running_interpreter(self.python):
            return False  # only the running process can put an overlay on its path
        managed = bool(env.externally_managed) and not self.settings.allow_system_install
        return self.settings.isolate or managed

    def _install_overlay(self, roots: list[_Root], env: TargetEnv, batch: _Batch) -> BatchResult:
        from pytest_kisys.install.overlay import activate
        from pytest_kisys.install.overlay import interpreter_id
        from pytest_kisys.install.overlay import OverlayStore

        if env.externally_managed and not self.settings.isolate:
            batch.notes.append(
                f"{self.python} is externally managed (PEP 668): installing into an overlay "
                "under the cache instead of the environment"
            )
            self._say(batch.notes[-1])
        store = OverlayStore(self.settings.resolved_cache_dir())
        interpreter = interpreter_id(env.prefix, env.python_version)
        pending = self._unsatisfied(roots, env, batch)
        if not pending:
            return self._finish(batch)
        installed = {name: dist.version for name, dist in env.installed.items()}
        found = store.find([_requirement_text(r.parsed) for r in pending], interpreter, installed)
        if found is not None:
            activate(found)
            batch.satisfied.extend(r.request.requirement for r in pending)
            batch.notes.append(f"overlay: reused {found.path} (nothing installed)")
            return self._finish(batch)
        self._overlay = (store, interpreter)
        try:
            with environment_lock(store.root.parent / "overlays.lock", self.lock_timeout):
                return self._install_locked(pending, env, batch)
        finally:
            self._overlay = None

    def _parse(self, requests: list[InstallRequest], batch: _Batch) -> list[_Root]:
        from pytest_kisys.vet.interface import parse_requirement

        roots: dict[str, _Root] = {}
        for request in requests:
            try:
                parsed = parse_requirement(request.requirement)
            except RequirementError as exc:
                batch.denied.append(DeniedItem(request.requirement, None, str(exc), "", (request.reason,)))
                continue
            if not parsed.applies():
                batch.satisfied.append(request.requirement)
                batch.notes.append(f"{request.requirement}: marker does not apply here")
                continue
            if parsed.name in roots:
                # Same project asked for twice: keep both reasons, the first requirement.
                first = roots[parsed.name]
                merged = InstallRequest(
                    first.request.requirement,
                    f"{first.request.reason}; {request.reason}",
                    first.request.import_name or request.import_name,
                )
                roots[parsed.name] = _Root(merged, first.parsed)
                continue
            roots[parsed.name] = _Root(request, parsed)
        return list(roots.values())

    def _unsatisfied(self, roots: list[_Root], env: TargetEnv, batch: _Batch) -> list[_Root]:
        pending = []
        for root in roots:
            if env.satisfies(_requirement_text(root.parsed)):
                batch.satisfied.append(root.request.requirement)
            else:
                pending.append(root)
        return pending

    def _install_locked(self, roots: list[_Root], env: TargetEnv, batch: _Batch) -> BatchResult:
        backend = self._make_backend(env)
        if isinstance(backend, PipBackend):
            backend.prewarm(self.python)
        try:
            with tempfile.TemporaryDirectory(prefix="kisys-wheels-") as wheels:
                batch.wheels = Path(wheels)
                return self._plan_and_apply(roots, env, backend, batch)
        finally:
            if isinstance(backend, PipBackend):
                backend.discard()

    def _plan_and_apply(
        self, roots: list[_Root], env: TargetEnv, backend: InstallBackend, batch: _Batch
    ) -> BatchResult:
        self._say(f"resolving {len(roots)} requirement(s) without building anything")
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kisys-vet-warmup") as pool:
            # The vetting engine's first use (imports, typosquat tables) overlaps the resolver,
            # which spends its time in a subprocess.
            warming = pool.submit(self._warm_vetter)
            resolution = self._resolve(roots, env, backend)
            warming.result()
        by_name = {root.name: root for root in roots}
        unavailable = [
            (
                next(
                    r
                    for r in roots
                    if r.request.requirement == requirement
                    or _requirement_text(r.parsed) == requirement
                ),
                why,
            )
            for requirement, why in resolution.unavailable.items()
        ]
        for root, why in self._explain_unavailable(unavailable):
            hint = ""
            explained = self._cooldown_denial(root.name, _requirement_text(root.parsed))
            if explained is not None:
                why, hint = explained
            batch.denied.append(DeniedItem(root.name, None, why, hint, (root.request.reason,)))
            by_name.pop(root.name, None)
        items = {item.name: item for item in resolution.items}
        if not items:
            return self._finish(batch, backend=backend.name)
        graph = (
            dict(resolution.graph)
            if resolution.graph is not None
            else dependency_graph(resolution.items, resolution.environment)
        )
        reach = _reach(items, graph, by_name)
        needed_by = _needed_by(items, reach)
        reasons = _reasons(needed_by, by_name)

        self._refuse_changes(items, needed_by, env, batch, resolution)
        if self._overlay is not None:
            for name, item in items.items():
                if item.change != "new":
                    batch.blocked_items.setdefault(
                        name,
                        (f"overlay mode never changes an installed distribution ({item.change} of "
                         f"{env.version_of(name)} to {item.version})", ""),
                    )
        self._say(f"inspecting {len(items)} wheel(s) before anything is installed")
        inspection = release_gate.inspect_batch(
            list(items.values()), env, batch.wheels, cert=self.settings.index.cert
        )
        decisions = self._vet(items, needed_by, by_name, inspection)
        for decision in decisions.values():
            for held in decision.evidence.get("release_age", {}).get("held_back", ()):
                batch.notes.append(held["text"])
                self._say(held["text"])
        forced = self._forced_confirmations(items)
        for name, decision in decisions.items():
            if decision.action == "block":
                batch.blocked_items[name] = ("; ".join(decision.reasons) or "blocked", "")
        self._check_import_names(items, by_name, batch, inspection.paths)

        # Only ask about what could still be installed: a request that needs a blocked item
        # is denied whatever the answer.
        viable: set[str] = set()
        for needed in reach.values():
            if not needed & batch.blocked_items.keys():
                viable |= needed
        asking = self._consent_items(items, decisions, forced, reasons, viable)
        confirmed: tuple[str, ...] = ()
        if any(item.needs_answer for item in asking):
            answer = self.consent.ask(ConsentRequest(tuple(asking)))
            names = tuple(item.name for item in asking if item.needs_answer)
            confirmed = tuple(name for name in names if answer.for_item(name).yes)
            for name in names:
                given = answer.for_item(name)
                # Who answered goes to the audit log (a plugin's approval included).
                batch.notes.append(f"consent: {given.answer} for {name} ({given.why})")
                if given.yes:
                    continue
                # "needs confirmation" where nobody could be asked, "not confirmed" where a
                # person said no: the first is fixed with the hint, the second was a choice.
                nobody = given.why.startswith("nobody can answer")
                verdict = "needs confirmation" if nobody else "not confirmed"
                hint = self._hint(name, decisions[name], forced)
                batch.blocked_items.setdefault(name, (f"{verdict} ({given.why})", hint))
        keep = self._surviving(items, reach, by_name, needed_by, batch)
        if not keep:
            return self._finish(batch, backend=backend.name)
        installed = self._apply(keep, env, backend, reasons, batch)
        learned = self._learn(confirmed, keep, batch)
        return self._finish(batch, installed=installed, backend=backend.name, learned=learned)

    # -- steps

    def _resolve(self, roots: list[_Root], env: TargetEnv, backend: InstallBackend) -> Resolution:
        index = self.settings.index
        gate = self._cooldown()
        options = ResolverOptions(
            index_url=index.url,
            cert=index.cert,
            retries=self.settings.retries,
            offline=self.settings.offline,
            uploaded_before=gate.uploaded_before,
            exempt=gate.exempt,
            fresh=self._fresh_versions,
        )
        requirements = [_requirement_text(root.parsed) for root in roots]
        if isinstance(backend, UvBackend):
            # uv resolves from wheels only too (--no-build), ten times faster than pip.
            return UvResolver(env, options, backend.uv, backend.config).resolve(requirements)
        return Resolver(env, options).resolve(requirements)

    def _explain_unavailable(
        self, unavailable: list[tuple[_Root, str]]
    ) -> list[tuple[_Root, str]]:
        """The resolver only knows it found no wheel; the vetting engine knows why.

        A project that is not on the index at all, or that cannot be vetted offline, is denied
        for that reason (with the engine's "did you mean"), not as "no wheel".
        """
        if not unavailable:
            return []
        from pytest_kisys.vet.interface import VetRequest

        decisions = self._get_vetter().vet(
            [VetRequest(root.parsed, None, (root.request.reason,)) for root, _ in unavailable]
        )
        by_name: dict[str, Decision] = {canonicalize_name(d.name): d for d in decisions}
        out: list[tuple[_Root, str]] = []
        for root, why in unavailable:
            decision = by_name.get(root.name)
            if decision is not None and decision.action == "block" and decision.reasons:
                why = "; ".join(decision.reasons)
            out.append((root, why))
        return out

    def _refuse_changes(
        self,
        items: Mapping[str, PlannedItem],
        needed_by: Mapping[str, tuple[str, ...]],
        env: TargetEnv,
        batch: _Batch,
        resolution: Resolution,
    ) -> None:
        changing = any(item.change != "new" for item in items.values())
        imported = _imported_distributions() if changing and is_running_interpreter(env.python) else set()
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

    def _vet(
        self,
        items: Mapping[str, PlannedItem],
        needed_by: Mapping[str, tuple[str, ...]],
        roots: Mapping[str, _Root],
        inspection: release_gate.BatchInspection | None = None,
    ) -> dict[str, Decision]:
        from pytest_kisys.vet.interface import parse_requirement
        from pytest_kisys.vet.interface import VetRequest

        requests: list[VetRequest] = []
        for item in items.values():
            root = roots.get(item.name)
            parsed = root.parsed if root is not None else parse_requirement(f"{item.name}=={item.version}")
            reasons = tuple(
                roots[name].request.reason for name in needed_by.get(item.name, ()) if name in roots
            )
            parents = [name for name in needed_by.get(item.name, ()) if name != item.name]
            transitive_of = None if root is not None else (parents[0] if parents else None)
            findings = inspection.findings(item.name) if inspection is not None else ()
            declared = root is not None and root.request.declared
            requests.append(
                VetRequest(parsed, item.version, reasons, transitive_of, findings, item.sha256, declared)
            )
        self._say(f"vetting {len(requests)} package(s), transitive ones included")
        decisions = self._get_vetter().vet(requests)
        by_name: dict[str, Decision] = {}
        for decision in decisions:
            by_name[canonicalize_name(decision.name)] = decision
        missing = set(items) - set(by_name)
        if missing:
            raise InstallError(f"the vetting engine gave no decision for {sorted(missing)}")
        return by_name

    def _forced_confirmations(self, items: Mapping[str, PlannedItem]) -> dict[str, str]:
        """Items a person must see even when the policy allows the name."""
        forced: dict[str, str] = {}
        for item in items.values():
            if item.change == "upgrade":
                forced[item.name] = f"upgrades the installed {item.name} {item.installed_version}"
            if item.yanked:
                forced[item.name] = f"{item.name} {item.version} is yanked on the index"
        return forced

    def _check_import_names(
        self,
        items: Mapping[str, PlannedItem],
        roots: Mapping[str, _Root],
        batch: _Batch,
        fetched: Mapping[str, Path] | None = None,
    ) -> None:
        wanted = {
            name: root.request.import_name
            for name, root in roots.items()
            if root.request.import_name and name in items and name not in batch.blocked_items
        }
        if not wanted:
            return
        self._say(f"checking that {len(wanted)} wheel(s) provide the imports asked for")
        verdicts = artifacts.check_import_names(
            {name: (items[name], module) for name, module in wanted.items() if module},
            cert=self.settings.index.cert,
            fetched=fetched,
        )
        for name, problem in verdicts.items():
            if problem is not None:
                batch.blocked_items[name] = (problem, "")

    def _hint(self, name: str, decision: Decision, forced: Mapping[str, str]) -> str:
        """What would let ``name`` through next time, given why a person had to be asked."""
        if decision.action != "confirm" and name in forced:
            return f"{forced[name]}: make that change yourself before the run, or answer y"
        if _suspicious(decision):
            return (
                f"{name} looks suspicious ({'; '.join(decision.reasons)}): only a person at a "
                "terminal can confirm it; or pin a well-established alternative"
            )
        return allow_hint(name, self.settings, self.verb)

    def _consent_items(
        self,
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
                    evidence=tuple(_evidence_lines(decision)),
                    change=item.change,
                    installed_version=item.installed_version,
                    needs_answer=bool(why),
                    suspicious=decision.action == "confirm" and _suspicious(decision),
                )
            )
        return lines

    def _surviving(
        self,
        items: Mapping[str, PlannedItem],
        reach: Mapping[str, set[str]],
        roots: Mapping[str, _Root],
        needed_by: Mapping[str, tuple[str, ...]],
        batch: _Batch,
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

    def _apply(
        self,
        keep: list[PlannedItem],
        env: TargetEnv,
        backend: InstallBackend,
        reasons: Mapping[str, tuple[str, ...]],
        batch: _Batch,
    ) -> tuple[InstalledItem, ...]:
        """Install ``keep`` under a snapshot; roll back on any failure, interrupt included."""
        if self._overlay is not None:
            return self._apply_overlay(keep, backend, reasons, batch, *self._overlay)
        snapshot = Snapshot.take(
            env, replace=[i.name for i in keep if i.change != "new"], planned=[i.name for i in keep]
        )
        completed = False
        try:
            batch.backend = backend.name
            self._say(f"installing {len(keep)} package(s) with {backend.name}")
            with self._ticker(len(keep), backend.name):
                outcome = backend.install(self.python, keep)
            if not outcome.ok:
                tail = "\n".join(outcome.stderr.strip().splitlines()[-8:])
                raise InstallError(
                    f"{backend.name} failed (exit {outcome.returncode}); the environment was restored: {tail}"
                )
            self._say(f"installed {len(keep)} package(s) with {backend.name} in {outcome.duration:.1f} s")
            self._verify(keep, env)
            completed = True
        finally:
            # A second Ctrl-C (or SIGTERM) waits until the environment is whole again.
            with deferred_interrupts():
                if not completed:
                    actions = snapshot.rollback()
                    batch.notes.extend(f"rollback: {line}" for line in actions)
                    batch.notes.append("rolled back")
                snapshot.discard()
        if is_running_interpreter(self.python):
            _activate(snapshot)
        return tuple(
            InstalledItem(
                name=item.name,
                version=item.version,
                sha256=item.sha256,
                duration=outcome.duration,
                reasons=reasons.get(item.name, ()),
                change=item.change,
            )
            for item in keep
        )

    def _apply_overlay(
        self,
        keep: list[PlannedItem],
        backend: InstallBackend,
        reasons: Mapping[str, tuple[str, ...]],
        batch: _Batch,
        store: OverlayStore,
        interpreter: str,
    ) -> tuple[InstalledItem, ...]:
        """Install ``keep`` into a new overlay (the environment is not touched) and activate it."""
        from pytest_kisys.install.overlay import activate

        self._say(f"installing {len(keep)} package(s) with {backend.name} into an overlay")
        overlay, outcome = store.build(
            keep, python=self.python, interpreter=interpreter, backend=backend,
            retries=self.settings.retries,
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
        return tuple(
            InstalledItem(
                name=item.name, version=item.version, sha256=item.sha256, duration=outcome.duration,
                reasons=reasons.get(item.name, ()), change=item.change,
            )
            for item in keep
        )

    def _verify(self, keep: list[PlannedItem], env: TargetEnv) -> None:
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
                "the installer reported success but the environment does not match the plan: "
                + ", ".join(wrong)
            )

    def _learn(self, confirmed: tuple[str, ...], keep: list[PlannedItem], batch: _Batch) -> tuple[str, ...]:
        if not self.settings.learn or not confirmed:
            return ()
        installed = {item.name for item in keep}
        names = [name for name in confirmed if name in installed]
        if not names:
            return ()
        target = learning_target(self.settings.config_file, self.settings.rootdir)
        try:
            added = learn(target, names)
        except (ConfigError, OSError) as exc:
            batch.notes.append(f"learning mode: {exc}")
            return ()
        if added:
            batch.notes.append(f"learning mode: added {', '.join(added)} to allow in {target}")
        return added

    # -- plumbing

    def _make_backend(self, env: TargetEnv) -> InstallBackend:
        if self._backend is not None:
            return self._backend
        wanted = self.settings.backend
        index = self.settings.index
        uv = find_uv() if wanted in {"uv", "auto"} else None
        if wanted == "uv" and uv is None:
            raise InstallError(
                "backend = 'uv' but no uv binary was found: install pytest-kisys[uv] or set backend = 'pip'"
            )
        if uv is not None:
            return UvBackend(
                uv,
                index_url=index.url,
                cert=index.cert,
                retries=self.settings.retries,
                offline=self.settings.offline,
            )
        return PipBackend(
            has_pip=env.has_pip,
            index_url=index.url,
            cert=index.cert,
            retries=self.settings.retries,
            offline=self.settings.offline,
        )

    def _cooldown(self) -> release_gate.Cooldown:
        return release_gate.cooldown(self.settings, time.time())

    def _fresh_versions(self, names: Sequence[str]) -> dict[str, list[str]]:
        """Too-fresh versions per name, from the index's upload times (pip's fallback)."""
        signals = getattr(self._get_vetter(), "signals", None)
        if signals is None:
            return {}
        return release_gate.fresh_versions(signals(list(names)), self._cooldown())

    def _cooldown_denial(self, name: str, requirement: str) -> tuple[str, str] | None:
        gate = self._cooldown()
        signals = getattr(self._get_vetter(), "signals", None)
        if gate.uploaded_before is None or signals is None:
            return None
        found = signals([name]).get(name)
        return release_gate.explain_unavailable(requirement, found, gate, time.time(), self.settings)

    def _get_vetter(self) -> Vetter:
        if self._vetter is None:
            from pytest_kisys.vet.vetter import Vetter as EngineVetter

            # The engine records and logs its own decisions.
            self._own_vetter = EngineVetter(self.settings, record=self.record)  # type: ignore[arg-type]
            self._vetter = self._own_vetter
        return self._vetter

    def _warm_vetter(self) -> None:
        warm_up = getattr(self._get_vetter(), "warm_up", None)
        if warm_up is not None:
            warm_up()

    def close(self) -> None:
        """Release the vetting engine's connections when this installer created it."""
        if self._own_vetter is not None:
            self._own_vetter.close()
            self._own_vetter = None
            self._vetter = None

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    @contextmanager
    def _ticker(self, count: int, backend: str) -> Iterator[None]:
        """Report every few seconds that a long install is still running."""
        if self.progress is None:
            yield
            return
        done = threading.Event()
        started = time.monotonic()

        def tick() -> None:
            while not done.wait(_TICK_SECONDS):
                self._say(
                    f"still installing {count} package(s) with {backend} ({time.monotonic() - started:.0f} s)"
                )

        thread = threading.Thread(target=tick, name="kisys-install-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _finish(
        self,
        batch: _Batch,
        *,
        installed: tuple[InstalledItem, ...] = (),
        backend: str = "",
        learned: tuple[str, ...] = (),
        error: str | None = None,
    ) -> BatchResult:
        return BatchResult(
            installed=installed,
            denied=tuple(batch.denied),
            refused=tuple(batch.refused),
            satisfied=tuple(batch.satisfied),
            error=error,
            backend=backend or batch.backend,
            duration=time.monotonic() - batch.started,
            rolled_back="rolled back" in batch.notes,
            learned=learned,
            notes=tuple(batch.notes),
        )

    def _publish(self, result: BatchResult) -> None:
        if self.record is not None:
            self.record.add("installs", result)
        if self.settings.log_file is not None:
            write_audit(self.settings.log_file, result, python=self.python)


def write_audit(path: Path, result: BatchResult, *, python: str) -> None:
    """Append one JSON line describing ``result`` to the audit log at ``path``."""
    entry: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(),
        "event": "install",
        "python": python,
        "result": "error" if result.error else ("partial" if not result.ok else "ok"),
    }
    entry.update(result.to_json())
    entry = Redactor().redact_json(entry)  # pip's error output may quote an index URL
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def _requirement_text(parsed: ParsedRequirement) -> str:
    """The requirement for pip: name, extras, specifier (the marker was evaluated already)."""
    text = parsed.name
    if parsed.extras:
        text += "[" + ",".join(parsed.extras) + "]"
    return text + parsed.specifier


def _reach(
    items: Mapping[str, PlannedItem], graph: Mapping[str, set[str]], roots: Mapping[str, _Root]
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


def _needed_by(items: Mapping[str, PlannedItem], reach: Mapping[str, set[str]]) -> dict[str, tuple[str, ...]]:
    """For each item, the requests (by name) that pull it in."""
    owners: dict[str, list[str]] = {name: [] for name in items}
    for root, names in reach.items():
        for name in names:
            owners[name].append(root)
    return {name: tuple(sorted(found)) for name, found in owners.items()}


def _reasons(
    needed_by: Mapping[str, tuple[str, ...]], roots: Mapping[str, _Root]
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


def _evidence_lines(decision: Decision) -> list[str]:
    lines = [f"decision: {decision.action} ({'; '.join(decision.reasons)})"]
    for key, value in sorted(decision.evidence.items()):
        if value in (None, "", [], {}, False):
            continue
        lines.append(f"{key}: {value}")
    return lines


def _imported_distributions() -> set[str]:
    """Canonical names of installed distributions whose top-level modules are imported."""
    mapping = importlib.metadata.packages_distributions()
    found: set[str] = set()
    for module in list(sys.modules):
        top = module.partition(".")[0]
        for dist in mapping.get(top, ()):
            found.add(canonicalize_name(dist))
    return found


def _activate(snapshot: Snapshot) -> None:
    """Make this process see what was just installed: caches and new ``.pth`` files."""
    importlib.invalidate_caches()
    known = {os.path.normcase(p) for p in sys.path}
    for pth in snapshot.new_pth_files():
        # Only the new files: re-running every .pth would repeat their import lines.
        site.addpackage(str(pth.parent), pth.name, known)
    importlib.invalidate_caches()


def _suspicious(decision: Decision) -> bool:
    """Whether the vetter warned about it (only a person at a terminal may confirm it)."""
    return any(reason.startswith(WARNING) for reason in decision.reasons)


__all__ = ["Installer", "allow_hint", "write_audit"]
