"""The inspection interface: findings with rule id, severity and file:line evidence.

:class:`InspectFinding` is one rule's hit, :class:`WheelInspection` everything found in one
wheel, :class:`EnvironmentView` what the target environment already holds (files owned by
other distributions, their commands and top-level names), so the rules stay pure functions
of (wheel, environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal


Severity = Literal["high", "medium", "low"]
SEVERITY_ORDER: Mapping[str, int] = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True)
class InspectFinding:
    """One rule's hit. ``line`` is 0 when the evidence is a whole file (a binary, a RECORD row)."""

    rule: str
    severity: Severity
    file: str
    line: int
    message: str

    @property
    def where(self) -> str:
        """``file:line`` (or just ``file`` when ``line`` is 0)."""
        return f"{self.file}:{self.line}" if self.line else self.file

    def describe(self) -> str:
        """One readable line: ``[rule] file:line: message``."""
        return f"[{self.rule}] {self.where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        """Keys: rule, severity, file, line, message."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "message": self.message,
        }


@dataclass(frozen=True)
class WheelInspection:
    """What inspecting one wheel found (``findings`` sorted by severity, then file)."""

    name: str
    version: str
    filename: str
    findings: tuple[InspectFinding, ...] = ()
    seconds: float = 0.0
    size: int = 0

    def at(self, severity: Severity) -> tuple[InspectFinding, ...]:
        """The findings of exactly ``severity``."""
        return tuple(f for f in self.findings if f.severity == severity)

    @property
    def worst(self) -> Severity | None:
        """The highest severity found, None when nothing was found."""
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=SEVERITY_ORDER.__getitem__)

    def to_json(self) -> dict[str, Any]:
        """Keys: wheel, findings (each :meth:`InspectFinding.to_json`)."""
        return {"wheel": self.filename, "findings": [f.to_json() for f in self.findings]}


@dataclass(frozen=True)
class EnvironmentView:
    """The target environment as the rules see it.

    :param files: path relative to site-packages (``pkg/mod.py``) -> canonical owner name.
    :param top_levels: top-level import name -> canonical owner name.
    :param commands: script name in the environment's ``bin`` -> canonical owner name.
    :param path_commands: names of the system's executables on ``PATH`` (``/usr/bin``...).
    """

    files: Mapping[str, str] = field(default_factory=dict)
    top_levels: Mapping[str, str] = field(default_factory=dict)
    commands: Mapping[str, str] = field(default_factory=dict)
    path_commands: frozenset[str] = frozenset()
