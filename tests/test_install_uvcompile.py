"""``kisys install --backend uv`` starts ``uv pip compile`` before the installer is imported:
the resolver adopts it when it would run the same command, stops it otherwise, and an
interrupted command leaves no uv running and the environment as it was (real uv, loopback
index)."""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest

from pytest_kisys.install import gate_options
from pytest_kisys.install import uvcompile
from pytest_kisys.install.backends import make_backend
from pytest_kisys.install.environment import describe_environment
from pytest_kisys.install.uv_resolver import UvResolver
from pytest_kisys.settings import Settings
from tests.support.installindex import ALPHA
from tests.support.installindex import BETA
from tests.support.installindex import GAMMA
from tests.support.pkgindex import PackageIndex
from tests.support.venvs import Venv


def _resolver(settings: Settings, python: str) -> UvResolver:
    """The installer's resolver for ``python``, built as the installer builds it."""
    env = describe_environment(python)
    resolver = make_backend(settings, env).resolver(env, gate_options.resolver_options(settings, _no_vetter))
    assert isinstance(resolver, UvResolver)
    return resolver


def _no_vetter() -> object:
    raise AssertionError("no index data is needed here")


def _spec(**changes: object) -> uvcompile.CompileSpec:
    base = uvcompile.CompileSpec(
        uv="uv", python="py", requirements=("a",), constraints=("b==1",), pins="",
        index_options=("--default-index", "http://x/simple"), offline=False,
        uploaded_before=1000.0, exempt=frozenset(), cert=None,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_an_early_compile_answers_only_the_same_command_with_an_older_cutoff() -> None:
    wanted = _spec()
    assert _spec().adoptable_for(wanted)
    assert _spec(uploaded_before=970.0).adoptable_for(wanted)  # a little older: admits less
    assert not _spec(uploaded_before=1001.0).adoptable_for(wanted)  # later: would admit more
    assert not _spec(uploaded_before=900.0).adoptable_for(wanted)  # over a minute older
    assert not _spec(requirements=("a", "c")).adoptable_for(wanted)
    assert not _spec(constraints=("b==2",)).adoptable_for(wanted)
    assert not _spec(uploaded_before=None).adoptable_for(wanted)
    assert _spec(uploaded_before=None).adoptable_for(_spec(uploaded_before=None))


@pytest.mark.usefixtures("isolated_pip")
def test_the_resolver_adopts_the_early_compile_of_its_own_command(
    throwaway_venv: Venv, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(backend="uv")
    early = uvcompile.start(settings, throwaway_venv.python, [ALPHA, ALPHA.upper()])
    assert early is not None
    resolver = _resolver(settings, throwaway_venv.python)
    # Built by the same code: the spec the resolver will ask for.
    assert early.spec.adoptable_for(resolver.spec([ALPHA], constrained=True))
    resolution = resolver.resolve([ALPHA])
    assert early.proc.returncode == 0  # ran to its end: adopted, not stopped
    assert not early.root.exists()
    assert {(item.name, item.version) for item in resolution.items} == {(ALPHA, "1.2"), (BETA, "3.0")}
    assert all(len(item.sha256) == 64 for item in resolution.items)


@pytest.mark.usefixtures("isolated_pip")
def test_an_early_compile_of_another_command_is_stopped(
    throwaway_venv: Venv, install_index: PackageIndex, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(backend="uv")
    install_index.set_fault("delay", path=f"/simple/{ALPHA}/", seconds=20)  # it would hang
    try:
        early = uvcompile.start(settings, throwaway_venv.python, [ALPHA])
        assert early is not None
        started = time.monotonic()
        resolution = _resolver(settings, throwaway_venv.python).resolve([GAMMA])
        assert time.monotonic() - started < 15  # not waited for
    finally:
        install_index.clear_faults()
    assert early.proc.returncode == -signal.SIGKILL
    assert not early.root.exists()
    assert [(item.name, item.version) for item in resolution.items] == [(GAMMA, "1.2")]


def _uv_compiles_for(python: str) -> list[int]:
    """Pids of running ``uv pip compile`` processes for ``python``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"compile" in argv and python.encode() in argv:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_during_the_early_compile_stops_uv_and_changes_nothing(
    throwaway_venv: Venv, install_index: PackageIndex, tmp_path: Path, isolated_pip: dict[str, str]
) -> None:
    before = throwaway_venv.freeze()
    install_index.set_fault("delay", path=f"/simple/{GAMMA}/", seconds=30)
    command = [
        sys.executable, "-m", "pytest_kisys", "install", "--python", throwaway_venv.python,
        "--backend", "uv", "--index-url", install_index.simple_url, "--allow", GAMMA, GAMMA,
    ]  # fmt: skip
    env = {**isolated_pip, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # Seen on two polls in a row: the die-with-kisys guard that starts uv carries the same
        # argv for a few milliseconds before it execs, so one sighting may be that process.
        deadline, seen = time.monotonic() + 30, 0
        while seen < 2 and time.monotonic() < deadline:
            seen = seen + 1 if _uv_compiles_for(throwaway_venv.python) else 0
            time.sleep(0.02)
        assert seen == 2, "uv pip compile never started"
        os.kill(proc.pid, signal.SIGINT)  # kisys only: kisys must stop its uv
        out, err = proc.communicate(timeout=20)
    finally:
        install_index.clear_faults()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # 130 from the verb's handler, also when the Ctrl-C landed in exec()'d code of an import
    # (dataclasses) and CPython would have ended the process by SIGINT (cli._forget_interrupt).
    assert proc.returncode == 130, out + err
    assert "kisys install: interrupted" in err
    deadline = time.monotonic() + 5
    while _uv_compiles_for(throwaway_venv.python) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _uv_compiles_for(throwaway_venv.python) == []
    assert throwaway_venv.freeze() == before
    assert throwaway_venv.own_dists() == {}
