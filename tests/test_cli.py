"""The ``kisys`` console script: version, dispatch, verbs that have not landed."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from pytest_kisys import __version__
from pytest_kisys import cli


def test_version_from_console_script() -> None:
    exe = shutil.which("kisys", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe is not None, "the kisys console script is not installed next to this python"
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.strip() == f"kisys {__version__}"


def test_module_entry_point_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_kisys", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    for verb in ("vet", "install", "scan", "stages"):
        assert verb in done.stdout


def test_no_verb_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: kisys" in capsys.readouterr().out


def test_unknown_verb_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_verb_not_landed_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(cli.VERBS, "later", cli.Verb(None, "something for a later release"))
    assert cli.main(["later", "x", "--y"]) == 2
    err = capsys.readouterr().err
    assert "kisys later: not available yet" in err
    assert "something for a later release" in err
