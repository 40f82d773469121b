"""The resolve pipeline: what a suite needs, vetted and installed in one batch.

A plain object with no pytest in it. The collection role
(:class:`pytest_kisys.resolve.plugin.KisysCollect`) runs it before conftests are imported and
again for an import the static reader missed; ``kisys install`` sends its requests through
the same :meth:`ResolvePipeline.install_requests`.

The steps, each a method so that a new source of needs or a new after-install step has one
place to go:

1. :meth:`~ResolvePipeline.read_imports`: the imports and ``requires`` markers of the files
   the run collects (cached by content hash);
2. :meth:`~ResolvePipeline.gather`: what the suite needs, gathered from those sources into
   one :class:`~pytest_kisys.resolve.plan.Plan`;
3. :meth:`~ResolvePipeline.install`: the plan's needs vetted and installed in one consented
   batch, mapped back onto per-distribution and per-import :class:`Denial` s;
4. :meth:`~ResolvePipeline.run`: 1-3 as the stages ``resolve``, ``vet`` and ``install``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from dataclasses import field
import importlib
from pathlib import Path
import sys
import time
from typing import Protocol
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from pytest_kisys.errors import InstallError
from pytest_kisys.errors import RequirementError
from pytest_kisys.resolve.discover import discover
from pytest_kisys.resolve.discover import DiscoverySpec
from pytest_kisys.resolve.firstparty import detect_first_party
from pytest_kisys.resolve.firstparty import FirstParty
from pytest_kisys.resolve.importcache import CACHE_FILE
from pytest_kisys.resolve.importcache import ImportCache
from pytest_kisys.resolve.imports import FileImports
from pytest_kisys.resolve.outcome import Denial
from pytest_kisys.resolve.outcome import ResolveOutcome
from pytest_kisys.resolve.plan import build_plan
from pytest_kisys.resolve.plan import Need
from pytest_kisys.resolve.plan import Plan
from pytest_kisys.resolve.plan import unmapped_for
from pytest_kisys.resolve.probe import installed_version
from pytest_kisys.resolve.probe import module_importable
from pytest_kisys.resolve.sources import merge_into
from pytest_kisys.resolve.sources import SuiteNeeds
from pytest_kisys.resolve.usage import FileUsage
from pytest_kisys.settings import Settings


if TYPE_CHECKING:
    from pytest_kisys.install.interface import BatchResult
    from pytest_kisys.install.interface import Consent
    from pytest_kisys.install.interface import InstallRequest
    from pytest_kisys.install.interface import Recorder
    from pytest_kisys.resolve.names import ImportResolution
    from pytest_kisys.vet.vetter import Vetter


__all__ = ["BatchOutcome", "ImportInstall", "ResolvePipeline", "StageHandle"]


class StageHandle(Protocol):
    """The part of :class:`pytest_kisys.stages.runner.ExternalStage` the pipeline uses."""

    def fail(self, reason: str) -> None:
        """Record the stage as failed."""

    def skip(self, reason: str) -> None:
        """Record the stage as skipped."""


StageScope = Callable[[str], AbstractContextManager[StageHandle]]
"""Runs a block as the named stage (``stage_scope`` bound to a config, or no stages at all)."""


class _NoStage:
    def fail(self, reason: str) -> None:
        """Nothing records stages outside pytest."""

    def skip(self, reason: str) -> None:
        """Nothing records stages outside pytest."""


@contextlib.contextmanager
def _no_stage(name: str) -> Iterator[StageHandle]:
    yield _NoStage()


@dataclass(frozen=True)
class BatchOutcome:
    """One installer run mapped back onto the needs it was for."""

    result: BatchResult | None
    error: str | None
    denied: dict[str, Denial] = field(default_factory=dict)
    """Canonical distribution name -> denial."""
    denied_imports: dict[str, Denial] = field(default_factory=dict)
    """Top-level import name -> denial."""
    installed: tuple[str, ...] = ()
    """``name==version`` of each installed distribution."""


@dataclass(frozen=True)
class ImportInstall:
    """What :meth:`ResolvePipeline.install_import` did for one import."""

    installed: tuple[str, ...] = ()
    denial: Denial | None = None
    """Set when policy said no."""
    unresolved: str | None = None
    """Set when the import cannot be mapped to a distribution (nothing was tried): why, or
    empty when there is nothing to say (not an import name at all)."""

    @property
    def ok(self) -> bool:
        """Whether the import's distribution is now installed."""
        return self.denial is None and self.unresolved is None


class ResolvePipeline:
    """Reads, plans, vets and installs for one run; see the module docstring for the steps.

    :param settings: the run's settings.
    :param rootdir: the project root (first-party detection, relative locations).
    :param pythonpath: extra import directories of the run (pytest's ``pythonpath`` ini).
    :param python: the interpreter whose environment receives the packages.
    :param make_vetter: builds the vetter of one batch (closed after it); default: the
        installer's own.
    :param consent: who answers the batch's question; default: the installer's terminal.
    :param record: receives decisions and installs for the report.
    :param progress: receives one line per install step.
    :param stage: runs a block as a named stage.
    :param verb: the command in use (``pytest`` or ``install``), for the allow hints.
    :param inipath: pytest's configuration file (its ini keys, ``addopts``, ``filterwarnings``
        and markers are a source of needs); None: no configuration is read.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        rootdir: Path,
        pythonpath: Sequence[Path] = (),
        python: str = sys.executable,
        make_vetter: Callable[[], Vetter] | None = None,
        consent: Consent | None = None,
        record: Recorder | None = None,
        progress: Callable[[str], None] | None = None,
        verb: str = "pytest",
        stage: StageScope = _no_stage,
        inipath: Path | None = None,
    ) -> None:
        self.settings = settings
        self.rootdir = rootdir
        self.pythonpath = tuple(pythonpath)
        self.python = python
        self.make_vetter = make_vetter
        self.consent = consent
        self.record = record
        self.progress = progress
        self.verb = verb
        self.stage = stage
        self.inipath = inipath
        self.suite: SuiteNeeds | None = None
        """What the declarations, the plugin table and the configuration added (after gather)."""
        self._first_party: FirstParty | None = None
        self._usages: dict[Path, FileUsage | None] = {}
        """Each file :meth:`read_imports` read: its usage, or None when it could not be read."""

    # -- what the suite needs ---------------------------------------------------------------

    def first_party(self, files: Sequence[Path] = ()) -> FirstParty:
        """The project's own importable names (computed once, from the first ``files``)."""
        if self._first_party is None:
            self._first_party = detect_first_party(self.rootdir, pythonpath=self.pythonpath, files=files)
        return self._first_party

    def read_imports(self, files: Sequence[Path]) -> list[FileImports]:
        """The imports and markers of ``files``, through the on-disk import cache.

        The same read gives each file's fixture and marker usage (kept for :meth:`gather`), so
        a warm run reads and hashes every file once.
        """
        cache = ImportCache.load(self.settings.resolved_cache_dir() / CACHE_FILE)
        found = []
        for path in files:
            try:
                imports, usage = cache.read_with_usage(path)
            except OSError:
                self._usages[path] = None  # unreadable or gone: pytest reports it when it gets there
                continue
            found.append(imports)
            self._usages[path] = usage
        cache.save()
        return found

    def gather(self, imports: Sequence[FileImports], files: Sequence[Path]) -> Plan:
        """What the suite needs, gathered from every source into one plan.

        Sources, first to last: the project's declared test dependencies (``use_declared``),
        the plugins that provide the fixtures, markers, ini keys and options the suite uses,
        the modules its configuration names, then the statically read imports and the
        ``requires`` markers of ``files`` (:mod:`pytest_kisys.resolve.sources`).
        """
        from pytest_kisys.vet.requirements import parse_requirement

        first_party = self.first_party(files)
        plan = build_plan(
            imports,
            rootdir=self.rootdir,
            first_party=first_party,
            importable=module_importable,
            installed_version=installed_version,
            resolve_import=lambda name: self.resolve_import(name, first_party),
            parse_requirement=parse_requirement,
        )
        self.suite = self.suite_needs(files, first_party)
        return merge_into(plan, self.suite)

    def suite_needs(self, files: Sequence[Path], first_party: FirstParty) -> SuiteNeeds:
        """Declared test dependencies, plugins found by what they provide, config modules."""
        from pytest_kisys.resolve.declared import read_declared
        from pytest_kisys.resolve.sources import gather_suite_needs
        from pytest_kisys.resolve.usage import config_usage
        from pytest_kisys.resolve.usage import read_ini
        from pytest_kisys.vet.requirements import parse_requirement

        settings = self.settings
        declarations = None
        if settings.use_declared:
            declarations = read_declared(
                self.rootdir, declared=settings.declared, project_extras=settings.project_extras
            )
        ini, where = read_ini(self.inipath)
        unread = [path for path in files if path not in self._usages]
        if unread:
            self.read_imports(unread)
        return gather_suite_needs(
            rootdir=self.rootdir,
            usages=[(path, usage) for path in files if (usage := self._usages[path]) is not None],
            config=config_usage(ini, where),
            declarations=declarations,
            installed_version=installed_version,
            importable=module_importable,
            resolve_import=lambda name: self.resolve_import(name, first_party),
            parse_requirement=parse_requirement,
            first_party=first_party,
        )

    def resolve_import(self, name: str, first_party: FirstParty) -> ImportResolution:
        """Which distribution provides import ``name`` (see :mod:`pytest_kisys.resolve.names`)."""
        # Imported on first use: most runs have nothing missing and never need the name tables.
        from pytest_kisys.resolve.names import resolve_import

        return resolve_import(name, self.settings, first_party)

    # -- vet and install --------------------------------------------------------------------

    def install_requests(self, requests: Sequence[InstallRequest]) -> BatchResult:
        """Vet and install ``requests`` in one consented batch (raises :class:`InstallError`).

        In overlay mode, an existing overlay that meets them is reused without the installer
        (:func:`pytest_kisys.install.overlay.reuse_existing`: its stamp and the deny and
        known-malicious lists checked): a reusing run imports nothing a run with everything
        installed does not.
        """
        reused = self._reuse_overlay(requests)
        if reused is not None:
            return reused
        from pytest_kisys.install.installer import Installer

        vetter = self.make_vetter() if self.make_vetter is not None else None
        installer = Installer(
            self.settings,
            python=self.python,
            vetter=vetter,
            consent=self.consent,
            record=self.record,
            progress=self.progress,
            verb=self.verb,
        )
        try:
            return installer.install(requests)
        finally:
            installer.close()
            if vetter is not None:
                vetter.close()
            _see_new_packages()

    def _reuse_overlay(self, requests: Sequence[InstallRequest]) -> BatchResult | None:
        """An existing overlay's batch, published as the installer publishes one (or None)."""
        from pytest_kisys.install.overlay import reuse_existing

        result = reuse_existing(requests, self.settings, python=self.python, say=self.progress)
        if result is None:
            return None
        if self.record is not None:
            self.record.add("installs", result)
        if self.settings.log_file is not None:
            from pytest_kisys.install.batch import write_audit

            write_audit(self.settings.log_file, result, python=self.python)
        _see_new_packages()
        return result

    def install(self, needs: Sequence[Need]) -> BatchOutcome:
        """One batch for ``needs``, mapped back onto them (an installer error is kept, not raised)."""
        from pytest_kisys.install.interface import InstallRequest

        requests = [
            InstallRequest(n.requirement, n.reason, n.import_name, declared=n.via == "declared")
            for n in needs
        ]
        try:
            result = self.install_requests(requests)
        except InstallError as exc:
            return _map_back(needs, None, str(exc))
        return _map_back(needs, result, None)

    def install_import(self, name: str, where: str) -> ImportInstall:
        """Resolve and install one import the static reader missed (found at ``where``)."""
        first_party = self.first_party()
        try:
            resolution = self.resolve_import(name, first_party)
        except RequirementError:
            return ImportInstall(unresolved="")  # a computed name: keep pytest's error, say nothing
        dist = resolution.distribution
        if dist is None or resolution.kind in ("unknown", "first_party", "stdlib", "installed"):
            unmapped = unmapped_for(name, resolution.kind, first_party, where)
            return ImportInstall(unresolved=f"{unmapped.why}; {unmapped.hint}")
        need = Need(dist, dist, (f"import {name} in {where} (found at collection)",), name)
        batch = self.install([need])
        denial = batch.denied_imports.get(name.split(".", 1)[0]) or batch.denied.get(canonicalize_name(dist))
        return ImportInstall(installed=batch.installed, denial=denial)

    # -- the whole job ----------------------------------------------------------------------

    def run(self, spec: DiscoverySpec) -> ResolveOutcome:
        """Discover, read, gather and install, as the stages ``resolve``, ``vet`` and ``install``."""
        with self.stage("resolve"):
            started = time.perf_counter()
            files = discover(spec).files
            imports = self.read_imports(files)
            seconds = time.perf_counter() - started
            plan = self.gather(imports, files)
        if not plan.needs:
            # Imports nobody can map are not denials: pytest's own error stays (a broken suite
            # must not turn green by skipping), and the kisys section says how to map them.
            for name in ("vet", "install"):
                with self.stage(name) as handle:
                    handle.skip("nothing missing")
            return ResolveOutcome(len(files), seconds, plan, suite=self.suite)
        with self.stage("vet"), self.stage("install") as step:
            batch = self.install(plan.needs)
            if batch.error:
                step.fail(batch.error)
        return ResolveOutcome(
            files=len(files),
            scan_seconds=seconds,
            plan=plan,
            installed=batch.installed,
            denied=batch.denied,
            denied_imports=batch.denied_imports,
            error=batch.error,
            batch=batch_line(batch.result),
            suite=self.suite,
        )


def _see_new_packages() -> None:
    """After an install (or an overlay put on the path): the import system and the name tables
    see the new packages."""
    importlib.invalidate_caches()
    from pytest_kisys.resolve.names import forget_installed

    forget_installed()


def _map_back(needs: Sequence[Need], result: BatchResult | None, error: str | None) -> BatchOutcome:
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
    return BatchOutcome(result, batch_error, by_dist, by_import, installed)


def batch_line(result: BatchResult | None) -> str | None:
    """The one-line summary of a batch for the kisys section (None without a batch)."""
    if result is None:
        return None
    return (
        f"one batch: {len(result.installed)} installed, {len(result.denied)} denied, "
        f"{len(result.refused)} refused, {len(result.satisfied)} already there, "
        f"in {result.duration:.1f} s ({result.backend or 'no backend run'})"
    )
