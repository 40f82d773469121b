"""The loopback package index fixture: simple pages, JSON API, files, faults, and real pip."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
import subprocess
import sys
import time
import zipfile

import httpx
import pytest

from tests.support.pkgindex import build_sdist
from tests.support.pkgindex import build_wheel
from tests.support.pkgindex import isolated_pip_env
from tests.support.pkgindex import PackageIndex
from tests.support.pkgindex import SIMPLE_JSON


def test_wheel_is_valid_and_deterministic() -> None:
    wheel = build_wheel("My.Pkg", "2.0", requires=["attrs>=20"], summary="demo")
    assert wheel.filename == "my_pkg-2.0-py3-none-any.whl"
    assert wheel == build_wheel("My.Pkg", "2.0", requires=["attrs>=20"], summary="demo")
    with zipfile.ZipFile(io.BytesIO(wheel.data)) as archive:
        names = archive.namelist()
        metadata = archive.read("my_pkg-2.0.dist-info/METADATA").decode()
        record = archive.read("my_pkg-2.0.dist-info/RECORD").decode()
    assert "my_pkg/__init__.py" in names
    assert "Requires-Dist: attrs>=20" in metadata
    assert "Name: My.Pkg" in metadata
    assert all(name in record for name in names)


def test_sdist_contains_chosen_setup_py() -> None:
    import tarfile

    sdist = build_sdist("shady", "0.1", setup_py="print('hello from setup')")
    with tarfile.open(fileobj=io.BytesIO(sdist.data)) as archive:
        setup = archive.extractfile("shady-0.1/setup.py")
        assert setup is not None
        assert "hello from setup" in setup.read().decode()
    assert sdist.packagetype == "sdist"


def test_simple_json_html_and_pypi_json(pkgindex: PackageIndex) -> None:
    pkgindex.add_project("Demo_Pkg", versions=("1.0", "1.1"), yanked=["1.0"], summary="s")
    with httpx.Client(base_url=pkgindex.url) as client:
        page = client.get("/simple/demo-pkg/", headers={"Accept": SIMPLE_JSON})
        assert page.headers["content-type"] == SIMPLE_JSON
        body = page.json()
        assert body["versions"] == ["1.0", "1.1"]
        yanked = {f["filename"]: f["yanked"] for f in body["files"]}
        assert yanked == {
            "demo_pkg-1.0-py3-none-any.whl": True,
            "demo_pkg-1.1-py3-none-any.whl": False,
        }
        html_page = client.get("/simple/demo-pkg/", headers={"Accept": "text/html"})
        assert "#sha256=" in html_page.text
        assert "data-yanked" in html_page.text
        api = client.get("/pypi/demo-pkg/json").json()
        assert api["info"]["version"] == "1.1"
        release = api["releases"]["1.1"][0]
        assert release["packagetype"] == "bdist_wheel"
        assert release["upload_time_iso_8601"].endswith("Z")
        data = client.get(release["url"]).content
        assert hashlib.sha256(data).hexdigest() == release["digests"]["sha256"]
        assert client.get("/simple/nope/").status_code == 404
        assert client.get("/pypi/nope/json").status_code == 404


def test_projects_are_removed_after_the_test(pkgindex_server: PackageIndex) -> None:
    names = pkgindex_server._names()
    assert "demo-pkg" not in names


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("http_500", lambda r: r.status_code == 500),
        ("invalid_json", lambda r: r.status_code == 200 and not r.text.endswith("}")),
        ("redirect", lambda r: r.status_code == 302 and "127.0.0.2" in r.headers["location"]),
        ("not_found", lambda r: r.status_code == 404),
    ],
)
def test_faults_per_project(pkgindex: PackageIndex, fault, check) -> None:
    pkgindex.add_project("faulty")
    pkgindex.set_fault(fault, project="faulty")
    with httpx.Client(base_url=pkgindex.url) as client:
        assert check(client.get("/pypi/faulty/json"))
        assert check(client.get("/simple/faulty/"))


def test_delay_and_endless_by_path(pkgindex: PackageIndex) -> None:
    pkgindex.add_project("slow")
    pkgindex.set_fault("delay", path="/pypi/slow/json", seconds=2)
    pkgindex.set_fault("endless", path="/simple/slow/", seconds=5)
    with httpx.Client(base_url=pkgindex.url, timeout=0.3) as client:
        start = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get("/pypi/slow/json")
        with client.stream("GET", "/simple/slow/") as response:
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > 1_000_000:
                    break
        assert received > 1_000_000
        assert time.monotonic() - start < 2


def test_real_pip_installs_from_the_index(pkgindex: PackageIndex, tmp_path: Path) -> None:
    pkgindex.add_project("kisys-dep", modules={"kisys_dep.py": "X = 1\n"})
    pkgindex.add_project("kisys-top", versions=("1.0", "2.0"), requires=["kisys-dep"])
    target = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--index-url",
            pkgindex.simple_url,
            "--target",
            str(target),
            "--only-binary",
            ":all:",
            "kisys-top",
        ],
        env=isolated_pip_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (target / "kisys_top" / "__init__.py").read_text() == "VERSION = '2.0'\n"
    assert (target / "kisys_dep.py").exists()
    served = [path for _, path in pkgindex.requests]
    assert "/simple/kisys-top/" in served
    assert "/simple/kisys-dep/" in served


def test_real_uv_installs_from_the_index(pkgindex: PackageIndex, tmp_path: Path) -> None:
    import shutil

    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(uv).exists():
        pytest.skip("uv is not installed")
    pkgindex.add_project("kisys-uv-dep", modules={"kisys_uv_dep.py": "X = 1\n"})
    pkgindex.add_project("kisys-uv-top", requires=["kisys-uv-dep"])
    target = tmp_path / "site"
    result = subprocess.run(
        [uv, "pip", "install", "--index-url", pkgindex.simple_url, "--target", str(target),
         "--python", sys.executable, "--no-cache", "kisys-uv-top"],
        env=isolated_pip_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (target / "kisys_uv_dep.py").exists()
    assert (target / "kisys_uv_top" / "__init__.py").exists()
