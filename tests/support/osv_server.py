"""An OSV-protocol server on 127.0.0.1 holding a few advisory records, for real pip-audit runs.

Speaks the parts of the OSV API (https://google.github.io/osv.dev/api/) that clients use:

* ``POST /v1/query`` with ``{"package": {"name", "ecosystem"}, "version"}`` returns
  ``{"vulns": [full records]}``, or ``{}`` when nothing matches (what pip-audit 2.10.1's osv
  service sends: one query per dependency, to exactly the ``--osv-url`` it was given);
* ``POST /v1/querybatch`` with ``{"queries": [...]}`` returns
  ``{"results": [{"vulns": [{"id", "modified"}]}, ...]}`` (what ``uv audit`` sends);
* ``GET /v1/vulns/<id>`` returns one record or 404.

``server.mode`` switches it to failure modes for fail-closed tests: ``"error"`` answers 500,
``"garbage"`` answers 200 with a body that is not JSON, ``"query-only"`` answers 404 to
``/v1/querybatch`` (a mirror of ``/v1/query`` only); ``server.delay`` seconds pass
before every answer (time-out tests). Every request is appended to
``server.requests`` so tests can assert what a client really sent.

Published to tests as the session fixtures ``osv_server`` and ``audit_envs`` (two real
virtualenvs for pip-audit to audit, filled from the loopback package index).
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import json
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version
import pytest

from tests.support.loopback import LoopbackHandler
from tests.support.loopback import LoopbackHTTPServer
from tests.support.pkgindex import isolated_pip_env
from tests.support.pkgindex import PackageIndex


def advisory(
    vuln_id: str,
    package: str,
    *,
    introduced: str = "0",
    fixed: str | None = None,
    aliases: Sequence[str] = (),
    summary: str = "",
) -> dict[str, Any]:
    """One OSV record affecting ``package`` from ``introduced`` up to (not including) ``fixed``."""
    events: list[dict[str, str]] = [{"introduced": introduced}]
    if fixed is not None:
        events.append({"fixed": fixed})
    return {
        "schema_version": "1.6.0",
        "id": vuln_id,
        "modified": "2026-01-01T00:00:00Z",
        "published": "2025-06-01T00:00:00Z",
        "aliases": list(aliases),
        "summary": summary or f"Test advisory for {package}",
        "details": f"Test advisory {vuln_id} for {package}.",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }


def _affects(record: Mapping[str, Any], name: str, version: str) -> bool:
    try:
        wanted = Version(version)
    except InvalidVersion:
        return False
    for affected in record.get("affected", []):
        package = affected.get("package", {})
        if package.get("ecosystem") != "PyPI" or canonicalize_name(package["name"]) != name:
            continue
        if version in affected.get("versions", []):
            return True
        for range_ in affected.get("ranges", []):
            if range_.get("type") != "ECOSYSTEM":
                continue
            lower: Version | None = None
            for event in range_.get("events", []):
                if "introduced" in event:
                    lower = Version("0") if event["introduced"] == "0" else Version(
                        event["introduced"]
                    )
                elif "fixed" in event and lower is not None:
                    if lower <= wanted < Version(event["fixed"]):
                        return True
                    lower = None
            if lower is not None and wanted >= lower:
                return True
    return False


class OSVServer(LoopbackHTTPServer):
    """The HTTP server; ``records`` may be replaced by tests between runs."""

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.records: list[Mapping[str, Any]] = list(records)
        self.mode = "ok"
        self.delay = 0.0
        self.requests: list[tuple[str, str, Any]] = []

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def query_url(self) -> str:
        """The URL to give ``pip-audit --osv-url`` (pip-audit posts to exactly this URL)."""
        return f"{self.url}/v1/query"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up waiting (time-out tests) is not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)

    def matching(self, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Records affecting the package and version of one OSV query."""
        package = query.get("package", {})
        if package.get("ecosystem", "PyPI") != "PyPI":
            return []
        name = canonicalize_name(str(package.get("name", "")))
        version = str(query.get("version", ""))
        return [r for r in self.records if _affects(r, name, version)]


class _Handler(LoopbackHandler):
    server: OSVServer

    def _send(self, status: int, body: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _failure(self) -> bool:
        if self.server.delay:
            time.sleep(self.server.delay)
        if self.server.mode == "error":
            self._send(500, {"code": 13, "message": "internal error (test mode)"})
            return True
        if self.server.mode == "garbage":
            self._send(200, b"<html>not json</html>")
            return True
        return False

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        """``/v1/query`` and ``/v1/querybatch``."""
        length = int(self.headers.get("Content-Length", "0"))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"code": 3, "message": "body is not JSON"})
            return
        self.server.requests.append(("POST", self.path, body))
        if self._failure():
            return
        if self.path == "/v1/query":
            vulns = self.server.matching(body)
            self._send(200, {"vulns": vulns} if vulns else {})
        elif self.path == "/v1/querybatch" and self.server.mode != "query-only":
            results = [
                {"vulns": [{"id": r["id"], "modified": r["modified"]} for r in self.server.matching(q)]}
                for q in body.get("queries", [])
            ]
            self._send(200, {"results": results})
        else:
            self._send(404, {"code": 5, "message": f"no such endpoint {self.path}"})

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        """``/v1/vulns/<id>``."""
        self.server.requests.append(("GET", self.path, None))
        if self._failure():
            return
        prefix = "/v1/vulns/"
        if self.path.startswith(prefix):
            wanted = self.path[len(prefix) :]
            for record in self.server.records:
                if record["id"] == wanted:
                    self._send(200, record)
                    return
        self._send(404, {"code": 5, "message": "Bug not found."})


def serve(records: Sequence[Mapping[str, Any]]) -> tuple[OSVServer, threading.Thread]:
    """Start a server with ``records`` on a free loopback port (call ``shutdown()`` when done)."""
    server = OSVServer(records)
    thread = threading.Thread(target=server.serve_forever, name="osv-server", daemon=True)
    thread.start()
    return server, thread


DEFAULT_RECORDS = (
    advisory(
        "PYSEC-2099-1",
        "kisys-tiny-vuln",
        fixed="1.2.0",
        aliases=("CVE-2099-0001", "GHSA-test-test-test"),
        summary="Tiny test package lets anyone do anything",
    ),
    advisory("PYSEC-2099-2", "kisys-tiny-vuln", introduced="2.0.0", fixed="2.0.1"),
)


@pytest.fixture(scope="session")
def osv_server() -> Iterator[OSVServer]:
    """A running OSV server with :data:`DEFAULT_RECORDS` (reset ``mode`` after changing it)."""
    server, thread = serve(DEFAULT_RECORDS)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class AuditEnvs:
    """Two audited environments built once per session."""

    vulnerable: str
    """python of a venv holding kisys-tiny-vuln 1.0.0 (advisory PYSEC-2099-1, fixed in 1.2.0)."""
    all_skipped: str
    """python of a venv in which pip-audit skips every distribution (all marked editable)."""


@pytest.fixture(scope="session")
def audit_envs(
    tmp_path_factory: pytest.TempPathFactory, pkgindex_server: PackageIndex
) -> AuditEnvs:
    """Real venvs (``python -m venv``, with pip) filled from the loopback index."""
    pkgindex_server.add_project("kisys-tiny-vuln", versions=("1.0.0", "1.2.0"))
    base = tmp_path_factory.mktemp("audit-venvs")
    vulnerable = base / "vulnerable"
    subprocess.run([sys.executable, "-m", "venv", str(vulnerable)], check=True)
    subprocess.run(
        [
            str(vulnerable / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
            "--index-url", pkgindex_server.simple_url, "kisys-tiny-vuln==1.0.0",
        ],
        check=True,
        env=isolated_pip_env(),
    )
    skipped = base / "skipped"
    shutil.copytree(vulnerable, skipped, symlinks=True)
    for dist_info in skipped.glob("lib/python*/site-packages/*.dist-info"):
        marker = {"url": f"file://{base}", "dir_info": {"editable": True}}
        (dist_info / "direct_url.json").write_text(json.dumps(marker))
    return AuditEnvs(str(vulnerable / "bin" / "python"), str(skipped / "bin" / "python"))
