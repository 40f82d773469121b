"""The audit log: every decision as one JSON line, and a one-line human rendering.

Lines carry time (UTC, ISO 8601), name, version, requirement, requested_by, level, action,
reasons and evidence. The file is opened in append mode per batch, so concurrent runs
interleave whole lines rather than corrupting each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import fcntl
import json
from pathlib import Path
from typing import Any

from pytest_kisys.vet.interface import Decision


def format_decision(decision: Decision) -> str:
    """``kisys: numpyy -> confirm (WARNING: ... did you mean numpy?)``."""
    version = f"=={decision.version}" if decision.version else ""
    by = f" [requested by {', '.join(decision.requested_by)}]" if decision.requested_by else ""
    reasons = "; ".join(decision.reasons)
    return f"kisys: {decision.name}{version} -> {decision.action} ({reasons}){by}"


def append_audit(path: Path, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append ``entries`` to the audit log at ``path``, redacted, one JSON line each.

    The one writer of the audit log (decisions and install batches): the lines of one call
    are written in one go under an exclusive ``flock``, so threads and concurrent runs
    interleave whole batches, never parts of lines.
    """
    if not entries:
        return
    # Imported here: the redactor compiles its patterns, and most runs write no audit log.
    from pytest_kisys.secrets.redact import Redactor

    redact = Redactor().redact_json
    lines = "".join(json.dumps(redact(dict(e)), sort_keys=True, default=str) + "\n" for e in entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            handle.write(lines)
            handle.flush()
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class AuditLog:
    """Appends decisions to ``path`` as JSON lines (through :func:`append_audit`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, decisions: Sequence[Decision], now: float) -> None:
        """Append one line per decision."""
        append_audit(self.path, [d.audit_line(now) for d in decisions])
