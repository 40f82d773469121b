"""Collection role: resolve the suite's missing imports and ``requires`` markers before conftests.

Two entry points:

* :func:`resolve_before_conftests` runs from ``pytest_load_initial_conftests`` (tryfirst),
  before any conftest is imported: it discovers the files this run collects, scans them
  statically (:mod:`pytest_kisys.resolve.imports`), plans one batch
  (:mod:`pytest_kisys.resolve.plan`) and sends it through the vetting engine and the installer
  in one go. In an xdist worker it installs nothing: the controller did, before spawning it.
* :class:`KisysCollect` (registered as ``kisys-collect``) is the safety net and the marker
  logic during collection and the run, and writes the ``kisys`` terminal section.
"""

from __future__ import annotations

from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
from dataclasses import field
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import os
from pathlib import Path
import re
import sys
import sysconfig
import time
from typing import Any
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
import pytest

from pytest_kisys.errors import InstallError
from pytest_kisys.errors import RequirementError
from pytest_kisys.record import RUN_KEY
from pytest_kisys.resolve.discover import discover
from pytest_kisys.resolve.discover import Discovery
from pytest_kisys.resolve.discover import spec_from_config
from pytest_kisys.resolve.firstparty import detect_first_party
from pytest_kisys.resolve.firstparty import FirstParty
from pytest_kisys.resolve.firstparty import import_dir_of
from pytest_kisys.resolve.imports import ScanCache
from pytest_kisys.resolve.plan import build_plan
from pytest_kisys.resolve.plan import is_stdlib
from pytest_kisys.resolve.plan import Need
from pytest_kisys.resolve.plan import Plan
from pytest_kisys.resolve.plan import requirement_satisfied
from pytest_kisys.resolve.plan import unmapped_for
from pytest_kisys.settings import Settings


if TYPE_CHECKING:
    from pytest_kisys.install.interface import BatchResult


__all__ = [
    "COLLECT_KEY",
    "Denial",
    "KisysCollect",
    "ResolveOutcome",
    "resolve_before_conftests",
]

WORKER_ENV = "PYTEST_XDIST_WORKER"
WORKERINPUT_KEY = "kisys_resolve"
WORKER_LOCK_TIMEOUT = 900.0
"""Seconds an xdist worker waits for another install into its environment to finish."""
_NO_MODULE = re.compile(r"No module named '([^']+)'")
_DENIED_PROPERTY = "kisys_denied"
_LAZY_PROPERTY = "kisys_lazy_missing"
_SKIP_CATEGORY = "kisys-skipped"


@dataclass(frozen=True)
class Denial:
    """Why a requirement was not installed, and what would allow it."""

    requirement: str
    reason: str
    hint: str = ""

    def message(self) -> str:
        """``kisys: scipy>=1.12 needs confirmation; run with --kisys-allow scipy``."""
        text = f"kisys: {self.requirement} {self.reason}"
        if self.hint:
            text += f"; run with {self.hint}" if self.hint.startswith("--") else f"; {self.hint}"
        return text

    def to_json(self) -> dict[str, Any]:
        """Report and worker-transfer form."""
        return {"requirement": self.requirement, "reason": self.reason, "hint": self.hint}


@dataclass(frozen=True)
class ResolveOutcome:
    """What the pre-collection resolve did; shown in the terminal and sent to xdist workers."""

    files: int = 0
    scan_seconds: float = 0.0
    plan: Plan = field(default_factory=Plan)
    installed: tuple[str, ...] = ()
    denied: Mapping[str, Denial] = field(default_factory=dict)
    """Canonical distribution name -> denial."""
    denied_imports: Mapping[str, Denial] = field(default_factory=dict)
    """Top-level import name -> denial (also for imports with no trusted distribution)."""
    error: str | None = None
    worker: bool = False
    batch: str | None = None
    """One line about the install batch (counts, seconds, backend), when there was one."""

    def denial_for_import(self, name: str) -> Denial | None:
        """The denial that explains why import ``name`` is missing, if there is one."""
        return self.denied_imports.get(name) or self.denied_imports.get(name.split(".", 1)[0])

    def to_json(self) -> dict[str, Any]:
        """Report form, and what the controller hands each xdist worker."""
        return {
            "files": self.files,
            "scan_seconds": round(self.scan_seconds, 4),
            "plan": self.plan.to_json(),
            "installed": list(self.installed),
            "denied": {k: v.to_json() for k, v in self.denied.items()},
            "denied_imports": {k: v.to_json() for k, v in self.denied_imports.items()},
            "error": self.error,
            "batch": self.batch,
        }

    @classmethod
    def from_worker_input(cls, data: Mapping[str, Any]) -> ResolveOutcome:
        """The part of :meth:`to_json` a worker needs (denials and installs)."""

        def denials(raw: Any) -> dict[str, Denial]:
            return {
                str(k): Denial(str(v["requirement"]), str(v["reason"]), str(v.get("hint", "")))
                for k, v in dict(raw or {}).items()
            }

        return cls(
            files=int(data.get("files", 0)),
            installed=tuple(map(str, data.get("installed", ()))),
            denied=denials(data.get("denied")),
            denied_imports=denials(data.get("denied_imports")),
            error=data.get("error"),
            worker=True,
        )


COLLECT_KEY: pytest.StashKey[KisysCollect] = pytest.StashKey()
_FAIL_KEY: pytest.StashKey[str] = pytest.StashKey()


# -- the environment ------------------------------------------------------------------------


def module_importable(name: str) -> bool:
    """Whether ``import name`` would find something, without importing third-party code.

    Only the top-level module is looked up with :func:`importlib.util.find_spec`; for a
    namespace package (``google.protobuf``) the next component is looked for on disk in the
    namespace's portions, because ``find_spec`` of a dotted name imports its parents.
    """
    top, _, rest = name.partition(".")
    if top in sys.modules and not rest:
        return True
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    if not rest or spec.origin not in (None, "namespace"):
        return True
    child = rest.split(".", 1)[0]
    suffixes = importlib.machinery.all_suffixes()
    for location in spec.submodule_search_locations or ():
        base = Path(location) / child
        if base.is_dir() or any(base.with_name(child + s).exists() for s in suffixes):
            return True
    return False


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _first_party_for(config: pytest.Config, files: Sequence[Path]) -> FirstParty:
    pythonpath = [Path(p) for p in config.getini("pythonpath") or ()]
    return detect_first_party(Path(config.rootpath), pythonpath=pythonpath, files=files)


def _wait_for_controller(settings: Settings) -> None:
    """In a worker, let any install into this environment finish before conftests import."""
    from pytest_kisys.install.lock import environment_lock
    from pytest_kisys.install.lock import lock_path

    site = Path(sysconfig.get_paths()["purelib"])
    path = lock_path(site, settings.resolved_cache_dir())
    try:
        with environment_lock(path, timeout=WORKER_LOCK_TIMEOUT):
            return
    except InstallError:
        # A stuck lock must not kill the worker: collection then shows the usual errors.
        return


def _run_batch(
    config: pytest.Config, settings: Settings, needs: Sequence[Need]
) -> tuple[BatchResult | None, str | None]:
    """One installer run for ``needs``; (result, None) or (None, why it could not run)."""
    from pytest_kisys.install.consent import HookConsent
    from pytest_kisys.install.consent import TerminalConsent
    from pytest_kisys.install.installer import Installer
    from pytest_kisys.install.interface import InstallRequest
    from pytest_kisys.install.progress import terminal_progress
    from pytest_kisys.vet.pytest_wiring import vetter_for_config

    requests = [InstallRequest(n.requirement, n.reason, n.import_name) for n in needs]
    # A plugin may answer first (pytest_kisys_approve); the terminal is asked otherwise.
    consent = HookConsent(
        config.hook.pytest_kisys_approve,
        config,
        TerminalConsent(capture=config.pluginmanager.getplugin("capturemanager")),
    )
    record = config.stash.get(RUN_KEY, None)
    # The run's vetter: decisions reach the report, the -v terminal lines and the
    # pytest_kisys_decision hook.
    vetter = vetter_for_config(config, settings)
    installer = Installer(
        settings,
        python=sys.executable,
        vetter=vetter,
        consent=consent,
        record=record,
        progress=terminal_progress(config),
    )
    try:
        result = installer.install(requests)
    except InstallError as exc:
        return None, str(exc)
    finally:
        installer.close()
        vetter.close()
    importlib.invalidate_caches()
    return result, None


def _denials(
    needs: Sequence[Need], result: BatchResult | None, error: str | None
) -> tuple[dict[str, Denial], dict[str, Denial], tuple[str, ...]]:
    """Map the batch result back onto the needs: per distribution and per import name."""
    by_dist: dict[str, Denial] = {}
    by_import: dict[str, Denial] = {}
    installed: tuple[str, ...] = ()
    batch_error = error or (result.error if result is not None else None)
    denied_items = {canonicalize_name(d.name): d for d in result.denied} if result else {}
    refused = {canonicalize_name(r.name): r for r in result.refused} if result else {}
    if result is not None and batch_error is None:
        installed = tuple(f"{i.name}=={i.version}" for i in result.installed)
    for need in needs:
        dist = canonicalize_name(need.distribution)
        denial: Denial | None = None
        if batch_error is not None:
            denial = Denial(need.requirement, f"could not be installed: {batch_error}")
        elif dist in denied_items:
            item = denied_items[dist]
            denial = Denial(need.requirement, item.reason, item.hint)
        elif dist in refused:
            denial = Denial(need.requirement, refused[dist].reason)
        elif refused or denied_items:
            # The batch is all-or-nothing when something else in it was refused or denied.
            if installed_version(need.distribution) is None:
                why = "was not installed because another package in the same batch was refused"
                denial = Denial(need.requirement, why)
        if denial is not None:
            by_dist.setdefault(dist, denial)
            if need.import_name:
                by_import.setdefault(need.import_name.split(".", 1)[0], denial)
    return by_dist, by_import, installed


def _resolve_import(name: str, settings: Settings, first_party: FirstParty) -> Any:
    # Imported on first use: most runs have nothing missing and never need the name tables.
    from pytest_kisys.resolve.names import resolve_import

    return resolve_import(name, settings, first_party)


def resolve_before_conftests(
    early_config: pytest.Config, settings: Settings, args: Sequence[str] | None = None
) -> ResolveOutcome:
    """Scan, plan and install in one batch, before any conftest is imported.

    Call from ``pytest_load_initial_conftests(tryfirst=True)`` once settings are resolved.
    The outcome is stored on the registered :class:`KisysCollect` (if any) and returned.
    The work is recorded as the built-in stages ``resolve``, ``vet`` and ``install``.

    :param args: the positional arguments (default: ``known_args_namespace.file_or_dir``).
    """
    from pytest_kisys.stages.session import stage_scope

    plugin = early_config.stash.get(COLLECT_KEY, None)
    if os.environ.get(WORKER_ENV):
        # The controller resolved before spawning us; only wait for a concurrent install.
        _wait_for_controller(settings)
        importlib.invalidate_caches()
        # No stage rows or spans here: the controller's resolve, vet and install are the run's.
        outcome = ResolveOutcome(worker=True)
    else:
        with stage_scope(early_config, "resolve"):
            found, plan, seconds = _plan(early_config, settings, args)
        if plan.needs:
            with stage_scope(early_config, "vet"), stage_scope(early_config, "install") as step:
                outcome = _install_plan(early_config, settings, found.files, plan, seconds)
                if outcome.error:
                    step.fail(outcome.error)
        else:
            outcome = _install_plan(early_config, settings, found.files, plan, seconds)
            for name in ("vet", "install"):
                with stage_scope(early_config, name) as handle:
                    handle.skip("nothing missing")
    if plugin is not None:
        plugin.outcome = outcome
    return outcome


def _plan(
    config: pytest.Config, settings: Settings, args: Sequence[str] | None
) -> tuple[Discovery, Plan, float]:
    """Discover, scan (cached) and plan; returns the files, the plan and the scan's seconds."""
    from pytest_kisys.vet.requirements import parse_requirement

    started = time.perf_counter()
    found = discover(spec_from_config(config, args))
    cache = ScanCache.load(settings.resolved_cache_dir() / "scan-imports.json")
    scans = []
    for path in found.files:
        try:
            scans.append(cache.scan(path))
        except OSError:
            continue  # unreadable or gone: pytest reports it when it gets there
    cache.save()
    scan_seconds = time.perf_counter() - started
    first_party = _first_party_for(config, found.files)
    plan = build_plan(
        scans,
        rootdir=Path(config.rootpath),
        first_party=first_party,
        importable=module_importable,
        installed_version=installed_version,
        resolve_import=lambda name: _resolve_import(name, settings, first_party),
        parse_requirement=parse_requirement,
    )
    return found, plan, scan_seconds


def _install_plan(
    config: pytest.Config,
    settings: Settings,
    files: Sequence[Path],
    plan: Plan,
    scan_seconds: float,
) -> ResolveOutcome:
    """Send the plan's needs through the installer (if any) and describe what happened."""
    # Imports nobody can map are not denials: pytest's own error stays (a broken suite must
    # not turn green by skipping), and the kisys section says how to map them.
    if not plan.needs:
        return ResolveOutcome(len(files), scan_seconds, plan)
    result, error = _run_batch(config, settings, plan.needs)
    denied, denied_imports, installed = _denials(plan.needs, result, error)
    return ResolveOutcome(
        files=len(files),
        scan_seconds=scan_seconds,
        plan=plan,
        installed=installed,
        denied=denied,
        denied_imports=denied_imports,
        error=error or (result.error if result else None),
        batch=_batch_line(result),
    )


def _batch_line(result: BatchResult | None) -> str | None:
    if result is None:
        return None
    return (
        f"one batch: {len(result.installed)} installed, {len(result.denied)} denied, "
        f"{len(result.refused)} refused, {len(result.satisfied)} already there, "
        f"in {result.duration:.1f} s ({result.backend or 'no backend run'})"
    )


# -- the plugin object ------------------------------------------------------------------------


@dataclass
class _Counters:
    denied_skips: int = 0
    denied_errors: int = 0
    net_installed: list[str] = field(default_factory=list)
    net_denied: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    lazy: dict[str, list[str]] = field(default_factory=dict)


class KisysCollect:
    """The collection role: safety net, ``requires`` markers, lazy imports, terminal section."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.outcome = ResolveOutcome()
        self.counters = _Counters()
        self._attempted: set[str] = set()
        self._recollecting: set[str] = set()
        self._first_party: FirstParty | None = None
        self._near: dict[Path, FirstParty] = {}
        config.stash[COLLECT_KEY] = self

    @property
    def worker(self) -> bool:
        """Whether this process is an xdist worker (never installs, never prompts)."""
        return bool(os.environ.get(WORKER_ENV))

    # -- xdist --------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Hand the controller's outcome to each worker (read back in ``pytest_configure``)."""
        node.workerinput[WORKERINPUT_KEY] = self.outcome.to_json()

    def pytest_configure(self, config: pytest.Config) -> None:
        """In a worker, adopt the controller's denials so skips carry the same reasons."""
        workerinput = getattr(config, "workerinput", None)
        if isinstance(workerinput, dict) and WORKERINPUT_KEY in workerinput:
            self.outcome = ResolveOutcome.from_worker_input(workerinput[WORKERINPUT_KEY])

    # -- terminal section before the run ------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        """Write the ``kisys`` section (resolved, installed, denied and why) before collecting."""
        if not self.worker:
            reporter = self.config.pluginmanager.getplugin("terminalreporter")
            if reporter is not None:
                reporter.write_sep("-", "kisys")
                for line in self.section_lines():
                    reporter.write_line(line)
        return (yield)

    def section_lines(self) -> list[str]:
        """The lines of the ``kisys`` section."""
        outcome = self.outcome
        plan = outcome.plan
        lines = [
            f"scanned {outcome.files} file{'s' if outcome.files != 1 else ''} in "
            f"{outcome.scan_seconds * 1000:.0f} ms: "
            f"{plan.satisfied} third-party imports/requirements present, "
            f"{len(plan.needs)} to install"
            + (f", {len(plan.unmapped)} not resolvable" if plan.unmapped else "")
        ]
        for import_name, dist, kind in plan.mapped:
            lines.append(f"resolved: import {import_name} -> {dist} ({kind.replace('_', ' ')})")
        if outcome.batch:
            lines.append(outcome.batch)
        if self.config.get_verbosity() > 0:
            # The batch was vetted before the terminal reporter existed, so the -v decision
            # lines the vetter would echo are shown here instead.
            from pytest_kisys.vet.audit import format_decision
            from pytest_kisys.vet.interface import Decision

            record = self.config.stash.get(RUN_KEY, None)
            for decision in record.decisions if record is not None else ():
                if isinstance(decision, Decision):
                    lines.append(format_decision(decision))
        for item in outcome.installed:
            lines.append(f"installed: {item}")
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

    # -- safety net and markers at collection -------------------------------------------

    def _first_party_now(self, near: Path | None = None) -> FirstParty:
        """First-party names of the discovered files, plus the import directory of ``near``."""
        if self._first_party is None:
            found = discover(spec_from_config(self.config))
            self._first_party = _first_party_for(self.config, found.files)
        if near is None:
            return self._first_party
        directory = import_dir_of(near) if near.is_file() else near
        if directory not in self._near:
            self._near[directory] = detect_first_party(directory, files=())
        extra = self._near[directory]
        if not extra.origins:
            return self._first_party
        return FirstParty({**extra.origins, **self._first_party.origins})

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        """Retry a collection that failed on a missing third-party module, once; check markers."""
        report = yield
        if report.failed and collector.nodeid not in self._recollecting:
            report = self._safety_net(collector, report)
        if report.passed and report.result:
            report = self._check_markers(collector, report)
        return report

    def _missing_module(self, collector: pytest.Collector, report: pytest.CollectReport) -> str | None:
        match = _NO_MODULE.search(report.longreprtext)
        if match is None:
            return None
        name = match.group(1)
        top = name.split(".", 1)[0]
        path = getattr(collector, "path", None)
        first_party = self._first_party_now(Path(path) if path else None)
        if is_stdlib(top) or top in first_party:
            return None
        return name

    def _skip_report(
        self, collector: pytest.Collector, report: pytest.CollectReport, message: str
    ) -> pytest.CollectReport:
        path = Path(str(getattr(collector, "path", "") or collector.nodeid))
        # The line of the failing import in that file, from the traceback pytest formatted.
        lines = re.findall(rf"{re.escape(path.name)}:(\d+): in <module>", report.longreprtext)
        line = int(lines[-1]) if lines else 0
        longrepr = (str(path), line, f"Skipped: {message}")
        return pytest.CollectReport(collector.nodeid, "skipped", longrepr, [])

    def _safety_net(self, collector: pytest.Collector, report: pytest.CollectReport) -> pytest.CollectReport:
        name = self._missing_module(collector, report)
        if name is None:
            return report
        denial = self.outcome.denial_for_import(name)
        if denial is None and not self.worker and name not in self._attempted:
            self._attempted.add(name)
            installed, denial = self._install_for_import(name, collector.nodeid)
            if installed:
                self._recollecting.add(collector.nodeid)
                try:
                    retried: pytest.CollectReport = collector.ihook.pytest_make_collect_report(
                        collector=collector
                    )
                finally:
                    self._recollecting.discard(collector.nodeid)
                return retried
        if denial is None:
            return report
        self.counters.net_denied.append(f"{collector.nodeid}: {denial.message()}")
        if self.settings.on_denied == "error":
            return report
        return self._skip_report(collector, report, denial.message())

    def _install_for_import(self, name: str, nodeid: str) -> tuple[bool, Denial | None]:
        """Resolve and install one import the static scan missed.

        Returns (True, None) when it was installed (re-collect), (False, denial) when policy
        said no (skip), and (False, None) when it cannot be resolved (keep pytest's error).
        """
        first_party = self._first_party_now()
        try:
            resolution = _resolve_import(name, self.settings, first_party)
        except RequirementError:
            return False, None
        dist = resolution.distribution
        if dist is None or resolution.kind in ("unknown", "first_party", "stdlib", "installed"):
            unmapped = unmapped_for(name, resolution.kind, first_party, nodeid)
            self.counters.unresolved.append(
                f"{nodeid}: import {name} cannot be resolved: {unmapped.why}; {unmapped.hint}"
            )
            return False, None
        need = Need(dist, dist, (f"import {name} in {nodeid} (found at collection)",), name)
        result, error = _run_batch(self.config, self.settings, [need])
        by_dist, by_import, installed = _denials([need], result, error)
        self.counters.net_installed.extend(installed)
        denial = by_import.get(name.split(".", 1)[0]) or by_dist.get(canonicalize_name(dist))
        if denial is not None:
            self._remember(name, denial)
            return False, denial
        return True, None

    def _remember(self, name: str, denial: Denial) -> None:
        merged = dict(self.outcome.denied_imports)
        merged[name.split(".", 1)[0]] = denial
        self.outcome = dataclasses.replace(self.outcome, denied_imports=merged)

    def _check_markers(
        self, collector: pytest.Collector, report: pytest.CollectReport
    ) -> pytest.CollectReport:
        """Malformed ``requires`` arguments make the collection fail, naming test and string."""
        from pytest_kisys.vet.requirements import parse_requirement

        problems: list[str] = []
        for node in report.result:
            if not isinstance(node, pytest.Item):
                continue
            for text in _marker_texts(node):
                try:
                    parse_requirement(text)
                except RequirementError as exc:
                    problems.append(
                        f"{node.nodeid}: @pytest.mark.requires({text!r}) is not a valid requirement: {exc}"
                    )
        if not problems:
            return report
        return pytest.CollectReport(collector.nodeid, "failed", "\n".join(problems), [])

    # -- markers at run time ------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Skip (or fail, ``on_denied = "error"``) a test whose requirements are not met."""
        from pytest_kisys.vet.requirements import parse_requirement

        for text in _marker_texts(item):
            parsed = parse_requirement(text)
            if not parsed.applies() or requirement_satisfied(parsed, installed_version):
                continue
            known = self.outcome.denied.get(canonicalize_name(parsed.name))
            denial = known or Denial(text, "is not installed", f"--kisys-allow {parsed.name}")
            if denial.requirement != text:
                denial = Denial(text, denial.reason, denial.hint)
            item.user_properties.append((_DENIED_PROPERTY, text))
            if self.settings.on_denied == "error":
                # Fail in the call phase, so it counts as a failed test, not a setup error.
                item.stash[_FAIL_KEY] = denial.message()
                return
            pytest.skip(denial.message())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        """With ``on_denied = "error"``, fail a test whose requirement was denied."""
        message = item.stash.get(_FAIL_KEY, None)
        if message is not None:
            pytest.fail(message, pytrace=False)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Tag a test that failed on a missing third-party import inside its body."""
        report = yield
        excinfo = call.excinfo
        if report.failed and excinfo is not None and isinstance(excinfo.value, ImportError):
            name = getattr(excinfo.value, "name", None)
            if isinstance(name, str) and name:
                top = name.split(".", 1)[0]
                if not is_stdlib(top) and top not in self._first_party_now(Path(item.path)):
                    report.user_properties.append((_LAZY_PROPERTY, name))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Count denied skips and lazy import failures (in the controller under xdist)."""
        for key, value in report.user_properties:
            if key == _LAZY_PROPERTY and report.failed:
                self.counters.lazy.setdefault(str(value), []).append(report.nodeid)
            elif key == _DENIED_PROPERTY:
                if report.when == "setup" and report.skipped:
                    self.counters.denied_skips += 1
                elif report.when == "call" and report.failed:
                    self.counters.denied_errors += 1

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, str] | None:
        """Count tests skipped for denied packages separately on the final line."""
        if report.when == "setup" and report.skipped:
            if any(key == _DENIED_PROPERTY for key, _ in report.user_properties):
                return _SKIP_CATEGORY, "s", "SKIPPED (kisys)"
        return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Safety-net installs, denials, and lazy import failures with the hint to declare them."""
        if self.worker:
            return
        lines: list[str] = []
        for item in self.counters.net_installed:
            lines.append(f"installed during collection (missed by the static scan): {item}")
        lines.extend(self.counters.unresolved)
        for reports in terminalreporter.stats.get(_SKIP_CATEGORY, []):
            reason = reports.longrepr[2] if isinstance(reports.longrepr, tuple) else ""
            lines.append(f"SKIPPED {reports.nodeid}: {str(reason).removeprefix('Skipped: ')}")
        for name, nodeids in self.counters.lazy.items():
            lines.append(
                f"{len(nodeids)} test(s) failed importing {name!r} inside the test "
                f"({', '.join(nodeids[:3])}); declare it with "
                f'@pytest.mark.requires("<distribution>") so kisys resolves it before the run'
            )
        if lines:
            terminalreporter.write_sep("-", "kisys summary")
            for line in lines:
                terminalreporter.write_line(line)


def _marker_texts(node: pytest.Item) -> Iterable[str]:
    for marker in node.iter_markers("requires"):
        for arg in marker.args:
            yield str(arg)
