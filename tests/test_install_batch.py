"""Real installs with pip and uv from the loopback index into throwaway virtualenvs."""

from __future__ import annotations

from collections.abc import Callable
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.consent import TerminalConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.record import RunRecord
from pytest_kisys.resolve.pipeline import batch_line
from pytest_kisys.settings import Settings
from tests.support.installindex import ALLOWED
from tests.support.installindex import ALPHA
from tests.support.installindex import BETA
from tests.support.installindex import BROKEN
from tests.support.installindex import BROKEN_FOR_PIP
from tests.support.installindex import BROKEN_FOR_UV
from tests.support.installindex import DELTA
from tests.support.installindex import GAMMA
from tests.support.installindex import LOOKALIKE
from tests.support.installindex import SDIST_ONLY
from tests.support.installindex import WITH_PTH
from tests.support.pkgindex import PackageIndex
from tests.support.venvs import Venv


def _pip_install(venv: Venv, index: PackageIndex, requirement: str) -> None:
    subprocess.run(
        [
            venv.python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--index-url",
            index.simple_url,
            requirement,
        ],
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize("backend", ["pip", "uv"])
@pytest.mark.usefixtures("isolated_pip")
def test_clean_batch_installs_the_vetted_set_once(
    backend: str, throwaway_venv: Venv, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    consent = FixedConsent(False)
    lines: list[str] = []
    installer = Installer(
        make_settings(backend=backend),
        python=throwaway_venv.python,
        consent=consent,
        progress=lines.append,
    )
    result = installer.install(
        [InstallRequest(ALPHA, "import kisys_fixture_alpha in test_a.py", "kisys_fixture_alpha")]
    )
    assert result.error is None, result.error
    assert result.ok
    assert result.backend == backend
    assert {(i.name, i.version) for i in result.installed} == {(ALPHA, "1.2"), (BETA, "3.0")}
    assert all(len(i.sha256) == 64 for i in result.installed)
    reasons = {i.name: i.reasons for i in result.installed}
    assert reasons == {
        ALPHA: ("import kisys_fixture_alpha in test_a.py",),
        BETA: (f"dependency of {ALPHA} (import kisys_fixture_alpha in test_a.py)",),
    }
    assert consent.asked == []  # everything was on the allow list: nobody was asked
    assert throwaway_venv.freeze() == [f"{ALPHA}==1.2", f"{BETA}==3.0"]
    assert any(line.startswith(f"installed 2 package(s) with {backend}") for line in lines)
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    installs = [entry for entry in audit if entry.get("event") == "install"]
    assert installs[-1]["result"] == "ok"
    assert {i["name"] for i in installs[-1]["installed"]} == {ALPHA, BETA}
    # A second batch finds everything in place and installs nothing.
    again = installer.install([InstallRequest(ALPHA, "again")])
    assert again.installed == ()
    assert again.satisfied == (ALPHA,)


@pytest.mark.parametrize("backend", ["pip", "uv"])
@pytest.mark.usefixtures("isolated_pip")
def test_broken_wheel_rolls_back_and_freeze_is_unchanged(
    backend: str, throwaway_venv: Venv, make_settings: Callable[..., Settings]
) -> None:
    before = throwaway_venv.freeze()
    installer = Installer(
        make_settings(backend=backend), python=throwaway_venv.python, consent=FixedConsent(False)
    )
    # Wheels the inspection passes and only the installer refuses.
    broken = BROKEN_FOR_PIP if backend == "pip" else BROKEN_FOR_UV
    result = installer.install([InstallRequest(ALPHA, "test_a.py"), InstallRequest(broken, "test_b.py")])
    assert result.error is not None
    assert f"{backend} failed" in result.error
    assert "restored" in result.error
    assert result.installed == ()
    assert result.rolled_back
    # Issue 15 item 27: the summary names the backend that ran, not "(no backend run)".
    assert result.backend == backend
    assert batch_line(result) is not None
    assert batch_line(result).endswith(f"({backend})")  # type: ignore[union-attr]
    assert throwaway_venv.freeze() == before
    leftovers = {p.name for p in throwaway_venv.site_packages.iterdir()}
    assert not any(name.startswith("kisys_fixture") for name in leftovers)


@pytest.mark.usefixtures("isolated_pip")
def test_path_traversal_wheel_is_refused_before_install(
    throwaway_venv: Venv, make_settings: Callable[..., Settings]
) -> None:
    before = throwaway_venv.freeze()
    installer = Installer(make_settings(), python=throwaway_venv.python, consent=FixedConsent(False))
    result = installer.install([InstallRequest(ALPHA, "test_a.py"), InstallRequest(BROKEN, "test_b.py")])
    assert result.error is None
    (denied,) = [d for d in result.denied if d.name == BROKEN]
    assert "archive.traversal" in denied.reason
    assert "escapes_the_venv.py" in denied.reason
    assert {i.name for i in result.installed} == {ALPHA, BETA}
    assert not (throwaway_venv.root.parent / "escapes_the_venv.py").exists()
    assert before != throwaway_venv.freeze()


@pytest.mark.parametrize("backend", ["pip", "uv"])
@pytest.mark.usefixtures("isolated_pip")
def test_downgrade_is_shown_and_refused(
    backend: str, throwaway_venv: Venv, make_settings: Callable[..., Settings], install_index: PackageIndex
) -> None:
    _pip_install(throwaway_venv, install_index, f"{BETA}==3.0")
    before = throwaway_venv.freeze()
    installer = Installer(
        make_settings(backend=backend), python=throwaway_venv.python, consent=FixedConsent(True)
    )
    result = installer.install([InstallRequest(DELTA, "import kisys_fixture_delta")])
    assert [(c.name, c.installed_version, c.wanted_version, c.change) for c in result.refused] == [
        (BETA, "3.0", "1.0", "downgrade")
    ]
    assert "never downgrades" in result.refused[0].reason
    denied = {d.name: d for d in result.denied}
    assert BETA in denied[DELTA].reason
    assert "downgrade" in denied[DELTA].reason
    assert result.installed == ()
    assert throwaway_venv.freeze() == before


@pytest.mark.parametrize("backend", ["pip", "uv"])
@pytest.mark.usefixtures("isolated_pip")
def test_sdist_only_project_is_refused_without_running_setup_py(
    backend: str, throwaway_venv: Venv, make_settings: Callable[..., Settings], sdist_marker: Path
) -> None:
    installer = Installer(
        make_settings(backend=backend), python=throwaway_venv.python, consent=FixedConsent(True)
    )
    result = installer.install([InstallRequest(SDIST_ONLY, "marker"), InstallRequest(ALPHA, "test_a.py")])
    assert not sdist_marker.exists(), "setup.py of the sdist ran"
    denied = {d.name: d for d in result.denied}
    assert "wheels only" in denied[SDIST_ONLY].reason
    # The rest of the batch is unaffected.
    assert {i.name for i in result.installed} == {ALPHA, BETA}


@pytest.mark.parametrize("backend", ["pip", "uv"])
@pytest.mark.usefixtures("isolated_pip")
def test_wheel_without_the_import_name_is_refused(
    backend: str, throwaway_venv: Venv, make_settings: Callable[..., Settings]
) -> None:
    installer = Installer(
        make_settings(backend=backend), python=throwaway_venv.python, consent=FixedConsent(True)
    )
    result = installer.install(
        [InstallRequest(LOOKALIKE, "import kisys_lookalike", import_name="kisys_lookalike")]
    )
    assert result.installed == ()
    [denied] = result.denied
    assert denied.name == LOOKALIKE
    assert "does not provide 'import kisys_lookalike'" in denied.reason
    assert throwaway_venv.own_dists() == {}


@pytest.mark.usefixtures("isolated_pip")
def test_non_interactive_run_denies_with_the_allow_hint(
    throwaway_venv: Venv, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    record = RunRecord()
    installer = Installer(
        make_settings(), python=throwaway_venv.python, consent=TerminalConsent(), record=record
    )
    result = installer.install([InstallRequest(GAMMA, "import kisys_fixture_gamma in test_g.py")])
    assert result.installed == ()
    [denied] = result.denied
    assert denied.name == GAMMA
    assert "CI is set" in denied.reason
    assert denied.hint.startswith(f'--kisys-allow {GAMMA} (or add "{GAMMA}" to allow')
    assert denied.reasons == ("import kisys_fixture_gamma in test_g.py",)
    assert throwaway_venv.own_dists() == {}
    # The report sees the batch and the engine's decision behind it.
    assert record.installs == [result]
    assert [(d.name, d.action) for d in record.decisions] == [(GAMMA, "confirm")]  # type: ignore[attr-defined]


_DRIVER = """
import json, os, signal, sys
from pathlib import Path
from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.settings import IndexSettings, Settings

python, index, root, mode = sys.argv[1:5]
settings = Settings(index=IndexSettings(url=index), allow={allowed!r}, rootdir=Path(root),
                    cache_dir=Path(root) / "cache", backend="pip")

if mode == "ctrl-c":
    # Signalled while pip downloads: make it download from the (slowed) index instead of
    # installing the inspected copies, which is too quick to interrupt reliably.
    from pytest_kisys.install import release_gate
    release_gate.BatchInspection.installable = lambda self, items: list(items)

def progress(line):
    print("progress:", line, flush=True)
    if mode == "interrupt" and line.startswith("installed "):
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, after pip wrote the files

installer = Installer(settings, python=python, consent=FixedConsent(False), progress=progress)
try:
    result = installer.install([InstallRequest({alpha!r}, mode)])
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
    sys.exit(130)
print("RESULT " + json.dumps(result.to_json()), flush=True)
"""


def _driver(tmp_path: Path) -> Path:
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(_DRIVER.format(allowed=ALLOWED, alpha=ALPHA)))
    return script


def _driver_command(script: Path, venv: Venv, index: PackageIndex, root: Path, mode: str) -> list[str]:
    """The driver run installing ALPHA into ``venv`` from ``index``, with ``root`` as rootdir."""
    return [sys.executable, str(script), venv.python, index.simple_url, str(root), mode]


def _child_env(isolated: dict[str, str]) -> dict[str, str]:
    env = dict(isolated)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return env


def test_interrupt_during_install_rolls_back(
    throwaway_venv: Venv,
    install_index: PackageIndex,
    tmp_path: Path,
    isolated_pip: dict[str, str],
) -> None:
    before = throwaway_venv.freeze()
    proc = subprocess.run(
        _driver_command(_driver(tmp_path), throwaway_venv, install_index, tmp_path, "interrupt"),
        capture_output=True,
        text=True,
        timeout=120,
        env=_child_env(isolated_pip),
        check=False,
    )
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert "progress: installed 2 package(s)" in proc.stdout
    assert "INTERRUPTED" in proc.stdout
    assert throwaway_venv.freeze() == before
    assert throwaway_venv.own_dists() == {}


def test_ctrl_c_while_pip_downloads_stops_pip_and_leaves_nothing(
    throwaway_venv: Venv,
    install_index: PackageIndex,
    tmp_path: Path,
    isolated_pip: dict[str, str],
) -> None:
    before = throwaway_venv.freeze()
    proc = subprocess.Popen(
        _driver_command(_driver(tmp_path), throwaway_venv, install_index, tmp_path, "ctrl-c"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(isolated_pip),
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    assert proc.stdout is not None
    wheel = f"/files/{ALPHA.replace('-', '_')}-1.2-py3-none-any.whl"
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("progress: vetting"):
                # Resolved already: from now on the wheel downloads slowly.
                install_index.set_fault("delay", path=wheel, seconds=2)
            if line.startswith("progress: installing"):
                time.sleep(0.5)
                os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: pip and kisys both get it
                break
        rest, _ = proc.communicate(timeout=60)
        seen.append(rest)
    finally:
        install_index.clear_faults()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, "".join(seen)
    assert "INTERRUPTED" in "".join(seen)
    assert "progress: installed" not in "".join(seen)  # it was stopped mid-install
    time.sleep(2)  # past the delayed download: no pip process may still be installing
    assert throwaway_venv.freeze() == before
    assert throwaway_venv.own_dists() == {}


def test_two_processes_install_the_same_package_once(
    throwaway_venv: Venv,
    install_index: PackageIndex,
    tmp_path: Path,
    isolated_pip: dict[str, str],
) -> None:
    script = _driver(tmp_path)
    procs = [
        subprocess.Popen(
            _driver_command(script, throwaway_venv, install_index, tmp_path / f"run{n}", "concurrent"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(isolated_pip),
        )
        for n in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        line = next(line for line in out.splitlines() if line.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT ") :]))
    installed = [[i["name"] for i in r["installed"]] for r in results]
    assert sorted(map(sorted, installed)) == [[], [ALPHA, BETA]]
    assert [r["satisfied"] for r in results if not r["installed"]] == [[ALPHA]]
    dist_infos = [n for n in throwaway_venv.own_dists() if n.startswith("kisys_fixture")]
    assert sorted(dist_infos) == ["kisys_fixture_alpha-1.2.dist-info", "kisys_fixture_beta-3.0.dist-info"]
    assert os.path.exists(throwaway_venv.site_packages / ".pytest-kisys.lock")


@pytest.mark.usefixtures("isolated_pip")
def test_transitive_item_needing_consent_declined_denies_its_request(
    throwaway_venv: Venv, make_settings: Callable[..., Settings]
) -> None:
    consent = FixedConsent(False, "declined at the terminal")
    installer = Installer(
        make_settings(allow=(ALPHA,), backend="uv"), python=throwaway_venv.python, consent=consent
    )
    result = installer.install([InstallRequest(ALPHA, "import kisys_fixture_alpha in test_a.py")])
    [asked] = consent.asked
    assert [(i.name, i.needs_answer) for i in asked.items] == [(ALPHA, False), (BETA, True)]
    beta = next(i for i in asked.items if i.name == BETA)
    assert beta.reasons == (f"dependency of {ALPHA} (import kisys_fixture_alpha in test_a.py)",)
    denied = {d.name: d for d in result.denied}
    assert denied[BETA].reason == "not confirmed (declined at the terminal)"
    assert denied[BETA].hint.startswith(f"--kisys-allow {BETA} ")
    assert denied[ALPHA].reason.startswith(f"needs {BETA} (not confirmed")
    assert denied[ALPHA].hint == denied[BETA].hint
    assert result.installed == ()
    assert throwaway_venv.own_dists() == {}


@pytest.mark.usefixtures("isolated_pip")
def test_upgrade_demanded_by_a_requirement_needs_a_person(
    throwaway_venv: Venv, make_settings: Callable[..., Settings], install_index: PackageIndex
) -> None:
    _pip_install(throwaway_venv, install_index, f"{BETA}==1.0")
    declined = Installer(
        make_settings(backend="uv"), python=throwaway_venv.python, consent=FixedConsent(False)
    ).install([InstallRequest(f"{BETA}>=3", "@pytest.mark.requires in test_b.py")])
    [denied] = declined.denied
    assert "make that change yourself" in denied.hint
    assert throwaway_venv.freeze() == [f"{BETA}==1.0"]
    consent = FixedConsent(True)
    result = Installer(make_settings(backend="uv"), python=throwaway_venv.python, consent=consent).install(
        [InstallRequest(f"{BETA}>=3", "@pytest.mark.requires in test_b.py")]
    )
    [item] = consent.asked[0].items
    assert (item.change, item.installed_version, item.needs_answer) == ("upgrade", "1.0", True)
    assert [(i.name, i.version, i.change) for i in result.installed] == [(BETA, "3.0", "upgrade")]
    assert throwaway_venv.freeze() == [f"{BETA}==3.0"]


def _run_in_venv(
    venv: Venv, index: PackageIndex, tmp_path: Path, isolated: dict[str, str], name: str, text: str
) -> subprocess.CompletedProcess[str]:
    """Run ``text`` as ``tmp_path/name`` with the venv's python (index URL and rootdir as
    arguments) and assert it exited 0."""
    script = tmp_path / name
    script.write_text(text)
    proc = subprocess.run(
        [venv.python, str(script), index.simple_url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_child_env(isolated),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


_IN_PROCESS = """
import sys
from pathlib import Path
from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.settings import IndexSettings, Settings

index, root = sys.argv[1:3]
try:
    import kisys_via_pth
except ImportError:
    print("missing before")
settings = Settings(index=IndexSettings(url=index), allow=({name!r},), rootdir=Path(root),
                    cache_dir=Path(root) / "cache", backend="uv")
result = Installer(settings, consent=FixedConsent(False)).install([InstallRequest({name!r}, "x")])
assert result.error is None, result.error
import kisys_via_pth
print("imported", kisys_via_pth.VALUE)
"""


def test_running_interpreter_can_import_what_arrived_including_new_pth_paths(
    throwaway_venv: Venv, install_index: PackageIndex, tmp_path: Path, isolated_pip: dict[str, str]
) -> None:
    proc = _run_in_venv(
        throwaway_venv,
        install_index,
        tmp_path,
        isolated_pip,
        "in_process.py",
        _IN_PROCESS.format(name=WITH_PTH),
    )
    assert proc.stdout.splitlines() == ["missing before", "imported 42"]


_IMPORTED_UPGRADE = """
import json, sys
from pathlib import Path
import kisys_fixture_beta  # the running tests already use the installed 1.0
from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.settings import IndexSettings, Settings

index, root = sys.argv[1:3]
settings = Settings(index=IndexSettings(url=index), allow=({name!r},), rootdir=Path(root),
                    cache_dir=Path(root) / "cache", backend="uv")
result = Installer(settings, consent=FixedConsent(True)).install(
    [InstallRequest({name!r} + ">=3", "x")]
)
print(json.dumps(result.to_json()))
"""


def test_upgrading_a_package_the_process_already_imported_is_refused(
    throwaway_venv: Venv, install_index: PackageIndex, tmp_path: Path, isolated_pip: dict[str, str]
) -> None:
    _pip_install(throwaway_venv, install_index, f"{BETA}==1.0")
    proc = _run_in_venv(
        throwaway_venv,
        install_index,
        tmp_path,
        isolated_pip,
        "imported_upgrade.py",
        _IMPORTED_UPGRADE.format(name=BETA),
    )
    result = json.loads(proc.stdout)
    [refused] = result["refused"]
    assert (refused["name"], refused["change"], refused["wanted_version"]) == (BETA, "upgrade", "3.0")
    assert "already imported" in refused["reason"]
    assert result["installed"] == []
    assert throwaway_venv.freeze() == [f"{BETA}==1.0"]
