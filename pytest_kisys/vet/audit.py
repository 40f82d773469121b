"""The audit log: every decision as one JSON line, and a one-line human rendering.

Lines carry time (UTC, ISO 8601), name, version, requirement, requested_by, level, action,
reasons and evidence. The file is opened in append mode per batch, so concurrent runs
interleave whole lines rather than corrupting each other.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
from pathlib import Path
import threading

from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.vet.interface import Decision


def format_decision(decision: Decision) -> str:
    """``kisys: numpyy -> confirm (WARNING: ... did you mean numpy?)``."""
    version = f"=={decision.version}" if decision.version else ""
    by = f" [requested by {', '.join(decision.requested_by)}]" if decision.requested_by else ""
    reasons = "; ".join(decision.reasons)
    return f"kisys: {decision.name}{version} -> {decision.action} ({reasons}){by}"


class AuditLog:
    """Appends decisions to ``path`` as JSON lines (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, decisions: Sequence[Decision], now: float) -> None:
        """Append one line per decision."""
        if not decisions:
            return
        redact = Redactor().redact_json
        lines = "".join(
            json.dumps(redact(d.audit_line(now)), sort_keys=True, default=str) + "\n" for d in decisions
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(lines)
