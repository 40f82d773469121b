"""The collection role: resolve before conftests, the safety net, ``requires`` markers.

:class:`KisysCollect` (registered as ``kisys-collect``) is thin: the work is done by a
:class:`~pytest_kisys.resolve.pipeline.ResolvePipeline` it builds from the config.

* :meth:`KisysCollect.pytest_load_initial_conftests` runs the pipeline before any conftest is
  imported (in an xdist worker it only waits for the controller's install);
* during collection, a file that failed on a missing third-party module is retried once
  after a vetted install (the safety net), and malformed ``requires`` markers fail;
* at run time, a test whose ``requires`` are not met is skipped (or failed) with the reason
  (:mod:`pytest_kisys.resolve.gate`, registered only when a collected test has the marker);
* the ``kisys`` section and the ``kisys summary`` are written to the terminal.
"""

from __future__ import annotations

from collections.abc import Generator
from collections.abc import Iterable
import dataclasses
from dataclasses import dataclass
from dataclasses import field
import importlib
from pathlib import Path
import re
import sys
import sysconfig
from typing import Any

import pytest

from pytest_kisys.errors import InstallError
from pytest_kisys.errors import RequirementError
from pytest_kisys.record import RUN_KEY
from pytest_kisys.resolve.discover import discover
from pytest_kisys.resolve.discover import spec_from_config
from pytest_kisys.resolve.firstparty import detect_first_party
from pytest_kisys.resolve.firstparty import FirstParty
from pytest_kisys.resolve.firstparty import import_dir_of
from pytest_kisys.resolve.gate import ControllerReports
from pytest_kisys.resolve.gate import items_with_requires
from pytest_kisys.resolve.gate import LAZY_PROPERTY
from pytest_kisys.resolve.gate import marker_texts
from pytest_kisys.resolve.gate import RequiresGate
from pytest_kisys.resolve.gate import RequiresIndex
from pytest_kisys.resolve.gate import SKIP_CATEGORY
from pytest_kisys.resolve.outcome import Denial
from pytest_kisys.resolve.outcome import ResolveOutcome
from pytest_kisys.resolve.pipeline import ResolvePipeline
from pytest_kisys.resolve.plan import is_stdlib
from pytest_kisys.resolve.terminal import section_lines
from pytest_kisys.settings import Settings
from pytest_kisys.workers import early_worker_id
from pytest_kisys.workers import is_xdist_worker


__all__ = ["COLLECT_KEY", "KisysCollect"]

WORKERINPUT_KEY = "kisys_resolve"
WORKER_LOCK_TIMEOUT = 900.0
"""Seconds an xdist worker waits for another install into its environment to finish."""
_NO_MODULE = re.compile(r"No module named '([^']+)'")

COLLECT_KEY: pytest.StashKey[KisysCollect] = pytest.StashKey()


@dataclass
class _Counters:
    net_installed: list[str] = field(default_factory=list)
    net_denied: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    lazy: dict[str, list[str]] = field(default_factory=dict)


def pipeline_for_config(config: pytest.Config, settings: Settings) -> ResolvePipeline:
    """The run's pipeline: consent by hook then terminal, the run's vetter, record and stages."""
    from pytest_kisys.install.consent import HookConsent
    from pytest_kisys.install.consent import TerminalConsent
    from pytest_kisys.install.progress import terminal_progress
    from pytest_kisys.stages.plugin import stage_scope
    from pytest_kisys.vet.pytest_wiring import vetter_for_config

    # A plugin may answer first (pytest_kisys_approve); the terminal is asked otherwise.
    consent = HookConsent(
        config.hook.pytest_kisys_approve,
        config,
        TerminalConsent(capture=config.pluginmanager.getplugin("capturemanager")),
    )
    return ResolvePipeline(
        settings,
        rootdir=Path(config.rootpath),
        pythonpath=[Path(p) for p in config.getini("pythonpath") or ()],
        # The run's vetter: decisions reach the report, the -v terminal lines and the
        # pytest_kisys_decision hook.
        make_vetter=lambda: vetter_for_config(config, settings),
        consent=consent,
        record=config.stash.get(RUN_KEY, None),
        progress=terminal_progress(config),
        stage=lambda name: stage_scope(config, name),
        inipath=Path(config.inipath) if config.inipath else None,
    )


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


class KisysCollect:
    """The collection role: safety net, ``requires`` markers, lazy imports, terminal section."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.outcome = ResolveOutcome()
        self.counters = _Counters()
        self.pipeline = pipeline_for_config(config, settings)
        self._started = False
        self._section_written = False
        self._attempted: set[str] = set()
        self._recollecting: set[str] = set()
        self._first_party: FirstParty | None = None
        self._near: dict[Path, FirstParty] = {}
        self._requires = RequiresIndex()
        config.stash[COLLECT_KEY] = self

    @property
    def worker(self) -> bool:
        """Whether this process is an xdist worker (never installs, never prompts).

        Asked from ``pytest_configure`` on; before that :func:`early_worker_id` is.
        """
        return is_xdist_worker(self.config)

    # -- before conftests -----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_load_initial_conftests(
        self, early_config: pytest.Config, parser: pytest.Parser | None, args: list[str]
    ) -> None:
        """Read, plan, vet and install in one batch, before any conftest is imported.

        A role registered while this hook is running misses the call (pluggy fixes a hook's
        implementations when the call starts), so the switch in :mod:`pytest_kisys.switch`
        hands the call on; it runs once either way. pytest plugins the batch installed are
        registered for this run (:mod:`pytest_kisys.resolve.activate`).
        """
        if self._started:
            return
        self._started = True
        # Before pytest_configure only the environment can say this is a worker.
        if early_worker_id() is not None:
            # The controller resolved before spawning us; only wait for a concurrent install.
            # No stage rows or spans here: the controller's resolve, vet and install are the run's.
            _wait_for_controller(self.settings)
            from pytest_kisys.install.overlay import activate_inherited

            # xdist gives workers the controller's sys.path from before its install.
            activate_inherited(self.settings.resolved_cache_dir())
            importlib.invalidate_caches()
            self.outcome = ResolveOutcome(worker=True)
            return
        try:
            outcome = self.pipeline.run(spec_from_config(early_config))
        except KeyboardInterrupt:
            # Before the session exists pytest would print a raw traceback. The installer has
            # rolled back already: say so in one line and exit like an interrupted shell job.
            sys.stderr.write("kisys: interrupted; nothing was installed, the environment is as it was\n")
            raise SystemExit(130) from None
        if outcome.installed:
            from pytest_kisys.resolve.activate import activate_installed

            activation = activate_installed(early_config, parser, args, outcome.installed)
            outcome = dataclasses.replace(outcome, activated=tuple(activation.lines()))
        self.outcome = outcome

    def print_section_before_exit(self) -> None:
        """Write the ``kisys`` section to stderr: pytest stops before its terminal exists.

        Called when loading the initial conftests failed (a conftest import nobody could
        install, a denial), so what kisys found, installed and denied, and the allow hints,
        come before pytest's own error.
        """
        if self.worker or self._section_written:
            return
        self._section_written = True
        print(f"{'-' * 30} kisys {'-' * 30}", file=sys.stderr)
        for line in self._section_lines():
            print(line, file=sys.stderr)

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
                for line in self._section_lines():
                    reporter.write_line(line)
        return (yield)

    def _section_lines(self) -> list[str]:
        record = self.config.stash.get(RUN_KEY, None)
        verbose = self.config.get_verbosity() > 0
        return section_lines(self.outcome, record.decisions if record is not None and verbose else ())

    # -- safety net and markers at collection -------------------------------------------

    def _first_party_now(self, near: Path | None = None) -> FirstParty:
        """First-party names of the discovered files, plus the import directory of ``near``."""
        if self._first_party is None:
            self._first_party = self.pipeline.first_party(discover(spec_from_config(self.config)).files)
        base = self._first_party
        if near is None:
            return base
        directory = import_dir_of(near) if near.is_file() else near
        if directory not in self._near:
            self._near[directory] = detect_first_party(directory, files=())
        extra = self._near[directory]
        if not extra.origins:
            return base
        return FirstParty({**extra.origins, **base.origins})

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
        """Resolve and install one import the static reader missed.

        Returns (True, None) when it was installed (re-collect), (False, denial) when policy
        said no (skip), and (False, None) when it cannot be resolved (keep pytest's error).
        """
        self._first_party_now()
        result = self.pipeline.install_import(name, nodeid)
        if result.unresolved is not None:
            if result.unresolved:
                why = f"{nodeid}: import {name} cannot be resolved: {result.unresolved}"
                self.counters.unresolved.append(why)
            return False, None
        self.counters.net_installed.extend(result.installed)
        if result.denial is not None:
            self._remember(name, result.denial)
            return False, result.denial
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
        requires = self._requires
        for node in report.result:
            if not isinstance(node, pytest.Item) or not requires.has(node):
                continue
            problems.extend(f"{node.nodeid}: {problem}" for problem in _marker_shape_problems(node))
            for text in marker_texts(node):
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

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """An xdist controller reads lazy-import tags and denied skips off its workers' reports."""
        if self.config.pluginmanager.hasplugin("dsession"):
            self.config.pluginmanager.register(ControllerReports(self.counters.lazy), "kisys-collect-reports")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Gate the tests that carry ``requires`` (none of the per-test hooks otherwise)."""
        items = items_with_requires(session.items)
        if items:
            gate = RequiresGate(items, lambda: self.outcome.denied, self.settings.on_denied)
            self.config.pluginmanager.register(gate, "kisys-collect-requires")

    def tag_lazy_import(
        self, item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        """Tag a test that failed on a missing third-party import inside its body.

        A tap on the masking role's report wrapper (:meth:`MaskingPlugin.on_raise`), called
        only for a phase that raised: no per-report hook of this role's own.
        """
        excinfo = call.excinfo
        if report.failed and excinfo is not None and isinstance(excinfo.value, ImportError):
            name = getattr(excinfo.value, "name", None)
            if isinstance(name, str) and name:
                top = name.split(".", 1)[0]
                if not is_stdlib(top) and top not in self._first_party_now(Path(item.path)):
                    report.user_properties.append((LAZY_PROPERTY, name))
                    if not self.worker:  # an xdist controller counts it on arrival instead
                        self.counters.lazy.setdefault(name, []).append(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Safety-net installs, denials, and lazy import failures with the hint to declare them."""
        if self.worker:
            return
        lines: list[str] = []
        for item in self.counters.net_installed:
            lines.append(f"installed during collection (missed by the static import reader): {item}")
        lines.extend(self.counters.unresolved)
        for reports in terminalreporter.stats.get(SKIP_CATEGORY, []):
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


def _marker_shape_problems(node: pytest.Item) -> Iterable[str]:
    """``requires(42)``, ``requires(None)`` and ``requires(name=...)`` are mistakes to report,
    never names to suggest allowing (or arguments to drop silently)."""
    for marker in node.iter_markers("requires"):
        for arg in marker.args:
            if not isinstance(arg, str):
                yield (
                    f"@pytest.mark.requires({arg!r}): each argument must be a requirement "
                    'string such as "numpy>=1.26"'
                )
        if marker.kwargs:
            given = ", ".join(f"{key}=..." for key in marker.kwargs)
            yield (
                f"@pytest.mark.requires({given}): keyword arguments are not accepted; pass "
                'requirement strings, e.g. @pytest.mark.requires("numpy>=1.26")'
            )
