"""Release vetting on the loopback index with real pip and uv: the release-age cooldown,
exemptions, and crafted wheels stopped by inspection before anything is installed."""

from __future__ import annotations

from collections.abc import Callable
import datetime as dt
import json
from pathlib import Path
import subprocess

import pytest

from pytest_kisys.install import pipcmd
from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.settings import Settings
from pytest_kisys.vet.release_age import ReleaseAgeExemption
from tests.support.crafted import crafted_wheels
from tests.support.crafted import VICTIM
from tests.support.pkgindex import build_wheel
from tests.support.pkgindex import PackageIndex
from tests.support.venvs import Venv


FRESH = "kisys-rel-fresh"
PARENT = "kisys-rel-parent"
ALL_FRESH = "kisys-rel-allfresh"
DAY = 86400.0


@pytest.fixture
def releases(pkgindex: PackageIndex) -> PackageIndex:
    """FRESH 1.0 (a year old) and 1.1 (an hour old); PARENT needs FRESH; ALL_FRESH is new."""
    now = pkgindex.now()
    for name, versions, requires in (
        (
            FRESH,
            (
                ("0.8", now - 500 * DAY),
                ("0.9", now - 450 * DAY),
                ("1.0", now - 400 * DAY),
                ("1.1", now - 3600),
            ),
            (),
        ),
        (PARENT, (("0.8", now - 500 * DAY), ("0.9", now - 450 * DAY), ("1.0", now - 400 * DAY)), (FRESH,)),
        (ALL_FRESH, (("1.0", now - 3600),), ()),
    ):
        pkgindex.add_empty_project(name)
        for version, when in versions:
            pkgindex.add_artifact(
                name, version, build_wheel(name, version, requires=requires), upload_time=when
            )
    return pkgindex


def _settings(make_settings: Callable[..., Settings], backend: str, **extra: object) -> Settings:
    return make_settings(backend=backend, level="autonomous", allow=(FRESH, PARENT, ALL_FRESH), **extra)


@pytest.mark.parametrize("backend", ["uv", "pip-native", "pip-fallback"])
@pytest.mark.usefixtures("isolated_pip", "releases")
def test_fresh_release_is_held_back_transitively_too(
    backend: str,
    throwaway_venv: Venv,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pip 26.3 runs in the test venvs: "native" passes --uploaded-prior-to, "fallback" builds
    # the same cut from the index's upload times (what an older pip gets).
    monkeypatch.setattr(pipcmd, "supports_uploaded_prior_to", lambda *_: backend == "pip-native")
    settings = _settings(make_settings, backend.split("-")[0])
    result = Installer(settings, python=throwaway_venv.python, consent=FixedConsent(False)).install(
        [InstallRequest(PARENT, "test_a.py")]
    )
    assert result.error is None, result.error
    assert {(i.name, i.version) for i in result.installed} == {(PARENT, "1.0"), (FRESH, "1.0")}, result
    (note,) = [n for n in result.notes if n.startswith("held back")]
    assert note.startswith(f"held back {FRESH} 1.1, uploaded 1 h ago; installed 1.0")
    audit = [json.loads(line) for line in Path(settings.log_file or "").read_text().splitlines()]
    decision = next(r for r in audit if r.get("name") == FRESH and "evidence" in r)
    (held,) = decision["evidence"]["release_age"]["held_back"]
    assert (held["version"], held["installed"]) == ("1.1", "1.0")
    assert any(note in r.get("notes", ()) for r in audit if r.get("event") == "install")


@pytest.mark.parametrize("backend", ["uv", "pip"])
@pytest.mark.usefixtures("isolated_pip", "releases")
def test_exemption_is_honoured_and_ignored_once_expired(
    backend: str, throwaway_venv: Venv, make_settings: Callable[..., Settings]
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    other = throwaway_venv.copy_to(throwaway_venv.root.parent / "second")
    live = ReleaseAgeExemption(FRESH, "needs the fix in 1.1", today + dt.timedelta(days=3))
    settings = _settings(make_settings, backend, release_age_exempt=(live,))
    result = Installer(settings, python=throwaway_venv.python, consent=FixedConsent(False)).install(
        [InstallRequest(FRESH, "test_a.py")]
    )
    assert [(i.name, i.version) for i in result.installed] == [(FRESH, "1.1")], result
    expired = ReleaseAgeExemption(FRESH, "needed the fix in 1.1", today - dt.timedelta(days=1))
    settings = _settings(make_settings, backend, release_age_exempt=(expired,))
    result = Installer(settings, python=other.python, consent=FixedConsent(False)).install(
        [InstallRequest(FRESH, "test_a.py")]
    )
    assert [(i.name, i.version) for i in result.installed] == [(FRESH, "1.0")]


@pytest.mark.parametrize("backend", ["uv", "pip"])
@pytest.mark.usefixtures("isolated_pip", "releases")
def test_nothing_old_enough_is_denied_with_the_exemption_and_the_flag(
    backend: str, throwaway_venv: Venv, make_settings: Callable[..., Settings]
) -> None:
    before = throwaway_venv.freeze()
    result = Installer(
        _settings(make_settings, backend), python=throwaway_venv.python, consent=FixedConsent(False)
    ).install([InstallRequest(ALL_FRESH, "test_a.py")])
    assert len(result.denied) == 1, result
    (denied,) = result.denied
    assert denied.name == ALL_FRESH
    assert "nothing old enough" in denied.reason
    assert "release_age_exempt" in denied.hint
    assert "--kisys-min-release-age" in denied.hint
    assert throwaway_venv.freeze() == before
    # Turned off (0), the same request installs (a person confirms the very new project).
    off = _settings(make_settings, backend, min_release_age=0.0)
    result = Installer(off, python=throwaway_venv.python, consent=FixedConsent(True)).install(
        [InstallRequest(ALL_FRESH, "test_a.py")]
    )
    assert [(i.name, i.version) for i in result.installed] == [(ALL_FRESH, "1.0")]


@pytest.mark.parametrize("backend", ["uv", "pip"])
@pytest.mark.usefixtures("isolated_pip")
def test_crafted_wheels_are_blocked_before_install_and_nothing_runs(
    backend: str,
    throwaway_venv: Venv,
    make_settings: Callable[..., Settings],
    pkgindex: PackageIndex,
    tmp_path: Path,
) -> None:
    canary = tmp_path / "canary"
    old = pkgindex.now() - 400 * DAY
    pkgindex.add_empty_project(VICTIM)
    pkgindex.add_artifact(VICTIM, "1.0", build_wheel(VICTIM, "1.0"), upload_time=old)
    wheels = crafted_wheels(canary)
    for name, wheel in wheels.values():
        pkgindex.add_empty_project(name)
        pkgindex.add_artifact(name, "1.0", wheel, upload_time=old)
    names = [name for name, _ in wheels.values()]
    # Allowed and at the autonomous level: inspection blocks whatever the list or level says.
    settings = make_settings(backend=backend, level="autonomous", allow=(VICTIM, *names))
    victim = Installer(settings, python=throwaway_venv.python, consent=FixedConsent(True))
    assert [i.name for i in victim.install([InstallRequest(VICTIM, "setup")]).installed] == [VICTIM]
    before = throwaway_venv.freeze()
    installer = Installer(settings, python=throwaway_venv.python, consent=FixedConsent(True))
    result = installer.install([InstallRequest(name, f"test_{i}.py") for i, name in enumerate(names)])
    assert result.installed == ()
    denied = {d.name: d.reason for d in result.denied}
    for rule, (name, _wheel) in wheels.items():
        assert rule in denied[name], (rule, denied[name])
        assert "wheel inspection" in denied[name]
    assert "kisys_victim/__init__.py" in denied["kisys-evil-clobber"]
    assert "evil-hook.pth:1" in denied["kisys-evil-pth"]
    assert "evil_init/__init__.py:2" in denied["kisys-evil-init"]
    assert "evil_native/helper" in denied["kisys-evil-native"]
    assert "evil_record/__init__.py" in denied["kisys-evil-record"]
    assert "entry_points.txt" in denied["kisys-evil-shadow"]
    assert "kisys_escaped.py" in denied["kisys-evil-traversal"]
    assert throwaway_venv.freeze() == before
    # A later interpreter start would run any installed .pth, and importing runs __init__.
    subprocess.run([throwaway_venv.python, "-c", "import kisys_victim"], check=True)
    assert not canary.exists()
    assert not (throwaway_venv.root.parent / "kisys_escaped.py").exists()
