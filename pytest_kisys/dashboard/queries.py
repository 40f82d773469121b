"""Read-only queries of the dashboard over any history store (SQLAlchemy Core).

Every list is paged (``limit``, ``offset``) and filtered by ``run`` (default: the newest run),
``check``, ``severity`` and ``path`` where those apply. The shapes come from
:mod:`pytest_kisys.history.views`, shared with the HTML report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import json
from typing import Any

import sqlalchemy as sa

from pytest_kisys.history import views
from pytest_kisys.history.interface import SEQ_SCALE
from pytest_kisys.history.interface import TESTS_RECORDED
from pytest_kisys.history.rows import span
from pytest_kisys.history.sa_store import metadata


MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
FINDING_GROUPS = ("scans", "vulnerabilities", "secrets")


class QueryError(ValueError):
    """A bad query parameter (the message names it and what is accepted) or an unknown run."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Filters:
    """The common parameters of the list endpoints."""

    run: str | None = None
    check: str | None = None
    severity: tuple[str, ...] = ()
    path: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """From query parameters; :class:`QueryError` names a bad one."""

        def number(name: str, default: int, high: int) -> int:
            raw = params.get(name)
            if raw is None or raw == "":
                return default
            if not raw.isdigit() or int(raw) > high:
                raise QueryError(f"{name}={raw!r}: expected a whole number from 0 to {high}")
            return int(raw)

        severity = tuple(s for s in (params.get("severity") or "").split(",") if s)
        return cls(
            run=params.get("run") or None,
            check=params.get("check") or None,
            severity=severity,
            path=params.get("path") or None,
            limit=number("limit", DEFAULT_LIMIT, MAX_LIMIT),
            offset=number("offset", 0, 10**9),
        )


class Reader:
    """The dashboard's queries; one engine, thread-safe (one connection per call)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        _meta, self.t = metadata()

    def _rows(self, stmt: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def _paged(self, stmt: Any, f: Filters, view: Any) -> dict[str, Any]:
        # One connection for the count and the page; the count without the ORDER BY.
        counted = sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
        with self.engine.connect() as conn:
            total = int(conn.execute(counted).scalar_one())
            rows = [dict(r._mapping) for r in conn.execute(stmt.limit(f.limit).offset(f.offset))]
        return views.page([view(r) for r in rows], total, f.limit, f.offset)

    def run_row(self, run_id: str | None) -> dict[str, Any]:
        """The ``runs`` row of ``run_id`` (default: the newest); 404 when there is none."""
        runs = self.t["runs"]
        stmt = sa.select(runs)
        stmt = stmt.where(runs.c.id == run_id) if run_id else stmt.order_by(runs.c.started.desc()).limit(1)
        rows = self._rows(stmt)
        if not rows:
            raise QueryError(f"no run {run_id!r} in the history" if run_id else "no run in the history", 404)
        return rows[0]

    def runs(self, f: Filters) -> dict[str, Any]:
        """``/api/runs``: newest first."""
        runs = self.t["runs"]
        return self._paged(sa.select(runs).order_by(runs.c.started.desc()), f, views.run_view)

    def run(self, run_id: str) -> dict[str, Any]:
        """``/api/runs/{id}``: the run, its outcome counts and slowest tests."""
        row = self.run_row(run_id)
        tests = self.t["tests"]
        rows = self._rows(
            sa.select(tests.c.nodeid, tests.c.outcome, tests.c.duration).where(tests.c.run_id == row["id"])
        )
        return {**views.run_view(row), **views.test_summary(rows)}

    def workflows(self, f: Filters) -> dict[str, Any]:
        """``/api/workflows``: the run's stages in start order."""
        run = self.run_row(f.run)
        st = self.t["stages"]
        stmt = sa.select(st).where(st.c.run_id == run["id"]).order_by(st.c.started, st.c.id)
        return {**self._paged(stmt, f, views.stage_view), "run": run["id"]}

    def traces(self, f: Filters) -> dict[str, Any]:
        """``/api/traces``: the span summary (session, stages, tests)."""
        run = self.run_row(f.run)
        st, tests = self.t["stages"], self.t["tests"]
        stages = self._rows(sa.select(st).where(st.c.run_id == run["id"]).order_by(st.c.id))
        rows = self._rows(sa.select(tests).where(tests.c.run_id == run["id"]).order_by(tests.c.id))
        spans = views.trace_views(run, stages, rows)
        return {
            **views.page(spans[f.offset : f.offset + f.limit], len(spans), f.limit, f.offset),
            "run": run["id"],
        }

    def previous_fingerprints(self, run: Mapping[str, Any]) -> frozenset[str] | None:
        """Finding ids of the previous run of the same project (None for a first run)."""
        runs, fi = self.t["runs"], self.t["findings"]
        prev = self._rows(
            sa.select(runs.c.id)
            .where(runs.c.project == run["project"], runs.c.started < run["started"])
            .order_by(runs.c.started.desc())
            .limit(1)
        )
        if not prev:
            return None
        ids = self._rows(sa.select(fi.c.fingerprint).where(fi.c.run_id == prev[0]["id"]))
        return frozenset(r["fingerprint"] for r in ids)

    def findings(self, group: str, f: Filters) -> dict[str, Any]:
        """``/api/scans`` (code), ``/api/vulnerabilities`` (deps) or ``/api/secrets``."""
        run = self.run_row(f.run)
        fi = self.t["findings"]
        stmt = sa.select(fi).where(fi.c.run_id == run["id"])
        if group == "vulnerabilities":
            stmt = stmt.where(fi.c.check_kind == "deps")
        elif group == "secrets":
            stmt = stmt.where(fi.c.check_kind == "secrets")
        else:
            stmt = stmt.where(fi.c.check_kind.not_in(("deps", "secrets")))
        if f.check:
            stmt = stmt.where(fi.c.check_kind == f.check)
        if f.severity:
            stmt = stmt.where(fi.c.severity.in_(f.severity))
        if f.path:
            stmt = stmt.where(fi.c.path.contains(f.path, autoescape=True))
        stmt = stmt.order_by(fi.c.id)
        previous = self.previous_fingerprints(run)
        view = views.finding_view if group == "scans" else views.typed_finding
        return {**self._paged(stmt, f, lambda r: view(r, previous)), "run": run["id"]}

    def decisions(self, f: Filters) -> dict[str, Any]:
        """``/api/decisions``: vetting decisions and install items, in order."""
        run = self.run_row(f.run)
        de = self.t["decisions"]
        stmt = sa.select(de).where(de.c.run_id == run["id"]).order_by(de.c.id)
        return {**self._paged(stmt, f, views.decision_view), "run": run["id"]}

    def costs(self, f: Filters) -> dict[str, Any]:
        """``/api/costs``: seconds (and money) by module and by marker, largest first."""
        run = self.run_row(f.run)
        co = self.t["costs"]
        stmt = sa.select(co).where(co.c.run_id == run["id"])
        if f.path:
            stmt = stmt.where(co.c.name.contains(f.path, autoescape=True))
        stmt = stmt.order_by(co.c.grp, co.c.seconds.desc(), co.c.name)
        return {**self._paged(stmt, f, views.cost_view), "run": run["id"]}

    def trends(self, f: Filters) -> dict[str, Any]:
        """``/api/trends``: per run (newest first) findings, duration, cost and outcomes."""
        runs = self.t["runs"]
        stmt = sa.select(
            runs.c.id,
            runs.c.name,
            runs.c.started,
            runs.c.status,
            runs.c.findings,
            runs.c.duration,
            runs.c.cost_seconds,
            runs.c.money,
            runs.c.tests,
            runs.c.outcomes,
        ).order_by(runs.c.started.desc())

        def view(r: Mapping[str, Any]) -> dict[str, Any]:
            return {**r, "outcomes": json.loads(r["outcomes"] or "{}")}

        return self._paged(stmt, f, view)

    def last_seq(self) -> int:
        """The feed's sequence number of the newest event (0 when there is none): the next
        stored event's spans all come after it."""
        ev = self.t["events"]
        with self.engine.connect() as conn:
            newest = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(ev.c.seq), 0))).scalar_one())
        return newest * SEQ_SCALE + SEQ_SCALE - 1 if newest else 0

    def events_after(self, seq: int, run: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Events with a feed sequence number above ``seq``, oldest first (``limit`` stored events).

        A stored :data:`~pytest_kisys.history.interface.TESTS_RECORDED` event becomes the
        ``trace.span.created`` and ``trace.span.ended`` events of its tests, in row order, with
        the sequence numbers after its own (``events.seq * SEQ_SCALE + 0, 1, ...``).
        """
        ev = self.t["events"]
        stmt = sa.select(ev).where(ev.c.seq >= seq // SEQ_SCALE)
        if run:
            stmt = stmt.where(ev.c.run_id == run)
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for r in conn.execute(stmt.order_by(ev.c.seq).limit(limit)):
                base = r.seq * SEQ_SCALE
                head = {"seq": base, "run_id": r.run_id, "ts": r.ts, "type": r.type}
                if r.type != TESTS_RECORDED:
                    if base > seq:
                        out.append({**head, "data": json.loads(r.data)})
                    continue
                for n, (ts, type_, data) in enumerate(self._test_spans(conn, r.run_id, json.loads(r.data))):
                    if base + n > seq:
                        out.append({**head, "seq": base + n, "ts": ts, "type": type_, "data": data})
        return out

    def _test_spans(
        self, conn: sa.Connection, run_id: str, marker: Mapping[str, Any]
    ) -> list[tuple[float, str, dict[str, Any]]]:
        """``(ts, type, data)`` of the span events of the tests a ``TESTS_RECORDED`` event
        (``marker`` its data) stands for, in row order."""
        tests = self.t["tests"]
        stmt = (
            sa.select(tests.c.nodeid, tests.c.outcome, tests.c.started, tests.c.duration)
            .where(tests.c.run_id == run_id, tests.c.id <= int(marker["upto"]))
            .order_by(tests.c.id.desc())
            .limit(int(marker["count"]))
        )
        out: list[tuple[float, str, dict[str, Any]]] = []
        for t in reversed(list(conn.execute(stmt))):
            end = t.started + t.duration
            out.append((t.started, "trace.span.created", span(t.nodeid, "test", t.started)))
            out.append((end, "trace.span.ended", span(t.nodeid, "test", t.started, end, t.outcome)))
        return out
