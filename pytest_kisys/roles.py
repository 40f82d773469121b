"""Registers the role-specific plugin objects of an enabled run, and nothing else.

``switch.py`` calls :func:`register_roles` once settings say ``--kisys`` is on. Each subsystem
contributes one plugin object registered under its own name (so ``config.pluginmanager``
can find, and tests can replace, each role); none of this module's imports happen when off.
The work starts in the roles' own hooks, not here.
"""

from __future__ import annotations

import pytest

from pytest_kisys.record import RUN_KEY
from pytest_kisys.record import RunRecord
from pytest_kisys.record import SETTINGS_KEY
from pytest_kisys.settings import Settings


def register_roles(config: pytest.Config, settings: Settings) -> None:
    """Store ``settings`` and a fresh :class:`RunRecord`, then register every enabled role.

    An output file (report, SARIF, SBOM, log, trace) that could not be written is a usage
    error now, before any test runs, rather than a lost report at the end.
    """
    from pytest_kisys.outputs import check_output_paths
    from pytest_kisys.outputs import OutputError

    try:
        check_output_paths(settings)
    except OutputError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[SETTINGS_KEY] = settings
    config.stash[RUN_KEY] = RunRecord()
    pm = config.pluginmanager
    from pytest_kisys.core import KisysCore

    pm.register(KisysCore(config, settings), "kisys-core")
    # The one redactor of this process, before any role that writes text out.
    import os

    from pytest_kisys.secrets.masking import MaskingPlugin
    from pytest_kisys.secrets.masking import REDACTOR_KEY
    from pytest_kisys.secrets.masking import session_redactor

    redactor = session_redactor(settings, os.environ)
    config.stash[REDACTOR_KEY] = redactor
    masking = MaskingPlugin(config, redactor)
    pm.register(masking, "kisys-masking")
    from pytest_kisys.secrets import plugin as secrets_plugin

    secrets_plugin.register(config, settings, redactor)
    if settings.history or settings.html:
        # Early, so it sees every decision; its sessionfinish runs after the stage graph's.
        from pytest_kisys.dashboard.html import write_html
        from pytest_kisys.history.plugin import HistoryPlugin

        history = HistoryPlugin(config, settings, html_writer=write_html, report_tap=masking.on_report)
        pm.register(history, "kisys-history")
    # Subsystem roles are registered below, one line each, only when their feature is on.
    # Telemetry first, so the stages of every other role can open spans from the start.
    from pytest_kisys import telemetry

    if telemetry.tracing_enabled(settings):
        from pytest_kisys.telemetry.plugin import TelemetryPlugin

        pm.register(TelemetryPlugin(config, settings), "kisys-telemetry")
    else:
        from pytest_kisys.telemetry.costrole import cost_wanted

        if cost_wanted(config, settings):
            from pytest_kisys.telemetry.costrole import CostRole

            pm.register(CostRole(config, settings), "kisys-cost")
    from pytest_kisys.resolve.plugin import KisysCollect

    collect = KisysCollect(config, settings)
    pm.register(collect, "kisys-collect")
    masking.on_raise(collect.tag_lazy_import)
    from pytest_kisys.stages.plugin import StagesPlugin

    pm.register(StagesPlugin(config, settings), "kisys-stages")
    if settings.scan:
        from pytest_kisys.scan.plugin import ScanPlugin

        pm.register(ScanPlugin(config, settings), "kisys-scan")
    if settings.scan or settings.report or settings.sarif or settings.sbom:
        from pytest_kisys.report.plugin import ReportPlugin

        pm.register(ReportPlugin(config, settings), "kisys-report")
