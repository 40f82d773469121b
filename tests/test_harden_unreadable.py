"""Issue 15 item 23 (chmod 000): an unreadable directory in the project gives no traceback, and
no check reads it as clean.

CI runs as root, where ``chmod 000`` stops nothing. The runs here therefore go through
``setpriv`` with the two capabilities that let root ignore file modes dropped
(``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``), so root meets the permission check a user
would; as a normal user ``chmod`` alone does it. The tests skip, saying why, only when neither
way can make a directory unreadable.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

from tests.support.unprivileged import mode_checked_prefix


CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KISYS_"))}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*mode_checked_prefix(), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        env=CLEAN_ENV, stdin=subprocess.DEVNULL, check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project with a readable test, a locked package at the top and a locked test folder."""
    (tmp_path / "tests" / "locked").mkdir(parents=True)
    (tmp_path / "tests" / "test_ok.py").write_text("def test_ok():\n    pass\n")
    (tmp_path / "tests" / "locked" / "test_hidden.py").write_text("import hiddendep\n")
    (tmp_path / "secretpkg").mkdir()
    (tmp_path / "secretpkg" / "__init__.py").write_text("x = 1\n")
    locked = [tmp_path / "secretpkg", tmp_path / "tests" / "locked"]
    for path in locked:
        path.chmod(0)
    probe = _run(["ls", str(locked[0])], tmp_path)
    if probe.returncode == 0:
        for path in locked:
            path.chmod(0o755)
        pytest.skip("chmod 000 did not make the directory unreadable here (no permission checks)")
    yield tmp_path
    for path in locked:
        path.chmod(0o755)


@pytest.mark.parametrize("git", [False, True], ids=["walk", "git"])
def test_kisys_scan_makes_unreadable_directories_inconclusive(project: Path, git: bool) -> None:
    if git:
        if shutil.which("git") is None:
            pytest.skip("git is not installed")
        subprocess.run(["git", "init", "-q", str(project)], check=True)
    proc = _run(
        [sys.executable, "-m", "pytest_kisys", "scan", str(project), "--scan", "code,secrets", "--json"],
        project,
    )
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    statuses = {c["kind"]: c["status"] for c in report["checks"]}
    assert statuses == {"code": "inconclusive", "secrets": "inconclusive"}
    items = {(i["check"], i["item"]) for i in report["inconclusive"]}
    for check in ("code", "secrets"):
        assert {(check, "secretpkg/"), (check, "tests/locked/")} <= items


def test_pytest_kisys_with_unreadable_directories_has_no_kisys_traceback(project: Path) -> None:
    """Discovery and first-party detection step over what they cannot read; pytest itself
    reports the folder it cannot collect, and the code check is inconclusive, not clean."""
    proc = _run(
        [sys.executable, "-m", "pytest", "--kisys", "--kisys-scan", "code", "-p", "no:cacheprovider",
         "-p", "no:randomly", "tests"],
        project,
    )
    out = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in out
    assert f"{os.sep}pytest_kisys{os.sep}" not in out  # no frame of kisys's own in any traceback
    assert "read the imports of" in out
    assert "secretpkg/: directory cannot be read" in out
    assert "ERROR collecting tests/locked" in out  # pytest's own report of the folder
    assert proc.returncode == pytest.ExitCode.INTERRUPTED
