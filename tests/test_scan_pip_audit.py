"""The dependency check against the loopback OSV server, with real pip-audit and with the batch.

A throwaway virtualenv gets an old version of a tiny package from the loopback package index;
the audit (pip-audit ``-s osv --osv-url``, or kisys's one ``/v1/querybatch``: every test runs
both) finds the advisory with its fix version. The fail-open cases of pip-audit (every
dependency skipped, a failing or garbled service) must read as inconclusive, never as clean.
``tests/test_scan_osv.py`` compares the two audits' findings on richer records.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_kisys.scan.pip_audit import PipAuditScanner
from pytest_kisys.scan.runner import run_check
from pytest_kisys.settings import Settings
from tests.support.osv_server import AuditEnvs
from tests.support.osv_server import DEFAULT_RECORDS
from tests.support.osv_server import OSVServer
from tests.support.pkgindex import isolated_pip_env


@pytest.fixture
def osv(osv_server: OSVServer) -> Iterator[OSVServer]:
    """The session OSV server, reset to its default records and mode after the test."""
    yield osv_server
    osv_server.mode = "ok"
    osv_server.delay = 0.0
    osv_server.records = list(DEFAULT_RECORDS)


@pytest.fixture(params=[False, True], ids=["pip-audit", "querybatch"])
def batch(request: pytest.FixtureRequest) -> bool:
    """Whether the audit is kisys's OSV batch (else pip-audit itself runs)."""
    return bool(request.param)


def settings(tmp_path: Path, osv: OSVServer, **kw: object) -> Settings:
    options: dict[str, object] = {"scan_timeout": 120, **kw}
    return Settings(  # type: ignore[arg-type]
        rootdir=tmp_path,
        cache_dir=tmp_path / "cache",
        audit_service="osv",
        osv_url=osv.url,
        **options,
    )


def scanner(python: str, batch: bool) -> PipAuditScanner:
    return PipAuditScanner(python=python, env=isolated_pip_env(), batch=batch)


def test_old_package_advisory_found_with_fix_version(
    tmp_path: Path, audit_envs: AuditEnvs, osv: OSVServer, batch: bool
) -> None:
    before = len(osv.requests)
    result = run_check("deps", settings(tmp_path, osv), scanner=scanner(audit_envs.vulnerable, batch))
    sent = osv.requests[before:]
    assert result.status == "findings"
    [finding] = result.findings
    assert (finding.rule_id, finding.package, finding.version) == ("PYSEC-2099-1", "kisys-tiny-vuln", "1.0.0")
    assert finding.fix_versions == ("1.2.0",)
    assert "CVE-2099-0001" in finding.aliases
    assert "fix: 1.2.0" in finding.message
    assert result.items_checked >= 2  # pip and setuptools were audited as well
    if batch:
        assert result.tool_version == "(OSV batch)"
        queries = [body["queries"] for _, path, body in sent if path == "/v1/querybatch"]
        queried = {q["package"]["name"] for batch_ in queries for q in batch_}
        assert len(queries) == 1  # one request for every distribution
        assert ("GET", "/v1/vulns/PYSEC-2099-1", None) in sent
    else:
        queried = {b["package"]["name"] for _, path, b in sent if path == "/v1/query"}
    assert "kisys-tiny-vuln" in queried


def test_ignore_by_alias_suppresses_the_advisory(
    tmp_path: Path, audit_envs: AuditEnvs, osv: OSVServer, batch: bool
) -> None:
    from pytest_kisys.settings import IgnoreRule

    ignored = settings(tmp_path, osv, ignore=(IgnoreRule("CVE-2099-0001", "not reachable"),))
    result = run_check("deps", ignored, scanner=scanner(audit_envs.vulnerable, batch))
    assert result.status == "clean"
    assert [s.reason for s in result.suppressed] == ["not reachable"]


def test_result_is_cached_per_environment(
    tmp_path: Path, audit_envs: AuditEnvs, osv: OSVServer, batch: bool
) -> None:
    first = run_check("deps", settings(tmp_path, osv), scanner=scanner(audit_envs.vulnerable, batch))
    asked = len(osv.requests)
    second = run_check("deps", settings(tmp_path, osv), scanner=scanner(audit_envs.vulnerable, batch))
    assert len(osv.requests) == asked  # not audited again
    assert second.cache_hits == first.items_checked
    assert [f.fingerprint for f in second.findings] == [f.fingerprint for f in first.findings]


def test_every_dependency_skipped_is_inconclusive_not_clean(
    tmp_path: Path, audit_envs: AuditEnvs, osv: OSVServer, batch: bool
) -> None:
    result = run_check("deps", settings(tmp_path, osv), scanner=scanner(audit_envs.all_skipped, batch))
    assert result.findings == ()
    assert result.status == "inconclusive"
    assert "audited no dependency" in result.inconclusive[-1].reason
    assert result.fails("high", allow_inconclusive=False)


@pytest.mark.parametrize("mode", ["error", "garbage"])
def test_failing_service_is_inconclusive_and_never_cached(
    tmp_path: Path, audit_envs: AuditEnvs, osv: OSVServer, mode: str, batch: bool
) -> None:
    osv.mode = mode
    result = run_check("deps", settings(tmp_path, osv), scanner=scanner(audit_envs.vulnerable, batch))
    assert result.status == "inconclusive"
    reason = result.inconclusive[0].reason
    if batch:
        assert "OSV /v1/querybatch" in reason
    else:
        assert "pip-audit exited 1 without a JSON report" in reason
    assert not (tmp_path / "cache" / "scan" / "env").exists()  # a failure is never cached


def test_offline_uses_only_a_fresh_cached_audit(
    tmp_path: Path, audit_envs: AuditEnvs, osv: OSVServer, batch: bool
) -> None:
    offline = settings(tmp_path, osv, offline=True)
    result = run_check("deps", offline, scanner=scanner(audit_envs.vulnerable, batch))
    assert result.status == "inconclusive"
    assert "offline mode" in result.inconclusive[0].reason
    run_check("deps", settings(tmp_path, osv), scanner=scanner(audit_envs.vulnerable, batch))
    asked = len(osv.requests)
    cached = run_check("deps", offline, scanner=scanner(audit_envs.vulnerable, batch))
    assert cached.status == "findings"
    assert len(osv.requests) == asked


def test_timeout_is_inconclusive(tmp_path: Path, osv: OSVServer, batch: bool) -> None:
    import sys

    osv.delay = 1.0 if batch else 0.0  # pip-audit's start-up alone exceeds the time-out
    hurried = settings(tmp_path, osv, scan_timeout=0.2)
    result = run_check("deps", hurried, scanner=scanner(sys.executable, batch))
    assert result.status == "inconclusive"
    reason = result.inconclusive[0].reason
    if batch:
        assert "timed out" in reason
    else:
        assert "pip-audit timed out after 0.2 s" in reason
