"""Secrets ranked by what they are, one level lower in test data (real detect-secrets runs).

Every secret here is an obviously fake test value.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from pytest_kisys.scan.runner import run_check
from pytest_kisys.scan.severity import in_test_data
from pytest_kisys.scan.severity import lower
from pytest_kisys.scan.severity import SECRET_SEVERITY
from pytest_kisys.scan.severity import secret_severity
from pytest_kisys.settings import DEFAULT_SECRETS_TEST_PATHS
from tests.support.scantree import settings
from tests.support.scantree import write


FAKE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfake\n"
    "-----END RSA PRIVATE KEY-----\n"
)


def _blobs(count: int) -> list[str]:
    """Base64 of binary-looking data, like compiled zoneinfo files in a test suite."""
    return [base64.b64encode(hashlib.sha256(f"tz{i}".encode()).digest() * 2).decode()
            for i in range(count)]


def _tree(root: Path) -> None:
    blobs = _blobs(33)
    write(root, {
        "tests/data/zones.json": json.dumps({f"Zone/{i}": b for i, b in enumerate(blobs)}, indent=1),
        "tests/test_tz.py": "".join(f"BLOB_{i} = '{b}'\n" for i, b in enumerate(blobs[:5])),
        "src/pkg/__init__.py": "VERSION = '1.0'\n",
    })


def test_plugin_table_and_test_data_paths() -> None:
    assert SECRET_SEVERITY["PrivateKeyDetector"] == "critical"
    assert SECRET_SEVERITY["AWSKeyDetector"] == "critical"
    assert {SECRET_SEVERITY[p] for p in ("GitHubTokenDetector", "SlackDetector",
                                         "StripeDetector", "JwtTokenDetector")} == {"high"}
    assert SECRET_SEVERITY["KeywordDetector"] == "medium"
    assert SECRET_SEVERITY["Base64HighEntropyString"] == "low"
    assert [lower(s) for s in ("critical", "high", "medium", "low", "info")] == [
        "high", "medium", "low", "info", "info"]
    globs = DEFAULT_SECRETS_TEST_PATHS
    for path in ("tests/a.py", "pkg/tests/b.txt", "testdata/x", "fixtures/f.yml",
                 "src/pkg/fixtures/f.yml", "share/zoneinfo/Europe/Berlin", "data/x.json",
                 "a/b.csv"):
        assert in_test_data(path, globs), path
    for path in ("src/pkg/config.py", "testsuite.py", "pkg/latest/x.py", "contest/x.py"):
        assert not in_test_data(path, globs), path
    assert secret_severity("PrivateKeyDetector", "tests/k.pem", {}, globs) == "high"
    assert secret_severity("Custom", "src/a.py", {}, globs) == "high"
    assert secret_severity("KeywordDetector", "src/a.py", {"KeywordDetector": "critical"}, ()) == "critical"


def test_base64_test_data_no_longer_fails_high_but_a_private_key_in_src_does(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj"
    _tree(root)
    quiet = run_check("secrets", settings(root))
    assert quiet.status == "findings"
    assert len(quiet.findings) >= 33
    assert {f.rule_id for f in quiet.findings} == {"Base64HighEntropyString"}
    assert {f.severity for f in quiet.findings} == {"info"}  # low, one lower under tests/
    assert not quiet.fails("high", allow_inconclusive=False)
    assert not quiet.fails("low", allow_inconclusive=False)

    write(root, {"src/pkg/deploy_key.pem": FAKE_KEY})
    loud = run_check("secrets", settings(root))
    key = [f for f in loud.findings if f.path == "src/pkg/deploy_key.pem"]
    assert [(f.rule_id, f.severity) for f in key] == [("PrivateKeyDetector", "critical")]
    assert loud.fails("high", allow_inconclusive=False)
    assert loud.failing_findings("high") == tuple(key)


@pytest.mark.parametrize("override", ["severity", "paths"])
def test_the_mapping_and_the_test_paths_are_configurable(tmp_path: Path, override: str) -> None:
    root = tmp_path / "proj"
    _tree(root)
    extra: dict[str, object] = (
        {"secrets_severity": {"Base64HighEntropyString": "critical"}}
        if override == "severity"
        else {"secrets_test_paths": ("vendor/**",)}
    )
    result = run_check("secrets", settings(root, **extra))
    expected = {"severity": "high", "paths": "low"}[override]
    assert {f.severity for f in result.findings} == {expected}
