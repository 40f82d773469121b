"""The JSON shapes of the dashboard, built from history rows (pure; shared by the REST API and
the self-contained HTML report, so both show the same thing).

Rows are mappings with the columns of :mod:`pytest_kisys.history.schema`; JSON text columns
are decoded here. Secret findings are shown as type, file, line and hash only.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import json
from typing import Any

from pytest_kisys.history.rows import OUTCOMES
from pytest_kisys.history.rows import secret_view
from pytest_kisys.history.rows import span
from pytest_kisys.history.rows import vulnerability_view


Row = Mapping[str, Any]
SLOWEST = 10


def run_view(row: Row) -> dict[str, Any]:
    """A ``runs`` row as ``/api/runs`` lists it."""
    return {
        "id": row["id"],
        "name": row["name"],
        "project": row["project"],
        "host": row["host"],
        "kisys_version": row["kisys_version"],
        "started": row["started"],
        "ended": row["ended"],
        "status": row["status"],
        "exit_status": row["exit_status"],
        "outcomes": json.loads(row["outcomes"] or "{}"),
        "tests": row["tests"],
        "findings": row["findings"],
        "duration": row["duration"],
        "cost_seconds": row["cost_seconds"],
        "money": row["money"],
        "settings": json.loads(row["settings"] or "{}"),
    }


def stage_view(row: Row) -> dict[str, Any]:
    """A ``stages`` row as ``/api/workflows`` shows it."""
    start, end = row["started"], row["ended"]
    return {
        "name": row["name"],
        "status": row["status"],
        "reason": row["reason"],
        "start": start,
        "end": end,
        "duration": None if start is None or end is None else end - start,
        "attempts": row["attempts"],
        "source": row["source"],
    }


def test_summary(tests: Iterable[Row]) -> dict[str, Any]:
    """Outcome counts and the slowest tests of a run."""
    counts = dict.fromkeys(OUTCOMES, 0)
    rows = list(tests)
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    slowest = sorted(rows, key=lambda r: (-r["duration"], r["nodeid"]))[:SLOWEST]
    return {
        "outcomes": counts,
        "total": len(rows),
        "slowest": [
            {"nodeid": r["nodeid"], "outcome": r["outcome"], "duration": r["duration"]} for r in slowest
        ],
    }


def finding_view(row: Row, previous: frozenset[str] | None = None) -> dict[str, Any]:
    """A code finding (``/api/scans``); ``new`` tells whether the previous run lacked it."""
    return {
        "check": row["check_kind"],
        "tool": row["tool"],
        "rule_id": row["rule_id"],
        "rule_name": row["rule_name"],
        "severity": row["severity"],
        "path": row["path"],
        "line": row["line"],
        "message": row["message"],
        "id": row["fingerprint"],
        "new": None if previous is None else row["fingerprint"] not in previous,
    }


def typed_finding(row: Row, previous: frozenset[str] | None = None) -> dict[str, Any]:
    """A finding in the shape of its check: secrets hide all but type, file, line and hash."""
    if row["check_kind"] == "secrets":
        view = secret_view(row)
    elif row["package"]:
        view = {**vulnerability_view(row), "path": row["path"]}
    else:
        return finding_view(row, previous)
    view["check"] = row["check_kind"]
    view["new"] = None if previous is None else row["fingerprint"] not in previous
    return view


def decision_view(row: Row) -> dict[str, Any]:
    """A vetting decision or an install item (``/api/decisions``)."""
    return {
        "kind": row["kind"],
        "name": row["name"],
        "action": row["action"],
        "detail": json.loads(row["data"]),
    }


def cost_view(row: Row) -> dict[str, Any]:
    """One cost group (``/api/costs``)."""
    return {"group": row["grp"], "name": row["name"], "seconds": row["seconds"], "money": row["money"]}


def trace_views(run: Row, stages: Sequence[Row], tests: Sequence[Row]) -> list[dict[str, Any]]:
    """The span summary of a run: the session, each stage, each test (``/api/traces``)."""
    out = [span("session", "session", run["started"], run["ended"], run["status"])]
    out += [span(s["name"], "stage", s["started"], s["ended"], s["status"]) for s in stages]
    out += [
        span(t["nodeid"], "test", t["started"], t["started"] + t["duration"], t["outcome"]) for t in tests
    ]
    return out


def page(items: Sequence[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    """The paging envelope of every list endpoint."""
    return {"items": list(items), "total": total, "limit": limit, "offset": offset}


def bundle(
    run: Row,
    rows: Mapping[str, Sequence[Row]],
    previous: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Everything the page shows of one run, keyed like the API endpoints (for ``--kisys-html``)."""
    stages, tests = rows.get("stages", ()), rows.get("tests", ())
    findings = rows.get("findings", ())

    def listing(items: Sequence[Any]) -> dict[str, Any]:
        return page(items, len(items), len(items), 0)

    return {
        "run": {**run_view(run), **test_summary(tests)},
        "workflows": listing([stage_view(s) for s in stages]),
        "traces": listing(trace_views(run, stages, tests)),
        "scans": listing(
            [finding_view(f, previous) for f in findings if f["check_kind"] not in ("secrets", "deps")]
        ),
        "vulnerabilities": listing(
            [typed_finding(f, previous) for f in findings if f["check_kind"] == "deps"]
        ),
        "secrets": listing([typed_finding(f, previous) for f in findings if f["check_kind"] == "secrets"]),
        "decisions": listing([decision_view(d) for d in rows.get("decisions", ())]),
        "costs": listing([cost_view(c) for c in rows.get("costs", ())]),
    }
