"""Issue 15 items 5, 11, 12 and 25: signals during an install batch, children that die with kisys,
rollback that only removes this batch's packages, and no pip litter in TMPDIR.

Each test drives a real install (real pip, loopback index, throwaway venv) in a child process
and sends it real signals.
"""

from __future__ import annotations

from collections.abc import Callable
import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pytest_kisys.settings import Settings
from tests.support.installindex import ALLOWED
from tests.support.installindex import ALPHA
from tests.support.installindex import GAMMA
from tests.support.pkgindex import PackageIndex
from tests.support.venvs import Venv


_DRIVER = """
import os, signal, subprocess, sys, time
from pathlib import Path
from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import BackendOptions
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.install import snapshot as snapshot_module
from pytest_kisys.settings import IndexSettings, Settings

python, index, root, mode = sys.argv[1:5]
settings = Settings(index=IndexSettings(url=index), allow={allowed!r}, rootdir=Path(root),
                    cache_dir=Path(root) / "cache", backend="pip")

if mode == "double":
    original = snapshot_module.Snapshot.rollback

    def rollback(self):
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C, as rollback starts
        return original(self)

    snapshot_module.Snapshot.rollback = rollback

if mode in ("signal", "kill"):
    # These modes signal pip while it installs: make it download from the (slowed) index
    # instead of installing the inspected copies, so the install step lasts long enough.
    from pytest_kisys.install import release_gate
    release_gate.BatchInspection.installable = lambda self, items: list(items)

def progress(line):
    print("progress:", line, flush=True)
    if line.startswith("inspecting ") and mode == "slow-check":
        time.sleep(0.5)  # the test slows the wheel download down now
    if line.startswith("installing ") and mode == "foreign":
        # Another process installs a package into the same environment meanwhile.
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--index-url", index,
                        {gamma!r}], check=True, capture_output=True)
    if line.startswith("installed ") and mode in ("double", "foreign"):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after pip wrote the files

installer = Installer(settings, python=python, consent=FixedConsent(False), progress=progress)
import_name = "kisys_fixture_alpha" if mode == "slow-check" else None
try:
    result = installer.install([InstallRequest({alpha!r}, mode, import_name=import_name)])
except KeyboardInterrupt as exc:
    print("INTERRUPTED", exc, flush=True)
    sys.exit(130)
print("RESULT", result.ok, flush=True)
"""


@pytest.fixture
def driver(tmp_path: Path) -> Path:
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(_DRIVER.format(allowed=ALLOWED, alpha=ALPHA, gamma=GAMMA)))
    return script


def _env(isolated: dict[str, str], tmpdir: Path | None = None) -> dict[str, str]:
    env = dict(isolated)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return env


def _start(driver: Path, venv: Venv, index: PackageIndex, root: Path, mode: str,
           env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(driver), venv.python, index.simple_url, str(root), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def _pip_processes_of(venv: Venv) -> list[int]:
    """Live processes running the venv's interpreter (pip started by the driver)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if venv.python.encode() in cmdline and b"pip" in cmdline:
            found.append(int(entry.name))
    return found


def _signal_while_installing(
    proc: subprocess.Popen[str], index: PackageIndex, signum: int, *, group: bool = False
) -> list[str]:
    """Slow the wheel download once vetting starts; send ``signum`` half a second into pip."""
    assert proc.stdout is not None
    wheel = f"/files/{ALPHA.replace('-', '_')}-1.2-py3-none-any.whl"
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("progress: vetting"):
            index.set_fault("delay", path=wheel, seconds=3)
        if line.startswith("progress: installing"):
            time.sleep(0.5)
            (os.killpg if group else os.kill)(proc.pid, signum)
            break
    return seen


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_during_install_rolls_back(
    signame: str,
    driver: Path,
    throwaway_venv: Venv,
    install_index: PackageIndex,
    tmp_path: Path,
    isolated_pip: dict[str, str],
) -> None:
    before = throwaway_venv.freeze()
    proc = _start(driver, throwaway_venv, install_index, tmp_path, "signal", _env(isolated_pip))
    try:
        seen = _signal_while_installing(proc, install_index, getattr(signal, signame))
        rest, err = proc.communicate(timeout=60)
    finally:
        install_index.clear_faults()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    out = "".join(seen) + rest
    assert proc.returncode == 130, out + err
    assert f"INTERRUPTED received {signame}" in out
    time.sleep(3)  # past the delayed download: pip must not be installing behind our back
    assert throwaway_venv.freeze() == before
    assert _pip_processes_of(throwaway_venv) == []


def test_second_ctrl_c_during_rollback_does_not_abort_it(
    driver: Path,
    throwaway_venv: Venv,
    install_index: PackageIndex,
    tmp_path: Path,
    isolated_pip: dict[str, str],
) -> None:
    before = throwaway_venv.freeze()
    proc = subprocess.run(
        [sys.executable, str(driver), throwaway_venv.python, install_index.simple_url,
         str(tmp_path), "double"],
        capture_output=True, text=True, timeout=120, env=_env(isolated_pip), check=False,
    )
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert "progress: installed 2 package(s)" in proc.stdout
    assert throwaway_venv.freeze() == before
    assert throwaway_venv.own_dists() == {}


def test_killed_kisys_takes_its_pip_with_it(
    driver: Path,
    throwaway_venv: Venv,
    install_index: PackageIndex,
    tmp_path: Path,
    isolated_pip: dict[str, str],
) -> None:
    before = throwaway_venv.freeze()
    proc = _start(driver, throwaway_venv, install_index, tmp_path, "kill", _env(isolated_pip))
    try:
        _signal_while_installing(proc, install_index, signal.SIGKILL)
        proc.communicate(timeout=60)
        time.sleep(4)  # past the delayed download
        assert _pip_processes_of(throwaway_venv) == []
        assert throwaway_venv.freeze() == before  # nothing installed unrecorded
    finally:
        install_index.clear_faults()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_rollback_keeps_what_another_process_installed_meanwhile(
    driver: Path,
    throwaway_venv: Venv,
    install_index: PackageIndex,
    tmp_path: Path,
    isolated_pip: dict[str, str],
) -> None:
    before = throwaway_venv.own_dists()
    proc = subprocess.run(
        [sys.executable, str(driver), throwaway_venv.python, install_index.simple_url,
         str(tmp_path), "foreign"],
        capture_output=True, text=True, timeout=120, env=_env(isolated_pip), check=False,
    )
    assert proc.returncode == 130, proc.stdout + proc.stderr
    new = set(throwaway_venv.own_dists()) - set(before)
    assert [n.partition("-")[0] for n in new] == [GAMMA.replace("-", "_")], new
    importable = subprocess.run(
        [throwaway_venv.python, "-c", "import kisys_fixture_gamma"], capture_output=True, check=False
    )
    assert importable.returncode == 0, importable.stderr


def test_unused_prestarted_pip_leaves_nothing_in_tmpdir(
    throwaway_venv: Venv, tmp_path: Path, isolated_pip: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_kisys.install.interface import BackendOptions
    from pytest_kisys.install.pip_backend import PipBackend

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    backend = PipBackend(BackendOptions(index_url="http://127.0.0.1:9/simple"))
    backend.prewarm(throwaway_venv.python)
    deadline = time.monotonic() + 60
    while not list(tmpdir.rglob("pip-build-tracker-*")) and time.monotonic() < deadline:
        time.sleep(0.1)  # pip creates its directories, then waits for the requirements
    assert list(tmpdir.rglob("pip-build-tracker-*"))
    backend.discard()
    assert sorted(p.name for p in tmpdir.iterdir()) == []


def test_ctrl_c_during_a_slow_wheel_download_acts_at_once(
    driver: Path,
    throwaway_venv: Venv,
    install_index: PackageIndex,
    tmp_path: Path,
    isolated_pip: dict[str, str],
) -> None:
    before = throwaway_venv.freeze()
    wheel = f"/files/{ALPHA.replace('-', '_')}-1.2-py3-none-any.whl"
    proc = _start(driver, throwaway_venv, install_index, tmp_path, "slow-check", _env(isolated_pip))
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("progress: inspecting"):
                install_index.set_fault("delay", path=wheel, seconds=40)
                time.sleep(1.5)  # the inspection is downloading the wheel now
                os.kill(proc.pid, signal.SIGINT)
                interrupted = time.monotonic()
                break
        rest, err = proc.communicate(timeout=60)
        took = time.monotonic() - interrupted
    finally:
        install_index.clear_faults()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, rest + err
    assert took < 15, f"Ctrl-C took {took:.1f} s to act"  # it waited for the 40 s download
    assert throwaway_venv.freeze() == before


@pytest.mark.usefixtures("isolated_pip")
@pytest.mark.parametrize("offline", [False, True])
def test_missing_project_is_denied_for_the_right_reason(
    offline: bool, throwaway_venv: Venv, make_settings: Callable[..., Settings]
) -> None:
    from pytest_kisys.install.consent import FixedConsent
    from pytest_kisys.install.installer import Installer
    from pytest_kisys.install.interface import InstallRequest

    installer = Installer(
        make_settings(offline=offline), python=throwaway_venv.python, consent=FixedConsent(True)
    )
    result = installer.install([InstallRequest("reqeusts", "import reqeusts in test_a.py")])
    [denied] = result.denied
    assert "wheels only" not in denied.reason
    if offline:
        assert "cannot be vetted offline" in denied.reason
    else:
        assert "does not exist on" in denied.reason
        assert "did you mean requests?" in denied.reason
