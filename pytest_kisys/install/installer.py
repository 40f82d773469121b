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
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING

from pytest_kisys.concurrency import alongside
from pytest_kisys.errors import InstallError
from pytest_kisys.errors import KisysError
from pytest_kisys.errors import RequirementError
from pytest_kisys.install import overlay_mode
from pytest_kisys.install import pipcmd
from pytest_kisys.install.backends import make_backend
from pytest_kisys.install.batch import activate
from pytest_kisys.install.batch import allow_or_confirm_hint
from pytest_kisys.install.batch import Batch
from pytest_kisys.install.batch import consent_items
from pytest_kisys.install.batch import forced_confirmations
from pytest_kisys.install.batch import installed_items
from pytest_kisys.install.batch import learn_confirmed
from pytest_kisys.install.batch import needed_by_of
from pytest_kisys.install.batch import reach_of
from pytest_kisys.install.batch import reasons_of
from pytest_kisys.install.batch import refuse_changes
from pytest_kisys.install.batch import requirement_text
from pytest_kisys.install.batch import Root
from pytest_kisys.install.batch import surviving
from pytest_kisys.install.batch import verify_installed
from pytest_kisys.install.batch import write_audit
from pytest_kisys.install.consent import TerminalConsent
from pytest_kisys.install.environment import describe_environment
from pytest_kisys.install.environment import is_running_interpreter
from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.install.interface import BatchResult
from pytest_kisys.install.interface import Consent
from pytest_kisys.install.interface import ConsentRequest
from pytest_kisys.install.interface import DeniedItem
from pytest_kisys.install.interface import InstallBackend
from pytest_kisys.install.interface import InstalledItem
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.interface import Recorder
from pytest_kisys.install.interface import Resolution
from pytest_kisys.install.lock import environment_lock
from pytest_kisys.install.lock import lock_path
from pytest_kisys.install.progress import still_running
from pytest_kisys.install.signals import deferred_interrupts
from pytest_kisys.install.signals import terminate_as_interrupt
from pytest_kisys.install.snapshot import Snapshot
from pytest_kisys.install.wheelgraph import batch_graph
from pytest_kisys.pep503 import canonicalize_name
from pytest_kisys.settings import Settings


if TYPE_CHECKING:
    from pytest_kisys.install import release_gate
    from pytest_kisys.install.overlay import OverlayStore
    from pytest_kisys.vet.interface import Decision
    from pytest_kisys.vet.interface import VetRequest
    from pytest_kisys.vet.vetter import Vetter


Progress = Callable[[str], None]


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
        self._own_vetter: Vetter | None = None
        self._vetter_lock = threading.Lock()
        self._overlay: tuple[OverlayStore, str] | None = None

    # -- public API

    def install(self, requests: Sequence[InstallRequest]) -> BatchResult:
        """Vet and install ``requests`` as one batch; never raises for a failed batch.

        ``KeyboardInterrupt`` is the exception: the environment is restored first, then it
        propagates. SIGTERM and SIGHUP count as Ctrl-C here (:mod:`.signals`). Everything else
        that goes wrong is in :attr:`BatchResult.error`.
        """
        batch = Batch(started=time.monotonic())
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

    def _install(self, requests: list[InstallRequest], batch: Batch) -> BatchResult:
        roots = self._parse(requests, batch)
        if not roots:
            return self._finish(batch)
        env = describe_environment(self.python)
        if overlay_mode.wanted(self.python, env, self.settings):
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
                env = describe_environment(self.python)
            pending = self._unsatisfied(roots, env, batch)
            if not pending:
                return self._finish(batch)
            return self._install_locked(pending, env, batch)

    def _install_overlay(self, roots: list[Root], env: TargetEnv, batch: Batch) -> BatchResult:
        store, interpreter = overlay_mode.start(self.python, env, self.settings, batch, self._say)
        pending = self._unsatisfied(roots, env, batch)
        if not pending or overlay_mode.reuse(store, interpreter, pending, env, batch, self.settings):
            return self._finish(batch)
        self._overlay = (store, interpreter)
        try:
            with environment_lock(store.root.parent / "overlays.lock", self.lock_timeout):
                return self._install_locked(pending, env, batch)
        finally:
            self._overlay = None

    def _parse(self, requests: list[InstallRequest], batch: Batch) -> list[Root]:
        from pytest_kisys.vet.interface import parse_requirement

        roots: dict[str, Root] = {}
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
                roots[parsed.name] = Root(merged, first.parsed)
                continue
            roots[parsed.name] = Root(request, parsed)
        return list(roots.values())

    def _unsatisfied(self, roots: list[Root], env: TargetEnv, batch: Batch) -> list[Root]:
        pending = []
        for root in roots:
            if env.satisfies(requirement_text(root.parsed)):
                batch.satisfied.append(root.request.requirement)
            else:
                pending.append(root)
        return pending

    def _install_locked(self, roots: list[Root], env: TargetEnv, batch: Batch) -> BatchResult:
        backend = self._backend or make_backend(self.settings, env)
        backend.prewarm(self.python)
        try:
            with tempfile.TemporaryDirectory(prefix="kisys-wheels-") as wheels:
                batch.wheels = Path(wheels)
                return self._plan_and_apply(roots, env, backend, batch)
        finally:
            backend.discard()

    def _plan_and_apply(
        self, roots: list[Root], env: TargetEnv, backend: InstallBackend, batch: Batch
    ) -> BatchResult:
        self._say(f"resolving {len(roots)} requirement(s) without building anything")
        # The vetting engine's first use (imports, typosquat tables) and the index lookups of
        # the requests overlap the resolver, which spends its time in a subprocess.
        # With uv it waits for uv to start: until then the two would share the GIL.
        launched, asked, uv = threading.Event(), [r.name for r in roots], backend.name == "uv"
        with alongside(lambda: self._warm_vetter(asked, launched, uv), name="kisys-vet-warmup") as warm:
            with pipcmd.announcing_launch(launched):
                resolution = self._resolve(roots, env, backend)
        warm.result()
        from pytest_kisys.install import release_gate  # imported by the warm-up meanwhile

        by_name = {root.name: root for root in roots}
        for denied in release_gate.deny_unavailable(
            roots, resolution.unavailable, self._get_vetter(), self.settings
        ):
            batch.denied.append(denied)
            by_name.pop(denied.name, None)
        items = {item.name: item for item in resolution.items}
        if not items:
            return self._finish(batch, backend=backend.name)
        self._say(f"inspecting {len(items)} wheel(s) before anything is installed")
        # The index lookups of the transitive items overlap the downloads.
        with alongside(lambda: self._prefetch(list(items)), name="kisys-vet-prefetch") as fetching:
            inspection = release_gate.inspect_batch(
                list(items.values()), env, batch.wheels, cert=self.settings.index.cert
            )
            # uv's lock has no dependencies: they come from the inspected wheels (wheelgraph).
            graph = batch_graph(resolution, inspection.paths, env.markers)
            reach = reach_of(items, graph, by_name)
            needed_by = needed_by_of(items, reach)
            reasons = reasons_of(needed_by, by_name)

            refuse_changes(items, needed_by, env, batch, resolution)
            if self._overlay is not None:
                overlay_mode.block_changes(items, env, batch)
        fetching.result()
        decisions = self._vet(items, needed_by, by_name, inspection)
        for decision in decisions.values():
            for held in decision.evidence.get("release_age", {}).get("held_back", ()):
                batch.notes.append(held["text"])
                self._say(held["text"])
        forced = forced_confirmations(items)
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
        asking = consent_items(items, decisions, forced, reasons, viable)
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
                nobody = given.answered_by == "nobody"
                verdict = "needs confirmation" if nobody else "not confirmed"
                hint = allow_or_confirm_hint(name, decisions[name], forced, self.settings, self.verb)
                batch.blocked_items.setdefault(name, (f"{verdict} ({given.why})", hint))
        keep = surviving(items, reach, by_name, needed_by, batch)
        if not keep:
            return self._finish(batch, backend=backend.name)
        keep = inspection.installable(keep)
        installed = self._apply(keep, env, backend, reasons, batch)
        learned = learn_confirmed(self.settings, confirmed, keep, batch)
        return self._finish(batch, installed=installed, backend=backend.name, learned=learned)

    # -- steps

    def _resolve(self, roots: list[Root], env: TargetEnv, backend: InstallBackend) -> Resolution:
        from pytest_kisys.install import gate_options

        options = gate_options.resolver_options(self.settings, self._get_vetter)
        requirements = [requirement_text(root.parsed) for root in roots]
        # Each backend brings its resolver (uv's is ten times faster, wheels only too).
        return backend.resolver(env, options).resolve(requirements)

    def _vet(
        self,
        items: Mapping[str, PlannedItem],
        needed_by: Mapping[str, tuple[str, ...]],
        roots: Mapping[str, Root],
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

    def _check_import_names(
        self,
        items: Mapping[str, PlannedItem],
        roots: Mapping[str, Root],
        batch: Batch,
        fetched: Mapping[str, Path] | None = None,
    ) -> None:
        from pytest_kisys.install import artifacts  # only when something is installed

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

    def _apply(
        self,
        keep: list[PlannedItem],
        env: TargetEnv,
        backend: InstallBackend,
        reasons: Mapping[str, tuple[str, ...]],
        batch: Batch,
    ) -> tuple[InstalledItem, ...]:
        """Install ``keep`` under a snapshot; roll back on any failure, interrupt included."""
        if self._overlay is not None:
            return overlay_mode.apply(
                keep, backend, reasons, batch, self._overlay,
                python=self.python, retries=self.settings.retries, say=self._say,
            )
        snapshot = Snapshot.take(
            env, replace=[i.name for i in keep if i.change != "new"], planned=[i.name for i in keep]
        )
        completed = False
        try:
            batch.backend = backend.name
            self._say(f"installing {len(keep)} package(s) with {backend.name}")
            with still_running(self._say if self.progress else None, len(keep), backend.name):
                outcome = backend.install(self.python, keep)
            if not outcome.ok:
                tail = "\n".join(outcome.stderr.strip().splitlines()[-8:])
                raise InstallError(
                    f"{backend.name} failed (exit {outcome.returncode}); the environment was restored: {tail}"
                )
            self._say(f"installed {len(keep)} package(s) with {backend.name} in {outcome.duration:.1f} s")
            verify_installed(keep, env)
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
            activate(snapshot)
        return installed_items(keep, reasons, outcome.duration)

    # -- plumbing

    def _get_vetter(self) -> Vetter:
        with self._vetter_lock:  # the warm-up thread and the resolver may both ask first
            if self._vetter is None:
                from pytest_kisys.vet.vetter import Vetter as EngineVetter

                # The engine records and logs its own decisions.
                self._own_vetter = EngineVetter(self.settings, record=self.record)  # type: ignore[arg-type]
                self._vetter = self._own_vetter
            return self._vetter

    def _warm_vetter(self, names: Sequence[str], launched: threading.Event, wait: bool) -> None:
        if wait:
            launched.wait(1.0)
        # The wheel inspection's modules, needed once the resolver is done.
        import pytest_kisys.install.release_gate  # noqa: F401

        warm_up = getattr(self._get_vetter(), "warm_up", None)
        if warm_up is not None:
            warm_up()
        self._prefetch(names)

    def _prefetch(self, names: Sequence[str]) -> None:
        prefetch = getattr(self._get_vetter(), "prefetch", None)
        if prefetch is not None:
            prefetch(names)

    def close(self) -> None:
        """Release the vetting engine's connections when this installer created it."""
        if self._own_vetter is not None:
            self._own_vetter.close()
            self._own_vetter = None
            self._vetter = None

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def _finish(
        self,
        batch: Batch,
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
