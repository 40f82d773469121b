"""kisys's tool environment: built on first use from the loopback index, hash-checked and vetted.

The lock here names small wheels served by the loopback index instead of the real scanners
(those need the live index: see ``test_real_scanners_run_from_the_tool_environment``, marked
``network``). Everything else is real: uv builds the venv and installs in hash-checking mode,
kisys's vetter asks the loopback index, and the scan worker starts in the built environment.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import subprocess
import sys

import pytest

from pytest_kisys.errors import ToolError
from pytest_kisys.install.uv_backend import find_uv
from pytest_kisys.scan.runner import run_check
from pytest_kisys.settings import IndexSettings
from pytest_kisys.settings import Settings
from pytest_kisys.tools import locate
from pytest_kisys.tools import ToolCommand
from pytest_kisys.tools import ToolEnvironment
from pytest_kisys.tools import ToolSource
from pytest_kisys.tools.env import plugin_path
from pytest_kisys.tools.lockfile import parse_lock
from tests.support.pkgindex import build_wheel
from tests.support.pkgindex import PackageIndex


UV = find_uv()
pytestmark = pytest.mark.skipif(UV is None, reason="uv is part of the test extra")
PROBE = "kisys-toolprobe"


def serve_probe(index: PackageIndex) -> str:
    """Serve one small wheel; returns its sha256."""
    wheel = build_wheel(PROBE, "1.0", {"kisys_toolprobe/__init__.py": "ANSWER = 42\n"})
    index.add_empty_project(PROBE)
    index.add_artifact(PROBE, "1.0", wheel, upload_time=index.now() - 400 * 86400)
    return wheel.sha256


def write_lock(path: Path, sha256: str) -> Path:
    path.write_text(f"# test lock\n{PROBE}==1.0 \\\n    --hash=sha256:{sha256}\n", encoding="utf-8")
    return path


def make_settings(tmp_path: Path, index: PackageIndex, **kw: object) -> Settings:
    return Settings(  # type: ignore[arg-type]
        rootdir=tmp_path, cache_dir=tmp_path / "cache", index=IndexSettings(url=index.simple_url), **kw
    )


def probe_environment(tmp_path: Path, index: PackageIndex, **kw: object) -> tuple[Settings, ToolEnvironment]:
    """Settings for the loopback index and a tool environment locked to the probe tool it serves."""
    lock = parse_lock(write_lock(tmp_path / "lock.txt", serve_probe(index)))
    settings = make_settings(tmp_path, index, **kw)
    return settings, ToolEnvironment(settings.resolved_cache_dir(), lock)


def test_first_use_builds_from_the_index_with_the_pinned_hashes(
    tmp_path: Path, pkgindex: PackageIndex, isolated_pip: dict[str, str]
) -> None:
    settings, env = probe_environment(tmp_path, pkgindex)
    assert not env.ready()
    before = len(pkgindex.requests)
    status = env.create(settings, uv=UV)
    assert status.ready
    assert status.installer == "uv"
    assert env.path.parent == tmp_path / "cache" / "tools"
    assert env.lock.digest[:16] in env.path.name
    manifest = json.loads((env.path / "kisys-tools.json").read_text())
    assert manifest["lock"] == env.lock.digest
    # Vetted first (the index was asked about the name), then the wheel was downloaded.
    paths = [p for _, p in pkgindex.requests[before:]]
    assert f"/simple/{PROBE}/" in paths
    assert any(p.endswith(".whl") for p in paths)
    probe = subprocess.run(
        [env.python, "-I", "-c", "import kisys_toolprobe, sys; print(kisys_toolprobe.ANSWER, sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.split() == ["42", str(env.path)]
    # A second use builds nothing and asks nobody.
    served = len(pkgindex.requests)
    env.create(settings, uv=UV)
    assert len(pkgindex.requests) == served


def test_a_file_that_does_not_match_the_locked_hash_is_refused(
    tmp_path: Path, pkgindex: PackageIndex, isolated_pip: dict[str, str]
) -> None:
    serve_probe(pkgindex)
    lock = parse_lock(write_lock(tmp_path / "lock.txt", "0" * 64))
    settings = make_settings(tmp_path, pkgindex)
    env = ToolEnvironment(settings.resolved_cache_dir(), lock)
    with pytest.raises(ToolError, match="building the kisys tool environment failed"):
        env.create(settings, uv=UV)
    assert not env.path.exists()  # nothing half-built is left to be reused
    assert not env.ready()


def test_a_blocked_lock_name_stops_the_build_before_any_download(
    tmp_path: Path, pkgindex: PackageIndex, isolated_pip: dict[str, str]
) -> None:
    settings, env = probe_environment(tmp_path, pkgindex, deny=(PROBE,))
    before = len(pkgindex.requests)
    with pytest.raises(ToolError, match=f"not built: {PROBE}: "):
        env.create(settings, uv=UV)
    assert not any(p.endswith(".whl") for _, p in pkgindex.requests[before:])
    assert not env.path.exists()


def test_a_build_waits_for_the_projects_own_lock_and_says_which_one_when_it_gives_up(
    tmp_path: Path, pkgindex: PackageIndex, isolated_pip: dict[str, str]
) -> None:
    from pytest_kisys.install.lock import environment_lock

    settings, env = probe_environment(tmp_path, pkgindex)
    env.root.mkdir(parents=True)
    lock_file = Path(str(env.path) + ".lock")
    vetted: list[str] = []
    # Another session building (the flock of install/lock.py on the same file) holds it.
    with environment_lock(lock_file, 1.0), pytest.raises(ToolError, match=re.escape(str(lock_file))):
        env.create(settings, uv=UV, vet=lambda lk: vetted.append("vetted"), lock_timeout=0.2)
    assert vetted == []  # nothing was looked at before the lock was had
    assert not env.path.exists()
    status = env.create(settings, uv=UV, vet=lambda lk: vetted.append("vetted"), lock_timeout=0.2)
    assert vetted == ["vetted"]
    assert status.ready


def test_a_lock_entry_without_hashes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lock.txt").write_text("bandit==1.9.4\n", encoding="utf-8")
    with pytest.raises(ToolError, match="'bandit==1.9.4' is not a pinned, hashed requirement"):
        parse_lock(tmp_path / "lock.txt")


def test_a_pin_for_another_platform_is_neither_vetted_nor_installed(
    tmp_path: Path, pkgindex: PackageIndex, isolated_pip: dict[str, str]
) -> None:
    """``colorama ; sys_platform == 'win32'``: the installer skips it, and so does kisys."""
    sha = serve_probe(pkgindex)
    lock_path = write_lock(tmp_path / "lock.txt", sha)
    other = "kisys-winonly"
    with lock_path.open("a", encoding="utf-8") as handle:
        handle.write(f"{other}==1.0 ; sys_platform == 'nonexistent-os' \\\n    --hash=sha256:{'1' * 64}\n")
    lock = parse_lock(lock_path)
    assert [p.name for p in lock.pins] == [PROBE, other]
    assert [p.name for p in lock.applying()] == [PROBE]
    settings = make_settings(tmp_path, pkgindex)
    env = ToolEnvironment(settings.resolved_cache_dir(), lock)
    before = len(pkgindex.requests)
    env.create(settings, uv=UV)  # the pinned hash of the other-platform wheel is never needed
    assert not any(other in p for _, p in pkgindex.requests[before:])  # not even vetted
    manifest = json.loads((env.path / "kisys-tools.json").read_text())
    assert list(manifest["versions"]) == [PROBE]


def test_the_shipped_lock_marks_platform_pins_with_valid_markers() -> None:
    lock = ToolEnvironment(Path("/nonexistent")).lock
    marked = {p.name: p.marker for p in lock.pins if p.marker}
    assert marked.get("colorama") == "sys_platform == 'win32'"  # bandit's, on Windows only
    assert "colorama" not in {p.name for p in lock.applying({"sys_platform": "linux"})}
    assert "colorama" in {p.name for p in lock.applying({"sys_platform": "win32"})}


def test_the_shipped_lock_pins_every_scanner_with_hashes() -> None:
    lock = ToolEnvironment(Path("/nonexistent")).lock
    for name in ("bandit", "detect-secrets", "pip-audit", "pip"):
        assert lock.version_of(name), name
    assert all(pin.hashes for pin in lock.pins)


def test_a_scan_worker_starts_in_a_tool_environment_without_pytest(
    tmp_path: Path, pkgindex: PackageIndex, isolated_pip: dict[str, str]
) -> None:
    settings, env = probe_environment(tmp_path, pkgindex)
    env.create(settings, uv=UV)
    command = ToolCommand(
        "bandit", env.python, ToolSource.TOOL_ENVIRONMENT, "0", plugin_path(settings.resolved_cache_dir())
    )
    task = json.dumps({"job": "secrets", "options": {"root": str(tmp_path), "config": None}, "files": []})
    proc = subprocess.run(command.worker(), input=task, capture_output=True, text=True, check=False)
    # pytest_kisys (and its worker) imported from the link; the failure is the missing scanner.
    assert "ModuleNotFoundError: No module named 'detect_secrets'" in proc.stderr
    assert "No module named 'pytest'" not in proc.stderr
    assert proc.returncode != 0
    no_pytest = subprocess.run(
        [env.python, "-I", "-c", "import pytest"], capture_output=True, text=True, check=False
    )
    assert no_pytest.returncode != 0


def test_offline_with_no_scanner_anywhere_is_inconclusive_with_how_to_prepare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test environment has the scanners (the test extra); pretend it does not.
    monkeypatch.setattr("pytest_kisys.tools.lookup.in_environment", lambda tool: None)
    (tmp_path / "app.py").write_text("import subprocess\n")
    settings = Settings(rootdir=tmp_path, cache_dir=tmp_path / "cache", offline=True)
    with pytest.raises(ToolError, match="kisys tools create"):
        locate("bandit", settings)
    result = run_check("code", settings)
    assert result.status == "inconclusive"
    (reason,) = [i.reason for i in result.inconclusive]
    assert "\n" not in reason
    assert "bandit is not installed here and the kisys tool environment does not exist" in reason
    assert "`kisys tools create`" in reason
    assert "pytest-kisys[scanners]" in reason


def test_scanners_installed_in_the_environment_under_test_are_used_as_they_are(tmp_path: Path) -> None:
    command = locate("bandit", Settings(rootdir=tmp_path, cache_dir=tmp_path / "cache", offline=True))
    assert command.source is ToolSource.ENVIRONMENT
    assert command.python == sys.executable
    assert command.worker() == [sys.executable, "-m", "pytest_kisys.scan.worker"]
    assert not (tmp_path / "cache" / "tools").exists()


@pytest.mark.network
def test_real_scanners_run_from_the_tool_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pytest_kisys.tools.lookup.in_environment", lambda tool: None)
    (tmp_path / "app.py").write_text("import subprocess\nsubprocess.call('ls', shell=True)\n")
    (tmp_path / "key.py").write_text("AWS = 'AKIAIOSFODNN7EXAMPLE'\n")
    settings = Settings(rootdir=tmp_path, cache_dir=tmp_path / "cache", level="autonomous")
    code = run_check("code", settings)
    assert {f.rule_id for f in code.findings} >= {"B602"}
    assert code.tool_source == "kisys tool environment"
    secrets = run_check("secrets", settings)
    assert {f.rule_id for f in secrets.findings} == {"AWSKeyDetector"}


def test_lock_tools_picks_only_releases_older_than_the_cooldown(
    tmp_path: Path, pkgindex: PackageIndex, isolated_pip: dict[str, str]
) -> None:
    """scripts/lock_tools.py against the loopback index: a release of yesterday is not pinned."""
    old = build_wheel(PROBE, "1.0", {"kisys_toolprobe/__init__.py": "ANSWER = 1\n"})
    new = build_wheel(PROBE, "1.1", {"kisys_toolprobe/__init__.py": "ANSWER = 2\n"})
    pkgindex.add_empty_project(PROBE)
    pkgindex.add_artifact(PROBE, "1.0", old, upload_time=pkgindex.now() - 400 * 86400)
    pkgindex.add_artifact(PROBE, "1.1", new, upload_time=pkgindex.now() - 86400)
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "tools-lock.txt"
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / "lock_tools.py"), "--index-url", pkgindex.simple_url,
         "--tool", PROBE, "--output", str(out)],
        capture_output=True, text=True, check=False, env=isolated_pip, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lock = parse_lock(out)
    assert [(p.name, p.version, p.hashes) for p in lock.pins] == [(PROBE, "1.0", (old.sha256,))]
    assert "release-age cooldown 7 days" in out.read_text()
