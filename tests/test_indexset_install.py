"""Dependency confusion end to end: two loopback indexes, real pip and uv, the installer.

A name served by both indexes is blocked with both named; pinned with ``index_for`` it is
installed from the pinned index, even when the other index has a higher version.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.settings import IndexSettings
from pytest_kisys.settings import Settings
from pytest_kisys.vet.indexset import pin_exclusions
from pytest_kisys.vet.interface import ProjectSignals
from tests.support.pkgindex import build_wheel
from tests.support.pkgindex import PackageIndex
from tests.support.venvs import Venv


NAME = "kisys-confused"
DAY = 86400.0


@pytest.fixture
def two_indexes(
    isolated_pip: dict[str, str],
    pkgindex: PackageIndex,
    second_index: PackageIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[PackageIndex, PackageIndex]:
    """``(public, private)``: kisys' index is the public one, pip's extra-index-url the private.

    The private index has NAME 1.0 and 1.1 (ours); the public one 1.0 with other bytes and
    99.0 (the attacker's).
    """
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", second_index.simple_url)
    old = pkgindex.now() - 400 * DAY
    for index, versions, marker in (
        (second_index, ("1.0", "1.1"), "ours"),
        (pkgindex, ("1.0", "99.0"), "theirs"),
    ):
        index.add_empty_project(NAME)
        for version in versions:
            wheel = build_wheel(
                NAME, version, modules={"kisys_confused/__init__.py": f"WHO = {marker!r}\n"}
            )
            index.add_artifact(NAME, version, wheel, upload_time=old)
    return pkgindex, second_index


def _settings(public: PackageIndex, tmp_path: Path, backend: str, **extra: object) -> Settings:
    return Settings(
        index=IndexSettings(url=public.simple_url, timeout=5.0),
        backend=backend,  # type: ignore[arg-type]
        level="autonomous",
        allow=(NAME,),
        rootdir=tmp_path,
        cache_dir=tmp_path / "cache",
        log_file=tmp_path / "audit.jsonl",
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("backend", ["pip", "uv"])
def test_a_name_on_two_indexes_is_blocked_and_installs_from_its_pin(
    backend: str, two_indexes: tuple[PackageIndex, PackageIndex], throwaway_venv: Venv, tmp_path: Path
) -> None:
    public, private = two_indexes
    before = throwaway_venv.freeze()
    installer = Installer(
        _settings(public, tmp_path, backend), python=throwaway_venv.python, consent=FixedConsent(True)
    )
    result = installer.install([InstallRequest(NAME, "test_a.py")])
    assert result.installed == ()
    (denied,) = result.denied
    assert "dependency confusion" in denied.reason
    assert public.simple_url in denied.reason
    assert private.simple_url in denied.reason
    assert throwaway_venv.freeze() == before

    pinned = _settings(public, tmp_path, backend, index_for={NAME: private.simple_url})
    fetched_before = len(public.requests)
    result = Installer(pinned, python=throwaway_venv.python, consent=FixedConsent(True)).install(
        [InstallRequest(NAME, "test_a.py")]
    )
    assert result.error is None, result.error
    assert [(i.name, i.version) for i in result.installed] == [(NAME, "1.1")], result
    # The private file: its bytes say so.
    who = throwaway_venv.site_packages / "kisys_confused" / "__init__.py"
    assert who.read_text(encoding="utf-8") == "WHO = 'ours'\n"
    # No file of the public index was downloaded for the pinned name.
    assert not [p for _, p in public.requests[fetched_before:] if p.startswith("/files/")]


def _signals(url: str, files: dict[str, str]) -> ProjectSignals:
    versions = tuple(sorted({f.split("-")[1] for f in files}))
    return ProjectSignals(NAME, url, checked=True, exists=True, versions=versions, file_hashes=files)


def test_pin_exclusions_keep_only_what_the_pinned_index_serves_identically() -> None:
    ours = _signals("https://private/simple", {"p-1.0-py3-none-any.whl": "a", "p-1.1-py3-none-any.whl": "b"})
    mirror = _signals("https://mirror/simple", {"p-1.0-py3-none-any.whl": "a"})
    theirs = _signals(
        "https://public/simple", {"p-1.1-py3-none-any.whl": "evil", "p-99.0-py3-none-any.whl": "c"}
    )
    found = {s.index_url: s for s in (ours, mirror, theirs)}
    assert pin_exclusions("https://private/simple", found) == {"1.1", "99.0"}
    assert pin_exclusions("https://private/simple", {"https://private/simple": ours}) == frozenset()
    # A version seen elsewhere without hashes cannot be proven identical: excluded.
    bare = ProjectSignals(NAME, "https://bare/simple", checked=True, exists=True, versions=("1.0",))
    assert pin_exclusions("https://private/simple", {**found, "https://bare/simple": bare}) == {
        "1.0", "1.1", "99.0"
    }  # fmt: skip
