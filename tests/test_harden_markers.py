"""Issue 15 item 24: malformed ``requires`` markers are collection errors naming the mistake, and
hints never offer to allow a name that is already allowed or declared."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_kisys.install.consent import TerminalConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.settings import Settings
from tests.support.installindex import ALLOWED
from tests.support.installindex import GAMMA
from tests.support.venvs import Venv


pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("requires(42)", "*requires(42): each argument must be a requirement string*"),
        ("requires(None)", "*requires(None): each argument must be a requirement string*"),
        ('requires(name="numpy")', "*requires(name=...): keyword arguments are not accepted*"),
    ],
)
def test_malformed_requires_marker_is_a_clear_collection_error(
    pytester: pytest.Pytester, marker: str, expected: str
) -> None:
    pytester.makepyfile(test_m=f"import pytest\n\n\n@pytest.mark.{marker}\ndef test_m():\n    pass\n")
    result = pytester.runpytest_subprocess("--kisys", "--kisys-scan", "none", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the run
    result.stdout.fnmatch_lines([expected])
    assert "--kisys-allow 42" not in result.stdout.str()
    assert "--kisys-allow None" not in result.stdout.str()


@pytest.mark.parametrize("where", ["class", "module"])
def test_malformed_requires_marker_on_a_parent_fails_each_test_under_it(
    pytester: pytest.Pytester, where: str
) -> None:
    # Markers are looked up only for tests under a collector that carries one (parents are
    # looked at once each): a parent's marker must still reach every test below it.
    body = "def test_clean():\n    pass\n\n\n"
    if where == "class":
        body += "@pytest.mark.requires(42)\nclass TestC:\n    def test_a(self):\n        pass\n"
    else:
        body += "pytestmark = pytest.mark.requires(42)\n\n\ndef test_a():\n    pass\n"
    pytester.makepyfile(test_m="import pytest\n\n\n" + body)
    result = pytester.runpytest_subprocess("--kisys", "--kisys-scan", "none", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*test_a: @pytest.mark.requires(42): each argument must be*"])
    if where == "module":
        result.stdout.fnmatch_lines(["*test_clean: @pytest.mark.requires(42)*"])
    else:
        assert "test_clean: @pytest.mark" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "mask"),
    [([], "true"), (["-n", "2"], "true"), ([], "false")],
    ids=["serial", "xdist", "unmasked"],
)
def test_a_test_failing_on_a_lazy_import_is_named_in_the_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str], mask: str
) -> None:
    # The tag is a tap on the masking role's report wrapper: it must run on workers and when
    # masking is off, and only for the test that raised.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KISYS_MASK", mask)
    pytester.makepyfile(
        test_lazy="def test_lazy():\n    import kisys_never_installed_mod\n\n\ndef test_fine():\n    pass\n"
    )
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "none", "--kisys-offline", "-p", "no:cacheprovider", *args
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["1 test(s) failed importing 'kisys_never_installed_mod' inside the test (test_lazy.py::test_lazy)*"]
    )


@pytest.mark.usefixtures("isolated_pip")
@pytest.mark.parametrize("how", ["allowed", "declared", "unknown"])
def test_paranoid_hint_never_offers_to_allow_what_is_already_allowed_or_declared(
    throwaway_venv: Venv,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """Item 24: at paranoid an allowed or declared name is still confirmed; the hint names the
    level, not an allow entry that is already there."""
    monkeypatch.setenv("CI", "true")
    allow = (GAMMA, *ALLOWED) if how == "allowed" else ALLOWED
    installer = Installer(
        make_settings(level="paranoid", allow=allow),
        python=throwaway_venv.python,
        consent=TerminalConsent(),
    )
    request = InstallRequest(GAMMA, "import kisys_fixture_gamma in test_g.py", declared=how == "declared")
    result = installer.install([request])
    [denied] = result.denied
    assert denied.name == GAMMA
    if how == "unknown":
        assert denied.hint.startswith(f"--kisys-level balanced --kisys-allow {GAMMA}")
        return
    assert "--kisys-allow" not in denied.hint
    assert "allow = [" not in denied.hint
    already = "already allowed" if how == "allowed" else "declared by the project"
    assert denied.hint == (
        f"{GAMMA} is {already}; the paranoid level confirms every package: answer y at a "
        "terminal, or run with --kisys-level balanced"
    )
    assert throwaway_venv.own_dists() == {}
