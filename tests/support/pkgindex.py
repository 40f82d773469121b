"""A real package index on 127.0.0.1 for tests, plus pure-``zipfile`` wheel and sdist builders.

The server is a threaded :mod:`http.server` running in a background thread. It serves:

* ``/simple/`` and ``/simple/<name>/``: PEP 503 HTML or PEP 691 JSON (api-version 1.1), chosen
  from the ``Accept`` header the way PyPI does (``application/vnd.pypi.simple.v1+json`` wins
  when it has the highest q-value);
* ``/pypi/<name>/json``: a PyPI-style JSON API (``info``, ``releases`` with
  ``upload_time_iso_8601``, ``yanked``, ``packagetype``, ``digests``; ``urls``);
* ``/files/<filename>``: the artifacts, whose sha256 appears in ``#sha256=`` fragments and
  ``hashes``/``digests``.

Real ``pip install --index-url <index.simple_url> NAME`` works against it (pip must be isolated
from the machine's pip configuration: use :func:`isolated_pip_env`).

Fixtures (published through the root ``conftest.py``):

* ``pkgindex_server``: session-scoped :class:`PackageIndex`; projects added to it stay for the
  whole session (use it to build expensive shared projects once).
* ``pkgindex``: the same server for one test; projects added and faults set during the test are
  removed afterwards. (A session-scoped fixture of yours that adds projects to
  ``pkgindex_server`` is set up before ``pkgindex`` starts tracking, so its projects persist.)

Example::

    def test_something(pkgindex):
        pkgindex.add_project("demo-pkg", versions=("1.0", "1.1"), requires=["attrs"])
        pkgindex.add_project("shady", sdist_only=True, upload_time=pkgindex.now() - 3600)
        pkgindex.set_fault("http_500", project="demo-pkg")        # every URL of that project
        pkgindex.set_fault("delay", path="/pypi/shady/json", seconds=5)
        url = pkgindex.simple_url                                  # http://127.0.0.1:PORT/simple

``pkgindex.add_route("/osv/all.json", body)`` serves arbitrary bytes at one path (data sources);
``pkgindex.serve_json = False`` makes the simple pages HTML-only, like an old mirror;
``pkgindex.requests`` lists every ``(method, path)`` served (to prove no request was made);
``pkgindex.set_status("name", "quarantined", "reason")`` serves a PEP 792 project status
(``project-status`` in JSON with api-version 1.4, ``pypi:project-status`` meta in HTML).
``second_index`` is another such server, for two-index (extra-index-url) tests.

Faults: ``http_500``, ``delay`` (sleep ``seconds`` then answer normally), ``invalid_json``
(a truncated JSON body with a JSON content type), ``redirect`` (302 to the same path on another
host, ``http://127.0.0.2:PORT`` by default, where nothing listens), ``endless`` (a 200 response
that never ends; it stops after ``seconds`` or when the client hangs up), ``not_found``.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import datetime as dt
import hashlib
import html
import http.server
import io
import json
import os
from pathlib import Path
import re
import tarfile
import threading
import time
from typing import Any
from typing import Literal
import urllib.parse
import zipfile

from packaging.utils import canonicalize_name
from packaging.version import Version
import pytest

from tests.support.loopback import LoopbackHandler
from tests.support.loopback import LoopbackHTTPServer


__all__ = [
    "Artifact",
    "Fault",
    "PackageIndex",
    "build_sdist",
    "build_wheel",
    "isolated_pip_env",
    "record_hash",
]

Fault = Literal["http_500", "delay", "invalid_json", "redirect", "endless", "not_found"]

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
_FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------- builders


@dataclass(frozen=True)
class Artifact:
    """A built distribution file held in memory."""

    filename: str
    data: bytes

    @property
    def sha256(self) -> str:
        """Hex sha256 of the file contents."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def packagetype(self) -> str:
        """``bdist_wheel`` or ``sdist``, as the PyPI JSON API names it."""
        return "bdist_wheel" if self.filename.endswith(".whl") else "sdist"

    def write(self, directory: Path) -> Path:
        """Write the file into ``directory`` (created if needed) and return its path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.filename
        path.write_bytes(self.data)
        return path


def _dist_stem(name: str) -> str:
    """The escaped distribution name used in file names (``my-pkg`` -> ``my_pkg``)."""
    return canonicalize_name(name).replace("-", "_")


def _metadata(
    name: str, version: str, requires: Sequence[str], summary: str, requires_python: str | None
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    # An extra named in a marker is declared, as build backends do (pip ignores undeclared ones).
    extras = dict.fromkeys(re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", " ".join(requires)))
    lines += [f"Provides-Extra: {extra}" for extra in extras]
    lines += [f"Requires-Dist: {req}" for req in requires]
    return "\n".join(lines) + "\n\n"


def record_hash(data: bytes) -> str:
    """The RECORD form of a file's hash: ``sha256=<urlsafe base64, no padding>``."""
    import base64

    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(
    name: str,
    version: str = "1.0",
    modules: Mapping[str, str] | None = None,
    requires: Sequence[str] = (),
    top_level: Sequence[str] | None = None,
    summary: str = "",
    requires_python: str | None = None,
) -> Artifact:
    """Build a valid pure-Python ``py3-none-any`` wheel in memory (deterministic bytes).

    :param modules: file path inside the wheel -> source text; default
        ``{"<name_with_underscores>/__init__.py": "VERSION = '<version>'\\n"}``.
    :param requires: ``Requires-Dist`` lines (PEP 508 strings).
    :param top_level: names written to ``top_level.txt``; default: derived from ``modules``.
    """
    stem = _dist_stem(name)
    if modules is None:
        modules = {f"{stem}/__init__.py": f"VERSION = {version!r}\n"}
    if top_level is None:
        top_level = sorted({path.split("/", 1)[0].removesuffix(".py") for path in modules})
    dist_info = f"{stem}-{version}.dist-info"
    files: dict[str, bytes] = {path: text.encode() for path, text in modules.items()}
    files[f"{dist_info}/METADATA"] = _metadata(name, version, requires, summary, requires_python).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: kisys-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n"
    )
    files[f"{dist_info}/top_level.txt"] = ("\n".join(top_level) + "\n").encode()
    record_name = f"{dist_info}/RECORD"
    record = [f"{path},{record_hash(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{record_name},,")
    files[record_name] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return Artifact(f"{stem}-{version}-py3-none-any.whl", buffer.getvalue())


def build_sdist(
    name: str,
    version: str = "1.0",
    setup_py: str | None = None,
    files: Mapping[str, str] | None = None,
    summary: str = "",
) -> Artifact:
    """Build a ``.tar.gz`` sdist whose ``setup.py`` body the test chooses.

    ``setup_py`` runs when pip builds the sdist, including ``pip install --dry-run`` and
    metadata preparation; e.g. ``"open('/tmp/marker', 'w').write('ran')"`` proves it ran.
    No ``pyproject.toml`` is written, so pip needs setuptools (install with
    ``--no-build-isolation`` when the loopback index does not serve setuptools).
    """
    stem = _dist_stem(name)
    root = f"{stem}-{version}"
    body = setup_py if setup_py is not None else ""
    contents = {
        "setup.py": (
            f"{body}\n\nfrom setuptools import setup\n"
            f"setup(name={name!r}, version={version!r}, py_modules=[])\n"
        ),
        "PKG-INFO": _metadata(name, version, (), summary, None),
    }
    contents.update(files or {})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for path, text in sorted(contents.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size = len(data)
            info.mtime = 1704067200
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return Artifact(f"{root}.tar.gz", buffer.getvalue())


def isolated_pip_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment with pip/uv isolated from the machine's configuration.

    Drops every ``PIP_*``/``UV_*`` variable and sets ``PIP_CONFIG_FILE=/dev/null``; always pass
    ``--index-url`` explicitly as well.
    """
    env = {
        key: value
        for key, value in (base if base is not None else os.environ).items()
        if not key.startswith(("PIP_", "UV_"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["UV_NO_CONFIG"] = "1"
    return env


# --------------------------------------------------------------------------- index model


@dataclass
class _File:
    artifact: Artifact
    version: str
    upload_time: float
    yanked: str | None  # None: not yanked; "" or a reason: yanked
    requires_python: str | None


@dataclass
class _Project:
    name: str
    summary: str
    project_urls: dict[str, str]
    files: list[_File] = field(default_factory=list)
    status: str | None = None
    status_reason: str | None = None


@dataclass(frozen=True)
class _FaultRule:
    fault: Fault
    seconds: float
    redirect_to: str | None


class PackageIndex:
    """A loopback package index: :meth:`start` and :meth:`stop` it (the fixtures do).

    Thread-safe: tests and the server threads share state under one lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._projects: dict[str, _Project] = {}
        self._files: dict[str, _File] = {}
        self._project_faults: dict[str, _FaultRule] = {}
        self._path_faults: dict[str, _FaultRule] = {}
        self._swaps: dict[str, tuple[bytes, str, bool]] = {}  # filename -> (data, agent, fired)
        self.requests: list[tuple[str, str]] = []
        """Every request served, as ``(method, path)``, in order (for "no request was made")."""
        # Projects added while a test runs (None outside a ``pkgindex`` test): removed after it.
        self._added: list[str] | None = None
        self._routes: dict[str, tuple[str, bytes]] = {}
        self.serve_json = True
        """False: answer simple pages with PEP 503 HTML only, as an HTML-only mirror does."""
        self._added_routes: list[str] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._in_flight: dict[int, int] = {}  # measurement generation -> requests being answered
        self._generation = 0
        self.max_in_flight = 0
        """The most requests being answered at the same time (see ``reset_connection_stats``)."""
        self.client_connections: set[tuple[str, int]] = set()
        """Every client connection (address, port) that sent a request: keep-alive reuse shows."""

    # -- lifecycle

    def start(self) -> PackageIndex:
        """Bind to an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        # The deep backlog matters most here: uv's and kisys's lookups and downloads connect
        # at once (a backlog of 5 gave bench_install its 1.0-1.4 s outliers).
        server = LoopbackHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="kisys-pkgindex", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        assert self._server is not None, "PackageIndex not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def simple_url(self) -> str:
        """The index URL to give pip: ``http://127.0.0.1:PORT/simple``."""
        return f"{self.url}/simple"

    @staticmethod
    def now() -> float:
        """Current time as a POSIX timestamp (for ``upload_time`` arithmetic)."""
        return time.time()

    # -- registration

    def add_project(
        self,
        name: str,
        versions: Sequence[str] = ("1.0",),
        *,
        modules: Mapping[str, str] | None = None,
        requires: Sequence[str] = (),
        top_level: Sequence[str] | None = None,
        summary: str = "",
        project_urls: Mapping[str, str] | None = None,
        wheel: bool = True,
        sdist: bool = False,
        sdist_only: bool = False,
        setup_py: str | None = None,
        upload_time: float | None = None,
        release_interval: float = 30 * 86400,
        yanked: bool | str | Iterable[str] = False,
        requires_python: str | None = None,
    ) -> None:
        """Register ``name`` with one release per entry of ``versions`` (oldest first).

        :param upload_time: POSIX time of the *first* release (default: three years ago); later
            releases follow every ``release_interval`` seconds.
        :param yanked: ``True`` (all releases, reason ``""``), a reason string (all releases),
            or an iterable of versions to yank.
        :param sdist_only: serve only an sdist (overrides ``wheel``/``sdist``).
        """
        first = upload_time if upload_time is not None else time.time() - 3 * 365 * 86400
        if isinstance(yanked, bool):
            yanked_versions = set(versions) if yanked else set()
            reason = ""
        elif isinstance(yanked, str):
            yanked_versions, reason = set(versions), yanked
        else:
            yanked_versions, reason = set(yanked), ""
        self.add_empty_project(name, summary=summary, project_urls=project_urls)
        for position, version in enumerate(versions):
            when = first + position * release_interval
            why = reason if version in yanked_versions else None
            artifacts: list[Artifact] = []
            if wheel and not sdist_only:
                artifacts.append(
                    build_wheel(name, version, modules, requires, top_level, summary, requires_python)
                )
            if sdist or sdist_only:
                artifacts.append(build_sdist(name, version, setup_py, summary=summary))
            for artifact in artifacts:
                self.add_artifact(
                    name,
                    version,
                    artifact,
                    upload_time=when,
                    yanked=why,
                    requires_python=requires_python,
                )

    def add_empty_project(
        self, name: str, *, summary: str = "", project_urls: Mapping[str, str] | None = None
    ) -> None:
        """Register ``name`` with no files (or replace its summary/URLs); exists but empty."""
        key = canonicalize_name(name)
        urls = dict(project_urls or {"Source": f"https://example.invalid/{key}"})
        with self._lock:
            self._projects[key] = _Project(name, summary, urls)
            if self._added is not None:
                self._added.append(key)

    def set_status(self, name: str, status: str | None, reason: str | None = None) -> None:
        """Serve a PEP 792 project status for ``name`` (api-version 1.4), or none (None)."""
        with self._lock:
            project = self._projects[canonicalize_name(name)]
            project.status, project.status_reason = status, reason

    def add_artifact(
        self,
        name: str,
        version: str,
        artifact: Artifact,
        *,
        upload_time: float | None = None,
        yanked: str | None = None,
        requires_python: str | None = None,
    ) -> None:
        """Attach one built file to a registered project (``yanked``: None or a reason)."""
        key = canonicalize_name(name)
        entry = _File(
            artifact,
            version,
            upload_time if upload_time is not None else time.time(),
            yanked,
            requires_python,
        )
        with self._lock:
            project = self._projects[key]
            project.files = [f for f in project.files if f.artifact.filename != artifact.filename]
            project.files.append(entry)
            self._files[artifact.filename] = entry

    def remove_project(self, name: str) -> None:
        """Forget ``name`` and its files."""
        key = canonicalize_name(name)
        with self._lock:
            project = self._projects.pop(key, None)
            if project is not None:
                for entry in project.files:
                    self._files.pop(entry.artifact.filename, None)
            self._project_faults.pop(key, None)

    def add_route(self, path: str, body: bytes, content_type: str = "application/json") -> str:
        """Serve ``body`` at exactly ``path`` (e.g. an OSV data source); returns its URL."""
        with self._lock:
            self._routes[path] = (content_type, body)
            if self._added is not None:
                self._added_routes.append(path)
        return f"{self.url}{path}"

    def file_url(self, filename: str) -> str:
        """Absolute URL of an artifact (without the hash fragment)."""
        return f"{self.url}/files/{urllib.parse.quote(filename)}"

    def set_nodelay(self, on: bool) -> None:
        """Answer with TCP_NODELAY (the default) or with Nagle's algorithm (benchmarks that
        reproduce figures measured before the server set it)."""
        assert self._server is not None, "start() the index first"
        self._server.RequestHandlerClass.disable_nagle_algorithm = on  # type: ignore[attr-defined]

    def reset_connection_stats(self) -> None:
        """Forget ``max_in_flight`` and ``client_connections`` (start of a measurement).

        A request still being answered from before (an earlier test's endless or delayed
        answer, whose client left) does not count in the new measurement.
        """
        with self._lock:
            self._generation += 1
            self.max_in_flight = 0
            self.client_connections = set()

    # -- faults

    def set_fault(
        self,
        fault: Fault,
        *,
        project: str | None = None,
        path: str | None = None,
        seconds: float = 30.0,
        redirect_to: str | None = None,
    ) -> None:
        """Make every URL of ``project`` (simple, JSON API, files), or exactly ``path``, misbehave.

        :param seconds: for ``delay``, how long to wait before answering; for ``endless``, the
            most time to keep streaming.
        :param redirect_to: for ``redirect``, the base URL to redirect to (default
            ``http://127.0.0.2:PORT``; the same path is appended).
        """
        if (project is None) == (path is None):
            raise ValueError("set_fault needs exactly one of project= or path=")
        rule = _FaultRule(fault, seconds, redirect_to)
        with self._lock:
            if project is not None:
                self._project_faults[canonicalize_name(project)] = rule
            else:
                assert path is not None
                self._path_faults[path] = rule

    def swap_after_fetch(self, filename: str, data: bytes, *, fetched_by: str = "pytest-kisys") -> None:
        """Serve ``data`` as ``filename`` once a client whose User-Agent contains ``fetched_by``
        has downloaded the original; the listings keep the original's hash (a file changed on
        the index between kisys's inspection and the install). Undone by :meth:`clear_faults`."""
        with self._lock:
            self._swaps[filename] = (data, fetched_by, False)

    def clear_faults(self) -> None:
        """Remove every fault (and every swap)."""
        with self._lock:
            self._project_faults.clear()
            self._path_faults.clear()
            self._swaps.clear()

    # -- per-test bookkeeping used by the ``pkgindex`` fixture

    def _begin_test(self) -> None:
        with self._lock:
            self._added = []

    def _end_test(self) -> None:
        with self._lock:
            added = list(self._added or ())
            self._added = None
        self.clear_faults()
        self.serve_json = True
        with self._lock:
            for path in self._added_routes:
                self._routes.pop(path, None)
            self._added_routes = []
        for key in added:
            self.remove_project(key)

    # -- views used by the handler

    def _fault_for(self, path: str) -> _FaultRule | None:
        with self._lock:
            if path in self._path_faults:
                return self._path_faults[path]
            key = _project_of_path(path, self._files)
            return self._project_faults.get(key) if key else None

    def _snapshot(self, name: str) -> _Project | None:
        with self._lock:
            project = self._projects.get(canonicalize_name(name))
            if project is None:
                return None
            return _Project(
                project.name,
                project.summary,
                dict(project.project_urls),
                list(project.files),
                project.status,
                project.status_reason,
            )

    def _names(self) -> list[str]:
        with self._lock:
            return sorted(self._projects)

    def _file(self, filename: str) -> _File | None:
        with self._lock:
            return self._files.get(filename)


def _project_of_path(path: str, files: Mapping[str, _File]) -> str | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] in ("simple", "pypi"):
        return canonicalize_name(urllib.parse.unquote(parts[1]))
    if len(parts) == 2 and parts[0] == "files":
        entry = files.get(urllib.parse.unquote(parts[1]))
        if entry is not None:
            stem = entry.artifact.filename.split("-", 1)[0]
            return canonicalize_name(stem)
    return None


# --------------------------------------------------------------------------- rendering


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sorted_versions(project: _Project) -> list[str]:
    return sorted({f.version for f in project.files}, key=Version)


def _simple_json(index: PackageIndex, project: _Project) -> dict[str, Any]:
    files = []
    for entry in project.files:
        art = entry.artifact
        files.append(
            {
                "filename": art.filename,
                "url": index.file_url(art.filename),
                "hashes": {"sha256": art.sha256},
                "requires-python": entry.requires_python,
                "size": len(art.data),
                "upload-time": _iso(entry.upload_time),
                "yanked": entry.yanked if entry.yanked else (entry.yanked is not None),
            }
        )
    body: dict[str, Any] = {
        "meta": {"api-version": "1.1"},
        "name": canonicalize_name(project.name),
        "versions": _sorted_versions(project),
        "files": files,
    }
    if project.status is not None:
        # PEP 792: project-status arrived with api-version 1.4.
        body["meta"]["api-version"] = "1.4"
        body["project-status"] = {"status": project.status}
        if project.status_reason:
            body["project-status"]["reason"] = project.status_reason
    return body


def _simple_html(index: PackageIndex, project: _Project) -> str:
    anchors = []
    for entry in project.files:
        art = entry.artifact
        attrs = ""
        if entry.requires_python:
            attrs += f' data-requires-python="{html.escape(entry.requires_python)}"'
        if entry.yanked is not None:
            attrs += f' data-yanked="{html.escape(entry.yanked)}"'
        href = f"{index.file_url(art.filename)}#sha256={art.sha256}"
        anchors.append(f'<a href="{html.escape(href)}"{attrs}>{html.escape(art.filename)}</a><br/>')
    title = html.escape(canonicalize_name(project.name))
    status = ""
    if project.status is not None:
        status = f'<meta name="pypi:project-status" content="{html.escape(project.status)}">'
        if project.status_reason:
            reason = html.escape(project.status_reason)
            status += f'<meta name="pypi:project-status-reason" content="{reason}">'
    return (
        '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1">'
        f"{status}<title>Links for {title}</title></head><body><h1>Links for {title}</h1>\n"
        + "\n".join(anchors)
        + "\n</body></html>\n"
    )


def _pypi_json(index: PackageIndex, project: _Project) -> dict[str, Any]:
    releases: dict[str, list[dict[str, Any]]] = {v: [] for v in _sorted_versions(project)}
    for entry in project.files:
        art = entry.artifact
        releases[entry.version].append(
            {
                "filename": art.filename,
                "url": index.file_url(art.filename),
                "packagetype": art.packagetype,
                "python_version": "py3" if art.packagetype == "bdist_wheel" else "source",
                "requires_python": entry.requires_python,
                "size": len(art.data),
                "upload_time": _iso(entry.upload_time)[:19],
                "upload_time_iso_8601": _iso(entry.upload_time),
                "yanked": entry.yanked is not None,
                "yanked_reason": entry.yanked or None,
                "digests": {
                    "sha256": art.sha256,
                    "md5": hashlib.md5(art.data, usedforsecurity=False).hexdigest(),
                },
            }
        )
    live = [v for v, files in releases.items() if any(not f["yanked"] for f in files)]
    latest = (live or list(releases) or [""])[-1]
    return {
        "info": {
            "name": project.name,
            "version": latest,
            "summary": project.summary,
            "project_urls": project.project_urls,
            "home_page": "",
            "requires_python": None,
            "yanked": bool(releases) and not live,
        },
        "last_serial": 1,
        "releases": releases,
        "urls": releases.get(latest, []),
        "vulnerabilities": [],
    }


def _wants_json(accept: str | None) -> bool:
    """PEP 691 negotiation: JSON only when its q-value beats every HTML type on offer."""
    if not accept:
        return False
    best_json, best_html = 0.0, 0.0
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if media == SIMPLE_JSON:
            best_json = max(best_json, quality)
        elif media in (SIMPLE_HTML, "text/html", "*/*"):
            best_html = max(best_html, quality)
    return best_json > 0 and best_json >= best_html


# --------------------------------------------------------------------------- HTTP handler


def _make_handler(index: PackageIndex) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real index
        # TCP_NODELAY comes from LoopbackHandler (0.3 s of 20 lookups over 6 connections went
        # to delayed ACKs without it); set_nodelay(False) brings Nagle's algorithm back.

        def do_GET(self) -> None:
            """Route one GET request, applying any configured fault first."""
            path = urllib.parse.urlsplit(self.path).path
            with index._lock:
                index.requests.append(("GET", path))
                index.client_connections.add(self.client_address[:2])
                generation = index._generation
                index._in_flight[generation] = index._in_flight.get(generation, 0) + 1
                index.max_in_flight = max(index.max_in_flight, index._in_flight[generation])
            try:
                rule = index._fault_for(path)
                if rule is not None and self._apply_fault(rule, path):
                    return
                self._route(path)
            finally:
                with index._lock:
                    index._in_flight[generation] -= 1

        def do_HEAD(self) -> None:
            """Like GET without the body (uv probes wheels with HEAD before range requests)."""
            self._head_only = True
            try:
                self.do_GET()
            finally:
                self._head_only = False

        def _apply_fault(self, rule: _FaultRule, path: str) -> bool:
            """Misbehave; True when the response is complete, False to continue normally."""
            if rule.fault == "delay":
                time.sleep(rule.seconds)
                return False
            if rule.fault == "http_500":
                self._send(500, "text/plain", b"internal server error\n")
            elif rule.fault == "not_found":
                self._send(404, "text/plain", b"not found\n")
            elif rule.fault == "invalid_json":
                ctype = SIMPLE_JSON if path.startswith("/simple") else "application/json"
                self._send(200, ctype, b'{"info": {"name": "trunc')
            elif rule.fault == "redirect":
                base = rule.redirect_to or f"http://127.0.0.2:{index.port}"
                self.send_response(302)
                self.send_header("Location", base.rstrip("/") + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif rule.fault == "endless":
                self._endless(rule.seconds)
            return True

        def _endless(self, seconds: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b" " * 65536
            framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            deadline = time.monotonic() + seconds
            self.wfile.write(b"1\r\n[\r\n")
            try:
                while time.monotonic() < deadline:
                    self.wfile.write(framed)
                    time.sleep(0.001)
            except OSError:
                pass  # the client hung up: exactly what a well-behaved client does
            self.close_connection = True

        def _route(self, path: str) -> None:
            with index._lock:
                static = index._routes.get(path)
            if static is not None:
                self._send(200, static[0], static[1])
                return
            parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
            if parts == ["simple"]:
                self._simple_root()
            elif len(parts) == 2 and parts[0] == "simple":
                self._simple_project(parts[1], path)
            elif len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
                self._pypi_project(parts[1])
            elif len(parts) == 2 and parts[0] == "files":
                self._file(parts[1])
            else:
                self._send(404, "text/plain", b"not found\n")

        def _simple_root(self) -> None:
            names = index._names()
            if _wants_json(self.headers.get("Accept")):
                body = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
                self._send(200, SIMPLE_JSON, json.dumps(body).encode())
                return
            links = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names)
            self._send(200, "text/html", f"<!DOCTYPE html><html><body>{links}</body></html>".encode())

        def _simple_project(self, name: str, path: str) -> None:
            project = index._snapshot(name)
            if project is None:
                self._send(404, "text/plain", b"not found\n")
                return
            if not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if index.serve_json and _wants_json(self.headers.get("Accept")):
                body = json.dumps(_simple_json(index, project)).encode()
                self._send(200, SIMPLE_JSON, body)
            else:
                self._send(200, SIMPLE_HTML, _simple_html(index, project).encode())

        def _pypi_project(self, name: str) -> None:
            project = index._snapshot(name)
            if project is None:
                self._send(404, "application/json", b'{"message": "Not Found"}')
                return
            self._send(200, "application/json", json.dumps(_pypi_json(index, project)).encode())

        def _file(self, filename: str) -> None:
            entry = index._file(filename)
            if entry is None:
                self._send(404, "text/plain", b"not found\n")
                return
            ctype = "application/zip" if filename.endswith(".whl") else "application/gzip"
            self._send(200, ctype, self._swapped(filename, entry.artifact.data))

        def _swapped(self, filename: str, data: bytes) -> bytes:
            with index._lock:
                swap = index._swaps.get(filename)
                if swap is None:
                    return data
                replacement, agent, fired = swap
                if fired:
                    return replacement
                if agent in self.headers.get("User-Agent", "") and not getattr(self, "_head_only", False):
                    index._swaps[filename] = (replacement, agent, True)
                return data

        def _send(self, status: int, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not getattr(self, "_head_only", False):
                self.wfile.write(body)

    return Handler


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _no_machine_extra_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep this machine's pip configuration (its extra-index-url mirrors) out of every test.

    The vetter checks each name on every configured index (dependency confusion); tests that
    want a second index set ``PIP_EXTRA_INDEX_URL`` themselves (``second_index``).
    """
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)


@pytest.fixture(scope="session")
def pkgindex_server() -> Iterator[PackageIndex]:
    """The session's loopback index; projects added here persist for the whole session."""
    index = PackageIndex()
    index.start()
    yield index
    index.stop()


@pytest.fixture(scope="session")
def second_index_server() -> Iterator[PackageIndex]:
    """A second loopback index (extra-index-url, dependency-confusion tests)."""
    index = PackageIndex()
    index.start()
    yield index
    index.stop()


@pytest.fixture
def second_index(second_index_server: PackageIndex) -> Iterator[PackageIndex]:
    """The second index for one test: its projects are removed afterwards."""
    second_index_server._begin_test()
    yield second_index_server
    second_index_server._end_test()


@pytest.fixture
def pkgindex(pkgindex_server: PackageIndex) -> Iterator[PackageIndex]:
    """The loopback index for one test: its projects and faults are removed afterwards."""
    pkgindex_server._begin_test()
    yield pkgindex_server
    pkgindex_server._end_test()
