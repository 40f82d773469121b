"""Projects on the loopback index and settings for the installer tests (built once per session).

Fixtures (published through the root ``conftest.py``): ``install_index`` (the session's
:class:`~tests.support.pkgindex.PackageIndex` with the projects below), ``sdist_marker`` (where
the sdist-only project's ``setup.py`` would write if it ever ran) and ``make_settings``
(``Settings`` against that index, with per-test cache, audit log and config root).
"""

from __future__ import annotations

from collections.abc import Callable
import io
from pathlib import Path
import zipfile

import pytest

from pytest_kisys.settings import IndexSettings
from pytest_kisys.settings import Settings
from tests.support.pkgindex import Artifact
from tests.support.pkgindex import build_wheel
from tests.support.pkgindex import PackageIndex
from tests.support.pkgindex import record_hash


ALPHA = "kisys-fixture-alpha"
BETA = "kisys-fixture-beta"
GAMMA = "kisys-fixture-gamma"
DELTA = "kisys-fixture-delta"
BROKEN = "kisys-fixture-0broken"
LOOKALIKE = "kisys-fixture-lookalike"
SDIST_ONLY = "kisys-fixture-sdistonly"
# Ships a .pth file: importable in the running process only if new .pth files are processed.
WITH_PTH = "kisys-fixture-withpth"
# Resolves fine, fails when uv installs it (unsupported Wheel-Version).
BROKEN_FOR_UV = "kisys-fixture-0badversion"
# Passes inspection and resolves, then fails when pip unpacks it (a file and a directory of
# the same name).
BROKEN_FOR_PIP = "kisys-fixture-0clash"
ALLOWED = (ALPHA, BETA, DELTA, BROKEN, BROKEN_FOR_UV, BROKEN_FOR_PIP, LOOKALIKE, SDIST_ONLY, WITH_PTH)
VERSIONS = ("1.0", "1.1", "1.2")


def _with_wheel_version(wheel: Artifact, version: str) -> Artifact:
    """The same wheel with another ``Wheel-Version`` in its WHEEL file."""
    source = zipfile.ZipFile(io.BytesIO(wheel.data))
    buffer = io.BytesIO()
    contents = {info.filename: source.read(info.filename) for info in source.infolist()}
    for name in contents:
        if name.endswith(".dist-info/WHEEL"):
            old = contents[name]
            contents[name] = old.replace(b"Wheel-Version: 1.0", f"Wheel-Version: {version}".encode())
            record = name.rsplit("/", 1)[0] + "/RECORD"
            # Keep RECORD true, so that only the installer (not the inspection) objects.
            contents[record] = contents[record].replace(
                f"{name},{record_hash(old)},{len(old)}".encode(),
                f"{name},{record_hash(contents[name])},{len(contents[name])}".encode(),
            )
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, contents[info.filename])
    return Artifact(wheel.filename, buffer.getvalue())


@pytest.fixture(scope="session")
def sdist_marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the sdist-only project's setup.py would write if anything ever ran it."""
    return tmp_path_factory.mktemp("sdist-marker") / "setup-py-ran"


@pytest.fixture(scope="session")
def install_index(pkgindex_server: PackageIndex, sdist_marker: Path) -> PackageIndex:
    """The session's projects, built once."""
    index = pkgindex_server
    index.add_project(ALPHA, VERSIONS, requires=[f"{BETA}>=1"])
    index.add_project(BETA, ("1.0", "2.0", "3.0"))
    index.add_project(GAMMA, VERSIONS)
    index.add_project(DELTA, VERSIONS, requires=[f"{BETA}<2"])
    index.add_project(LOOKALIKE, VERSIONS, modules={"something_else/__init__.py": ""})
    index.add_project(SDIST_ONLY, VERSIONS, sdist_only=True, setup_py=f"open({str(sdist_marker)!r}, 'w')")
    index.add_empty_project(BROKEN)
    for version in VERSIONS:
        wheel = build_wheel(
            BROKEN,
            version,
            modules={
                "kisys_fixture_0broken/__init__.py": "",
                "../../../../../escapes_the_venv.py": "",
            },
        )
        index.add_artifact(BROKEN, version, wheel, upload_time=index.now() - 400 * 86400)
    index.add_project(
        WITH_PTH,
        VERSIONS,
        modules={
            "kisys_fixture_withpth.pth": "kisys_pth_dir\n",
            "kisys_pth_dir/kisys_via_pth.py": "VALUE = 42\n",
        },
    )
    index.add_project(
        BROKEN_FOR_PIP,
        VERSIONS,
        modules={"kisys_fixture_0clash": "", "kisys_fixture_0clash/__init__.py": ""},
        upload_time=index.now() - 400 * 86400,
    )
    index.add_empty_project(BROKEN_FOR_UV)
    for version in VERSIONS:
        wheel = _with_wheel_version(build_wheel(BROKEN_FOR_UV, version), "9.0")
        index.add_artifact(BROKEN_FOR_UV, version, wheel, upload_time=index.now() - 400 * 86400)
    return index


@pytest.fixture
def make_settings(install_index: PackageIndex, tmp_path: Path) -> Callable[..., Settings]:
    """Settings against the loopback index with a per-test cache and config root."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "index": IndexSettings(url=install_index.simple_url),
            "allow": ALLOWED,
            "rootdir": tmp_path,
            "cache_dir": tmp_path / "cache",
            "backend": "pip",
            "log_file": tmp_path / "audit.jsonl",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make
