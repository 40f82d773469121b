"""The history stores for real: the stdlib SQLite file and SQLAlchemy on a throwaway PostgreSQL
cluster (Alembic migrations, retention, schema revisions), recording inside pytest runs
(history off, an unwritable store, xdist), and the dashboard's token off loopback.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import sqlite3
import subprocess
import sys

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from pytest_kisys.errors import HistoryError
from pytest_kisys.history import open_store
from pytest_kisys.history import schema
from pytest_kisys.history.interface import Batch
from pytest_kisys.history.interface import Event
from pytest_kisys.history.sqlite_store import SQLiteStore
from tests.support.dashboard import dashboard
from tests.support.dashboard import Postgres
from tests.support.osv_server import AuditEnvs
from tests.support.osv_server import OSVServer
from tests.test_dashboard_live import run_env
from tests.test_dashboard_live import write_project


def run_row(run_id: str, started: float) -> dict[str, object]:
    return {
        "id": run_id, "name": run_id, "project": "/p", "host": "h", "kisys_version": "0", "started": started,
        "ended": None, "status": "running", "exit_status": None, "outcomes": "{}", "tests": 0,
        "findings": 0, "duration": None, "cost_seconds": 0.0, "money": None, "settings": "{}",
    }


def fill(store: object, runs: int) -> None:
    for n in range(runs):
        rid = f"run{n:03d}"
        store.start_run(run_row(rid, 1000.0 + n))  # type: ignore[attr-defined]
        store.write(rid, Batch(  # type: ignore[attr-defined]
            rows={"tests": ({"nodeid": "t.py::a", "module": "t.py", "outcome": "passed", "started": 1.0,
                             "duration": 0.5, "markers": "[]"},)},
            events=(Event("run.started", 1.0, {"n": n}),),
            run={"status": "finished"},
        ))


def fresh_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> str:
    """A new empty store: a SQLite file, or database ``name`` on the throwaway PostgreSQL."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'h.db'}"
    pg: Postgres = request.getfixturevalue("postgres")
    import sqlalchemy as sa

    engine = sa.create_engine(pg.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return pg.url(name)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_store_records_and_keeps_the_newest_runs(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_url(backend, tmp_path, request, "keep_test")
    store = open_store(url)
    try:
        fill(store, 5)
        assert store.prune(3) == 2
        assert store.prune(3) == 0
    finally:
        store.close()
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM runs ORDER BY started"))]
        assert ids == ["run002", "run003", "run004"]
        assert conn.execute(sa.text("SELECT count(*) FROM tests")).scalar_one() == 3
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == 3
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == schema.HEAD
    engine.dispose()


def a_test_row(name: str, start: float, outcome: str = "passed") -> tuple[str, str, str, float, float, str]:
    return (f"t.py::{name}", "t.py", outcome, start, 0.5, "[]")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_feed_sends_each_tests_span_events_built_from_its_rows(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import sqlalchemy as sa

    from pytest_kisys.dashboard.queries import Reader
    from pytest_kisys.history.rows import span

    url = fresh_url(backend, tmp_path, request, "feed_test")
    mine, other = open_store(url), open_store(url)  # two runs at once: their rows interleave ids
    try:
        mine.start_run(run_row("a", 1.0))
        other.start_run(run_row("b", 2.0))
        started = Event("run.started", 1.0, {"run": {"id": "a"}})
        first = (a_test_row("a1", 10.0), a_test_row("a2", 11.0, "failed"))
        mine.write("a", Batch(tests=first, events=(started,)))
        other.write("b", Batch(tests=(a_test_row("b1", 12.0),)))
        mine.write("a", Batch(tests=(a_test_row("a3", 13.0),), run={"status": "finished"}))
    finally:
        mine.close()
        other.close()
    engine = sa.create_engine(url)
    with engine.connect() as conn:  # one stored event per write of tests, none per test
        types = [r[0] for r in conn.execute(sa.text("SELECT type FROM events ORDER BY seq"))]
    assert types == ["tests.recorded", "run.started", "tests.recorded", "tests.recorded"]
    reader = Reader(engine)
    events = reader.events_after(0)
    shown = [(e["run_id"], e["type"], e["data"].get("name")) for e in events]
    assert shown == [
        ("a", "trace.span.created", "t.py::a1"), ("a", "trace.span.ended", "t.py::a1"),
        ("a", "trace.span.created", "t.py::a2"), ("a", "trace.span.ended", "t.py::a2"),
        ("a", "run.started", None),
        ("b", "trace.span.created", "t.py::b1"), ("b", "trace.span.ended", "t.py::b1"),
        ("a", "trace.span.created", "t.py::a3"), ("a", "trace.span.ended", "t.py::a3"),
    ]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    assert events[2]["data"] == {**span("t.py::a2", "test", 11.0), "status": ""}
    assert events[3]["data"] == span("t.py::a2", "test", 11.0, 11.5, "failed")
    assert (events[2]["ts"], events[3]["ts"]) == (11.0, 11.5)
    # A client that saw the first span event resumes inside the batch; one run only; nothing new.
    assert reader.events_after(seqs[0]) == events[1:]
    assert [e["data"]["name"] for e in reader.events_after(0, "b")] == ["t.py::b1", "t.py::b1"]
    assert reader.events_after(reader.last_seq()) == []
    engine.dispose()


def test_alembic_upgrades_a_file_the_stdlib_store_created(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "h.db").close()
    from pytest_kisys.history.sa_store import connect as sa_connect
    from pytest_kisys.history.sa_store import current_revision

    engine = sa_connect(f"sqlite:///{tmp_path / 'h.db'}")
    with engine.connect() as conn:
        assert current_revision(conn) == schema.HEAD
    engine.dispose()
    # And the other way round: a file Alembic created is taken as is by the stdlib store.
    sa_connect(f"sqlite:///{tmp_path / 'b.db'}").dispose()
    store = SQLiteStore(tmp_path / "b.db")
    fill(store, 1)
    store.close()


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "h.db").close()
    with sqlite3.connect(tmp_path / "h.db") as db:
        db.execute("UPDATE alembic_version SET version_num = 'kisys9999'")
    with pytest.raises(HistoryError, match="kisys9999.*newer than this kisys knows"):
        SQLiteStore(tmp_path / "h.db")


def test_unusable_url_is_a_history_error_naming_it() -> None:
    with pytest.raises(HistoryError, match="not usable"):
        open_store("nosuchdialect://user:pw@host/db")


# -- recording inside pytest runs ------------------------------------------------------------


def test_history_false_records_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    pytester.makepyprojecttoml("[tool.kisys]\nhistory = false\n")
    result = pytester.runpytest("--kisys", "--kisys-scan", "none")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / ".kisys").exists()


def test_default_store_is_under_rootdir(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): assert 0")
    result = pytester.runpytest("--kisys", "--kisys-scan", "none")
    result.assert_outcomes(passed=1, failed=1)
    with sqlite3.connect(pytester.path / ".kisys" / "history.db") as db:
        [(status, outcomes, tests)] = db.execute("SELECT status, outcomes, tests FROM runs").fetchall()
    assert status == "finished"
    assert tests == 2
    assert json.loads(outcomes)["failed"] == 1


def test_each_tests_markers_are_its_own_and_its_parents(pytester: pytest.Pytester) -> None:
    # The items of one parametrized function share its marks; a param's own marks differ.
    pytester.makeini("[pytest]\nmarkers =\n    db\n    slow\n")
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.db

        @pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.slow), 3])
        def test_p(n):
            pass

        @pytest.mark.slow
        class TestC:
            @pytest.mark.parametrize("n", [1, 2])
            def test_m(self, n):
                pass

            def test_plain(self):
                pass
        """
    )
    result = pytester.runpytest("--kisys", "--kisys-scan", "none")
    result.assert_outcomes(passed=6)
    with sqlite3.connect(pytester.path / ".kisys" / "history.db") as db:
        rows = dict(db.execute("SELECT nodeid, markers FROM tests").fetchall())
    by_name = {nodeid.split("::", 1)[1]: json.loads(markers) for nodeid, markers in rows.items()}
    assert by_name == {
        "test_p[1]": ["db", "parametrize"],
        "test_p[2]": ["db", "parametrize", "slow"],
        "test_p[3]": ["db", "parametrize"],
        "TestC::test_m[1]": ["db", "parametrize", "slow"],
        "TestC::test_m[2]": ["db", "parametrize", "slow"],
        "TestC::test_plain": ["db", "slow"],
    }


def test_tests_are_written_while_the_run_goes_even_during_a_long_test(pytester: pytest.Pytester) -> None:
    # The last test waits (up to 60 s) until the earlier tests' rows are in the store: the test
    # loop flushed them at a test's setup, or the recorder's thread did while this test runs.
    # The log taps the masking wrapper: no per-report hookimpl of the history's own.
    pytester.makeconftest(
        """
        def pytest_sessionfinish(session):
            pm = session.config.pluginmanager
            print("HISTORY-HOOK", pm.get_plugin("kisys-history-tests") is not None)
        """
    )
    pytester.makepyfile(
        """
        import sqlite3, time
        import pytest

        @pytest.mark.parametrize("n", range(40))
        def test_quick(n):
            time.sleep(0.02)

        def test_zz_waits_for_the_rows():
            deadline = time.monotonic() + 60
            while True:
                with sqlite3.connect(".kisys/history.db") as db:
                    (count,) = db.execute("SELECT count(*) FROM tests").fetchone()
                if count == 40:
                    break
                assert time.monotonic() < deadline, count
                time.sleep(0.05)
        """
    )
    result = pytester.runpytest("--kisys", "--kisys-scan", "none", "-s")
    result.assert_outcomes(passed=41)
    result.stdout.fnmatch_lines(["*HISTORY-HOOK False*"])
    with sqlite3.connect(pytester.path / ".kisys" / "history.db") as db:
        rows = db.execute("SELECT nodeid, outcome, markers FROM tests ORDER BY id").fetchall()
        marks = [json.loads(d) for (d,) in db.execute(
            "SELECT data FROM events WHERE type = 'tests.recorded' ORDER BY seq")]
        spans = db.execute("SELECT count(*) FROM events WHERE data LIKE '%\"kind\": \"test\"%'").fetchone()
    assert [r[0] for r in rows] == [*(f"test_tests_are_written_while_the_run_goes_even_during_a_long_test.py"
                                      f"::test_quick[{n}]" for n in range(40)),
                                    "test_tests_are_written_while_the_run_goes_even_during_a_long_test.py"
                                    "::test_zz_waits_for_the_rows"]
    assert {r[1] for r in rows} == {"passed"}
    assert json.loads(rows[0][2]) == ["parametrize"]
    assert len(marks) >= 2  # written in several flushes, not once at the end
    assert sum(m["count"] for m in marks) == 41
    assert spans == (0,)  # no span event per test in the store: the feed builds them


def test_unwritable_store_is_one_warning_and_never_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    (pytester.path / "blocker").write_text("a file where the store's directory should be")
    pytester.makepyprojecttoml('[tool.kisys]\nhistory_url = "blocker/history.db"\n')
    result = pytester.runpytest("--kisys", "--kisys-scan", "none")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    warnings = [line for line in result.outlines if "not recorded in the history" in line]
    assert len(warnings) == 1, result.outlines
    assert "blocker" in warnings[0]


# -- PostgreSQL, xdist and the deps check, end to end ----------------------------------------


def test_postgres_history_under_xdist_with_vulnerabilities(
    postgres: Postgres, tmp_path: Path, audit_envs: AuditEnvs, osv_server: OSVServer
) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS team"))
        conn.execute(sa.text("CREATE DATABASE team"))
    admin.dispose()
    url = postgres.url("team")
    project = tmp_path / "proj"
    tests = "\n".join(f"def test_{n}(): pass" for n in range(6))
    write_project(project, {"test_many.py": tests, "pyproject.toml": "[tool.kisys]\nhistory_keep = 5\n"})
    env = run_env(tmp_path, KISYS_HISTORY_URL=url, KISYS_AUDIT_SERVICE="osv", KISYS_OSV_URL=osv_server.url,
                  PIPAPI_PYTHON_LOCATION=audit_envs.vulnerable)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--kisys", "--kisys-scan", "deps", "-n", "2",
         "-p", "no:cacheprovider", "-q"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert "6 passed" in done.stdout, done.stdout + done.stderr
    assert "not recorded" not in done.stdout
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one() == 1  # workers never write
        assert conn.execute(sa.text("SELECT count(*) FROM tests")).scalar_one() == 6
        types = {r[0] for r in conn.execute(sa.text("SELECT DISTINCT type FROM events"))}
    engine.dispose()
    assert {"run.started", "vulnerability.detected", "scan.completed", "run.finished"} <= types
    with dashboard(url) as server:
        [vuln] = server.get("/api/vulnerabilities").json()["items"]
        assert (vuln["package"], vuln["version"], vuln["id"]) == ("kisys-tiny-vuln", "1.0.0", "PYSEC-2099-1")
        assert vuln["fix_versions"] == ["1.2.0"]
        assert "CVE-2099-0001" in vuln["aliases"]
        run = server.get("/api/runs").json()["items"][0]
        assert run["outcomes"]["passed"] == 6
        assert run["status"] == "finished"
    assert "history postgresql+psycopg://postgres@127.0.0.1" in server.output[0]


# -- the token off loopback --------------------------------------------------------------------


def test_token_required_when_not_bound_to_loopback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    fill_store = SQLiteStore(tmp_path / "h.db")
    fill(fill_store, 1)
    fill_store.close()
    # Bound to every interface (not loopback); the test itself only talks to 127.0.0.1.
    with dashboard(url, "--host", "0.0.0.0") as server:  # noqa: S104 - the point of the test
        assert server.get("/api/runs").status_code == 401
        assert server.get("/").status_code == 401
        with pytest.raises(InvalidStatus):
            with connect(server.base.replace("http", "ws") + "/ws", open_timeout=30):
                pass
    printed = server.output[0]
    [token] = re.findall(r"token \(shown once\): (\S+)", printed)
    assert printed.count(token) == 1
    with dashboard(url, "--host", "0.0.0.0", "--token", token, token=token) as server:  # noqa: S104
        assert server.get("/api/runs").status_code == 401
        assert server.get("/api/runs", params={"token": "wrong"}).status_code == 401
        ok = server.get("/api/runs", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert ok.json()["total"] == 1
        assert server.get("/api/runs", params={"token": token}).status_code == 200
        with connect(server.base.replace("http", "ws") + f"/ws?token={token}&since=0", open_timeout=30) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "run.started"
    assert token not in server.output[0]  # a given token is never printed
