"""Pure logic of the session checks: findings, ignore rules, verdicts, cache, pre-filter."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pytest_kisys.errors import ScanError
from pytest_kisys.scan.cache import EnvResultCache
from pytest_kisys.scan.cache import FileResultCache
from pytest_kisys.scan.files import project_files
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import ScanOutput
from pytest_kisys.scan.parallel import split_by_size
from pytest_kisys.scan.pip_audit import osv_query_url
from pytest_kisys.scan.pip_audit import parse_report
from pytest_kisys.scan.runner import apply_ignores
from pytest_kisys.scan.runner import run_check
from pytest_kisys.settings import IgnoreRule
from pytest_kisys.settings import Settings


def finding(rule: str = "B602", severity: str = "high", fp: str = "abc123") -> Finding:
    return Finding(
        tool="bandit",
        rule_id=rule,
        severity=severity,
        confidence="high",
        path="app.py",
        line=3,
        message="subprocess call with shell=True",
        fingerprint=fp,
        rule_name="subprocess_popen_with_shell_equals_true",
    )


def test_fail_on_threshold_and_never() -> None:
    result = CheckResult("code", "bandit", "1", findings=(finding(severity="medium"),))
    assert result.fails("medium", allow_inconclusive=False)
    assert not result.fails("high", allow_inconclusive=False)
    assert not result.fails("never", allow_inconclusive=False)
    assert result.severity_counts()["medium"] == 1


def test_inconclusive_fails_unless_allowed_and_is_never_clean() -> None:
    result = CheckResult("deps", "pip-audit", "1", inconclusive=(Inconclusive("pip-audit", "x", "y"),))
    assert result.status == "inconclusive"
    assert result.fails("high", allow_inconclusive=False)
    assert not result.fails("high", allow_inconclusive=True)


def test_ignore_by_rule_fingerprint_and_alias_with_reason() -> None:
    dep = Finding(
        "pip-audit", "PYSEC-1", "high", "high", "", 0, "m", "fffe", aliases=("CVE-2099-1",)
    )
    kept, suppressed, expired = apply_ignores(
        [finding(), finding(rule="B311", fp="zzz"), dep],
        [IgnoreRule("B602", "reviewed: input is constant"), IgnoreRule("zzz", "ok"),
         IgnoreRule("CVE-2099-1", "not reachable")],
    )
    assert kept == []
    assert [s.reason for s in suppressed] == ["reviewed: input is constant", "ok", "not reachable"]
    assert expired == []


def test_expired_ignore_stops_applying_and_says_so() -> None:
    rule = IgnoreRule("B602", "temporary", expires=dt.date(2020, 1, 1))
    kept, suppressed, expired = apply_ignores([finding()], [rule], today=dt.date(2026, 1, 1))
    assert kept == [finding()]
    assert suppressed == []
    assert expired == ["B602"]
    # the expiry day itself still applies
    kept, _, _ = apply_ignores([finding()], [rule], today=dt.date(2020, 1, 1))
    assert kept == []


class _Broken:
    kind = "code"
    tool = "bandit"

    def scan(self, settings: Settings) -> ScanOutput:
        raise ScanError("bandit exploded")


def test_run_check_turns_scan_error_into_inconclusive(tmp_path: Path) -> None:
    result = run_check("code", Settings(rootdir=tmp_path, cache_dir=tmp_path), scanner=_Broken())
    assert result.status == "inconclusive"
    assert "bandit exploded" in result.inconclusive[0].reason


def test_file_cache_roundtrip_and_miss_on_change(tmp_path: Path) -> None:
    cache = FileResultCache(tmp_path, "bandit", "1.9.4", {"skips": []})
    key = cache.key("a.py", b"print(1)\n")
    assert cache.get(key) is None
    cache.put(key, [{"test_id": "B1"}])
    assert cache.get(key) == [{"test_id": "B1"}]
    assert cache.get(cache.key("a.py", b"print(2)\n")) is None
    assert cache.get(cache.key("b.py", b"print(1)\n")) is None
    other = FileResultCache(tmp_path, "bandit", "1.9.4", {"skips": ["B101"]})
    assert other.get(key) is None


def test_env_cache_ttl(tmp_path: Path) -> None:
    cache = EnvResultCache(tmp_path, ttl=60)
    cache.put("k", {"dependencies": []})
    assert cache.get("k") == {"dependencies": []}
    stored = json.loads((tmp_path / "scan" / "env" / "k.json").read_text())["stored_at"]
    assert cache.get("k", now=stored + 61) is None


def test_project_files_skip_venvs_and_build_output(tmp_path: Path) -> None:
    for rel in ("pkg/a.py", "build/lib/a.py", ".tox/py/x.py", "env1/lib/x.py", "node_modules/x.js",
                "pkg/build/b.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    (tmp_path / "env1" / "pyvenv.cfg").write_text("home = /usr\n")
    assert project_files(tmp_path, use_git=False) == ["pkg/a.py", "pkg/build/b.py"]


def test_split_by_size_balances() -> None:
    sizes = {"a": 100, "b": 60, "c": 50, "d": 10}
    chunks = split_by_size(list(sizes), sizes.__getitem__, 2)
    loads = sorted(sum(sizes[x] for x in chunk) for chunk in chunks)
    assert loads == [110, 110]


def test_osv_base_url_becomes_query_url() -> None:
    assert osv_query_url("http://127.0.0.1:9/") == "http://127.0.0.1:9/v1/query"
    assert osv_query_url("http://h/v1/query") == "http://h/v1/query"


@pytest.mark.parametrize(
    "payload",
    [[], {"deps": []}, {"dependencies": [{"version": "1"}]}],
    ids=["array", "no-dependencies", "nameless"],
)
def test_unexpected_pip_audit_json_is_an_error(payload: object) -> None:
    with pytest.raises(ScanError, match="pip-audit output"):
        parse_report(payload)


def test_editable_skips_are_expected_other_skips_inconclusive() -> None:
    findings, inconclusive, audited = parse_report(
        {
            "dependencies": [
                {"name": "myproject", "skip_reason": "distribution marked as editable"},
                {"name": "foo", "skip_reason": "Dependency not found on PyPI"},
                {"name": "bar", "version": "1.0", "vulns": []},
            ]
        }
    )
    assert findings == []
    assert [i.item for i in inconclusive] == ["foo"]
    assert audited == 1


def test_worker_deadline_is_a_scan_error() -> None:
    from pytest_kisys.scan.parallel import run_workers

    with pytest.raises(ScanError, match="did not finish within 0.01 s"):
        run_workers("bandit", {"root": "."}, [["a.py"]], timeout=0.01)


def test_audited_set_in_process_matches_the_subprocess_listing() -> None:
    import sys

    from pytest_kisys.scan.pip_audit import audited_distributions

    # Another name of this venv's interpreter takes the subprocess path: same set expected.
    bindir = Path(sys.executable).parent
    alias = next(p for p in (bindir / "python3", bindir / "python") if str(p) != sys.executable)
    here = audited_distributions(sys.executable, 60)
    there = audited_distributions(str(alias), 60)
    assert here.pins == there.pins
    assert here.editable == there.editable == ("pytest-kisys",)
    assert any(pin.startswith("pytest==") for pin in here.pins)
    assert not any(pin.startswith("pytest-kisys==") for pin in here.pins)
