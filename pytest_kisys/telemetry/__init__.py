"""OpenTelemetry spans for a kisys run: the API other subsystems call.

Nothing in this module imports ``opentelemetry``: every function here is a cheap no-op while
tracing is off (``settings.trace == "none"`` or ``OTEL_SDK_DISABLED=true``), so the stages,
scans and install subsystems call it unconditionally and never import the SDK themselves.

Use from other subsystems::

    from pytest_kisys import telemetry

    with telemetry.stage_span(config, "scan.code", {"kisys.scanner": "bandit"}) as stage:
        env = telemetry.subprocess_env(config)       # adds TRACEPARENT for the child
        findings = run_bandit(env=env)
        telemetry.add_findings(stage, findings)      # one span event per finding
        stage.set_result("failure" if findings else "success")

- :func:`stage_span` opens one ``cicd.pipeline.task`` span per workflow stage (resolve, vet,
  install, scan.code, scan.deps, scan.secrets, report, ...). It works from any thread: a stage
  opened inside another stage in the same thread becomes its child, otherwise the session span
  is the parent. Leaving the block normally sets ``cicd.pipeline.task.run.result=success``
  unless :meth:`StageHandle.set_result` said otherwise; an exception sets ``failure`` and
  ``error.type`` and is re-raised. The ``tests`` stage is opened by the telemetry plugin
  itself around ``pytest_runtestloop``; do not open it again.
- :func:`add_findings` records findings as ``finding`` events with ``security_rule.*`` and
  ``artifact.*`` attributes. A finding is any object (or mapping) with some of: ``rule_id``,
  ``title``/``message``, ``severity``, ``scanner``/``tool``, ``category``, ``path``/``file``,
  ``line``, ``package``/``name``, ``version``, ``purl``, ``fingerprint``/``id``, ``url``.
  Secret values must not be passed (every attribute goes through the one redactor anyway).
- :func:`subprocess_env` returns an environment for a subprocess with ``TRACEPARENT`` (and
  ``TRACESTATE``) of the innermost open stage, else of the session; the telemetry plugin puts
  the ``tests`` stage's into ``os.environ`` while the tests run, so tests' subprocesses
  continue the trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import AbstractContextManager
from contextlib import contextmanager
import os
from typing import Any
from typing import Protocol
from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings
    from pytest_kisys.telemetry.runtime import TelemetryRuntime

__all__ = [
    "RUNTIME_KEY",
    "StageHandle",
    "add_findings",
    "stage_span",
    "subprocess_env",
    "tracing_enabled",
]

RUNTIME_KEY: pytest.StashKey[TelemetryRuntime] = pytest.StashKey()
"""Where the live :class:`~pytest_kisys.telemetry.runtime.TelemetryRuntime` is kept."""

AttributeValue = str | bool | int | float | tuple[str, ...]


class StageHandle(Protocol):
    """What ``with stage_span(...) as stage`` gives: a way to annotate the open stage span."""

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set one span attribute (strings are redacted)."""
        ...

    def set_result(self, result: str, error_type: str | None = None) -> None:
        """``success``, ``failure``, ``error``, ``timeout``, ``cancellation`` or ``skip``."""
        ...

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue]) -> None:
        """Add one span event (string attribute values are redacted)."""
        ...


class _NullStage:
    """The handle while tracing is off: accepts everything, does nothing."""

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Ignore the attribute."""

    def set_result(self, result: str, error_type: str | None = None) -> None:
        """Ignore the result."""

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue]) -> None:
        """Ignore the event."""


_NULL_STAGE = _NullStage()


def tracing_enabled(settings: Settings, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether spans are produced: ``trace`` is not ``none`` and ``OTEL_SDK_DISABLED`` is not true."""
    if settings.trace == "none":
        return False
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


def _runtime(config: pytest.Config) -> TelemetryRuntime | None:
    return config.stash.get(RUNTIME_KEY, None)


@contextmanager
def _null_stage() -> Iterator[StageHandle]:
    yield _NULL_STAGE


def stage_span(
    config: pytest.Config, name: str, attributes: Mapping[str, AttributeValue] | None = None
) -> AbstractContextManager[StageHandle]:
    """A context manager that records the workflow stage ``name`` as a span.

    Cheap no-op while tracing is off. See the module docstring for results and parenting.
    """
    runtime = _runtime(config)
    if runtime is None:
        return _null_stage()
    return runtime.stage_span(name, attributes or {})


def add_findings(stage: StageHandle, findings: Iterable[Any]) -> None:
    """Record each finding as a ``finding`` event on ``stage`` (no-op when tracing is off)."""
    if isinstance(stage, _NullStage):
        return
    from pytest_kisys.telemetry.findings import finding_attributes

    for finding in findings:
        stage.add_event("finding", finding_attributes(finding))


def subprocess_env(config: pytest.Config, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) carrying the current ``TRACEPARENT``.

    While tracing is off this is a plain copy; an inherited ``TRACEPARENT`` passes through.
    """
    env = dict(os.environ if base is None else base)
    runtime = _runtime(config)
    if runtime is not None:
        env.update(runtime.current_carrier())
    return env
