"""Issue 15 items 2, 3, 8 (scan caches) and 9: no file reads clean because of its encoding, a
project directory never replaces a scanner, and damaged or foreign cache entries are discarded
with a warning and rescanned. Every secret here is an obviously fake test value."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
import time

import pytest

from pytest_kisys.errors import CacheCorruptWarning
from pytest_kisys.scan.bandit import BanditScanner
from pytest_kisys.scan.cache import code_identity
from pytest_kisys.scan.cache import EnvResultCache
from pytest_kisys.scan.files import MAX_FILE_BYTES
from pytest_kisys.scan.pip_audit import consistent
from pytest_kisys.scan.runner import run_check
from pytest_kisys.scan.secrets import SecretsScanner
from tests.support.scantree import settings
from tests.support.scantree import write


FAKE_AWS_KEY = "AKIAFAKEFAKEFAKE1234"
SHELL = "import subprocess\n\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"


def _secrets(root: Path) -> object:
    return run_check("secrets", settings(root), scanner=SecretsScanner(use_git=False))


def _types(result: object) -> set[tuple[str, str]]:
    return {(f.path, f.rule_name) for f in result.findings}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.txt", b"caf\xe9\naws_access_key_id = " + FAKE_AWS_KEY.encode() + b"\n"),
        (
            "legacy.py",
            b"# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\nKEY = '" + FAKE_AWS_KEY.encode() + b"'\n",
        ),
        ("bom16.txt", f"\ufeffcl\u00e9 = '{FAKE_AWS_KEY}'\n".encode("utf-16")),
        ("plain16.txt", f"key = '{FAKE_AWS_KEY}'\n".encode("utf-16-le")),
        ("bom8.txt", b"\xef\xbb\xbfkey = '" + FAKE_AWS_KEY.encode() + b"'\n"),
    ],
)
def test_secret_in_a_file_that_is_not_utf8_is_found(
    tmp_path: Path, name: str, content: bytes
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / name).write_bytes(content)
    result = _secrets(root)
    assert (name, "AWS Access Key") in _types(result)
    assert result.status == "findings"  # type: ignore[attr-defined]


def test_unknown_coding_cookie_is_inconclusive_not_clean(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "odd.py").write_bytes(b"# coding: klingon-8\nX = 1\n")
    result = _secrets(root)
    assert result.status == "inconclusive"  # type: ignore[attr-defined]
    assert "klingon-8" in result.inconclusive[0].reason  # type: ignore[attr-defined]


STUB_BANDIT = {
    "bandit/__init__.py": "",
    "bandit/core/__init__.py": "",
    "bandit/core/config.py": "class BanditConfig:\n    def __init__(self, **kw):\n        pass\n",
    "bandit/core/docs_utils.py": "def get_url(test_id):\n    return ''\n",
    "bandit/core/manager.py": (
        "class BanditManager:\n"
        "    skipped = []\n"
        "    def __init__(self, *a, **kw):\n        pass\n"
        "    def run_tests(self):\n        pass\n"
        "    def get_issue_list(self):\n        return []\n"
    ),
}


def test_project_directory_named_bandit_does_not_replace_the_scanner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "proj"
    write(root, {"app.py": SHELL, **STUB_BANDIT})
    monkeypatch.chdir(root)  # "kisys scan ." from the project: the workers start there
    result = run_check("code", settings(root), scanner=BanditScanner(use_git=False))
    assert ("app.py", "subprocess_popen_with_shell_equals_true") in {
        (f.path, f.rule_name) for f in result.findings
    }


def test_scanner_identity_follows_the_scanner_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    info = site / "fakescan-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakescan\nVersion: 1.0\n")
    (info / "RECORD").write_text("fakescan.py,,\nfakescan-1.0.dist-info/METADATA,,\n")
    (site / "fakescan.py").write_text("RULES = 1\n")
    monkeypatch.syspath_prepend(str(site))
    code_identity.cache_clear()
    before = code_identity("fakescan")
    (site / "fakescan.py").write_text("RULES = 2\n")  # same version, patched file
    code_identity.cache_clear()
    assert code_identity("fakescan") != before


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "scan").rglob("*.json") if p.is_file())


@pytest.mark.parametrize(
    "damage",
    ["empty-list", "not-utf8", "directory", "wrong-shape", "bare-list-of-garbage"],
)
def test_damaged_code_cache_entry_is_discarded_warned_and_rescanned(
    tmp_path: Path, damage: str
) -> None:
    root = tmp_path / "proj"
    write(root, {"app.py": SHELL})
    conf = settings(root)
    scanner = BanditScanner(use_git=False)
    first = run_check("code", conf, scanner=scanner)
    assert first.findings
    (entry,) = _entries(conf.resolved_cache_dir())
    if damage == "empty-list":
        entry.write_text("[]")  # "no findings", forged
    elif damage == "not-utf8":
        entry.write_bytes(b"\xff\xfe\x00garbage")
    elif damage == "directory":
        entry.unlink()
        entry.mkdir()
    elif damage == "wrong-shape":
        entry.write_text(json.dumps({"key": "nope", "results": []}))
    else:
        entry.write_text(json.dumps([1, "x", None]))
    with pytest.warns(CacheCorruptWarning, match="discarding"):
        again = run_check("code", conf, scanner=scanner)
    assert again.status == "findings"
    assert again.cache_hits == 0  # rescanned
    assert {f.rule_id for f in again.findings} == {f.rule_id for f in first.findings}


def test_env_cache_entry_from_the_future_is_discarded(tmp_path: Path) -> None:
    cache = EnvResultCache(tmp_path, ttl=3600)
    installed = ["a==1", "b==2"]
    cache.put("k", {"dependencies": []}, binding=installed)
    assert cache.get("k", binding=installed) == {"dependencies": []}
    path = tmp_path / "scan" / "env" / "k.json"
    entry = json.loads(path.read_text())
    entry["stored_at"] = time.time() + 10 * 365 * 86400
    path.write_text(json.dumps(entry))
    with pytest.warns(CacheCorruptWarning, match="future-dated"):
        assert cache.get("k", binding=installed) is None
    assert not path.exists()


def test_env_cache_entry_for_another_installed_set_is_refused(tmp_path: Path) -> None:
    cache = EnvResultCache(tmp_path, ttl=3600)
    cache.put("k", {"dependencies": []}, binding=["a==1"])
    with pytest.warns(CacheCorruptWarning):
        assert cache.get("k", binding=["a==1", "b==2"]) is None


def test_env_cache_payload_cut_to_one_of_47_dependencies_is_refused(tmp_path: Path) -> None:
    installed = [f"pkg{i}==1.0" for i in range(47)]
    every = {"dependencies": [{"name": f"PKG{i}", "version": "1.0", "vulns": []} for i in range(47)]}
    cache = EnvResultCache(tmp_path, ttl=3600)
    cache.put("k", every, binding=installed)
    path = tmp_path / "scan" / "env" / "k.json"
    entry = json.loads(path.read_text())
    entry["payload"]["dependencies"] = entry["payload"]["dependencies"][:1]
    path.write_text(json.dumps(entry))
    with pytest.warns(CacheCorruptWarning):
        assert cache.get("k", binding=installed) is None


def test_audit_payload_naming_packages_not_installed_is_inconsistent() -> None:
    installed = ["pkg0==1.0", "pkg1==1.0"]
    assert consistent({"dependencies": [{"name": "PKG0", "version": "1.0"}]}, installed)
    assert not consistent({"dependencies": [{"name": "pkg0", "version": "9.9"}]}, installed)
    assert not consistent({"dependencies": [{"name": "other", "version": "1.0"}]}, installed)


def test_corrupt_warning_never_fails_a_strict_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    from pytest_kisys.cachedir import warn_cache_corrupt

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_cache_corrupt("pytest-kisys: discarding corrupt entry x")
    assert "CacheCorruptWarning: pytest-kisys: discarding corrupt entry x" in capsys.readouterr().err


def _kisys_scan(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_kisys", "scan", str(root), *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=root,
    )


def test_fifo_and_dev_zero_symlink_neither_hang_nor_exhaust_memory(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"app.py": SHELL})
    os.mkfifo(root / "evil.py")  # outside a git work tree: found by the directory walk
    (root / "zero.txt").symlink_to("/dev/zero")
    proc = _kisys_scan(root, "--scan", "code,secrets", "--json")  # old code: hung, timed out
    report = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    assert {f["rule_id"] for f in report["findings"]} >= {"B602"}
    assert report["inconclusive"] == []  # non-regular files are not project files


def test_file_over_the_size_cap_is_inconclusive_not_clean(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    with (root / "huge.txt").open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    result = _secrets(root)
    assert result.status == "inconclusive"  # type: ignore[attr-defined]
    [item] = result.inconclusive  # type: ignore[attr-defined]
    assert item.item == "huge.txt"
    assert "byte limit" in item.reason


@pytest.mark.parametrize(
    "table",
    [
        '[tool.bandit]\ntests = ["B999"]\n',
        '[tool.bandit]\ntests = ["B602", "B6O2"]\n',
        '[tool.bandit]\nexclude_dirs = ["/"]\n',
    ],
)
def test_bandit_configuration_typo_is_inconclusive(tmp_path: Path, table: str) -> None:
    root = tmp_path / "proj"
    write(root, {"app.py": SHELL, "pyproject.toml": table})
    result = run_check("code", settings(root), scanner=BanditScanner(use_git=False))
    assert result.status == "inconclusive"
    assert "tool.bandit" in " ".join(i.reason for i in result.inconclusive)
