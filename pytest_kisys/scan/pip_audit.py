"""Dependency check: pip-audit's audit of the environment under test only.

With the ``osv`` service the audit is :mod:`pytest_kisys.scan.osv`: one batch query for every
distribution, pip-audit's rules for reading the advisories, its JSON report, no pip-audit
process. With ``pypi`` (no batch API) pip-audit itself runs, as follows.

pip-audit has no public Python API, so it runs as ``python -m pip_audit`` from wherever
:func:`pytest_kisys.tools.locate` finds it: the environment under test, or kisys's tool
environment. Either way it is handed exactly the distributions of the audited interpreter,
pinned in a requirements file (``-r FILE --no-deps --disable-pip``), so the tool
environment's own packages are never audited and the audited environment needs no pip. The
audited interpreter is the one running the tests (with an overlay on its path, what the tests
import), or whatever ``PIPAPI_PYTHON_LOCATION`` says. Editable installs (the project under
test) are left out, as ``--skip-editable`` does.

Failing closed: pip-audit prints "No known vulnerabilities found" and exits 0 when it skipped
every dependency, and exits 1 both for "vulnerabilities found" and for a crash. So the exit
code is only trusted together with the JSON: each dependency skipped for any reason other
than being editable is an inconclusive item, an audit that audited nothing is inconclusive, and
a crash, a timeout or output that is not the expected JSON make the check inconclusive.

pip-audit reports no severity; every known advisory counts as ``high`` (accept one with an
``ignore`` entry naming its id or an alias). In offline mode only a fresh cached audit of the
same installed set is used; without one the check is inconclusive.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile
from typing import Any
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from pytest_kisys.errors import ScanError
from pytest_kisys.scan import osv
from pytest_kisys.scan.cache import digest
from pytest_kisys.scan.cache import EnvResultCache
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import fingerprint
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import ScanOutput
from pytest_kisys.tools.interface import ToolCommand


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings


TOOL = "pip-audit"
EDITABLE_REASON = "distribution marked as editable"
OSV_CLIENT = "kisys OSV client"
"""The ``tool_source`` of an audit :mod:`pytest_kisys.scan.osv` ran (pip-audit did not run)."""
OSV_BATCH = "(OSV batch)"
"""The ``tool_version`` of such an audit: the terminal line reads ``pip-audit (OSV batch) (deps)``."""
_LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json, sys;"
    "json.dump([[d.metadata['Name'] or '', d.version or '', d.read_text('direct_url.json') or '']"
    " for d in m.distributions()], sys.stdout)"
)


def audited_python() -> str:
    """The interpreter whose environment is audited (``PIPAPI_PYTHON_LOCATION`` or this one)."""
    return os.environ.get("PIPAPI_PYTHON_LOCATION") or sys.executable


@dataclass(frozen=True)
class Audited:
    """The distributions to audit: ``name==version`` lines (first on the path wins), editables left out."""

    python: str
    pins: tuple[str, ...]
    editable: tuple[str, ...]

    @property
    def subject(self) -> str:
        """How the report names what was audited."""
        return f"the environment of {self.python}"


def _is_editable(direct_url: str) -> bool:
    try:
        data = json.loads(direct_url) if direct_url else {}
    except ValueError:
        return False
    return isinstance(data, dict) and bool((data.get("dir_info") or {}).get("editable"))


def _audited(python: str, listed: list[list[str]]) -> Audited:
    pins: dict[str, str] = {}
    editable: set[str] = set()
    for name, version, direct_url in listed:
        key = canonicalize_name(name)
        if not key:
            continue
        if _is_editable(direct_url):
            # Any editable copy is the project under test (its build tree may also be on the path).
            editable.add(key)
        # A shadowed copy later on the path is not what the tests import.
        pins.setdefault(key, f"{key}=={version}")
    kept = tuple(sorted(pin for key, pin in pins.items() if key not in editable))
    return Audited(python, kept, tuple(sorted(editable)))


def _name_and_version(dist: Any) -> tuple[str, str]:
    """``Name`` and ``Version`` from the metadata's header block only: ``dist.metadata`` parses
    the whole file (long descriptions included), which was half a second per audit."""
    from email.parser import HeaderParser

    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    headers = HeaderParser().parsestr(text.replace("\r\n", "\n").partition("\n\n")[0])
    return str(headers.get("Name") or ""), str(headers.get("Version") or "")


def audited_distributions(python: str, timeout: float) -> Audited:
    """The distributions importable by ``python``, in path order (in process for this one)."""
    if python == sys.executable:
        import importlib.metadata as metadata

        listed = [
            [*_name_and_version(d), d.read_text("direct_url.json") or ""] for d in metadata.distributions()
        ]
        return _audited(python, listed)
    try:
        proc = subprocess.run(
            [python, "-I", "-c", _LIST_DISTRIBUTIONS],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScanError(f"cannot list the distributions of {python}: {exc}") from exc
    if proc.returncode != 0:
        raise ScanError(f"cannot list the distributions of {python}: {proc.stderr.strip()[-500:]}")
    try:
        listed = json.loads(proc.stdout)
    except ValueError as exc:
        raise ScanError(f"cannot list the distributions of {python}: not JSON") from exc
    return _audited(python, [[str(x) for x in row] for row in listed])


def audit_command(
    settings: Settings, output: Path, requirements: Path, tool: ToolCommand | None = None
) -> list[str]:
    """The pip-audit command line for ``settings`` auditing ``requirements`` into ``output``."""
    command = [
        *(tool.module("pip_audit") if tool is not None else [sys.executable, "-m", "pip_audit"]),
        "--requirement",
        str(requirements),
        "--no-deps",
        "--disable-pip",
        "--format",
        "json",
        "--output",
        str(output),
        "--progress-spinner",
        "off",
        "--desc",
        "on",
        "--aliases",
        "on",
        "--vulnerability-service",
        settings.audit_service,
    ]
    if settings.audit_service == "osv" and settings.osv_url:
        command += ["--osv-url", osv_query_url(settings.osv_url)]
    return command


def _no_batch_key(base: str) -> str:
    return digest(["osv-no-querybatch", base])


def batch_unsupported(cache: EnvResultCache, osv_url: str | None) -> bool:
    """Whether the OSV service at ``osv_url`` answered, within ``cache_ttl``, that it has no
    ``/v1/querybatch`` (see :func:`remember_batch_unsupported`)."""
    base = osv.osv_base_url(osv_url)
    entry = cache.get(_no_batch_key(base), binding=base)
    return entry is not None and entry.get("querybatch") is False


def remember_batch_unsupported(cache: EnvResultCache, osv_url: str | None) -> None:
    """Note in the cache, with the service's URL, that it has no batch endpoint: later audits
    go to pip-audit without one failed batch request each (asked again after ``cache_ttl``)."""
    base = osv.osv_base_url(osv_url)
    cache.put(_no_batch_key(base), {"osv_url": base, "querybatch": False}, binding=base)


def osv_query_url(url: str) -> str:
    """pip-audit posts to exactly ``--osv-url``: turn an OSV API base URL into its query URL."""
    trimmed = url.rstrip("/")
    return trimmed if trimmed.endswith("/v1/query") else f"{trimmed}/v1/query"


def consistent(payload: Mapping[str, Any], installed: Sequence[str]) -> bool:
    """Whether every dependency ``payload`` reports on is installed at that version.

    pip-audit does not report everything importlib lists (a project's own ``.egg-info`` in
    the working directory, for one), so this is a subset check; the entry's payload digest
    (see :class:`~pytest_kisys.scan.cache.EnvResultCache`) catches a payload cut short.
    """
    from packaging.utils import canonicalize_name

    deps = payload.get("dependencies")
    if not isinstance(deps, list):
        return False
    have = {(canonicalize_name(n), v) for n, _, v in (item.partition("==") for item in installed)}
    for dep in deps:
        if not isinstance(dep, dict) or "skip_reason" in dep:
            continue
        if (canonicalize_name(str(dep.get("name", ""))), str(dep.get("version", ""))) not in have:
            return False
    return True


def parse_report(payload: Any) -> tuple[list[Finding], list[Inconclusive], int]:
    """Findings, inconclusive items and the number of audited dependencies in pip-audit JSON."""
    if not isinstance(payload, dict) or not isinstance(payload.get("dependencies"), list):
        raise ScanError("pip-audit output is not the expected JSON (no 'dependencies' list)")
    findings: list[Finding] = []
    inconclusive: list[Inconclusive] = []
    audited = 0
    for dep in payload["dependencies"]:
        if not isinstance(dep, dict) or "name" not in dep:
            raise ScanError(f"pip-audit output has an unexpected dependency entry: {dep!r:.200}")
        name = str(dep["name"])
        if "skip_reason" in dep:
            reason = str(dep["skip_reason"])
            if reason != EDITABLE_REASON:
                inconclusive.append(Inconclusive(TOOL, name, f"not audited: {reason}"))
            continue
        audited += 1
        version = str(dep.get("version", ""))
        for vuln in dep.get("vulns", []):
            vuln_id = str(vuln["id"])
            fixes = tuple(str(v) for v in vuln.get("fix_versions", []))
            description = " ".join(str(vuln.get("description") or "").split())
            fix_text = ", ".join(fixes) if fixes else "none published"
            findings.append(
                Finding(
                    tool=TOOL,
                    rule_id=vuln_id,
                    rule_name="known-vulnerability",
                    severity="high",
                    confidence="high",
                    path="",
                    line=0,
                    message=f"{name} {version}: {vuln_id}: {description[:300]} (fix: {fix_text})",
                    fingerprint=fingerprint(TOOL, name, vuln_id),
                    help_url=f"https://osv.dev/vulnerability/{vuln_id}",
                    fix_versions=fixes,
                    aliases=tuple(str(a) for a in vuln.get("aliases", [])),
                    package=name,
                    version=version,
                )
            )
    return findings, inconclusive, audited


class PipAuditScanner:
    """The ``deps`` check (see the module docstring)."""

    kind = "deps"
    tool = TOOL

    def __init__(
        self,
        *,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
        batch: bool = True,
    ) -> None:
        self.python = python
        self.env = env
        # With the osv service, audit in one batch (pytest_kisys.scan.osv) rather than through
        # pip-audit's one query per dependency; the parity tests run both.
        self.batch = batch

    def scan(self, settings: Settings) -> ScanOutput:
        """Audit the environment of :func:`audited_python` (or the ``python`` given)."""
        python = self.python or audited_python()
        audited = audited_distributions(python, settings.scan_timeout)
        cache = EnvResultCache(settings.resolved_cache_dir(), settings.cache_ttl)
        # With OSV, one batch query (same answers as pip-audit); PyPI's JSON API has no batch,
        # and a mirror remembered to have none gets pip-audit straight away.
        batch = (
            self.batch
            and settings.osv_batch
            and settings.audit_service == "osv"
            and not batch_unsupported(cache, settings.osv_url)
        )
        try:
            return self._audit(settings, python, audited, cache, batch=batch)
        except osv.BatchUnsupported:
            # A mirror that answers /v1/query only: pip-audit's one query per dependency, from
            # now on without asking for the batch first (until the entry expires).
            remember_batch_unsupported(cache, settings.osv_url)
            return self._audit(settings, python, audited, cache, batch=False)

    def _audit(
        self,
        settings: Settings,
        python: str,
        audited: Audited,
        cache: EnvResultCache,
        *,
        batch: bool,
    ) -> ScanOutput:
        """One audit by the batch client or by pip-audit, cached under that engine's own key."""
        from pytest_kisys.tools import locate

        tool = None if batch else locate("pip-audit", settings)
        engine = tool.version if tool is not None else osv.ENGINE
        key = digest([python, list(audited.pins), settings.audit_service, settings.osv_url, engine])
        cached = cache.get(key, binding=list(audited.pins)) if audited.pins else None
        if cached is not None and not consistent(cached, audited.pins):
            cached = None  # an entry that reports on packages that are not installed
        if not audited.pins:
            payload: dict[str, Any] = {"dependencies": []}
        elif cached is None:
            if settings.offline:
                raise ScanError(
                    "offline mode: pip-audit needs an advisory service and no fresh cached "
                    "audit of this environment exists"
                )
            if tool is None:
                payload = osv.audit(audited.pins, settings.osv_url, settings.scan_timeout)
            else:
                payload = self._run(settings, audited, tool)
        else:
            payload = cached
        findings, inconclusive, count = parse_report(payload)
        if count == 0:
            inconclusive.append(
                Inconclusive(TOOL, "environment", f"pip-audit audited no dependency of {python}")
            )
        if not inconclusive and cached is None:
            cache.put(key, payload, binding=list(audited.pins))
        return ScanOutput(
            tool_version=tool.version if tool is not None else OSV_BATCH,
            findings=tuple(findings),
            inconclusive=tuple(inconclusive),
            items_checked=count,
            cache_hits=0 if cached is None else count,
            subject=audited.subject,
            tool_source=tool.source.value if tool is not None else OSV_CLIENT,
        )

    def _run(self, settings: Settings, audited: Audited, tool: ToolCommand) -> dict[str, Any]:
        env = dict(self.env if self.env is not None else os.environ)
        env.pop("PIPAPI_PYTHON_LOCATION", None)  # the requirements file says what is audited
        with tempfile.TemporaryDirectory(prefix="kisys-audit-") as tmp:
            output = Path(tmp) / "audit.json"
            requirements = Path(tmp) / "audited.txt"
            requirements.write_text("\n".join(audited.pins) + "\n", encoding="utf-8")
            try:
                proc = subprocess.run(
                    audit_command(settings, output, requirements, tool),
                    capture_output=True,
                    text=True,
                    timeout=settings.scan_timeout,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise ScanError(f"pip-audit timed out after {settings.scan_timeout:g} s") from exc
            except OSError as exc:
                raise ScanError(f"pip-audit could not start: {exc}") from exc
            text = output.read_text(encoding="utf-8") if output.is_file() else ""
        stderr_tail = " ".join(proc.stderr.strip().splitlines()[-3:])[-400:]
        if proc.returncode not in (0, 1):
            raise ScanError(f"pip-audit exited {proc.returncode}: {stderr_tail}")
        try:
            payload = json.loads(text)
        except ValueError as exc:
            # Exit 1 without a JSON report is a crash, not "vulnerabilities found".
            raise ScanError(
                f"pip-audit exited {proc.returncode} without a JSON report: {stderr_tail}"
            ) from exc
        if not isinstance(payload, dict):
            raise ScanError("pip-audit output is not the expected JSON object")
        return payload
