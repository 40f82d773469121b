"""``kisys vet`` and ``kisys db`` through the real console-script entry point."""

from __future__ import annotations

import io
import json
from pathlib import Path
import zipfile

import pytest

from pytest_kisys.cli import main
from pytest_kisys.vet.data import known_malicious
from tests.support.pkgindex import PackageIndex


@pytest.fixture
def kisys(pkgindex: PackageIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run ``kisys`` against the loopback index; returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(
            [
                *argv,
                "--index-url",
                pkgindex.simple_url,
                "--cache-dir",
                str(tmp_path / "cache"),
                "--timeout",
                "2",
            ]
        )
        out, err = capsys.readouterr()
        return code, out, err

    return run


def mature(index: PackageIndex, *names: str) -> None:
    for name in names:
        index.add_project(name, versions=("1.0", "1.1", "1.2"))


def test_exit_codes(pkgindex: PackageIndex, kisys) -> None:
    mature(pkgindex, "numpy", "kisys-clean")
    assert kisys("vet", "numpy")[0] == 0
    code, out, _ = kisys("vet", "numpy", "kisys-clean")
    assert code == 1
    assert out.splitlines() == [
        "numpy: allow (whitelisted; index data from cache)",
        "kisys-clean: confirm (not whitelisted; the balanced level asks first)",
    ]
    assert kisys("vet", "numpy", "kisys-clean", "--level", "autonomous")[0] == 0
    assert kisys("vet", "numpy", "kisys-missing")[0] == 2


def test_invalid_input_is_reported_and_the_rest_vetted(pkgindex: PackageIndex, kisys) -> None:
    mature(pkgindex, "numpy")
    code, out, _ = kisys("vet", "--json", "numpy", "git+https://evil.example/x", "numpyy")
    rows = json.loads(out)
    assert code == 2
    assert [(r["input"], r["action"]) for r in rows] == [
        ("numpy", "allow"),
        ("git+https://evil.example/x", "block"),
        ("numpyy", "block"),
    ]
    assert "VCS reference" in rows[1]["reasons"][0]
    assert rows[2]["evidence"]["typosquat_of"] == "numpy"
    assert {"name", "action", "reasons", "evidence"} <= set(rows[0])


def test_import_mode_shows_distribution(pkgindex: PackageIndex, kisys) -> None:
    mature(pkgindex, "opencv-python", "pyyaml")
    code, out, _ = kisys("vet", "--import", "--json", "cv2", "yaml", "os", "kisys_unmapped")
    rows = {r["input"]: r for r in json.loads(out)}
    assert code == 1
    assert (rows["cv2"]["import"], rows["cv2"]["distribution"]) == ("cv2", "opencv-python")
    assert rows["yaml"]["distribution"] == "pyyaml"
    assert rows["os"]["action"] == "allow"
    assert rows["kisys_unmapped"]["action"] == "confirm"
    assert rows["kisys_unmapped"]["distribution"] is None
    assert not any("kisys_unmapped" in path or "kisys-unmapped" in path for _, path in pkgindex.requests)
    code, out, _ = kisys("vet", "--import", "cv2", "--allow", "opencv-python")
    assert (code, out.strip()) == (0, "cv2 -> opencv-python: allow (whitelisted; index data from cache)")


def test_offline_cli_blocks_what_it_cannot_vet(kisys) -> None:
    code, out, _ = kisys("vet", "--offline", "kisys-never-seen", "numpy")
    assert code == 2
    assert "kisys-never-seen: block (kisys-never-seen cannot be vetted offline" in out
    assert "numpy: allow (whitelisted; index not checked (offline))" in out


def osv_zip(records: list[dict]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    return buffer.getvalue()


def record(osv_id: str, name: str, ecosystem: str = "PyPI") -> dict:
    return {"id": osv_id, "affected": [{"package": {"ecosystem": ecosystem, "name": name}}]}


def test_db_update_from_loopback_osv_source(pkgindex: PackageIndex, kisys, tmp_path: Path) -> None:
    mature(pkgindex, "kisys-turned-bad")
    assert kisys("vet", "kisys-turned-bad", "--level", "autonomous")[0] == 0
    url = pkgindex.add_route(
        "/osv/all.zip",
        osv_zip(
            [
                record("MAL-2025-1", "Kisys_Turned_Bad"),
                record("MAL-2025-2", "kisys-npm-thing", ecosystem="npm"),
                record("PYSEC-2024-1", "kisys-just-vulnerable"),
            ]
        ),
        "application/zip",
    )
    code, out, _ = kisys("db", "update", "--from", url)
    assert code == 0
    assert "1 malicious PyPI names" in out
    names = known_malicious(tmp_path / "cache")
    assert "kisys-turned-bad" in names
    assert "kisys-npm-thing" not in names
    assert "kisys-just-vulnerable" not in names
    code, out, _ = kisys("vet", "kisys-turned-bad", "--level", "autonomous")
    assert code == 2
    assert "known-malicious list" in out
    json_url = pkgindex.add_route(
        "/osv/batch.json", json.dumps({"vulns": [record("MAL-2025-3", "kisys-other")]}).encode()
    )
    assert kisys("db", "update", "--from", json_url)[0] == 0
    status = kisys("db", "status")[1]
    assert "source: " + json_url in status


def test_db_update_failures_keep_the_list(pkgindex: PackageIndex, kisys) -> None:
    bad = pkgindex.add_route("/osv/bad.json", b"<html>nope</html>")
    code, _, err = kisys("db", "update", "--from", bad)
    assert code == 2
    assert "not an OSV zip or JSON source" in err
    assert kisys("db", "update", "--from", bad, "--offline")[0] == 2
    assert kisys("db", "update")[0] == 2


def test_vet_honours_tool_kisys_and_kisys_env(
    pkgindex: PackageIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``kisys vet`` resolves settings like the plugin: [tool.kisys] allow/index/level, KISYS_*."""
    mature(pkgindex, "numpy", "kisys-house-allowed", "kisys-house-other")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[tool.kisys]\n"
        'level = "paranoid"\n'
        'allow = ["kisys-house-allowed"]\n'
        f'index = {{url = "{pkgindex.simple_url}", timeout = 2}}\n'
    )
    for name in ("KISYS_LEVEL", "KISYS_ALLOW", "KISYS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)

    def vet(*names: str) -> tuple[int, list[str]]:
        # No --index-url: the loopback index comes from [tool.kisys] index, or nothing is found.
        argv = ["vet", *names, "--rootdir", str(project), "--cache-dir", str(tmp_path / "cache")]
        code = main(argv)
        return code, capsys.readouterr().out.splitlines()

    code, lines = vet("kisys-house-allowed")
    assert code == 1
    assert lines == ["kisys-house-allowed: confirm (whitelisted, but the paranoid level confirms everything)"]
    monkeypatch.setenv("KISYS_LEVEL", "balanced")
    code, lines = vet("kisys-house-allowed", "kisys-house-other")
    assert code == 1
    assert lines[0].startswith("kisys-house-allowed: allow (whitelisted")
    assert lines[1] == "kisys-house-other: confirm (not whitelisted; the balanced level asks first)"
    monkeypatch.setenv("KISYS_ALLOW", "kisys-house-other")
    code, lines = vet("kisys-house-other")
    assert (code, lines[0].split(" (")[0]) == (0, "kisys-house-other: allow")
    # The command line still wins over the environment and the file.
    code, lines = vet("kisys-house-other", "--level", "paranoid")
    assert code == 1
    (project / "pyproject.toml").write_text('[tool.kisys]\nlevel = "reckless"\n')
    with pytest.raises(SystemExit) as exc:
        vet("numpy")
    assert exc.value.code == 2
    assert "reckless" in capsys.readouterr().err
