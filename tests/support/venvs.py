"""Throwaway virtualenvs for install tests: one base per session, a cheap copy per test.

The base venv is made with ``python -m venv --without-pip`` (about 0.1 s). A ``.pth`` file in
its site-packages runs ``site.addsitedir(<dev site-packages>)``, so pip, pytest and
pytest-kisys (editable) are importable inside without being installed there; anything
installed lands in the throwaway venv's own site-packages, which comes first on ``sys.path``.
Comparisons (``pip freeze --path``) look only at that own site-packages.

Fixtures (published through the root ``conftest.py``):

* ``venv_base``: the session's base venv (never install into it);
* ``throwaway_venv``: a fresh copy of the base for one test;
* ``isolated_pip``: ``os.environ`` without the machine's ``PIP_*``/``UV_*`` settings and with
  ``PIP_CONFIG_FILE=/dev/null`` for the test (pip and uv started by the product inherit it).
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import subprocess
import sys
import sysconfig

import pytest


__all__ = ["Venv", "make_base_venv"]

_LINK_NAME = "_kisys_dev_env.pth"


@dataclass(frozen=True)
class Venv:
    """A virtualenv on disk."""

    root: Path

    @property
    def python(self) -> str:
        """Path of the venv's interpreter (not resolved: the symlink is the venv)."""
        return str(self.root / "bin" / "python")

    @property
    def site_packages(self) -> Path:
        """The venv's own site-packages directory."""
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return self.root / "lib" / version / "site-packages"

    def freeze(self, env: dict[str, str] | None = None) -> list[str]:
        """``pip freeze --path <own site-packages>`` lines (sorted)."""
        proc = subprocess.run(
            [self.python, "-m", "pip", "freeze", "--path", str(self.site_packages)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return sorted(line for line in proc.stdout.splitlines() if line.strip())

    def own_dists(self) -> dict[str, str]:
        """``{dist-info directory name: version}`` for the own site-packages (fast, no pip)."""
        return {
            entry.name: entry.name[: -len(".dist-info")].rpartition("-")[2]
            for entry in self.site_packages.iterdir()
            if entry.name.endswith(".dist-info")
        }

    def copy_to(self, destination: Path) -> Venv:
        """A copy of this venv at ``destination`` (symlinks kept, pyvenv.cfg still valid)."""
        shutil.copytree(self.root, destination, symlinks=True)
        return Venv(destination)


def make_base_venv(root: Path) -> Venv:
    """Create a pip-less venv at ``root`` that can import the dev environment's packages."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)],
        check=True,
        capture_output=True,
    )
    venv = Venv(root)
    dev_site = sysconfig.get_paths()["purelib"]
    (venv.site_packages / _LINK_NAME).write_text(
        f"import site; site.addsitedir({dev_site!r})\n", encoding="utf-8"
    )
    return venv


@pytest.fixture(scope="session")
def venv_base(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """The session's base venv (copy it with ``throwaway_venv``; never install into it)."""
    return make_base_venv(tmp_path_factory.mktemp("venv-base") / "venv")


@pytest.fixture
def throwaway_venv(venv_base: Venv, tmp_path: Path) -> Venv:
    """A fresh venv for one test: a copy of the session's base venv."""
    return venv_base.copy_to(tmp_path / "venv")


@pytest.fixture
def isolated_pip(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Isolate pip/uv (started by the code under test) from the machine's configuration."""
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("PIP_NO_INPUT", "1")
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    return dict(os.environ)
