"""Issue 15 item 8: every damaged cache is discarded with a CacheCorruptWarning; no traceback."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import time

import pytest

from pytest_kisys.errors import CacheCorruptWarning
from pytest_kisys.install.lock import environment_lock
from pytest_kisys.install.lock import lock_path
from pytest_kisys.settings import Settings
from pytest_kisys.vet.cache import SignalCache
from pytest_kisys.vet.data import bundled_malicious
from pytest_kisys.vet.data import known_malicious
from pytest_kisys.vet.data import overlay_path
from pytest_kisys.vet.interface import ProjectSignals


INDEX = "https://index.example/simple"


def _cache(tmp_path: Path) -> SignalCache:
    return SignalCache(tmp_path, ttl=3600, clock=time.time)


@pytest.mark.parametrize("damage", ["not-utf8", "directory", "garbage-json"])
def test_damaged_index_cache_entry_is_discarded_with_a_warning(
    tmp_path: Path, damage: str
) -> None:
    cache = _cache(tmp_path)
    cache.put(ProjectSignals(name="numpy", index_url=INDEX, checked=True, exists=True,
                             fetched_at=time.time()))
    path = cache.path_for(INDEX, "numpy")
    assert path.is_file()
    if damage == "not-utf8":
        path.write_bytes(b"\xff\xfe\x80 not json")
    elif damage == "directory":
        path.unlink()
        (path / "inner").mkdir(parents=True)
    else:
        path.write_text('{"index_url": 1}')
    with pytest.warns(CacheCorruptWarning, match="discarding"):
        assert cache.get(INDEX, "numpy") is None
    assert not path.exists()
    cache.put(ProjectSignals(name="numpy", index_url=INDEX, checked=True, exists=True,
                             fetched_at=time.time()))
    assert cache.get(INDEX, "numpy") is not None  # usable again


@pytest.mark.parametrize("shape", ["file", "under-a-file"])
def test_cache_dir_that_cannot_be_a_directory_falls_back_with_a_warning(
    tmp_path: Path, shape: str
) -> None:
    (tmp_path / "plain").write_text("")
    wanted = tmp_path / "plain" if shape == "file" else tmp_path / "plain" / "cache"
    with pytest.warns(CacheCorruptWarning, match="for this run only"):
        used = Settings(rootdir=tmp_path, cache_dir=wanted).resolved_cache_dir()
    assert used.is_dir()
    assert used != wanted
    assert (tmp_path / "plain").read_text() == ""  # the user's file is left alone


def test_pytest_run_with_cache_dir_on_a_file_runs_and_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n", app="X = 1\n")
    (pytester.path / "plain").write_text("")
    env = {**os.environ, "KISYS_CACHE_DIR": str(pytester.path / "plain" / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--kisys", "--kisys-scan", "code", "-p", "no:cacheprovider"],
        cwd=pytester.path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "for this run only" in proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


@pytest.mark.parametrize("content", [b"\xff\xfe\x00\x01", b"<html>not a list</html>\n"])
def test_garbage_malicious_overlay_is_discarded_and_bundled_list_kept(
    tmp_path: Path, content: bytes
) -> None:
    overlay = overlay_path(tmp_path)
    overlay.write_bytes(content)
    with pytest.warns(CacheCorruptWarning, match="malicious-list overlay"):
        assert known_malicious(tmp_path) == bundled_malicious()
    assert not overlay.exists()


def test_lock_path_that_is_a_directory_is_discarded(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    (site / ".pytest-kisys.lock").mkdir(parents=True)
    with pytest.warns(CacheCorruptWarning):
        path = lock_path(site, tmp_path / "cache")
    with environment_lock(path, timeout=5) as waited:
        assert waited >= 0


def test_lock_path_that_is_a_full_directory_falls_back_to_the_cache(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    (site / ".pytest-kisys.lock" / "someone's").mkdir(parents=True)
    with pytest.warns(CacheCorruptWarning):
        path = lock_path(site, tmp_path / "cache")
    assert path.parent == tmp_path / "cache"
    with environment_lock(path, timeout=5):
        pass


@pytest.mark.parametrize("locked", ["cache", "cache/scan", "cache/imports.json"])
def test_cache_that_cannot_be_read_is_discarded_with_a_warning(tmp_path: Path, locked: str) -> None:
    """Item 8, "a cache dir that cannot be read": the run warns, redoes the work and passes;
    nothing is inconclusive because of it (the cache sits inside the project here, which the
    checks leave out even when it cannot be read)."""
    from tests.support.unprivileged import mode_checked_prefix

    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("import os\n\n\ndef test_a():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KISYS_"))}
    env["KISYS_CACHE_DIR"] = str(tmp_path / "cache")
    args = [sys.executable, "-m", "pytest", "--kisys", "--kisys-scan", "secrets",
            "-p", "no:cacheprovider", "tests"]

    def run(prefix: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300, check=False, stdin=subprocess.DEVNULL)

    first = run([])
    assert first.returncode == 0, first.stdout + first.stderr
    assert (tmp_path / locked).exists()
    prefix = mode_checked_prefix()
    (tmp_path / locked).chmod(0)
    try:
        proc = run(prefix)
    finally:
        (tmp_path / locked).chmod(0o755)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert proc.returncode == 0, out
    assert "CacheCorruptWarning" in out
    assert "INCONCLUSIVE" not in out
    assert "1 passed" in proc.stdout
