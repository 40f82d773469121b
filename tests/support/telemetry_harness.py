"""Registers the telemetry plugin in a pytester run, with explicit settings and environment.

Used by the ``tests/test_telemetry_*.py`` behaviour tests: the run gets hermetic ``OTEL_*``
input (a dict, not this process's environment) and, optionally, an in-memory exporter through
the public ``pytest_kisys_span_exporter`` hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import pytest

from pytest_kisys.settings import Settings
from pytest_kisys.telemetry.plugin import TelemetryPlugin


class TelemetryHarness:
    """A pytester plugin: ``runpytest(plugins=[harness])``; spans land in ``harness.memory``."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        in_memory: bool = True,
        **settings: Any,
    ) -> None:
        self.environ = dict(environ or {})
        self.memory = InMemorySpanExporter() if in_memory else None
        self.settings = {"trace": "otlp", **settings}
        self.plugin: TelemetryPlugin | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        settings = Settings(enabled=True, rootdir=Path(config.rootpath), **self.settings)
        self.plugin = TelemetryPlugin(config, settings, self.environ)
        config.pluginmanager.register(self.plugin, "kisys-telemetry")

    def pytest_kisys_span_exporter(self, config: pytest.Config) -> Any:
        return self.memory

    def spans(self) -> list[ReadableSpan]:
        assert self.memory is not None
        return list(self.memory.get_finished_spans())

    def by_name(self) -> dict[str, ReadableSpan]:
        return {span.name: span for span in self.spans()}


CONFTEST_REGISTER = """
import os
from pathlib import Path
from pytest_kisys.settings import Settings
from pytest_kisys.telemetry.plugin import TelemetryPlugin

def pytest_configure(config):
    settings = Settings(enabled=True, rootdir=Path(config.rootpath), {settings})
    config.pluginmanager.register(TelemetryPlugin(config, settings, os.environ), "kisys-telemetry")
"""


def conftest_source(**settings: Any) -> str:
    """A conftest that registers the plugin in every process (controller and xdist workers)."""
    args = ", ".join(f"{key}={value!r}" for key, value in settings.items())
    return CONFTEST_REGISTER.format(settings=args)
