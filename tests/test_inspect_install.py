"""What is inspected is what is installed: the backends install the inspected, hash-checked
copy of each wheel and download nothing again (real pip and uv against the loopback index)."""

from __future__ import annotations

from collections.abc import Callable
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

    def ask(self, request: ConsentRequest) -> ConsentAnswer:
        """Break the file URLs, then say yes."""
        self.asked += 1
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
    assert [(i.name, i.version, i.sha256) for i in result.installed] == [(NAME, "1.0", wheel.sha256)]
    assert (throwaway_venv.site_packages / "kisys_inspected_once" / "__init__.py").exists()
    # A plain name==version install: no direct-URL record pointing at a temporary file.
    (info,) = throwaway_venv.site_packages.glob("kisys_inspected_once-1.0.dist-info")
    assert not (info / "direct_url.json").exists()


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
