"""Real parts for the history and dashboard tests: a throwaway PostgreSQL cluster, the
``kisys dashboard`` server as a subprocess, and Debian's headless chromium through selenium.

Where the browser or PostgreSQL is missing, the fixtures fail in CI (``CI`` set: ``.ci/run``
installs both) and skip, saying what to install, elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import glob
import os
from pathlib import Path
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any
import zlib

import httpx
import pytest


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The machine's network is closed: without these chromium retries Google's hosts at every start.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1600",
)


def missing(what: str, install: str) -> None:
    """Fail in CI (where ``.ci/run`` installs it), skip with the reason elsewhere."""
    message = f"{what} is not available: {install}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (.ci/run installs it; in CI this must not be skipped)")
    pytest.skip(f"{message} (skipped outside CI only)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- PostgreSQL ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    """A running throwaway cluster on a loopback port (trust authentication, user postgres)."""

    port: int
    data: Path

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """initdb + pg_ctl start of a new cluster in a temporary directory; stopped afterwards."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        missing("PostgreSQL (initdb, pg_ctl)", "apt-get install -y postgresql")
    assert initdb is not None
    assert pg_ctl is not None
    data = Path(tempfile.mkdtemp(prefix="kisys-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(data / "log"), "-w",
                    "-t", "60", "start"], check=True, capture_output=True, timeout=120)
    try:
        yield Postgres(port, data)
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(data, ignore_errors=True)


# -- the dashboard server --------------------------------------------------------------------


@dataclass
class Server:
    """A running ``kisys dashboard``: its base URL and what it printed."""

    base: str
    process: subprocess.Popen[str]
    output: list[str]

    def get(self, path: str, **kw: Any) -> httpx.Response:
        """GET ``path`` from the server."""
        return httpx.get(self.base + path, timeout=30, **kw)


@contextmanager
def dashboard(history: str, *args: str, token: str | None = None) -> Iterator[Server]:
    """``python -m pytest_kisys dashboard --history HISTORY`` on a free port until the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "pytest_kisys", "dashboard", "--history", history,
               "--port", str(port), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = Server(f"http://127.0.0.1:{port}", process, [])
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(f"kisys dashboard exited {process.returncode}: {process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if server.get("/api/runs", headers=headers).status_code in (200, 401):
                    break
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise AssertionError("kisys dashboard did not answer within 90 s")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            out, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        server.output.append(out)


# -- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, through chromedriver (selenium); console and network logged."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        missing("chromium and chromedriver", "apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='kisys-chromium-')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def png_is_blank(png: bytes) -> bool:
    """Whether a screenshot is one flat colour (decoded with zlib: no imaging library needed)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert min(width, height) > 100, (width, height)
    # Filtered scanlines of a flat image are almost all zero bytes; a rendered page is not.
    nonzero = sum(1 for b in raw[:: max(1, len(raw) // 200_000)] if b)
    return len(set(raw)) < 16 or nonzero < 500
