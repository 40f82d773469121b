"""One frozen :class:`Settings`, resolved once per run, that remembers where each value came from.

Precedence, highest first: command line > environment > pytest ini / ``[tool.kisys]`` in
``pyproject.toml`` > ``kisys.yaml`` at rootdir > built-in defaults.

Every key is declared once in :data:`KEYS`; the command-line options, their ini twins, the
environment variables, the validation and the documentation table are all derived from it.
This module imports only the standard library at import time: ``yaml`` is imported only when a
``kisys.yaml`` exists.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
from dataclasses import field
import datetime as dt
import difflib
import os
from pathlib import Path
import re
from typing import Any
from typing import Literal

import pytest

from pytest_kisys.errors import ConfigError


LEVELS = ("paranoid", "balanced", "autonomous")
SEVERITIES = ("info", "low", "medium", "high", "critical")
FAIL_ON = ("low", "medium", "high", "critical", "never")
SCANS = ("code", "deps", "secrets")
BACKENDS = ("pip", "uv", "auto")
AUDIT_SERVICES = ("pypi", "osv")
ON_DENIED = ("skip", "error")

Level = Literal["paranoid", "balanced", "autonomous"]
Backend = Literal["pip", "uv", "auto"]

# PEP 508 project name (before canonicalisation), used for allow/deny entries.
_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_TRACE_KEEP = re.compile(r"^(all|failed|slow:(\d+(\.\d+)?))$")

SETTINGS_KEY: pytest.StashKey[Settings] = pytest.StashKey()


@dataclass(frozen=True)
class IgnoreRule:
    """Suppresses findings whose id, fingerprint or rule id equals :attr:`id` until :attr:`expires`."""

    id: str
    reason: str
    expires: dt.date | None = None

    def expired(self, today: dt.date | None = None) -> bool:
        """Whether the rule has stopped applying (the expiry day itself still applies)."""
        if self.expires is None:
            return False
        return (today or dt.date.today()) > self.expires


@dataclass(frozen=True)
class IndexSettings:
    """Which package index to vet against. ``url`` None means: whatever pip is configured with."""

    url: str | None = None
    cert: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class Settings:
    """Everything pytest-kisys needs to know about one run, resolved once and never mutated.

    ``sources`` maps each field name to where its value came from, for example ``"default"``,
    ``"command line --kisys-level"``, ``"env KISYS_LEVEL"``, ``"pyproject.toml [tool.kisys]"``
    or ``"kisys.yaml:3"``.
    """

    enabled: bool = False
    level: Level = "balanced"
    offline: bool = False
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    scan: frozenset[str] = frozenset(SCANS)
    fail_on: str = "high"
    report: Path | None = None
    sarif: Path | None = None
    sbom: Path | None = None
    trace: str = "none"
    import_map: Mapping[str, str] = field(default_factory=dict)
    ignore: tuple[IgnoreRule, ...] = ()
    baseline: Mapping[str, Path] = field(default_factory=dict)
    index: IndexSettings = field(default_factory=IndexSettings)
    cache_dir: Path | None = None
    cache_ttl: float = 86400.0
    retries: int = 2
    backend: Backend = "auto"
    stages: tuple[Mapping[str, Any], ...] = ()
    max_workers: int = 0
    log_file: Path | None = None
    learn: bool = False
    allow_system_install: bool = False
    on_denied: str = "skip"
    scan_first: bool = False
    allow_inconclusive: bool = False
    audit_service: str = "pypi"
    osv_url: str | None = None
    scan_timeout: float = 600.0
    trace_timeout: float = 2.0
    trace_keep: str = "all"
    trace_phases: bool = False
    traceparent: str | None = None
    cost_per_cpu_hour: float | None = None
    rootdir: Path = field(default_factory=Path.cwd)
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def source_of(self, name: str) -> str:
        """Where the value of field ``name`` came from (``"default"`` when not set anywhere)."""
        return self.sources.get(name, "default")

    def resolved_cache_dir(self) -> Path:
        """The on-disk cache directory: ``cache_dir`` or ``$XDG_CACHE_HOME/pytest-kisys``."""
        if self.cache_dir is not None:
            return self.cache_dir
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "pytest-kisys"

    def effective_workers(self) -> int:
        """Worker processes for parallel scans and stages (``max_workers``, else the CPU count)."""
        return self.max_workers or (os.cpu_count() or 1)
