"""What one run did, gathered for the reports: decisions, installs, check results, stages.

A :class:`RunRecord` lives in ``config.stash[RUN_KEY]`` (and the run's settings in
``config.stash[SETTINGS_KEY]``) while ``--kisys`` is on. Each subsystem appends its own
frozen result objects (anything with a ``to_json()`` method); the report writers read them at
session finish. Nothing here imports a heavy library.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
import threading
from typing import Any
from typing import Protocol
from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings


class JsonRecord(Protocol):
    """A result object that can describe itself for the JSON report."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable mapping; keys are documented in docs/report-schema.md."""
        ...


@dataclass
class RunRecord:
    """Mutable, thread-safe collection of everything the reports need about this run."""

    decisions: list[JsonRecord] = field(default_factory=list)
    installs: list[JsonRecord] = field(default_factory=list)
    checks: list[JsonRecord] = field(default_factory=list)
    stages: list[JsonRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cost: JsonRecord | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, item: JsonRecord) -> None:
        """Append ``item`` to the list named ``kind`` (decisions, installs, checks or stages)."""
        bucket: list[JsonRecord] = getattr(self, kind)
        with self._lock:
            bucket.append(item)


RUN_KEY: pytest.StashKey[RunRecord] = pytest.StashKey()
# The run's settings; here rather than in settings.py, which the CLI imports without pytest.
SETTINGS_KEY: pytest.StashKey[Settings] = pytest.StashKey()
