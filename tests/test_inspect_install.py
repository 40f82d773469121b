"""What is inspected is what is installed (real pip and uv against the loopback index): pip
installs the inspected, hash-checked copy of each wheel and downloads nothing again; uv
installs the same bytes by their hash from the index (its warm cache) and refuses any other
bytes the index serves by then."""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from pathlib import Path

import pytest

from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import ConsentAnswer
from pytest_kisys.install.interface import ConsentRequest
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.pip_backend import pinned_requirements
from pytest_kisys.settings import IndexSettings
from pytest_kisys.settings import Settings
from tests.support.pkgindex import build_wheel
from tests.support.pkgindex import PackageIndex
from tests.support.venvs import Venv


NAME = "kisys-inspected-once"


class CutTheIndexThenYes:
    """Answers yes, after making every file of NAME vanish from the index.

    Consent is asked after inspection and before the install: from then on a backend that
    downloaded the wheel again would get a 404.
    """

    def __init__(self, index: PackageIndex) -> None:
        self.index = index
        self.asked = 0
        self.cut_at = 0

    def ask(self, request: ConsentRequest) -> ConsentAnswer:
        """Break the file URLs, then say yes."""
        self.asked += 1
        self.cut_at = len(self.index.requests)
        for _method, path in list(self.index.requests):
            if path.startswith("/files/") and "kisys_inspected_once" in path:
                self.index.set_fault("not_found", path=path)
        self.index.set_fault("not_found", project=NAME)
        return ConsentAnswer("yes", "test", answered_by="fixed")


@pytest.mark.parametrize("backend", ["pip", "uv"])
@pytest.mark.usefixtures("isolated_pip")
def test_the_inspected_file_is_installed_and_not_downloaded_again(
    backend: str, pkgindex: PackageIndex, throwaway_venv: Venv, make_settings: Callable[..., Settings]
) -> None:
    wheel = build_wheel(NAME, "1.0", modules={"kisys_inspected_once/__init__.py": "VALUE = 1\n"})
    pkgindex.add_empty_project(NAME)
    pkgindex.add_artifact(NAME, "1.0", wheel, upload_time=pkgindex.now() - 400 * 86400)
    # balanced and not allowed: a person is asked, between inspection and install.
    index = IndexSettings(url=pkgindex.simple_url)
    settings = make_settings(backend=backend, level="balanced", allow=(), index=index)
    consent = CutTheIndexThenYes(pkgindex)
    result = Installer(settings, python=throwaway_venv.python, consent=consent).install(
        [InstallRequest(NAME, "test_a.py")]
    )
    assert consent.asked == 1
    assert result.error is None, result.error
    # Nothing was asked of the index after inspection.
    assert [path for _, path in pkgindex.requests[consent.cut_at :] if "inspected" in path] == []
    assert [(i.name, i.version, i.sha256) for i in result.installed] == [(NAME, "1.0", wheel.sha256)]
    assert (throwaway_venv.site_packages / "kisys_inspected_once" / "__init__.py").exists()
    # A plain name==version install: no direct-URL record pointing at a temporary file.
    (info,) = throwaway_venv.site_packages.glob("kisys_inspected_once-1.0.dist-info")
    assert not (info / "direct_url.json").exists()


SWAPPED = "kisys-swapped-later"
CLEAN = "kisys-swapped-neighbour"


def _swap_index(pkgindex: PackageIndex) -> tuple[str, str]:
    """CLEAN and SWAPPED on the index (three releases each); SWAPPED's newest wheel changes
    once kisys has fetched it. Returns (the original's sha256, its file name)."""
    versions = ("1.0", "1.1", "1.2")
    for name in (CLEAN, SWAPPED):
        modules = {f"{name.replace('-', '_')}/__init__.py": "VALUE = 'vetted'\n"}
        pkgindex.add_project(name, versions, modules=modules)
    wheel = build_wheel(SWAPPED, "1.2", modules={"kisys_swapped_later/__init__.py": "VALUE = 'vetted'\n"})
    evil = build_wheel(SWAPPED, "1.2", modules={"kisys_swapped_later/__init__.py": "VALUE = 'evil'\n"})
    pkgindex.swap_after_fetch(wheel.filename, evil.data)
    return wheel.sha256, wheel.filename


@pytest.mark.parametrize("backend", ["pip", "uv"])
def test_bytes_swapped_on_the_index_after_inspection_are_never_installed(
    backend: str,
    pkgindex: PackageIndex,
    throwaway_venv: Venv,
    make_settings: Callable[..., Settings],
    isolated_pip: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both backends install the inspected copy, never the bytes the index serves later."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))  # no copy of the original
    sha256, filename = _swap_index(pkgindex)
    index = IndexSettings(url=pkgindex.simple_url)
    settings = make_settings(backend=backend, level="balanced", allow=(CLEAN, SWAPPED), index=index)
    result = Installer(settings, python=throwaway_venv.python).install(
        [InstallRequest(CLEAN, "test_a.py"), InstallRequest(SWAPPED, "test_b.py")]
    )
    inspected = [p for m, p in pkgindex.requests if m == "GET" and p == f"/files/{filename}"]
    assert inspected, "kisys never fetched the wheel"
    module = throwaway_venv.site_packages / "kisys_swapped_later" / "__init__.py"
    assert result.error is None, result.error
    assert result.denied == (), result.denied
    assert module.read_text() == "VALUE = 'vetted'\n"
    assert [i.sha256 for i in result.installed if i.name == SWAPPED] == [sha256]


@pytest.mark.usefixtures("isolated_pip")
def test_uv_installs_the_inspected_copy_as_a_plain_name_version_install(
    pkgindex: PackageIndex, throwaway_venv: Venv, make_settings: Callable[..., Settings]
) -> None:
    """Without a swap, the uv install is the plain ``name==version`` one of the vetted file."""
    modules = {"kisys_swapped_later/__init__.py": "VALUE = 'vetted'\n"}
    pkgindex.add_project(SWAPPED, ("1.0", "1.1", "1.2"), modules=modules)
    wheel = build_wheel(SWAPPED, "1.2", modules=modules)
    index = IndexSettings(url=pkgindex.simple_url)
    settings = make_settings(backend="uv", level="balanced", allow=(SWAPPED,), index=index)
    result = Installer(settings, python=throwaway_venv.python).install([InstallRequest(SWAPPED, "test_a.py")])
    assert result.error is None, result.error
    assert [(i.name, i.version, i.sha256) for i in result.installed] == [(SWAPPED, "1.2", wheel.sha256)]
    assert (throwaway_venv.site_packages / "kisys_swapped_later" / "__init__.py").read_text() == modules[
        "kisys_swapped_later/__init__.py"
    ]
    (info,) = throwaway_venv.site_packages.glob("kisys_swapped_later-1.2.dist-info")
    assert not (info / "direct_url.json").exists()


TWO_WHEELS = "kisys-two-wheels"


@pytest.mark.parametrize("backend", ["pip", "uv"])
@pytest.mark.usefixtures("isolated_pip")
def test_a_release_with_several_wheels_installs_the_one_inspected(
    backend: str,
    pkgindex: PackageIndex,
    throwaway_venv: Venv,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A version with a generic and a more specific wheel: whichever file kisys inspected is
    the one installed. (The failure this guards against was seen on requests' suite: uv,
    installing by hash from the index, took another cryptography wheel of the planned version
    and failed the batch on the hash. Two pure wheels do not reproduce uv's choice;
    ``scripts/real_suites.py`` does.)"""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    module = "kisys_two_wheels/__init__.py"
    pkgindex.add_project(TWO_WHEELS, ("1.0", "1.1", "1.2"), modules={module: "VALUE = 'generic'\n"})
    specific = build_wheel(TWO_WHEELS, "1.2", modules={module: "VALUE = 'specific'\n"})
    specific = dataclasses.replace(specific, filename=specific.filename.replace("-py3-", "-py311-"))
    pkgindex.add_artifact(TWO_WHEELS, "1.2", specific)
    index = IndexSettings(url=pkgindex.simple_url)
    settings = make_settings(backend=backend, level="balanced", allow=(TWO_WHEELS,), index=index)
    installer = Installer(settings, python=throwaway_venv.python)
    result = installer.install([InstallRequest(TWO_WHEELS, "test_a.py")])
    assert result.error is None, result.error
    (item,) = result.installed
    generic = build_wheel(TWO_WHEELS, "1.2", modules={module: "VALUE = 'generic'\n"})  # same bytes
    inspected = {specific.sha256: specific, generic.sha256: generic}[item.sha256]
    expected = "specific" if inspected is specific else "generic"
    assert (throwaway_venv.site_packages / module).read_text() == f"VALUE = '{expected}'\n"


def test_pinned_requirements_point_at_the_inspected_copies(tmp_path: Path) -> None:
    item = PlannedItem("a", "1.0", "https://idx/files/a-1.0-py3-none-any.whl", "ab" * 32, True)
    assert pinned_requirements([item]) == f"a==1.0 --hash=sha256:{'ab' * 32}\n"
    local = tmp_path / "a-1.0-py3-none-any.whl"
    inspected = PlannedItem(item.name, item.version, item.url, item.sha256, True, wheel_file=str(local))
    text = pinned_requirements([inspected])
    pin = f"a==1.0 --hash=sha256:{'ab' * 32}"
    assert text.splitlines() == ["--no-index", f"--find-links {tmp_path}", pin]
    # One item without its copy: the index is used for all (never half and half).
    assert "--no-index" not in pinned_requirements([inspected, item])
