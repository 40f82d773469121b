"""Turns what a run learned into history rows and live events (pure functions, no I/O).

Inputs are the JSON forms the subsystems already give (``to_json()`` of decisions, install
batches, stage results and check results), so the history follows the report schema rather
than the classes behind it. Every text that reaches a row passes through the redactor first;
secret findings carry type, file, line and hash only.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
import json
from typing import Any

from pytest_kisys.history.interface import Event
from pytest_kisys.history.interface import Row


Redact = Callable[[str], str]
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def scrub(value: Any, redact: Redact) -> Any:
    """``value`` (JSON data) with every string passed through ``redact``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): scrub(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, redact) for v in value]
    return value


def dumps(value: Any) -> str:
    """Compact JSON for a text column."""
    return json.dumps(value, separators=(",", ":"), default=str)


def decision_rows(decision: Mapping[str, Any], redact: Redact) -> list[Row]:
    """One ``decisions`` row for a vetting decision (``Decision.to_json()``)."""
    return [
        {
            "kind": "decision",
            "name": str(decision.get("name", "")),
            "action": str(decision.get("action", "")),
            "data": dumps(scrub(decision, redact)),
        }
    ]


def install_rows(batch: Mapping[str, Any], redact: Redact) -> list[Row]:
    """One ``decisions`` row (kind ``install``) per item an install batch installed, denied or refused."""
    rows: list[Row] = []
    for action in ("installed", "denied", "refused"):
        for item in batch.get(action) or ():
            data = {**scrub(item, redact), "backend": batch.get("backend")}
            rows.append(
                {"kind": "install", "name": str(item.get("name", "")), "action": action, "data": dumps(data)}
            )
    if batch.get("error"):
        rows.append(
            {
                "kind": "install",
                "name": "(batch)",
                "action": "error",
                "data": dumps({"error": redact(str(batch["error"]))}),
            }
        )
    return rows


def stage_row(stage: Mapping[str, Any], redact: Redact) -> Row:
    """The ``stages`` row of a stage result (``StageResult.to_json()``)."""
    return {
        "name": str(stage.get("name", "")),
        "status": str(stage.get("status", "")),
        "reason": redact(str(stage.get("reason") or "")),
        "started": stage.get("start"),
        "ended": stage.get("end"),
        "attempts": int(stage.get("attempts") or 0),
        "source": str(stage.get("source") or ""),
    }


def span(
    name: str, kind: str, start: float | None, end: float | None = None, status: str = ""
) -> dict[str, Any]:
    """The span summary carried by ``trace.span.*`` events and ``/api/traces``."""
    return {"name": name, "kind": kind, "start": start, "end": end, "status": status}


def stage_events(row: Row, ts: float) -> list[Event]:
    """``trace.span.created`` and ``trace.span.ended`` of a finished stage."""
    info = span(row["name"], "stage", row["started"], row["ended"], row["status"])
    return [Event("trace.span.created", ts, info), Event("trace.span.ended", ts, info)]


def check_rows(check: Mapping[str, Any], redact: Redact) -> list[Row]:
    """``findings`` rows of a check result (``CheckResult.to_json()``; counted findings only)."""
    kind = str(check.get("kind", ""))
    rows: list[Row] = []
    for f in check.get("findings") or ():
        secret = kind == "secrets"
        rows.append(
            {
                "check_kind": kind,
                "tool": str(f.get("tool", "")),
                "rule_id": str(f.get("rule_id", "")),
                "rule_name": str(f.get("rule_name") or ""),
                "severity": str(f.get("severity", "")),
                "path": redact(str(f.get("path", ""))),
                "line": int(f.get("line") or 0),
                # A secret finding's message names its type; the value is never kept.
                "message": str(f.get("rule_name") or "secret")
                if secret
                else redact(str(f.get("message", ""))),
                "fingerprint": str(f.get("id", "")),
                "package": f.get("package"),
                "version": f.get("version"),
                "fix_versions": dumps(list(f.get("fix_versions") or ())),
                "aliases": dumps(list(f.get("aliases") or ())),
            }
        )
    return rows


def check_events(check: Mapping[str, Any], rows: Iterable[Row], ts: float) -> list[Event]:
    """``scan.completed`` plus one ``vulnerability.detected`` / ``secret.detected`` per finding."""
    rows = list(rows)
    events = [
        Event(
            "scan.completed",
            ts,
            {
                "check": check.get("kind"),
                "tool": check.get("tool"),
                "status": check.get("status"),
                "findings": len(rows),
                "counts": dict(check.get("counts") or {}),
                "inconclusive": len(check.get("inconclusive") or ()),
            },
        )
    ]
    for row in rows:
        if row["check_kind"] == "secrets":
            events.append(Event("secret.detected", ts, secret_view(row)))
        elif row["package"]:
            events.append(Event("vulnerability.detected", ts, vulnerability_view(row)))
    return events


def secret_view(row: Row) -> dict[str, Any]:
    """What the dashboard shows of a secret finding: type, file, line and hash."""
    return {"type": row["message"], "path": row["path"], "line": row["line"], "hash": row["fingerprint"]}


def vulnerability_view(row: Row) -> dict[str, Any]:
    """A dependency finding as ``/api/vulnerabilities`` and its event show it."""
    return {
        "package": row["package"],
        "version": row["version"],
        "id": row["rule_id"],
        "aliases": json.loads(row["aliases"]),
        "fix_versions": json.loads(row["fix_versions"]),
        "severity": row["severity"],
        "message": row["message"],
    }


def outcome_of(phases: Mapping[str, tuple[str, bool]]) -> str:
    """A test's outcome from its phases (``when -> (outcome, wasxfail)``)."""
    setup = phases.get("setup", ("passed", False))
    call = phases.get("call")
    teardown = phases.get("teardown", ("passed", False))
    if setup[0] == "failed":
        return "error"
    if setup[0] == "skipped":
        return "xfailed" if setup[1] else "skipped"
    if call is not None:
        if call[0] == "skipped":
            return "xfailed" if call[1] else "skipped"
        if call[0] == "failed":
            return "failed"
        if call[1]:
            return "xpassed"
    return "error" if teardown[0] == "failed" else "passed"


def cost_rows(
    entries: Iterable[tuple[str, float, tuple[str, ...]]], rate_per_cpu_hour: float | None
) -> list[Row]:
    """``costs`` rows (seconds and money by module and by marker) from ``(nodeid, seconds,
    markers)`` entries: one per test, or one per module and marker set (a module's path is
    its own module).

    Grouping is the telemetry cost ledger's (one copy of the rule): a test with two markers
    counts for both, a test without one counts for ``(none)``.
    """
    from pytest_kisys.telemetry.cost import CostLedger

    ledger = CostLedger()
    for entry in entries:
        ledger.add(*entry)
    # At 3600 per hour the ledger's money equals seconds: every module and marker, not a top N.
    seconds = ledger.summary(3600.0)
    money = ledger.summary(rate_per_cpu_hour) if rate_per_cpu_hour is not None else None
    rows: list[Row] = []
    for grp, totals, priced in (
        ("module", seconds.money_by_module, money.money_by_module if money else ()),
        ("marker", seconds.money_by_marker, money.money_by_marker if money else ()),
    ):
        prices = dict(priced)
        for name, secs in totals:
            rows.append(
                {
                    "grp": grp,
                    "name": name,
                    "seconds": round(secs, 6),
                    "money": round(prices[name], 6) if name in prices else None,
                }
            )
    return rows
