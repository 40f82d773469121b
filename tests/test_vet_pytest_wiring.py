"""The -v terminal line per decision, through a real pytest run (pytester)."""

from __future__ import annotations

import pytest

from tests.support.pkgindex import PackageIndex


TEST_FILE = """
from pytest_kisys.settings import IndexSettings, Settings
from pytest_kisys.vet.interface import VetRequest
from pytest_kisys.vet.pytest_wiring import vetter_for_config

def test_vet(pytestconfig, tmp_path):
    settings = Settings(index=IndexSettings(url={url!r}), cache_dir=tmp_path)
    with vetter_for_config(pytestconfig, settings) as vetter:
        [decision] = vetter.vet([VetRequest.of("numpyy", "test_vet")])
    assert decision.action == "block"
"""


@pytest.mark.parametrize(("verbose", "lines"), [(True, 1), (False, 0)])
def test_verbose_prints_one_line_per_decision(
    pytester: pytest.Pytester, pkgindex: PackageIndex, verbose: bool, lines: int
) -> None:
    pytester.makepyfile(TEST_FILE.format(url=pkgindex.simple_url))
    result = pytester.runpytest_inprocess(*(["-v"] if verbose else []))
    result.assert_outcomes(passed=1)
    expected = "kisys: numpyy -> block (numpyy does not exist on * (did you mean numpy?))*"
    found = [line for line in result.outlines if line.startswith("kisys: numpyy -> block")]
    assert len(found) == lines
    if verbose:
        result.stdout.fnmatch_lines([f"*{expected}"])


def test_decision_hook_is_called_from_a_conftest(
    pytester: pytest.Pytester, pkgindex: PackageIndex
) -> None:
    pytester.makeconftest(
        """
        SEEN = []

        def pytest_kisys_decision(config, decision):
            SEEN.append((decision.name, decision.action, decision.evidence.get("typosquat_of")))

        def pytest_sessionfinish(session):
            print("SEEN", SEEN)
        """
    )
    pytester.makepyfile(TEST_FILE.format(url=pkgindex.simple_url))
    result = pytester.runpytest_inprocess("-s")
    result.assert_outcomes(passed=1)
    assert "SEEN [('numpyy', 'block', 'numpy')]" in result.stdout.str()
