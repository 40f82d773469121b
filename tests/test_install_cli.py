"""``kisys install``, the consent prompt at a real terminal inside pytest, PEP 668, learning."""

from __future__ import annotations

from collections.abc import Callable
import json
import os
from pathlib import Path
import subprocess
import sys
import time
import tomllib

import pytest

from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.settings import Settings
from tests.support.installindex import GAMMA
from tests.support.pkgindex import PackageIndex
from tests.support.terminal import run_in_pty
from tests.support.venvs import Venv


def _cli_env(isolated: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in isolated.items() if k not in {"CI", "BUILD_NUMBER", "PYTEST_XDIST_WORKER"}}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    return env


def _kisys(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_kisys", "install", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_kisys_install_without_a_terminal_denies_with_the_hint_and_does_not_wait(
    throwaway_venv: Venv, install_index: PackageIndex, tmp_path: Path, isolated_pip: dict[str, str]
) -> None:
    started = time.monotonic()
    proc = _kisys(
        [GAMMA, "--python", throwaway_venv.python, "--index-url", install_index.simple_url],
        _cli_env(isolated_pip, tmp_path),
        tmp_path,
    )
    assert time.monotonic() - started < 60
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"denied {GAMMA} 1.2: needs confirmation (nobody can answer: no terminal)" in proc.stdout
    # The hint names the flag kisys install accepts (--allow), not pytest's --kisys-allow.
    assert f"to allow it: --allow {GAMMA}" in proc.stdout
    assert "--kisys-allow" not in proc.stdout
    assert "kisys: resolving 1 requirement(s)" in proc.stderr
    assert throwaway_venv.own_dists() == {}
    again = _kisys(
        [GAMMA, "--allow", GAMMA, "--python", throwaway_venv.python, "--index-url", install_index.simple_url],
        _cli_env(isolated_pip, tmp_path),
        tmp_path,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert any(name.startswith(GAMMA.replace("-", "_")) for name in throwaway_venv.own_dists())


def test_kisys_install_with_allow_installs_and_prints_json(
    throwaway_venv: Venv, install_index: PackageIndex, tmp_path: Path, isolated_pip: dict[str, str]
) -> None:
    proc = _kisys(
        [
            GAMMA,
            "--allow",
            GAMMA,
            "--json",
            "-q",
            "--python",
            throwaway_venv.python,
            "--index-url",
            install_index.simple_url,
            "--backend",
            "uv",
        ],
        _cli_env(isolated_pip, tmp_path),
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert [(i["name"], i["version"]) for i in result["installed"]] == [(GAMMA, "1.2")]
    assert result["backend"] == "uv"
    assert proc.stderr == ""
    assert throwaway_venv.freeze() == [f"{GAMMA}==1.2"]


def test_kisys_install_rejects_a_url_requirement(tmp_path: Path, isolated_pip: dict[str, str]) -> None:
    proc = _kisys(
        ["https://evil.example/pkg.whl", "--python", sys.executable, "-q"],
        _cli_env(isolated_pip, tmp_path),
        tmp_path,
    )
    assert proc.returncode == 2
    assert "invalid requirement 'https://evil.example/pkg.whl'" in proc.stderr
    assert "no URLs, file paths" in proc.stderr


@pytest.mark.usefixtures("isolated_pip")
def test_learning_mode_adds_the_confirmed_package_to_pyproject(
    throwaway_venv: Venv, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "demo"\n\n[tool.kisys]\nlevel = "balanced"\n')
    consent = FixedConsent(True, "typed y")
    settings = make_settings(learn=True, allow=(), config_file=pyproject)
    result = Installer(settings, python=throwaway_venv.python, consent=consent).install(
        [InstallRequest(GAMMA, "import kisys_fixture_gamma")]
    )
    assert [i.name for i in result.installed] == [GAMMA]
    [asked] = consent.asked
    assert [item.name for item in asked.asking()] == [GAMMA]
    assert result.learned == (GAMMA,)
    data = tomllib.loads(pyproject.read_text())
    assert data["tool"]["kisys"] == {"level": "balanced", "allow": [GAMMA]}


def test_externally_managed_environment_is_refused(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # An interpreter whose environment description says PEP 668 (what Debian's python3 reports).
    fake = tmp_path / "python3"
    description = {
        "executable": str(fake),
        "prefix": "/usr",
        "base_prefix": "/usr",
        "purelib": str(tmp_path),
        "platlib": str(tmp_path),
        "scripts": str(tmp_path),
        "externally_managed": "To install Python packages system-wide, try apt install",
        "has_pip": True,
        "python_version": "3.11.2",
        "distributions": [],
    }
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(description)}\nEOF\n")
    fake.chmod(0o755)
    result = Installer(make_settings(), python=str(fake), consent=FixedConsent(True)).install(
        [InstallRequest(GAMMA, "x")]
    )
    assert result.installed == ()
    assert result.error is not None
    assert "externally managed environment (PEP 668)" in result.error
    assert "try apt install" in result.error
    assert "allow_system_install = true" in result.error


# The inner pytest runs must look like a person's run: not CI, not a worker, no extra options.
_NOT_INHERITED = {"CI", "BUILD_NUMBER", "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}

_PROMPTING_CONFTEST = """
import os
from pytest_kisys.install.consent import TerminalConsent
from pytest_kisys.install.interface import ConsentItem, ConsentRequest

def pytest_configure(config):
    capman = config.pluginmanager.getplugin("capturemanager")
    item = ConsentItem("rich", "13.0", ("import rich in test_x.py",), ("not whitelisted",),
                       ("index: 150 releases",))
    answer = TerminalConsent(capture=capman).ask(ConsentRequest((item,)))
    with open(os.environ["KISYS_ANSWER_FILE"], "w") as handle:
        handle.write(answer.answer + "|" + answer.why)
"""


def _run_in_pty(argv: list[str], env: dict[str, str], cwd: Path, replies: list[tuple[bytes, bytes]]) -> bytes:
    """Run ``argv`` on a pseudo-terminal; each time ``expect`` shows up, type ``reply``."""
    return run_in_pty(argv, env, cwd, replies).output


def test_prompt_inside_pytest_at_a_real_terminal_with_capture_suspended(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makeconftest(_PROMPTING_CONFTEST)
    pytester.makepyfile(test_x="def test_ok():\n    pass\n")
    answer_file = tmp_path / "answer"
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env["KISYS_ANSWER_FILE"] = str(answer_file)
    prompt = b"[y]es / [n]o / [d]etails: "
    output = _run_in_pty(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        env,
        pytester.path,
        [(prompt, b"d\n"), (prompt, b"y\n")],
    )
    text = output.decode(errors="replace")
    assert answer_file.read_text() == "yes|confirmed at the terminal", text
    assert "pytest-kisys wants to install:" in text
    assert "- index: 150 releases" in text  # shown after "d"
    assert "1 passed" in text


def test_prompt_under_ci_answers_no_without_asking(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeconftest(_PROMPTING_CONFTEST)
    pytester.makepyfile(test_x="def test_ok():\n    pass\n")
    answer_file = tmp_path / "answer"
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env.update(CI="true", KISYS_ANSWER_FILE=str(answer_file))
    output = _run_in_pty(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env, pytester.path, []
    )
    assert answer_file.read_text() == "no|nobody can answer: CI is set (a CI run)"
    assert b"wants to install" not in output
