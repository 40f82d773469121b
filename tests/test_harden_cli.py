"""Issue 15 items 21 and 26: ``kisys`` verbs end in one line, never a traceback, when the reader
of their output goes away or the user presses Ctrl-C."""

from __future__ import annotations

import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support.installindex import GAMMA
from tests.support.pkgindex import PackageIndex
from tests.support.terminal import run_in_pty
from tests.support.venvs import Venv


def _kisys(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest_kisys", *args]


def test_vet_json_into_a_closed_pipe_prints_no_traceback(tmp_path: Path) -> None:
    names = [f"kisys-unknown-{n}" for n in range(300)]
    vet = subprocess.Popen(
        _kisys("vet", "--offline", "--json", "--cache-dir", str(tmp_path), *names),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert vet.stdout is not None
    first = vet.stdout.read(1)  # "| head -c 1": read one byte, then leave
    vet.stdout.close()
    _, err = vet.communicate(timeout=300)
    assert first == "["
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err


def test_ctrl_c_in_kisys_vet_is_one_line_and_exit_130(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/simple"
        proc = subprocess.Popen(
            _kisys("vet", "some-package", "--index-url", url, "--timeout", "60",
                   "--cache-dir", str(tmp_path)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        silent.settimeout(120)
        connection, _ = silent.accept()  # kisys vet is now waiting for the index to answer
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        connection.close()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "kisys vet: interrupted"


def test_file_index_url_is_refused_by_install_and_vet(tmp_path: Path) -> None:
    for verb in ("install", "vet"):
        proc = subprocess.run(
            _kisys(verb, "numpy", "--index-url", "file:///etc/passwd"),
            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        )
        assert proc.returncode == 2, (verb, proc.stdout, proc.stderr)
        assert "is not an http:// or https:// URL" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_dev_zero_baseline_is_not_a_regular_file_and_is_not_read(tmp_path: Path) -> None:
    from pytest_kisys.scan.runner import run_check
    from pytest_kisys.scan.secrets import SecretsScanner
    from tests.support.scantree import settings

    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.txt").write_text("nothing\n")
    result = run_check(
        "secrets",
        settings(root, baseline={"secrets": Path("/dev/zero")}),
        scanner=SecretsScanner(use_git=False),
    )
    assert result.status == "inconclusive"
    assert "is not a regular file" in result.inconclusive[0].reason


def _ctrl_c_at_the_prompt(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[str, int]:
    """Run ``argv`` on a pseudo-terminal and type Ctrl-C once kisys asks; (output, exit status)."""
    # The terminal turns Ctrl-C into SIGINT for the foreground job.
    run = run_in_pty(argv, env, cwd, [(b"[y]es / [n]o", b"\x03")], timeout=120)
    output = run.output.decode(errors="replace")
    assert run.replied == 1, output
    return output, run.exit_code


@pytest.mark.parametrize("how", ["kisys install", "pytest --kisys"])
def test_ctrl_c_at_the_prompt_is_one_line_and_exit_130(
    how: str, throwaway_venv: Venv, install_index: PackageIndex, tmp_path: Path,
    isolated_pip: dict[str, str],
) -> None:
    """Item 26 at the prompt, for ``kisys install`` and ``pytest --kisys``: no traceback."""
    env = {k: v for k, v in isolated_pip.items()
           if k not in {"CI", "BUILD_NUMBER", "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    project = tmp_path / "project"
    project.mkdir()
    if how == "kisys install":
        argv = [throwaway_venv.python, "-m", "pytest_kisys", "install", GAMMA,
                "--python", throwaway_venv.python, "--index-url", install_index.simple_url]
    else:
        (project / "pyproject.toml").write_text(
            f'[tool.kisys]\nscan = "none"\n\n[tool.kisys.index]\nurl = "{install_index.simple_url}"\n'
        )
        (project / "test_g.py").write_text(
            f"import pytest\n\n\n@pytest.mark.requires({GAMMA!r})\ndef test_g():\n    pass\n"
        )
        argv = [throwaway_venv.python, "-m", "pytest", "--kisys", "-p", "no:cacheprovider"]
    output, status = _ctrl_c_at_the_prompt(argv, env, project)
    assert status == 130, output
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output
    assert "interrupted" in output
    assert throwaway_venv.own_dists() == {}
