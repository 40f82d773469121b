"""Masking at pytest's own boundaries: reports, sections, parametrize ids, warnings, JUnit XML."""

from __future__ import annotations

import pytest


NAMED = "plain-value-under-a-secret-name"


def test_secret_named_environment_value_never_reaches_terminal_or_junit(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", NAMED)
    pytester.makepyfile(
        """
        import logging, os, warnings
        import pytest
        V = os.environ["MY_SERVICE_TOKEN"]

        def test_fails():
            local_copy = V
            print("printed", V)
            logging.getLogger("t").warning("logged %s", V)
            warnings.warn("warned " + V)
            assert local_copy == "other", "message " + V

        @pytest.mark.parametrize("v", [V])
        def test_param(v):
            raise ValueError("raised " + v)
        """
    )
    result = pytester.runpytest(
        "--kisys", "--kisys-scan", "none", "-rA", "--showlocals", "-v", "--junitxml=j.xml"
    )
    result.assert_outcomes(failed=2)
    out = result.stdout.str() + result.stderr.str()
    assert "printed ***" in out
    assert "test_param[***]" in out
    assert NAMED not in out
    assert NAMED not in (pytester.path / "j.xml").read_text()


def test_masking_off_shows_the_value(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", NAMED)
    monkeypatch.setenv("KISYS_MASK", "false")
    pytester.makepyfile("import os\ndef test_x():\n    assert 0, os.environ['MY_SERVICE_TOKEN']\n")
    result = pytester.runpytest("--kisys", "--kisys-scan", "none")
    result.assert_outcomes(failed=1)
    assert NAMED in result.stdout.str()


KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # pragma: allowlist secret
LATER = "masked-by-a-test-later"
IDS_SUITE = f"""
import pytest

CLEAN = [f"case-{{i}}" for i in range(400)]
PLANTED = ["{KEY_ID}", "password={NAMED[:8]}", "{NAMED}"]

@pytest.mark.parametrize("v", range(403), ids=CLEAN[:200] + PLANTED + CLEAN[200:])
def test_ids(v):
    print("printed", "{NAMED}")
    assert v not in (200, 202), "failed with {KEY_ID}"

def test_a_registers(kisys_secrets):
    kisys_secrets.mask("{LATER}")

@pytest.mark.parametrize("w", [1], ids=["{LATER}"])
def test_b_after(w):
    pass
"""


def run_planted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, suite: str, *args: str
) -> tuple[pytest.RunResult, str, str]:
    """``suite`` run with the planted environment value, -rA and JUnit XML: result, output, XML."""
    monkeypatch.setenv("MY_SERVICE_TOKEN", NAMED)
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_ids=suite)
    result = pytester.runpytest(
        "--kisys", "--kisys-scan", "none", "-rA", "-p", "no:randomly", "--junitxml=j.xml", *args
    )
    out = result.stdout.str() + result.stderr.str()
    return result, out, (pytester.path / "j.xml").read_text()


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_explicit_ids_among_many_clean_ones_are_masked_everywhere(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    # The ids are masked in one pass at collection finish (clean ones in one block); the
    # planted ones, and one a test registers while the run goes on, must still never show.
    # On xdist a failed report with such an id crashed the worker (its node id was masked
    # with the failure text). The -v start line: test_the_line_a_test_starts_with_...
    result, out, junit = run_planted(pytester, monkeypatch, IDS_SUITE, *workers)
    result.assert_outcomes(passed=403, failed=2)
    # A value a test masks on an xdist worker is known to that worker only, and only the
    # controller masks node ids: that case is checked without xdist.
    for value in (KEY_ID, NAMED, NAMED[:8], *([] if workers else [LATER])):
        assert value not in out, value
        assert value not in junit, value
    assert "test_ids[case-0]" in out
    assert "test_ids[case-399]" in out
    assert "test_ids[***]" in out
    if not workers:
        assert "test_b_after[***]" in out
    assert "printed ***" in out


VERBOSE_SUITE = f"""
import os
import pytest

@pytest.mark.parametrize("v", [1, 2], ids=[os.environ["MY_SERVICE_TOKEN"], "clean"])
def test_explicit(v):
    assert v == 2

@pytest.mark.parametrize("v", [pytest.param(1, id="key-{KEY_ID}")])
def test_param_id(v):
    pass

@pytest.mark.parametrize("v", [1], ids=lambda v: "{NAMED}")
def test_callable_id(v):
    pass

def test_a_registers(kisys_secrets):
    kisys_secrets.mask("{LATER}")

@pytest.mark.parametrize("w", [1], ids=["{LATER}"])
def test_b_after(w):
    assert w == 2
"""


@pytest.mark.parametrize(
    "args",
    [["-v"], ["-vv"], ["-v", "-n", "2"], ["-vv", "-n", "2"]],
    ids=["v", "vv", "v-xdist", "vv-xdist"],
)
def test_the_line_a_test_starts_with_never_shows_a_value_in_its_id(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    # With -v pytest writes the item's own node id when a test starts (no report holds it, and
    # an item cannot be renamed): the terminal's writer masks it, as every other line.
    result, out, junit = run_planted(pytester, monkeypatch, VERBOSE_SUITE, *args)
    result.assert_outcomes(passed=4, failed=2)
    xdist = "-n" in args
    # On xdist a value a test registers is known to its worker only: whether another worker's
    # test starts before the controller hears of it is a race (one worker: checked below).
    for value in (KEY_ID, NAMED, *([] if xdist else [LATER])):
        assert value not in out, value
        assert value not in junit, value
    assert "test_explicit[***]" in out
    assert "test_explicit[clean]" in out
    assert "test_param_id[key-***]" in out
    assert "test_callable_id[***]" in out
    if not xdist:
        assert "test_b_after[***]" in out


def test_a_value_a_test_masks_on_a_worker_is_masked_in_the_later_ids_it_reports(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the worker knows the value: the report of the test that registered it tells the
    # controller which later ids hold it, masked, before those tests start (-vv start line).
    result, out, junit = run_planted(pytester, monkeypatch, VERBOSE_SUITE, "-vv", "-n", "1")
    result.assert_outcomes(passed=4, failed=2)
    assert LATER not in out
    assert LATER not in junit
    assert "FAILED test_ids.py::test_b_after[***]" in out
    assert 'name="test_b_after[***]"' in junit


@pytest.mark.parametrize("args", [["--collect-only"], ["--collect-only", "-q"]], ids=["tree", "quiet"])
def test_collect_only_lists_masked_ids(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", NAMED)
    pytester.makepyfile(test_verbose=VERBOSE_SUITE)
    result = pytester.runpytest("--kisys", "--kisys-scan", "none", *args)
    out = result.stdout.str() + result.stderr.str()
    assert NAMED not in out
    assert KEY_ID not in out
    assert "test_explicit[***]" in out


@pytest.mark.parametrize(
    ("ids", "wrapped"),
    [("['a', 'b']", "[]"), ("['a', os.environ['MY_SERVICE_TOKEN']]", "['write_raw']")],
    ids=["clean", "valued"],
)
def test_only_a_run_with_a_value_in_an_id_masks_the_terminal_writer(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ids: str, wrapped: str
) -> None:
    # A run without a value in an id leaves the writer alone: a passing test costs nothing more.
    monkeypatch.setenv("MY_SERVICE_TOKEN", NAMED)
    pytester.makeconftest(
        """
        def pytest_sessionfinish(session):
            writer = session.config.get_terminal_writer()
            print("writer-wrapped", sorted(set(vars(writer)) & {"write", "write_raw"}))
        """
    )
    pytester.makepyfile(
        f"""
        import os, pytest

        @pytest.mark.parametrize("v", [1, 2], ids={ids})
        def test_ids(v):
            pass
        """
    )
    result = pytester.runpytest("--kisys", "--kisys-scan", "none", "-v", "-s")
    result.assert_outcomes(passed=2)
    assert f"writer-wrapped {wrapped}" in result.stdout.str()
