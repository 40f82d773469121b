"""pytest-kisys passes its own code and secret checks (no finding at medium or above)."""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import subprocess
import sys

import pytest_kisys


# A real waiver comment, not the words "# nosec" quoted in a docstring or comment.
_WAIVER = re.compile(r"(?<![\"`])# nosec(?![\"`])( B\d+)?")


def test_own_package_passes_its_code_and_secret_checks(tmp_path: Path) -> None:
    package = Path(pytest_kisys.__file__).parent
    env = {**os.environ, "KISYS_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest_kisys", "scan", str(package), "--scan", "code,secrets",
         "--fail-on", "medium", "--report", str(tmp_path / "report.json")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = (tmp_path / "report.json").read_text()
    assert '"schema": "kisys-report/1"' in report
    # Both checks really ran over the package: neither may be inconclusive or empty.
    checks = {c["kind"]: c for c in json.loads(report)["checks"]}
    assert set(checks) == {"code", "secrets"}
    for kind, check in checks.items():
        assert not check["inconclusive"], (kind, check["inconclusive"])
        assert check["items_checked"] >= 50, (kind, check["items_checked"])


def test_every_bandit_waiver_names_its_rule_and_reason() -> None:
    # Every nosec in the package names its rule and gives a reason after " - ".
    package = Path(pytest_kisys.__file__).parent
    for path in package.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            waiver = _WAIVER.search(line)
            if waiver:
                assert waiver.group(1), f"{path}:{number}: nosec without a rule id"
                assert " - " in line[waiver.end():], f"{path}:{number}: nosec without a reason"
