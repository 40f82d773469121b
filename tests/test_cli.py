"""The ``kisys`` console script: version, dispatch, verbs that have not landed."""

from __future__ import annotations

import os
from pathlib import Path
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


def test_verb_not_landed_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cli.VERBS, "later", cli.Verb(None, "something for a later release"))
    assert cli.main(["later", "x", "--y"]) == 2
    err = capsys.readouterr().err
    assert "kisys later: not available yet" in err
    assert "something for a later release" in err


_IMPORTS_OF = """
import json, sys
from pytest_kisys.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = ("pytest", "_pytest", "pytest_kisys.commands", "pytest_kisys.stages", "urllib3",
         "importlib.metadata", "pytest_kisys.resolve")
below = tuple(h + "." for h in heavy)
print(json.dumps([code, sorted(m for m in sys.modules if m in heavy or m.startswith(below))]))
"""


def _modules_after(*argv: str, cwd: str) -> tuple[object, list[str]]:
    import json

    env = {**os.environ, "KISYS_CACHE_DIR": str(Path(cwd) / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS_OF, *argv], capture_output=True, text=True, check=False, cwd=cwd,
        env=env,
    )  # fmt: skip
    code, modules = json.loads(done.stdout.strip().splitlines()[-1])
    return code, modules


def test_help_imports_no_verb_module(tmp_path: Path) -> None:
    code, modules = _modules_after("--help", cwd=str(tmp_path))
    assert code == 0
    assert modules == []


def test_vet_start_up_imports_neither_pytest_nor_other_verbs(tmp_path: Path) -> None:
    """``kisys vet`` answered from bundled data (offline, a whitelisted name) loads its own verb
    and the vetting engine only: no pytest, no HTTP stack, no other verb, no import mapping."""
    code, modules = _modules_after("vet", "--offline", "numpyy", cwd=str(tmp_path))
    assert code in (1, 2)  # a typosquat: confirm (or block offline), never an import error
    verb = ["pytest_kisys.commands", "pytest_kisys.commands._vetargs", "pytest_kisys.commands.vet"]
    assert modules == verb


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("install", "--python", "/nonexistent/python", "--offline", "-q", "attrs"), 2),
        (("tools", "status"), 0),
        (("db", "status"), 0),
    ],
    ids=["install", "tools", "db"],
)
def test_console_script_verbs_do_not_import_pytest(tmp_path: Path, argv: tuple[str, ...], code: int) -> None:
    """The console script is not a pytest run: pytest's import (about 0.1 s) is not paid."""
    got, modules = _modules_after(*argv, cwd=str(tmp_path))
    assert got == code
    assert not [m for m in modules if m.split(".")[0] in ("pytest", "_pytest")]


def test_ctrl_c_inside_exec_code_still_exits_130_under_python_m(tmp_path: Path) -> None:
    """A Ctrl-C that lands in code run by ``exec()`` of a string (dataclasses and namedtuples
    build their methods that way, so it happens during an import) is handled like any other:
    ``python -m`` would otherwise end by SIGINT after printing "interrupted"."""
    (tmp_path / "interrupted_verb.py").write_text(
        "def configure(parser):\n    pass\n\ndef run(args):\n    exec('raise KeyboardInterrupt')\n",
        encoding="utf-8",
    )
    (tmp_path / "kisys_with_verb.py").write_text(
        "from pytest_kisys import cli\n"
        "cli.VERBS['interrupted'] = cli.Verb('interrupted_verb', 'interrupted in exec code')\n"
        "raise SystemExit(cli.main(['interrupted']))\n",
        encoding="utf-8",
    )
    path = os.pathsep.join([str(tmp_path), str(Path.cwd())])
    done = subprocess.run(
        [sys.executable, "-m", "kisys_with_verb"], capture_output=True, text=True, check=False,
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": path},
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert done.stderr == "kisys interrupted: interrupted\n"
