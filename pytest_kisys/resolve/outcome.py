"""What the resolve pipeline did, in the form the terminal, the report and xdist workers read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TYPE_CHECKING

from pytest_kisys.resolve.plan import Plan


if TYPE_CHECKING:
    from pytest_kisys.resolve.sources import SuiteNeeds


__all__ = ["Denial", "ResolveOutcome"]


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
    suite: SuiteNeeds | None = None
    """Declared test dependencies, plugins and configuration modules that were considered."""
    activated: tuple[str, ...] = ()
    """Lines about the installed pytest plugins registered for this run."""

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
            "suite": self.suite.to_json() if self.suite is not None else None,
            "activated": list(self.activated),
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
