"""The dashboard against a real run: REST and WebSocket on loopback while ``pytest --kisys``
runs in a subprocess, the page and the ``--kisys-html`` report in headless chromium, and no
secret value anywhere in the store, the API, the events or the report.

One recorded run (module fixture ``live``) feeds every test here: its last test waits until
this side has seen the live events, so "events arrive before the run ends" is checked, not
hoped for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from dataclasses import field
import json
import os
from pathlib import Path
import subprocess
import sys
import textwrap
import time
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.dashboard import dashboard
from tests.support.dashboard import png_is_blank
from tests.support.dashboard import Server
from tests.test_scan_secrets import FAKE_AWS_KEY
from tests.test_scan_secrets import FAKE_GITHUB_TOKEN


FAKE_ENV_TOKEN = "fake-env-token-5555444433332222"
PLANTED = (FAKE_GITHUB_TOKEN, FAKE_AWS_KEY, FAKE_ENV_TOKEN)

PROJECT = {
    "pyproject.toml": """\
        [tool.pytest.ini_options]
        markers = ["slow: slow", "db: needs a database"]
        """,
    "app/config.py": f"""\
        import subprocess

        GITHUB = "{FAKE_GITHUB_TOKEN}"
        AWS_ACCESS_KEY_ID = "{FAKE_AWS_KEY}"


        def run(cmd):
            return subprocess.call(cmd, shell=True)
        """,
    "test_live.py": """\
        import os
        import pathlib
        import time

        import pytest

        RELEASE = pathlib.Path(os.environ["KISYS_TEST_RELEASE"])


        @pytest.mark.slow
        @pytest.mark.parametrize("value", [os.environ["FAKE_SERVICE_TOKEN"]])
        def test_param(value):
            time.sleep(0.2)
            assert value


        @pytest.mark.db
        def test_fails():
            assert 1 == 2


        @pytest.mark.skip(reason="not today")
        def test_skipped():
            pass


        def test_zz_waits_for_the_dashboard():
            deadline = time.monotonic() + 240
            while not RELEASE.exists():
                assert time.monotonic() < deadline, "the dashboard test never released the run"
                time.sleep(0.1)
        """,
}


def write_project(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def run_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of an inner ``pytest --kisys`` (none of the outer run's PYTEST_* / xdist)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KISYS_"))}
    env.update(KISYS_CACHE_DIR=str(tmp / "cache"), **extra)
    return env


@dataclass
class Live:
    """What the module's one recorded run left behind."""

    server: Server
    db: Path
    html: Path
    project: Path
    run_id: str = ""
    early: list[dict[str, Any]] = field(default_factory=list)
    """Events received while the run was still going."""
    events: list[dict[str, Any]] = field(default_factory=list)
    running: dict[str, Any] = field(default_factory=dict)
    """REST answers taken while the run was still going."""
    output: str = ""
    returncode: int = -1


def _wanted(events: list[dict[str, Any]]) -> bool:
    types = {e["type"] for e in events}
    checks = {e["data"].get("check") for e in events if e["type"] == "scan.completed"}
    test_spans = [e for e in events if e["type"] == "trace.span.ended" and e["data"]["kind"] == "test"]
    return {"run.started", "secret.detected"} <= types and {"code", "secrets"} <= checks and bool(test_spans)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    project = tmp / "proj"
    write_project(project, PROJECT)
    db = tmp / "history" / "history.db"
    db.parent.mkdir()
    url = f"sqlite:///{db}"
    release = tmp / "release"
    # The store does not exist yet: the dashboard creates it (Alembic), the run's stdlib store
    # then finds it at the same schema revision.
    with dashboard(url) as server, ExitStack() as stack:
        result = Live(server, db, tmp / "report.html", project)
        ws = stack.enter_context(connect(server.base.replace("http", "ws") + "/ws", open_timeout=60))
        env = run_env(tmp, KISYS_HISTORY_URL=url, KISYS_TEST_RELEASE=str(release),
                      FAKE_SERVICE_TOKEN=FAKE_ENV_TOKEN)
        command = [sys.executable, "-m", "pytest", "--kisys", "--kisys-scan", "code,secrets", "-p",
                   "no:cacheprovider", "-q", "--kisys-html", str(result.html), "test_live.py"]
        proc = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 240
            while not _wanted(result.early):
                assert time.monotonic() < deadline, result.early
                assert proc.poll() is None, f"the run ended before its events arrived: {proc.stdout.read()}"  # type: ignore[union-attr]
                try:
                    result.early.append(json.loads(ws.recv(timeout=5)))
                except TimeoutError:
                    continue
            assert proc.poll() is None
            result.run_id = next(e["run_id"] for e in result.early if e["type"] == "run.started")
            for path in ("/api/runs", f"/api/runs/{result.run_id}", "/api/secrets", "/api/scans"):
                result.running[path] = server.get(path).json()
            release.touch()
            result.events = list(result.early)
            while result.events[-1]["type"] != "run.finished":
                result.events.append(json.loads(ws.recv(timeout=120)))
            result.output, _ = proc.communicate(timeout=120)
            result.returncode = proc.returncode
        finally:
            release.touch()
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        yield result


def test_events_arrive_while_the_run_is_going(live: Live) -> None:
    assert live.returncode == 1, live.output  # test_fails fails; the secrets fail the checks too
    types = [e["type"] for e in live.early]
    assert types[0] == "run.started"
    assert "run.finished" not in types
    assert live.running["/api/runs"]["items"][0]["status"] == "running"
    assert live.running[f"/api/runs/{live.run_id}"]["status"] == "running"
    assert live.running["/api/secrets"]["total"] >= 2  # found while the tests still ran
    every = {e["type"] for e in live.events}
    assert every >= {"run.started", "trace.span.created", "trace.span.ended", "scan.completed",
                     "secret.detected", "cost.calculated", "run.finished"}
    seqs = [e["seq"] for e in live.events]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    finished = live.events[-1]["data"]["run"]
    assert finished["outcomes"]["failed"] == 1
    assert finished["outcomes"]["passed"] == 2


def test_rest_endpoints_describe_the_run(live: Live) -> None:
    get = live.server.get
    runs = get("/api/runs").json()
    assert runs["total"] == 1
    assert runs["items"][0]["name"].startswith("proj ")
    run = get(f"/api/runs/{live.run_id}").json()
    assert run["status"] == "finished"
    assert run["exit_status"] == 1
    assert run["outcomes"]["skipped"] == 1
    assert run["total"] == 4
    assert run["slowest"][0]["nodeid"] == "test_live.py::test_zz_waits_for_the_dashboard"
    stages = {s["name"]: s for s in get("/api/workflows").json()["items"]}
    assert {"tests", "scan.code", "scan.secrets"} <= set(stages)
    assert stages["tests"]["status"] == "failed"
    assert stages["tests"]["duration"] > 0
    traces = get("/api/traces", params={"run": live.run_id}).json()
    assert {t["kind"] for t in traces["items"]} == {"session", "stage", "test"}
    code = get("/api/scans", params={"run": live.run_id}).json()
    assert any(f["rule_id"] == "B602" and f["path"] == "app/config.py" for f in code["items"])
    assert all(f["new"] is None for f in code["items"])  # a first run has no previous run
    # Filters and paging.
    only_low = get("/api/scans", params={"severity": "low"}).json()
    assert only_low["items"]
    assert all(f["severity"] == "low" for f in only_low["items"])
    assert get("/api/scans", params={"path": "nowhere/"}).json()["total"] == 0
    first, second = (get("/api/scans", params={"limit": 1, "offset": n}).json() for n in (0, 1))
    assert first["total"] == code["total"] >= 2
    assert first["items"][0] != second["items"][0]
    assert get("/api/scans", params={"check": "secrets"}).json()["total"] == 0  # secrets have their own
    secrets = get("/api/secrets").json()["items"]
    assert {s["type"] for s in secrets} >= {"GitHub Token", "AWS Access Key"}
    assert all(set(s) == {"type", "path", "line", "hash", "check", "new"} for s in secrets)
    costs = get("/api/costs").json()["items"]
    assert {c["group"] for c in costs} == {"module", "marker"}
    assert {"slow", "db", "skip"} <= {c["name"] for c in costs if c["group"] == "marker"}
    assert get("/api/decisions").json()["items"] == []  # nothing needed installing
    assert get("/api/vulnerabilities").json()["total"] == 0
    trends = get("/api/trends").json()["items"]
    assert trends[0]["id"] == live.run_id
    assert trends[0]["findings"] >= 4
    assert get("/api/runs", params={"limit": "many"}).status_code == 400
    assert get("/api/runs/nope").status_code == 404


def test_no_write_endpoints(live: Live) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/api/runs", f"/api/runs/{live.run_id}", "/api/scans"):
            assert httpx.request(method, live.server.base + path, timeout=30).status_code == 405


def test_no_secret_value_in_store_api_events_or_report(live: Live) -> None:
    stored = b"".join(p.read_bytes() for p in live.db.parent.iterdir())
    texts = {
        "store": stored.decode("latin-1"),
        "events": json.dumps(live.events),
        "report": live.html.read_text(),
    }
    for path in ("/api/runs", "/api/traces", "/api/scans", "/api/secrets", "/api/workflows",
                 "/api/costs", "/api/trends", f"/api/runs/{live.run_id}"):
        texts[path] = live.server.get(path, params={"limit": 1000} if "runs/" not in path else {}).text
    for where, text in texts.items():
        for secret in PLANTED:
            assert secret not in text, (where, secret)
    # The test whose parameter was the secret is still there, masked.
    assert "test_param[***]" in texts["/api/traces"]


def _wait_for_page(driver: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(
        lambda d: d.find_element("id", "run-name").text
        and d.find_elements("css selector", "#findings tbody tr")
        and d.find_elements("css selector", "#timeline rect")
    )


def _console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_page_in_headless_chromium(live: Live, browser: Any, tmp_path: Path) -> None:
    browser.get_log("browser")  # drop what an earlier page logged
    browser.get(live.server.base + "/")
    _wait_for_page(browser)
    run_name = live.server.get("/api/runs").json()["items"][0]["name"]
    body = browser.find_element("tag name", "body").text
    assert run_name in body
    assert "B602" in body
    assert "GitHub Token" in body
    assert "slow" in body
    assert "test_live.py" in body
    assert browser.find_element("id", "live").text == "live"  # the WebSocket is connected
    assert _console_errors(browser) == []
    png = browser.get_screenshot_as_png()
    assert not png_is_blank(png)
    target = os.environ.get("KISYS_DASHBOARD_SCREENSHOT")
    (Path(target) if target else tmp_path / "dashboard.png").write_bytes(png)


def test_html_report_offline_in_headless_chromium(live: Live, browser: Any) -> None:
    html = live.html.read_text()
    assert "Content-Security-Policy" in html
    assert "static/app.js" not in html
    browser.get_log("browser")
    browser.get_log("performance")
    browser.get(live.html.as_uri())
    _wait_for_page(browser)
    body = browser.find_element("tag name", "body").text
    assert live.server.get("/api/runs").json()["items"][0]["name"] in body
    assert "B602" in body
    assert "GitHub Token" in body
    assert _console_errors(browser) == []
    requested = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    assert requested, "the performance log saw no request at all (not even the file itself)"
    assert all(url.startswith(("file:", "data:")) for url in requested), requested
    assert not png_is_blank(browser.get_screenshot_as_png())
