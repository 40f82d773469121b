"""Hooks that pytest-kisys publishes for other plugins and conftests to implement.

Registered through ``pytest_addhooks`` in :mod:`pytest_kisys.switch`. Callers always pass
keyword arguments. Hooks are only called while ``--kisys`` is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk.trace.export import SpanExporter

    from pytest_kisys.install.interface import ConsentAnswer
    from pytest_kisys.install.interface import ConsentRequest
    from pytest_kisys.scan.interface import CheckResult
    from pytest_kisys.scan.interface import Scanner
    from pytest_kisys.settings import Settings
    from pytest_kisys.stages.model import Stage
    from pytest_kisys.vet.interface import Decision


@pytest.hookspec(historic=True)
def pytest_kisys_configure(config: pytest.Config, settings: Settings) -> None:
    """Called once, right after the kisys settings were resolved.

    Historic: conftests and plugins registered later (conftests load after the settings are
    resolved) are called as soon as they are registered, so a conftest can implement it.

    :param config: the pytest config (early: conftests are not imported yet).
    :param settings: the frozen, resolved settings of this run.

    .. versionadded:: 0.1
    """


@pytest.hookspec()
def pytest_kisys_stages(config: pytest.Config, settings: Settings) -> Sequence[Stage] | None:
    """Return extra workflow stages (:class:`pytest_kisys.stages.Stage` objects) for this run.

    Called once in ``pytest_configure`` on the controller (never on xdist workers), after the
    initial conftests are loaded, so a root conftest or any installed plugin can implement it.
    Each stage needs an ``action``: a callable taking a
    :class:`~pytest_kisys.stages.StageContext` and returning a
    :class:`~pytest_kisys.stages.StageOutcome` (or None for passed). Stages may name built-in
    stages in ``needs`` (for example ``("install",)`` or ``("tests",)``). The returned stages
    are validated with the configured ones: a duplicate name, an unknown need or a cycle is a
    usage error naming the stage.

    :param config: the pytest config.
    :param settings: the frozen, resolved settings of this run.
    :return: a list of stages, or None to add nothing.

    .. versionadded:: 0.1
    """


@pytest.hookspec(firstresult=True)
def pytest_kisys_span_exporter(config: pytest.Config) -> SpanExporter | None:
    """Return the OpenTelemetry ``SpanExporter`` that receives this process's spans.

    Called once per process (controller and each xdist worker) in ``pytest_configure`` while
    tracing is on, after the initial conftests are loaded. The first non-None result replaces
    the exporter ``--kisys-trace`` selects (useful for an in-memory exporter in tests or a
    vendor exporter); export stays bounded by ``trace_timeout`` either way.

    :param config: the pytest config.
    :return: an exporter, or None to use the configured one.

    .. versionadded:: 0.1
    """


@pytest.hookspec()
def pytest_kisys_check_result(config: pytest.Config, result: CheckResult) -> None:
    """Called once per session check (code, deps, secrets, and any extra check from
    :func:`pytest_kisys_scanners`) as soon as its result is known.

    Called on the controller only (never on xdist workers), from the thread that ran the check,
    usually while tests are still running, so an implementation must be quick and thread-safe.
    ``result.findings`` are the findings that count (after baseline and ``ignore``),
    ``result.inconclusive`` what could not be checked and why; secret values never appear.
    The return value is ignored; the exit status is decided at session finish.

    :param config: the pytest config.
    :param result: the frozen :class:`~pytest_kisys.scan.interface.CheckResult`.

    .. versionadded:: 0.1
    """


@pytest.hookspec()
def pytest_kisys_decision(config: pytest.Config, decision: Decision) -> None:
    """Called once per vetting decision (allow, confirm or block), right after it is made.

    Called before any prompt or install, from the thread that ran the vet, for every
    distribution vetted through :func:`pytest_kisys.vet.pytest_wiring.vetter_for_config`
    (requested imports, ``requires`` markers and their transitive sets). Use it for custom
    logging or metrics; it cannot change the decision. The return value is ignored.

    :param config: the pytest config.
    :param decision: the frozen :class:`~pytest_kisys.vet.interface.Decision` (``to_json()``
        gives the audit-log form).

    .. versionadded:: 0.1
    """


@pytest.hookspec(firstresult=True)
def pytest_kisys_approve(config: pytest.Config, request: ConsentRequest) -> ConsentAnswer | None:
    """Answer the install consent instead of a person; None means "ask the usual way".

    Called once per install batch that has items needing a person (``request.asking()``),
    before the terminal prompt. The first implementation that returns a
    :class:`~pytest_kisys.install.interface.ConsentAnswer` decides for the whole batch; its
    ``why`` is recorded as ``"approved by plugin NAME: WHY"`` (or ``"declined by ..."``) in the
    denial reasons and the audit log. Returning None lets the terminal ask, or answers "no"
    where nobody can answer (``CI`` set, no terminal, an xdist worker).

    The pre-collection batch runs before conftests are imported: only plugins loaded earlier
    (installed ``pytest11`` plugins, ``-p NAME``, ``PYTEST_PLUGINS``) take part in it.
    Conftests take part in the collection safety net's batch.

    What it cannot do:

    * turn a block into an install: blocked items never reach consent;
    * approve a *suspicious* item (``item.suspicious``: the vetter warned of a typosquat, a very
      new project, few releases, an sdist only, a yanked release, a standard-library name).
      A "yes" covers the other items of the batch; the suspicious ones are asked at the
      terminal on their own and stay denied where nobody can answer. A "no" declines all.

    :param config: the pytest config.
    :param request: the frozen :class:`~pytest_kisys.install.interface.ConsentRequest`;
        ``request.asking()`` are the items that need an answer, each with ``why_confirm``.
    :return: ``ConsentAnswer("yes" | "no", why)`` or None.

    .. versionadded:: 0.1
    """


@pytest.hookspec()
def pytest_kisys_scanners(config: pytest.Config, settings: Settings) -> Sequence[Scanner] | None:
    """Return extra session checks (:class:`~pytest_kisys.scan.interface.Scanner` objects).

    Called once in ``pytest_configure`` on the controller (never on xdist workers), after the
    initial conftests are loaded, so a root conftest or any installed plugin can implement it;
    only while checks are on (not with ``--kisys-scan none``). The lists of all
    implementations are concatenated.

    A scanner provides ``kind`` (a new check name: lowercase letters, digits, ``_``, ``-``; not
    ``code``, ``deps``, ``secrets``, ``all`` or ``none``, and unique in the run), ``tool`` (its
    name in the reports; SARIF gets one run per check) and ``scan(settings)`` returning a
    :class:`~pytest_kisys.scan.interface.ScanOutput` of
    :class:`~pytest_kisys.scan.interface.Finding` objects (severity ``info`` to ``critical``).
    Each scanner runs as stage ``scan.<kind>`` in a worker thread alongside the tests, like the
    built-in checks: ``ignore`` entries, ``fail_on``, ``scan_timeout``, exit status 16, the
    ``kisys checks`` section, the JSON report, SARIF and GitHub annotations all include it.
    It fails closed: raising (any exception) or returning anything but a proper ``ScanOutput``
    makes the check inconclusive, never clean. A bad or duplicate ``kind``, or an object
    without ``tool``/``scan``, is a usage error naming the scanner.

    :param config: the pytest config.
    :param settings: the frozen, resolved settings of this run.
    :return: a list of scanners, or None to add nothing.

    .. versionadded:: 0.1
    """
