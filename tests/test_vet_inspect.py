"""``kisys vet --inspect``: the wheel that would be installed is downloaded to a temporary
directory and inspected (nothing installed, nothing run); the findings join the decision."""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from tests.support.crafted import crafted_wheels
from tests.support.pkgindex import build_wheel
from tests.support.pkgindex import PackageIndex


DAY = 86400.0


def _vet(index: PackageIndex, tmp_path: Path, backend: str, *names: str) -> list[dict[str, object]]:
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest_kisys", "vet", *names, "--json", "--inspect",
            "--level", "autonomous", "--index-url", index.simple_url,
            "--cache-dir", str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "KISYS_BACKEND": backend},
        check=False,
        timeout=300,
    )  # fmt: skip
    assert proc.stdout.startswith("["), proc.stderr[-2000:]
    return list(json.loads(proc.stdout))


@pytest.mark.parametrize("backend", ["pip", "uv"])
@pytest.mark.usefixtures("isolated_pip")
def test_vet_inspects_the_wheel_it_would_install(
    backend: str, pkgindex: PackageIndex, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    old = pkgindex.now() - 400 * DAY
    pkgindex.add_empty_project("kisys-vet-clean")
    for version in ("1.0", "1.1", "2.0"):
        pkgindex.add_artifact(
            "kisys-vet-clean", version, build_wheel("kisys-vet-clean", version), upload_time=old
        )
    pth_name, pth_wheel = crafted_wheels(canary)["pth.exec"]
    pkgindex.add_empty_project(pth_name)
    for version in ("0.9", "0.9.1"):
        pkgindex.add_artifact(pth_name, version, build_wheel(pth_name, version), upload_time=old)
    pkgindex.add_artifact(pth_name, "1.0", pth_wheel, upload_time=old)
    rows = {row["name"]: row for row in _vet(pkgindex, tmp_path, backend, "kisys-vet-clean", pth_name)}
    clean = rows["kisys-vet-clean"]
    assert clean["action"] == "allow", clean
    assert clean["version"] == "2.0"
    assert clean["inspected"] == {"wheel": "kisys_vet_clean-2.0-py3-none-any.whl", "worst": None}
    evil = rows[pth_name]
    assert evil["action"] == "block"
    assert any("wheel inspection" in r and "evil-hook.pth:1" in r for r in evil["reasons"]), evil
    assert evil["evidence"]["inspection"][0]["rule"] == "pth.exec"  # type: ignore[index]
    # Nothing installed, nothing ran.
    assert not canary.exists()
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version(pth_name)


@pytest.mark.usefixtures("isolated_pip")
def test_vet_says_when_no_wheel_could_be_inspected(pkgindex: PackageIndex, tmp_path: Path) -> None:
    pkgindex.add_project("kisys-vet-sdist", ("1.0", "1.1", "1.2"), sdist_only=True)
    (row,) = _vet(pkgindex, tmp_path, "uv", "kisys-vet-sdist")
    assert row["action"] != "allow"
    assert row["inspected"]["wheel"] is None  # type: ignore[index]
    assert any("not inspected" in r for r in row["reasons"]), row  # type: ignore[attr-defined]
