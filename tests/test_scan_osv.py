"""Parity: kisys's OSV batch audit finds what pip-audit finds, on records that use pip-audit's rules.

Both audit the same real virtualenv (kisys-tiny-vuln 1.0.0, pip, setuptools) against the same
loopback OSV server, whose records exercise every rule pip-audit applies to an OSV record:
PYSEC preferred as the primary id, a GHSA duplicate merged into the PYSEC result by alias,
a withdrawn record, a record of another schema major, ``details`` when there is no
``summary`` (new lines flattened), unsorted fix versions, a record matched by its
``versions`` list, and a record naming another package too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.scan.osv import osv_base_url
from pytest_kisys.scan.osv import pinned
from pytest_kisys.scan.pip_audit import OSV_BATCH
from pytest_kisys.scan.pip_audit import OSV_CLIENT
from pytest_kisys.scan.pip_audit import PipAuditScanner
from pytest_kisys.scan.runner import run_check
from pytest_kisys.settings import Settings
from tests.support.osv_server import advisory
from tests.support.osv_server import AuditEnvs
from tests.support.osv_server import DEFAULT_RECORDS
from tests.support.osv_server import OSVServer
from tests.support.pkgindex import isolated_pip_env


def _records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [dict(r) for r in DEFAULT_RECORDS]
    records.append(
        advisory(
            "GHSA-tiny-dupl-0001", "kisys-tiny-vuln", fixed="1.1.0", aliases=("PYSEC-2099-1", "CVE-2099-0777")
        )
    )
    records.append(advisory("GHSA-tiny-only-0002", "kisys-tiny-vuln", summary="GHSA only"))
    withdrawn = advisory("PYSEC-2099-3", "kisys-tiny-vuln")
    withdrawn["withdrawn"] = "2026-02-01T00:00:00Z"
    records.append(withdrawn)
    future = advisory("PYSEC-2099-4", "kisys-tiny-vuln")
    future["schema_version"] = "2.0.0"
    records.append(future)
    details = advisory("CVE-2099-0005", "pip", aliases=("GHSA-pip0-pip0-pip0",))
    del details["summary"]
    details["details"] = "first line\nsecond line"
    records.append(details)
    unsorted = advisory("PYSEC-2099-6", "setuptools")
    unsorted["affected"][0]["ranges"][0]["events"] = [
        {"introduced": "0"},
        {"fixed": "999.2"},
        {"introduced": "999.5"},
        {"fixed": "999.10"},
    ]
    records.append(unsorted)
    listed = advisory("GHSA-list-list-list", "kisys-tiny-vuln", introduced="5.0")
    listed["affected"][0]["versions"] = ["1.0.0"]
    records.append(listed)
    both = advisory("PYSEC-2099-8", "pip", fixed="999.0")
    both["affected"].insert(
        0,
        {
            "package": {"ecosystem": "PyPI", "name": "setuptools"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}],
        },
    )
    records.append(both)
    return records


@pytest.fixture
def rich_osv(osv_server: OSVServer) -> Iterator[OSVServer]:
    """The session OSV server holding :func:`_records`, restored afterwards."""
    osv_server.records = _records()
    yield osv_server
    osv_server.records = list(DEFAULT_RECORDS)


def _audit(
    tmp_path: Path, server: OSVServer, python: str, batch: bool, *, osv_batch: bool = True
) -> CheckResult:
    settings = Settings(
        rootdir=tmp_path,
        cache_dir=tmp_path / f"cache-{batch}",
        scan_timeout=120,
        audit_service="osv",
        osv_url=server.url,
        osv_batch=osv_batch,
    )
    return run_check(
        "deps", settings, scanner=PipAuditScanner(python=python, env=isolated_pip_env(), batch=batch)
    )


def _seen(result: CheckResult) -> list[tuple[Any, ...]]:
    return [
        (f.package, f.version, f.rule_id, frozenset(f.aliases), f.message, f.fix_versions, f.fingerprint)
        for f in result.findings
    ]


def test_batch_findings_are_pip_audits(tmp_path: Path, audit_envs: AuditEnvs, rich_osv: OSVServer) -> None:
    cli = _audit(tmp_path, rich_osv, audit_envs.vulnerable, batch=False)
    ours = _audit(tmp_path, rich_osv, audit_envs.vulnerable, batch=True)
    assert cli.status == ours.status == "findings"
    assert _seen(ours) == _seen(cli)
    assert ours.items_checked == cli.items_checked
    ids = {f.rule_id for f in ours.findings}
    # The GHSA duplicate is folded into PYSEC-2099-1; withdrawn and schema-2 records are gone.
    assert {"PYSEC-2099-1", "GHSA-tiny-only-0002", "GHSA-list-list-list"} <= ids
    assert not ids & {"GHSA-tiny-dupl-0001", "PYSEC-2099-3", "PYSEC-2099-4"}
    merged = next(f for f in ours.findings if f.rule_id == "PYSEC-2099-1")
    assert "CVE-2099-0777" in merged.aliases
    pip_finding = next(f for f in ours.findings if f.rule_id == "CVE-2099-0005")
    assert "first line second line" in pip_finding.message
    unsorted = next(f for f in ours.findings if f.rule_id == "PYSEC-2099-6")
    assert unsorted.fix_versions == ("999.2", "999.10")


def test_batch_fetches_each_matched_record_once(
    tmp_path: Path, audit_envs: AuditEnvs, rich_osv: OSVServer
) -> None:
    before = len(rich_osv.requests)
    _audit(tmp_path, rich_osv, audit_envs.vulnerable, batch=True)
    sent = rich_osv.requests[before:]
    posts = [path for method, path, _ in sent if method == "POST"]
    gets = [path for method, path, _ in sent if method == "GET"]
    assert posts == ["/v1/querybatch"]
    assert len(gets) == len(set(gets)) >= 8


def test_missing_record_is_inconclusive(tmp_path: Path, audit_envs: AuditEnvs, rich_osv: OSVServer) -> None:
    # The batch names an id whose record the service then cannot return.
    rich_osv.records = [*_records(), advisory("GHSA gone 1", "pip")]  # GET sees it quoted
    result = _audit(tmp_path, rich_osv, audit_envs.vulnerable, batch=True)
    assert result.status == "inconclusive"
    assert "/v1/vulns/" in result.inconclusive[0].reason


def test_pins_and_urls_read_as_pip_audit_reads_them() -> None:
    packages, skipped = pinned(["Foo_Bar==1.0-1", "bad==not a version"])
    assert [(p.name, p.version) for p in packages] == [("foo-bar", "1.0.post1")]
    assert [s["name"] for s in skipped] == ["bad"]
    assert osv_base_url(None) == "https://api.osv.dev"
    assert osv_base_url("http://127.0.0.1:9/v1/query") == "http://127.0.0.1:9"
    assert osv_base_url("http://127.0.0.1:9/") == "http://127.0.0.1:9"


def test_mirror_without_batch_endpoint_gets_pip_audit(
    tmp_path: Path, audit_envs: AuditEnvs, rich_osv: OSVServer
) -> None:
    rich_osv.mode = "query-only"
    try:
        result = _audit(tmp_path, rich_osv, audit_envs.vulnerable, batch=True)
    finally:
        rich_osv.mode = "ok"
    assert result.status == "findings"
    assert result.tool_version not in ("osv-querybatch", OSV_BATCH)  # pip-audit's own version: it ran
    assert "PYSEC-2099-1" in {f.rule_id for f in result.findings}


def _batch_posts(server: OSVServer, since: int) -> int:
    return sum(
        1 for method, path, _ in server.requests[since:] if (method, path) == ("POST", "/v1/querybatch")
    )


def test_mirror_without_batch_is_remembered_and_its_audit_labelled(
    tmp_path: Path, audit_envs: AuditEnvs, rich_osv: OSVServer
) -> None:
    rich_osv.mode = "query-only"
    try:
        before = len(rich_osv.requests)
        first = _audit(tmp_path, rich_osv, audit_envs.vulnerable, batch=True)
        assert _batch_posts(rich_osv, before) == 1
        middle = len(rich_osv.requests)
        second = _audit(tmp_path, rich_osv, audit_envs.vulnerable, batch=True)
    finally:
        rich_osv.mode = "ok"
    # The second run asks no batch (the cache remembers the mirror has none) and its cache hit
    # is pip-audit's own entry, labelled as pip-audit, not as the batch client.
    assert _batch_posts(rich_osv, middle) == 0
    assert len(rich_osv.requests) == middle  # pip-audit's cached audit: no query at all
    assert first.cache_hits == 0
    assert second.cache_hits == second.items_checked > 0
    assert second.tool_version == first.tool_version != OSV_BATCH
    assert second.tool_source == first.tool_source != OSV_CLIENT
    assert _seen(second) == _seen(first)


def test_osv_batch_setting_off_runs_pip_audit(
    tmp_path: Path, audit_envs: AuditEnvs, rich_osv: OSVServer
) -> None:
    before = len(rich_osv.requests)
    result = _audit(tmp_path, rich_osv, audit_envs.vulnerable, batch=True, osv_batch=False)
    assert _batch_posts(rich_osv, before) == 0
    assert any(path == "/v1/query" for _, path, _ in rich_osv.requests[before:])
    assert result.tool_version != OSV_BATCH
    assert result.tool_source != OSV_CLIENT
    assert "PYSEC-2099-1" in {f.rule_id for f in result.findings}
